"""Ctrl-C and a one-request-at-a-time endpoint, against the scripted loopback upstream (real HTTP, real LiteLLM path):
SIGINT stops a run within 5 s with what was kept and how to resume; a served endpoint that cannot keep up with
`--concurrency` gets fewer calls in flight (AIMD) and the run finishes, with the timeouts counted and named by the
option that sets them."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from msm.lm.loopback_server import ScriptedServer

SPEC = Path(__file__).parent / "fruit_spec.yaml"


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.exists() else []


def _command(run: str, base: str, *extra: str) -> list[str]:
    return [sys.executable, "-m", "msm", "generate", "--spec", str(SPEC), "--run", run, "--lm", "openai/scripted",
            "--api-base", base, "--profile", "weak", "--no-scaffold", *extra]


@pytest.mark.timeout(300)
def test_sigint_stops_within_5_s_and_says_how_to_resume(isolated_workspace: Path, tmp_path: Path) -> None:
    server = ScriptedServer(latency_s=3.0).start()   # every call is in flight for 3 s when the signal comes
    env = {**os.environ, "DSPY_CACHEDIR": str(tmp_path / "dspy-cache")}
    command = _command("stopped", server.base_url, "--n-docs", "40", "--concurrency", "4")
    documents = isolated_workspace / "runs" / "stopped" / "documents.jsonl"
    try:
        proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        deadline = time.monotonic() + 200
        while not _lines(documents) and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.2)
        assert _lines(documents), "no document was written before the interrupt"
        sent = time.monotonic()
        proc.send_signal(signal.SIGINT)
        _out, err = proc.communicate(timeout=60)
        stopped_after = time.monotonic() - sent
        assert stopped_after < 5.0, (stopped_after, err[-1500:])
        assert proc.returncode == 130, err[-1500:]
        kept = len({d["doc_id"] for d in _lines(documents)})
        assert 0 < kept < 40
        assert f"msm: interrupted — {kept} documents kept; rerun the same command to resume" in err, err[-1500:]

        server.latency_s = 0.0
        resumed = subprocess.run(command + ["--json"], capture_output=True, text=True, env=env, timeout=240)
        assert resumed.returncode == 0, resumed.stderr[-1500:]
        docs = _lines(documents)
        assert len(docs) == len({d["doc_id"] for d in docs}) == 40  # nothing written twice, nothing lost
        assert json.loads(resumed.stdout)["new_documents"] == 40 - kept
    finally:
        server.shutdown()


@pytest.mark.timeout(400)
def test_a_serial_endpoint_gets_fewer_calls_in_flight_and_the_run_finishes(isolated_workspace: Path,
                                                                           tmp_path: Path) -> None:
    # 8 in flight against a server that answers one request per 0.6 s: the last in line waits ~5 s, over the 2.5 s
    # timeout; at 2-4 in flight every call is answered in time
    server = ScriptedServer(latency_s=0.6, serial=True).start()
    env = {**os.environ, "DSPY_CACHEDIR": str(tmp_path / "dspy-cache")}
    try:
        done = subprocess.run(_command("serial", server.base_url, "--n-docs", "8", "--concurrency", "8",
                                       "--request-timeout", "2.5", "--attempts", "6", "--json"),
                              capture_output=True, text=True, env=env, timeout=380)
    finally:
        server.shutdown()
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout)
    assert result["documents"] == 8
    assert result["timeouts"] > 0 and result["concurrency"]["requested"] == 8
    assert result["concurrency"]["lowest"] < 8
    assert any(c["why"] == "timeout" for c in result["concurrency"]["changes"])
    calls = _lines(isolated_workspace / "runs" / "serial" / "calls.jsonl")
    timed_out = [c["error"] for c in calls if c["error"] and "timed out" in c["error"]]
    assert timed_out and all("--request-timeout 2.5 s" in e for e in timed_out)
    assert not any("Timeouts(" in (c["error"] or "") for c in calls)
    recorded = _lines(isolated_workspace / "runs" / "serial" / "concurrency.jsonl")
    assert recorded and recorded[-1]["lowest"] == result["concurrency"]["lowest"]


@pytest.mark.timeout(300)
def test_the_experiment_runner_hears_progress_inside_a_stage(isolated_workspace: Path, tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """`make demo` runs stages as subprocesses without a terminal; their progress reaches the runner's view."""
    from msm.experiment.runner import ExperimentState, Stage, run_stage
    from msm.workspace import Workspace

    monkeypatch.setenv("DSPY_CACHEDIR", str(tmp_path / "dspy-cache"))
    server = ScriptedServer(latency_s=0.4).start()
    ws = Workspace(isolated_workspace)
    argv = _command("staged", server.base_url, "--n-docs", "6", "--concurrency", "1")[3:]
    heard: list[str] = []
    try:
        record = run_stage(ws, ExperimentState(ws, "exp"), Stage("generate", "k" * 20, "generate fruit", "staged", argv),
                           on_progress=heard.append)
    finally:
        server.shutdown()
    assert record["result"]["documents"] == 6
    assert any(line.startswith("write ") and "ok=" in line and "timeouts=" in line for line in heard), heard
