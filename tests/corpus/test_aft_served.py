"""`msm aft generate` end to end against a real `transformers serve` process on loopback with the embedded model
(the weak profile: plain prompts, lenient parsing), then both exports."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.corpus.test_generate_served import served_model  # noqa: F401  (the module-scoped server fixture)

pytestmark = pytest.mark.slow
SPEC = Path(__file__).parent / "fruit_spec.yaml"


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def _aft(msm_process, served: dict, run: str, tmp_path: Path, *extra: str):
    return msm_process("aft", "generate", "--spec", str(SPEC), "--run", run, "--lm", served["model"], "--api-base",
                       served["base"], "--profile", "weak", "--concurrency", "2", "--questions-per-ask", "2", "--json",
                       *extra, timeout=840, env={"DSPY_CACHEDIR": str(tmp_path / "dspy-cache")})


@pytest.mark.timeout(900)
def test_aft_generate_through_transformers_serve_writes_chats_and_exports(msm_process, served_model,  # noqa: F811
                                                                          isolated_workspace: Path,
                                                                          tmp_path: Path) -> None:
    """The deterministic checks as the filter (`--judge checks`): every stage through the real server."""
    result = _aft(msm_process, served_model, "served-aft", tmp_path, "--n", "2", "--judge", "checks")
    assert result.code == 0, result.err[-2000:]
    run_dir = isolated_workspace / "runs" / "served-aft"
    calls = _lines(run_dir / "calls.jsonl")
    assert calls and sum(c["completion_tokens"] for c in calls) > 0  # usage came back from the real server
    assert {"questions", "reason", "answer"} <= {c["stage"] for c in calls}
    chats = _lines(run_dir / "documents.jsonl")
    assert len(chats) == json.loads(result.out)["chats"] == 2, _lines(run_dir / "failures.jsonl")
    for chat in chats:
        assert [m["role"] for m in chat["messages"]] == ["user", "assistant"]
        assert chat["messages"][1]["reasoning"] and chat["messages"][1]["content"]
        assert chat["lm"] == served_model["model"] and chat["metadata"]["judge"]["verdict"] is None
        assert chat["spec_hash"] and chat["program_hash"] and chat["domain"] and chat["doc_type"]
    for flag, name in (("--with-reasoning", "cot.jsonl"), ("--stripped", "plain.jsonl")):
        exported = msm_process("aft", "export", "served-aft", "--out", str(tmp_path / name), flag)
        assert exported.code == 0, exported.err
    plain = (tmp_path / "plain.jsonl").read_text()
    assert "<think>" not in plain and all(c["messages"][1]["reasoning"] not in plain for c in chats)
    assert (tmp_path / "cot.jsonl").read_text().count("<think>") == 2


@pytest.mark.timeout(900)
def test_the_served_model_judges_every_chat_it_writes(msm_process, served_model, isolated_workspace: Path,  # noqa: F811
                                                      tmp_path: Path) -> None:
    """The LM judge on the real server: every answered message ends with a recorded verdict (a kept chat, an EXCLUDE
    with its reason) or, when the verdict could not be read, a failure with the judge's raw text."""
    result = _aft(msm_process, served_model, "served-judged", tmp_path, "--n", "1", "--max-rounds", "1")
    assert result.code == 0, result.err[-2000:]
    run_dir = isolated_workspace / "runs" / "served-judged"
    judged = {c["item"] for c in _lines(run_dir / "calls.jsonl") if c["stage"] == "judge" and not c["error"]}
    assert judged, "the judge was never asked"
    chats, failures = _lines(run_dir / "documents.jsonl"), _lines(run_dir / "failures.jsonl")
    settled = {c["doc_id"] for c in chats} | {f["item_id"] for f in failures if f["stage"] == "judge"}
    assert judged <= settled
    for f in failures:
        assert f["reason"] and (f["raw"] or f["stage"] == "respond")
        if f["reason"].startswith("EXCLUDE"):
            assert f["permanent"] and f["raw"].startswith("User: ")
    report = json.loads(result.out)
    assert report["judged"] == len(chats) + report["rejected"]
