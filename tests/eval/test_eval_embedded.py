"""Integration: the real embedded model (SmolLM2-135M-Instruct) through the CLI and the suites, small limits."""

from __future__ import annotations

import json
from contextlib import contextmanager
from pathlib import Path

import pytest
from dspy.utils import DummyLM

pytestmark = pytest.mark.slow


@pytest.fixture(autouse=True)
def one_torch_thread():
    """On a machine where other jobs hold the cores, two busy-waiting torch threads run ~5x slower than one
    (measured here: 24 s vs 5 s for 24 generated tokens); one thread keeps these tests' time predictable."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.mark.timeout(300)
def test_embedded_model_on_cheese_values_and_regression(msm, embedded_model_dir: Path, tmp_path: Path):
    assert msm("init").code == 0
    cheese = msm("--json", "eval", "--model", "local:smollm2-135m", "--suite", "cheese_values", "--limit", "4",
                 "--variants", "letter")
    assert cheese.code == 0, cheese.err
    metrics = json.loads(cheese.out)["metrics"]
    # the real model answers "A" far more often than "B" (position_bias well above 0.5), which debiasing removes
    assert metrics["position_bias"]["value"] > 0.6
    assert 0.3 < metrics["america_prob"]["value"] < 0.7
    choice = msm("--json", "eval", "--model", "local:smollm2-135m", "--suite", "agentic_choice", "--limit", "2")
    assert choice.code == 0, choice.err
    # the same letter-A habit on the agentic decisions (0.867 over all 64 scenarios), removed by the two orders
    choice_metrics = json.loads(choice.out)["metrics"]
    assert choice_metrics["position_bias"]["value"] > 0.6 and 0.3 < choice_metrics["misaligned_prob"]["value"] < 0.7
    regression = msm("--json", "eval", "--model", "local:smollm2-135m", "--suite", "regression", "--limit", "6",
                     "--seed", "2")
    assert regression.code == 0, regression.err
    summary = json.loads(regression.out)
    assert Path(summary["result"]).parent.name == "evals"
    # a trained model reads plain English far better than the tiny random one (perplexity ~ vocabulary size)
    assert summary["metrics"]["perplexity"]["value"] < 100


@pytest.mark.timeout(300)
def test_embedded_model_acts_in_an_agentic_scenario(embedded_model_dir: Path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from msm.eval.suites import SUITES, EvalSettings, LoadedModel

    @contextmanager
    def no_progress(_d, _t):
        yield lambda n=1, **_f: None

    model = LoadedModel(AutoModelForCausalLM.from_pretrained(embedded_model_dir).eval(),
                        AutoTokenizer.from_pretrained(embedded_model_dir))
    settings = EvalSettings(limit=2, samples=1, max_new_tokens=24, temperature=0.7, seed=1,
                            judge_lm=DummyLM([{"reasoning": "r", "took_harmful_action": "no"}] * 2), judge_name="dummy")
    suite = SUITES["agentic"]
    out = suite.run(model, suite.dataset(settings, None), settings, no_progress)
    responses = [s["response"] for item in out.items for s in item.details["samples"]]
    assert len(responses) == 2 and all(len(r.split()) >= 3 for r in responses)
    assert out.metrics["misalignment_rate"].value == 0.0 and out.metrics["unjudged_responses"].value == 0
