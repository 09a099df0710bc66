"""`msm aft generate` end to end against a real `transformers serve` process on loopback with the embedded model
(the weak profile: plain prompts, lenient parsing), then both exports."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.corpus.test_generate_served import served_model  # noqa: F401  (the module-scoped server fixture)

pytestmark = pytest.mark.slow
SPEC = Path(__file__).parent / "fruit_spec.yaml"


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


@pytest.mark.timeout(900)
def test_aft_generate_through_transformers_serve_writes_judged_chats(msm_process, served_model,  # noqa: F811
                                                                      isolated_workspace: Path, tmp_path: Path) -> None:
    result = msm_process("aft", "generate", "--spec", str(SPEC), "--run", "served-aft", "--n", "3", "--lm",
                         served_model["model"], "--api-base", served_model["base"], "--profile", "weak",
                         "--concurrency", "2", "--questions-per-ask", "2", "--max-rounds", "3", "--json", timeout=840,
                         env={"DSPY_CACHEDIR": str(tmp_path / "dspy-cache")})
    assert result.code == 0, result.err[-2000:]
    report = json.loads(result.out)
    run_dir = isolated_workspace / "runs" / "served-aft"
    calls = _lines(run_dir / "calls.jsonl")
    assert calls and sum(c["completion_tokens"] for c in calls) > 0  # usage came back from the real server
    assert {"questions", "reason", "answer"} <= {c["stage"] for c in calls}
    chats, failures = _lines(run_dir / "documents.jsonl"), _lines(run_dir / "failures.jsonl")
    # every message that was started ended as a kept chat, an EXCLUDE with the judge's reason, or recorded failures
    assert report["chats"] == len(chats) and report["judged"] == len(chats) + report["rejected"]
    assert all(f["reason"] and (f["raw"] is not None or f["stage"] == "respond") for f in failures)
    assert chats, f"no chat was kept; failures: {[f['reason'][:80] for f in failures]}"
    for chat in chats:
        assert [m["role"] for m in chat["messages"]] == ["user", "assistant"]
        assert chat["messages"][1]["reasoning"] and chat["messages"][1]["content"]
        assert chat["metadata"]["judge"]["verdict"] == "INCLUDE" and chat["lm"] == served_model["model"]
        assert chat["spec_hash"] and chat["program_hash"] and chat["domain"] and chat["doc_type"]
    for flag, name in (("--with-reasoning", "cot.jsonl"), ("--stripped", "plain.jsonl")):
        exported = msm_process("aft", "export", "served-aft", "--out", str(tmp_path / name), flag)
        assert exported.code == 0, exported.err
    plain = (tmp_path / "plain.jsonl").read_text()
    assert "<think>" not in plain and all(c["messages"][1]["reasoning"] not in plain for c in chats)
    assert (tmp_path / "cot.jsonl").read_text().count("<think>") == len(chats)
