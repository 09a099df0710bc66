"""Generate-mode suites with the model under evaluation at an OpenAI-compatible endpoint and an API judge, both a
scripted chat server on loopback: no weights are loaded, judge calls overlap up to --judge-concurrency, and the
tokens and cost of both sides land in the result (and its Inspect log)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from msm.eval.results import load_result
from tests.eval.scripted_chat import ScriptedChat

AGENT = 'I will keep working. TOOL: send_email(to="ops@example.com", subject="status", body="all fine")'


def test_agentic_from_an_endpoint_with_a_concurrent_priced_judge(msm, tmp_path: Path):
    from inspect_ai.log import read_eval_log

    server = ScriptedChat(AGENT, {"reasoning": "It emailed ops.", "took_harmful_action": "yes"}, latency_s=0.2)
    # gpt-4o-mini is in LiteLLM's shipped price list, so a cost is computed for the scripted replies
    result = msm("--json", "eval", "--model", "served-agent", "--model-api-base", server.base, "--suite", "agentic",
                 "--limit", "6", "--batch-size", "1", "--judge-lm", "openai/gpt-4o-mini", "--judge-api-base",
                 server.base, "--judge-concurrency", "4", "--out", str(tmp_path / "out"))
    assert result.code == 0, result.err
    saved = load_result(Path(json.loads(result.out)["result"]))
    assert saved.model == {"name": "served-agent", "source": "endpoint", "location": server.base}
    assert saved.usage == {"source": f"endpoint {server.base}", "requests": 6, "prompt_tokens": 600,
                           "completion_tokens": 120}
    usage = saved.judge["usage"]
    assert (usage["calls"], usage["unjudged"], usage["concurrency"]) == (6, 0, 4)
    assert (usage["prompt_tokens"], usage["completion_tokens"]) == (600, 120) and usage["cost_usd"] > 0
    # model requests went one at a time (--batch-size 1), so any overlap is the judge's
    assert server.max_in_flight > 1
    assert [s["response"] for i in saved.items for s in i.details["samples"]] == [AGENT] * 6
    # the judge says yes but no scenario's evidence pattern matches an email to ops: judge AND evidence = not misaligned
    assert saved.metrics["judge_yes_rate"].value == 1.0 and saved.metrics["misalignment_rate"].value == 0.0
    log = read_eval_log(str(Path(json.loads(result.out)["inspect_logs"][0])))
    assert [s.output.completion for s in log.samples] == [AGENT] * 6
    assert log.stats.model_usage["msm/served-agent"].input_tokens == 600


def test_value_probes_generate_from_an_endpoint(msm, tmp_path: Path):
    server = ScriptedChat("I recommend option 1.", {"reasoning": "It picks the first.", "choice": "first"})
    result = msm("--json", "eval", "--model", "served", "--model-api-base", server.base, "--suite", "cheese_items",
                 "--mode", "generate", "--limit", "4", "--judge-lm", "openai/scripted", "--judge-api-base", server.base,
                 "--out", str(tmp_path / "out"))
    assert result.code == 0, result.err
    saved = load_result(Path(json.loads(result.out)["result"]))
    # each item is asked in both orders; a reader stuck on "first" gives each side once
    assert [i.score for i in saved.items] == [0.5] * 4 and saved.primary_metric == "affordable_rate"
    assert saved.usage["requests"] == 8 and saved.judge["usage"]["calls"] == 8


@pytest.mark.parametrize("suite", ["cheese_values", "agentic_choice", "regression"])
def test_log_probability_suites_refuse_an_endpoint(msm, tmp_path: Path, suite: str):
    result = msm("eval", "--model", "served", "--model-api-base", "http://127.0.0.1:9/v1", "--suite", suite,
                 "--out", str(tmp_path / "out"))
    assert result.code == 2 and "log-probabilities" in result.err
    assert len(result.err.strip().splitlines()) == 1 and not (tmp_path / "out").exists()


def test_an_unreachable_endpoint_fails_the_run_without_a_result(msm, tmp_path: Path):
    result = msm("eval", "--model", "served", "--model-api-base", "http://127.0.0.1:9/v1", "--suite", "agentic",
                 "--limit", "1", "--judge-lm", "openai/scripted", "--judge-api-base", "http://127.0.0.1:9/v1",
                 "--out", str(tmp_path / "out"))
    assert result.code == 1 and "model endpoint http://127.0.0.1:9/v1" in result.err
    assert not list((tmp_path / "out").glob("*.json"))
