"""Kill -9 in the middle of `msm generate` and rerun: every doc id once, N in total, nothing paid twice.

The LM is the scripted OpenAI-compatible server on loopback (real HTTP, real LiteLLM path, fixed latency), so the
kill lands mid-run deterministically and the test takes seconds rather than minutes of CPU generation."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from msm.lm.loopback_server import ScriptedServer

N_DOCS = 10
SPEC = Path(__file__).parent / "fruit_spec.yaml"


def _lines(path: Path) -> list[dict]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


@pytest.mark.timeout(240)
def test_sigkill_mid_run_then_rerun_completes_exactly_once(tmp_path: Path, isolated_workspace: Path) -> None:
    server = ScriptedServer(latency_s=0.25).start()
    env = {**os.environ, "DSPY_CACHEDIR": str(tmp_path / "dspy-cache")}  # a warm cache would hide repaid calls
    command = [sys.executable, "-m", "msm", "generate", "--spec", str(SPEC), "--run", "killed", "--n-docs", str(N_DOCS),
               "--lm", "openai/scripted", "--api-base", server.base_url, "--concurrency", "2",
               "--plan", "clauses"]  # the scripted server answers the clause plan
    run_dir = isolated_workspace / "runs" / "killed"
    first = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 180
    while len(_lines(run_dir / "documents.jsonl")) < 3:
        assert first.poll() is None, first.stderr.read().decode()[-2000:]
        assert time.monotonic() < deadline, "no documents appeared"
        time.sleep(0.05)
    first.send_signal(signal.SIGKILL)
    first.wait()
    done_before = {d["doc_id"] for d in _lines(run_dir / "documents.jsonl")}
    assert 3 <= len(done_before) < N_DOCS, "the kill must land mid-run"
    calls_before = Counter(c["item"] for c in _lines(run_dir / "calls.jsonl"))
    stages_before = {(s["stage"], s["key"]) for s in _lines(run_dir / "stages.jsonl")}

    second = subprocess.run(command, env=env, capture_output=True, text=True, timeout=180)
    assert second.returncode == 0, second.stderr[-2000:]
    ids = [d["doc_id"] for d in _lines(run_dir / "documents.jsonl")]
    assert len(ids) == N_DOCS and len(set(ids)) == N_DOCS  # raw lines: no duplicate was ever written
    calls_after = Counter(c["item"] for c in _lines(run_dir / "calls.jsonl"))
    for doc_id in done_before:
        assert calls_after[doc_id] == calls_before[doc_id], f"finished item {doc_id} was called again"
    # brainstorm answers recorded before the kill were replayed from stages.jsonl, not asked again
    stage_calls = Counter((c["stage"], c["item"]) for c in _lines(run_dir / "calls.jsonl")
                          if c["stage"] in {"plan", "types", "ideas"})
    for key in stages_before:
        assert stage_calls[key] == 1, key
    third = subprocess.run(command, env=env, capture_output=True, text=True, timeout=180)
    assert third.returncode == 0 and f"{N_DOCS}/{N_DOCS} documents (0 new)" in third.stdout
    assert Counter(c["item"] for c in _lines(run_dir / "calls.jsonl")) == calls_after
    server.shutdown()
