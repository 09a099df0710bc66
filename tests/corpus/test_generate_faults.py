"""`msm generate` through a proxy that injects 429 / 500 / garbage / dropped connections / a hung request: every
fault is retried, recorded, and the run completes.

The upstream is the scripted OpenAI-compatible server (real HTTP, real LiteLLM path), which answers in
milliseconds, and the hung request is held until the test ends rather than for a fixed time. So the 15 s request
timeout fires only on the request the proxy hangs, not on healthy ones however busy the machine is — with a served
model, a slow machine made healthy requests time out too and the run outlived its limit. (The real `transformers serve` path
is tested end to end in test_generate_served.py.)"""

from __future__ import annotations

import json
import threading
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from msm.lm.loopback_server import ScriptedServer

SPEC = Path(__file__).parent / "fruit_spec.yaml"


class FaultProxy(ThreadingHTTPServer):
    """Forwards to `upstream`; request n gets the fault at n in `faults` (then everything passes)."""

    daemon_threads = True

    def __init__(self, upstream: str, faults: dict[int, str]):
        super().__init__(("127.0.0.1", 0), _ProxyHandler)
        self.upstream, self.faults = upstream.rstrip("/"), faults
        self.count = 0
        self.injected: list[str] = []
        self.lock = threading.Lock()
        self.released = threading.Event()      # a hung request is held until this is set
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1"

    def close(self) -> None:
        self.released.set()
        self.shutdown()


class _ProxyHandler(BaseHTTPRequestHandler):
    server: FaultProxy

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
        if fault == "hang":
            self.server.released.wait()         # until the client's own request timeout gives up on it
            return
        request = urllib.request.Request(self.server.upstream + self.path.removeprefix("/v1"), data=body,
                                         headers={"Content-Type": "application/json"}, method="POST")
        with urllib.request.urlopen(request, timeout=300) as upstream:
            self._reply(upstream.status, upstream.read())


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


@pytest.mark.timeout(900)     # a hang guard, not a speed check
def test_injected_faults_are_retried_and_the_run_completes(msm_process, tmp_path: Path,
                                                           isolated_workspace: Path) -> None:
    upstream = ScriptedServer().start()
    faults = {1: "429", 2: "500", 3: "garbage", 4: "drop", 6: "hang", 8: "429"}
    proxy = FaultProxy(upstream.base_url, faults)
    try:
        result = msm_process("generate", "--spec", str(SPEC), "--run", "faulty", "--n-docs", "2", "--plan", "clauses",
                             "--lm", "openai/scripted", "--api-base", proxy.base, "--concurrency", "2",
                             "--attempts", "4", "--request-timeout", "15", "--json", timeout=840,
                             env={"DSPY_CACHEDIR": str(tmp_path / "dspy-cache")})   # no cached answer skips the proxy
    finally:
        proxy.close()
        upstream.shutdown()
    assert result.code == 0, result.err[-2000:]
    assert sorted(proxy.injected) == sorted(faults.values())
    run_dir = isolated_workspace / "runs" / "faulty"
    calls = _lines(run_dir / "calls.jsonl")
    errors = [c for c in calls if c["error"]]
    assert len(errors) >= len(faults)  # each injected fault was seen and recorded
    assert any("RateLimit" in c["error"] for c in errors)
    # the hung request, named by the option that bounds it (not the HTTP client's internal timeout object)
    assert any("timed out: no answer within --request-timeout 15 s" in c["error"] for c in errors)
    docs, failures = _lines(run_dir / "documents.jsonl"), _lines(run_dir / "failures.jsonl")
    finished = {d["doc_id"] for d in docs} | {f["item_id"] for f in failures if f["permanent"]}
    assert len(finished) == 2 and len(docs) == 2       # the scripted answers pass every check
    assert not failures or not any("gave up" in f["reason"] for f in failures)  # no fault outlived the retries
    assert json.loads(result.out)["retries"] >= len(faults)
