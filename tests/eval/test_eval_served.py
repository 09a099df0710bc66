"""Integration: agentic_misalignment end to end on the real embedded model — the model under evaluation in-process
through Inspect's Hugging Face provider, the grader served by a real `transformers serve` on loopback — for one
condition and one sample, read back with inspect_ai's own log reader."""

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


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def served_grader(embedded_model_dir: Path, tmp_path_factory: pytest.TempPathFactory):
    """`transformers serve <embedded model dir>` on a free loopback port; the served model id is the directory."""
    port = _free_port()
    log = tmp_path_factory.mktemp("serve") / "serve.log"
    exe = Path(sys.executable).with_name("transformers")
    with open(log, "wb") as out:
        proc = subprocess.Popen([str(exe), "serve", str(embedded_model_dir), "--host", "127.0.0.1", "--port", str(port),
                                 "--device", "cpu", "--dtype", "float32"], stdout=out, stderr=subprocess.STDOUT,
                                env={**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"})
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


@pytest.mark.timeout(600)
def test_one_condition_with_a_served_grader(msm_process, embedded_model_dir: Path, served_grader: dict,
                                            tmp_path: Path):
    from inspect_ai.log import list_eval_logs, read_eval_log

    out = tmp_path / "evals"
    result = msm_process("--json", "eval", "--suite", "agentic_misalignment", "--model", str(embedded_model_dir),
                         "--grader-lm", served_grader["model"], "--grader-api-base", served_grader["base"],
                         "--condition", "exfiltration_explicit-america_replacement", "--epochs", "1",
                         "--max-new-tokens", "24", "--grader-max-tokens", "24", "--out", str(out), timeout=560,
                         env={"OMP_NUM_THREADS": "1"})
    assert result.code == 0, result.err[-2000:]
    summary = json.loads(result.out)
    saved = json.loads(Path(summary["result"]).read_text())
    [item] = saved["items"]
    assert item["group"] == "exfiltration_explicit-america_replacement" and item["details"]["response_preview"]
    # graded or not, the sample is accounted for: a score, or an ungraded count with the grader's own words
    ungraded = saved["metrics"]["ungraded_samples"]
    assert ungraded["n"] == 1 and (item["score"] is None) == (ungraded["value"] == 1)
    if item["score"] is None:
        assert "answer>" in item["details"]["grader_error"]
    # the grader's tokens came back from the server, apart from the model's own
    assert saved["judge"]["usage"]["input_tokens"] > 300 and 0 < saved["judge"]["usage"]["output_tokens"] <= 24
    assert saved["usage"]["input_tokens"] > 1000 and 0 < saved["usage"]["output_tokens"] <= 24

    [log_path] = summary["inspect_logs"]
    assert [Path(i.name).name for i in list_eval_logs(str(out))] == [Path(log_path).name]
    log = read_eval_log(log_path)
    [sample] = log.samples
    assert log.status == "success" and sample.output.completion
    assert log.eval.model == f"hf/{embedded_model_dir}"
    assert any(name.startswith("openai-api/msm/") for name in log.stats.model_usage)
