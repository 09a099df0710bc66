"""`msm aft generate` killed with SIGKILL mid-run and rerun: every chat once, N in total, no stage answer paid twice;
and the same run as batch request files for `vllm run-batch`, round by round.

The LM is the scripted OpenAI-compatible server on loopback (real HTTP, real LiteLLM path, fixed latency; about one
verdict in five is EXCLUDE, so backfill rounds happen), so the kill lands mid-run deterministically."""

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
from tests.corpus.test_generate_batch import run_batch_lines

N_CHATS = 10
SPEC = Path(__file__).parent / "fruit_spec.yaml"
BRAINSTORMS = {"domains", "questions"}


def _lines(path: Path) -> list[dict]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


@pytest.mark.timeout(240)
def test_sigkill_mid_run_then_rerun_keeps_every_chat_once_and_repays_nothing(tmp_path: Path,
                                                                              isolated_workspace: Path) -> None:
    server = ScriptedServer(latency_s=0.1).start()
    env = {**os.environ, "DSPY_CACHEDIR": str(tmp_path / "dspy-cache")}  # a warm cache would hide repaid calls
    command = [sys.executable, "-m", "msm", "aft", "generate", "--spec", str(SPEC), "--run", "killed", "--n",
               str(N_CHATS), "--lm", "openai/scripted", "--api-base", server.base_url, "--concurrency", "2", "--json"]
    run_dir = isolated_workspace / "runs" / "killed"
    first = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 180
    while len(_lines(run_dir / "documents.jsonl")) < 3:
        assert first.poll() is None, first.stderr.read().decode()[-2000:]
        assert time.monotonic() < deadline, "no chats appeared"
        time.sleep(0.05)
    first.send_signal(signal.SIGKILL)
    first.wait()
    done_before = {d["doc_id"] for d in _lines(run_dir / "documents.jsonl")}
    assert 3 <= len(done_before) < N_CHATS, "the kill must land mid-run"
    calls_before = Counter((c["stage"], c["item"]) for c in _lines(run_dir / "calls.jsonl"))
    stages_before = {(s["stage"], s["key"]) for s in _lines(run_dir / "stages.jsonl")}
    by_rollout_before = Counter((c["stage"], c["rollout"]) for c in _lines(run_dir / "calls.jsonl"))

    second = subprocess.run(command, env=env, capture_output=True, text=True, timeout=180)
    assert second.returncode == 0, second.stderr[-2000:]
    result = json.loads(second.stdout)
    chats = _lines(run_dir / "documents.jsonl")
    ids = [d["doc_id"] for d in chats]
    assert len(ids) == N_CHATS and len(set(ids)) == N_CHATS  # raw lines: no chat was ever written twice
    assert result["chats"] == N_CHATS and result["judged"] == N_CHATS + result["rejected"]
    calls_after = Counter((c["stage"], c["item"]) for c in _lines(run_dir / "calls.jsonl"))
    for (stage, item), n in calls_before.items():
        if item in done_before or stage in BRAINSTORMS:
            assert calls_after[(stage, item)] == n, f"{stage} {item} was paid again"
    # every answer recorded before the kill (brainstorms, reasoning, answers, verdicts) was replayed, not re-asked
    by_rollout = Counter((c["stage"], c["rollout"]) for c in _lines(run_dir / "calls.jsonl"))
    for stage, key in stages_before:
        rollout = f"{stage}:{key}" if stage in BRAINSTORMS else key
        assert by_rollout[(stage, rollout)] >= 1 and by_rollout_before[(stage, rollout)] == by_rollout[(stage, rollout)]
    for chat in chats:  # provenance of every chat
        assert chat["messages"][0]["role"] == "user" and chat["messages"][1]["reasoning"]
        assert chat["metadata"]["judge"]["verdict"] == "INCLUDE" and chat["program_hash"] and chat["spec_hash"]
        assert chat["domain"] and chat["doc_type"] and chat["clause_id"]
    third = subprocess.run(command, env=env, capture_output=True, text=True, timeout=180)
    assert third.returncode == 0 and json.loads(third.stdout)["new_chats"] == 0
    assert Counter((c["stage"], c["item"]) for c in _lines(run_dir / "calls.jsonl")) == calls_after
    server.shutdown()


def test_batch_request_files_round_trip_to_n_chats(msm, tmp_path: Path, isolated_workspace: Path) -> None:
    """--batch-file-only writes the next round's requests; a stand-in for `vllm run-batch` answers them (some fail
    and are asked again); --ingest-batch-output reads them back, until N chats are kept."""
    out_dir = tmp_path / "requests"
    base = ["aft", "generate", "--spec", str(SPEC), "--run", "b", "--n", "6", "--lm", "openai/served-model",
            "--profile", "strong", "--batch-file-only", str(out_dir)]
    seen: Counter = Counter()
    ingest: list[str] = []
    stages_written = []
    for step in range(30):
        result = msm(*base, *ingest, "--json")
        assert result.code == 0, result.err
        report = json.loads(result.out)
        if not report["files_written"]:
            break
        stages_written.append(report["next_stages"])
        lines = [line for f in report["files_written"] for line in _lines(Path(f))]
        assert all(line["body"]["model"] == "served-model" for line in lines)
        judge_lines = [line for line in lines if line["custom_id"].startswith("judge|")]
        assert all(line["body"]["temperature"] == 0.2 for line in judge_lines)  # the judge samples cooler
        answered, failed = run_batch_lines(lines, seen)
        output = tmp_path / f"output-{step}.jsonl"
        output.write_text("".join(json.dumps(x) + "\n" for x in answered + failed))
        ingest = ["--ingest-batch-output", str(output)]
    else:
        pytest.fail("the run did not finish")
    first_seen = [next(i for i, w in enumerate(stages_written) if stage in w.split(","))
                  for stage in ("domains", "questions", "reason", "answer", "judge")]
    assert first_seen == sorted(first_seen) and stages_written[0] == "domains"  # each stage after what it needs
    assert any(n > 1 for n in seen.values()), "a failed request must be asked again in a later file"
    chats = _lines(isolated_workspace / "runs" / "b" / "documents.jsonl")
    assert len(chats) == 6 and len({c["doc_id"] for c in chats}) == 6
    assert all(c["metadata"]["batch_ids"]["judge"].startswith("file:") for c in chats)
    again = msm(*base[:-2], "--ingest-batch-output", str(tmp_path / "output-0.jsonl"), "--json")
    assert again.code == 0 and json.loads(again.out)["ingested"]["answered"] == 0
    assert len(_lines(isolated_workspace / "runs" / "b" / "documents.jsonl")) == 6
