"""`msm generate` against a real `transformers serve` process on loopback with the embedded model, directly and
through a proxy that injects 429 / 500 / garbage / dropped connections / timeouts."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
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


class _FaultProxy(ThreadingHTTPServer):
    """Forwards to the real server; request n gets the fault at n in `faults` (then everything passes)."""

    daemon_threads = True

    def __init__(self, upstream: str, faults: dict[int, str], hang_s: float):
        super().__init__(("127.0.0.1", 0), _ProxyHandler)
        self.upstream, self.faults, self.hang_s = upstream.rstrip("/"), faults, hang_s
        self.count = 0
        self.injected: list[str] = []
        self.lock = threading.Lock()
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1"


class _ProxyHandler(BaseHTTPRequestHandler):
    server: _FaultProxy

    def log_message(self, *args: object) -> None:
        return

    def _reply(self, code: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(code)
        for key, value in {"Content-Type": "application/json", **(headers or {})}.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        with self.server.lock:
            self.server.count += 1
            fault = self.server.faults.get(self.server.count)
            if fault:
                self.server.injected.append(fault)
        if fault == "429":
            return self._reply(429, b'{"error": {"message": "rate limited"}}', {"Retry-After": "1"})
        if fault == "500":
            return self._reply(500, b'{"error": {"message": "upstream exploded"}}')
        if fault == "garbage":
            return self._reply(200, b"<html>this is not json")
        if fault == "drop":
            self.close_connection = True
            return  # no response at all: the client sees the connection close
        if fault == "timeout":
            time.sleep(self.server.hang_s)
            return
        request = urllib.request.Request(self.server.upstream + self.path.removeprefix("/v1"), data=body,
                                         headers={"Content-Type": "application/json"}, method="POST")
        with urllib.request.urlopen(request, timeout=300) as upstream:
            self._reply(upstream.status, upstream.read())


@pytest.mark.timeout(480)
def test_injected_faults_are_retried_and_the_run_completes(msm_process, served_model, isolated_workspace: Path) -> None:
    faults = {1: "429", 2: "500", 3: "garbage", 4: "drop", 6: "timeout", 8: "429"}
    proxy = _FaultProxy(served_model["base"], faults, hang_s=16)
    result = _generate(msm_process, "faulty", served_model, proxy.base, "--request-timeout", "15", "--json",
                       max_tokens=64)
    proxy.shutdown()
    assert result.code == 0, result.err[-2000:]
    assert sorted(proxy.injected) == sorted(faults.values())
    run_dir = isolated_workspace / "runs" / "faulty"
    calls = _lines(run_dir / "calls.jsonl")
    errors = [c for c in calls if c["error"]]
    assert len(errors) >= len(faults)  # each injected fault was seen and recorded (a slow CI box may add timeouts)
    assert any("RateLimit" in c["error"] for c in errors) and any("Timeout" in c["error"] for c in errors)
    docs, failures = _lines(run_dir / "documents.jsonl"), _lines(run_dir / "failures.jsonl")
    finished = {d["doc_id"] for d in docs} | {f["item_id"] for f in failures if f["permanent"]}
    assert len(finished) == 2
    assert not any("gave up" in f["reason"] for f in failures)  # no fault outlived the retries
    assert json.loads(result.out)["retries"] >= len(faults)
