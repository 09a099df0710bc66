"""A scripted OpenAI-compatible chat server on loopback for the eval tests: a judge request (DSPy field format in the
prompt) gets a verdict in that format, anything else gets the agent answer it was given. It reports usage, names
the model it was asked for (so LiteLLM can price it), and records how many requests were in flight at once."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class ScriptedChat(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, agent_answer: str, verdict: dict[str, str], latency_s: float = 0.05):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.agent_answer, self.verdict, self.latency_s = agent_answer, verdict, latency_s
        self.lock = threading.Lock()
        self.in_flight = self.max_in_flight = 0
        self.requests: list[dict] = []
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1"

    def answer(self, body: dict) -> str:
        prompt = "\n".join(str(m.get("content")) for m in body.get("messages", []))
        if "[[ ## completed ## ]]" in prompt:
            fields = "".join(f"[[ ## {name} ## ]]\n{value}\n\n" for name, value in self.verdict.items())
            return fields + "[[ ## completed ## ]]"
        return self.agent_answer


class _Handler(BaseHTTPRequestHandler):
    server: ScriptedChat

    def log_message(self, *args: object) -> None:
        return

    def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        with self.server.lock:
            self.server.requests.append(body)
            self.server.in_flight += 1
            self.server.max_in_flight = max(self.server.max_in_flight, self.server.in_flight)
        time.sleep(self.server.latency_s)
        text = self.server.answer(body)
        with self.server.lock:
            self.server.in_flight -= 1
        reply = {"id": "chatcmpl-test", "object": "chat.completion", "created": int(time.time()),
                 "model": body.get("model", "scripted"),
                 "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": text}}],
                 "usage": {"prompt_tokens": 100, "completion_tokens": 20, "total_tokens": 120}}
        data = json.dumps(reply).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
