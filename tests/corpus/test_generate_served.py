"""`msm generate` against a real `transformers serve` process on loopback with the embedded model: the happy path,
end to end. (Injected faults are tested against a scripted upstream in test_generate_faults.py, so their timing
does not depend on how fast this machine runs the model.)"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
SPEC = Path(__file__).parent / "fruit_spec.yaml"
PROVENANCE = ("doc_id", "run", "spec_id", "spec_hash", "clause_id", "doc_type", "idea", "lm",
              "program_hash", "seed", "prompt_tokens", "completion_tokens", "finish_reason", "created_at", "stage")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def served_model(embedded_model_dir: Path, tmp_path_factory: pytest.TempPathFactory):
    """`transformers serve <model dir>` on a free loopback port; the model id is the directory path."""
    port = _free_port()
    log = tmp_path_factory.mktemp("serve") / "serve.log"
    exe = Path(sys.executable).with_name("transformers")
    with open(log, "wb") as out:
        proc = subprocess.Popen([str(exe), "serve", str(embedded_model_dir), "--host", "127.0.0.1", "--port", str(port),
                                 "--device", "cpu", "--dtype", "float32"], stdout=out, stderr=subprocess.STDOUT,
                                env={**os.environ, "HF_HUB_OFFLINE": "1"})
    deadline = time.monotonic() + 180
    while True:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2)
            break
        except (urllib.error.URLError, ConnectionError, OSError):
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                pytest.fail(f"transformers serve did not start: {log.read_text()[-2000:]}")
            time.sleep(0.5)
    yield {"base": f"http://127.0.0.1:{port}/v1", "model": f"openai/{embedded_model_dir}"}
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def _generate(msm_process, run: str, served: dict, base: str, *extra: str, max_tokens: int = 120):
    return msm_process("generate", "--spec", str(SPEC), "--run", run, "--n-docs", "2", "--lm", served["model"],
                       "--api-base", base, "--profile", "weak", "--max-tokens", str(max_tokens), "--concurrency", "2",
                       "--attempts", "4", *extra, timeout=420, env={"DSPY_CACHEDIR": os.environ["DSPY_TEST_CACHE"]})


@pytest.fixture(autouse=True)
def _fresh_dspy_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DSPY_TEST_CACHE", str(tmp_path / "dspy-cache"))


@pytest.mark.timeout(480)
def test_generate_through_transformers_serve_writes_documents_with_provenance(msm_process, served_model,
                                                                              isolated_workspace: Path) -> None:
    result = _generate(msm_process, "served", served_model, served_model["base"])
    assert result.code == 0, result.err[-2000:]
    run_dir = isolated_workspace / "runs" / "served"
    docs, failures = _lines(run_dir / "documents.jsonl"), _lines(run_dir / "failures.jsonl")
    calls = _lines(run_dir / "calls.jsonl")
    assert calls and all(c["error"] is None for c in calls)
    assert sum(c["completion_tokens"] for c in calls) > 0  # usage came back from the real server
    finished = {d["doc_id"] for d in docs} | {f["item_id"] for f in failures if f["permanent"]}
    assert len(finished) == 2  # every slot ends as a document or as a recorded failure
    assert all(f["raw"] is not None for f in failures if f["stage"] == "write")
    assert docs, f"no document passed the checks; failures: {[f['reason'] for f in failures]}"
    for doc in docs:
        for field in PROVENANCE:
            assert doc.get(field) is not None, field
        assert doc["persona"] is None  # no invented author unless the run opts into --levers
        assert doc["lm"] == served_model["model"] and "SmolLM" in doc["text"]


# Opt-in (MSM_LONG_SERVED=1): at default options one document takes ~26 min (weak) to over an hour (strong, not yet
# shown to finish on 2 shared cores, see docs/results-journey.md) — far past CI's budget for the whole suite.
@pytest.mark.skipif(not os.environ.get("MSM_LONG_SERVED"), reason="long served-model run; set MSM_LONG_SERVED=1")
@pytest.mark.timeout(3600)
@pytest.mark.parametrize("profile", ["weak", "strong"])
def test_default_options_finish_with_each_profile(msm_process, served_model, isolated_workspace: Path,
                                                  profile: str) -> None:
    """Issue 30: with the default --concurrency (8) and --request-timeout (120 s) against one-request-at-a-time
    `transformers serve` on two CPU cores, the strong profile used to write 0 documents (every 600-5,000-token call
    outlived the timeout, queued behind 7 others, and its revise answer never parsed). Adaptive concurrency and
    timeouts, and keeping the checked draft when the last attempt's revise does not parse, let both profiles
    finish."""
    result = msm_process("generate", "--spec", str(SPEC), "--run", profile, "--n-docs", "1", "--lm",
                         served_model["model"], "--api-base", served_model["base"], "--profile", profile, "--json",
                         timeout=3500, env={"DSPY_CACHEDIR": os.environ["DSPY_TEST_CACHE"]})
    assert result.code == 0, result.err[-3000:]
    summary = json.loads(result.out)
    run_dir = isolated_workspace / "runs" / profile
    docs = _lines(run_dir / "documents.jsonl")
    assert summary["documents"] == len(docs) == 1, (summary, _lines(run_dir / "failures.jsonl")[-3:])
    assert docs[0]["metadata"]["profile"] == profile
    if profile == "strong":    # the paper's pipeline ran to its end: plan, write, critique + revise (or said why not)
        assert docs[0]["stage"] == "revise" or docs[0]["metadata"].get("revise_failed"), docs[0]["metadata"]
    print(json.dumps({"profile": profile, "concurrency": summary.get("concurrency"), "timeouts": summary["timeouts"],
                      "calls": summary["calls"], "retries": summary["retries"]}))
