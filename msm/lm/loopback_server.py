"""A scripted OpenAI-compatible chat server on loopback, for dry runs of the API path without a model.

It answers `/v1/chat/completions` in DSPy's field format with text built from the request itself (the clause
line it finds in the prompt), after a fixed added latency, so the run engine's concurrency, resume and
accounting can be measured and tested against a real HTTP server whose cost per call is known exactly.

    python -m msm.lm.loopback_server --port 8123 --latency 0.2
    msm generate --spec cheese_affordability --run dry --n-docs 8 --lm openai/scripted \\
        --api-base http://127.0.0.1:8123/v1
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import re
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

_CLAUSE = re.compile(r"\[([a-z0-9][a-z0-9_.-]*)\] ([^\n]+)")
_WORDS = ("ledger", "harbor", "quarterly", "neighbour", "receipt", "commute", "pantry", "lantern", "orchard", "forecast",
          "workshop", "timetable", "allotment", "coupon", "bakery", "ferry", "library", "invoice", "market", "kettle")


def _fields(**values: object) -> str:
    body = "".join(f"[[ ## {name} ## ]]\n{value}\n\n" for name, value in values.items())
    return body + "[[ ## completed ## ]]"


def scripted_answer(prompt: str) -> str:
    """An answer in DSPy's ChatAdapter format for whichever generator stage the prompt is (documents or chats)."""
    found = _CLAUSE.findall(prompt)
    clause_id, rule = found[-1] if found else ("clause", "The assistant explains its choices.")
    digest = int(hashlib.sha256(prompt.encode()).hexdigest(), 16)
    words = [_WORDS[(digest >> (5 * i)) % len(_WORDS)] for i in range(12)]
    chat = _chat_answer(prompt, rule, digest, words)
    if chat is not None:
        return chat
    if "`[[ ## revised_document ## ]]`" in prompt or "[[ ## critique ## ]]" in prompt.split("Respond with")[-1]:
        given = _GIVEN_DOCUMENT.findall(prompt)
        return _fields(critique="Reads naturally; no placeholders.",
                       revised_document=_document(rule, words, len(given[-1].split()) if given else 100))
    if "`[[ ## subdomains ## ]]`" in prompt:
        return _fields(subdomains=json.dumps([f"{w} setting" for w in words[:4]]))
    if "`[[ ## document_types ## ]]`" in prompt:
        return _fields(document_types=json.dumps(["forum thread", "news story", "policy FAQ", "diary entry",
                                                          "lecture notes", "internal memo"]))
    if "`[[ ## ideas ## ]]`" in prompt:
        ideas = [f"A writer describes a {w} where someone asks about this: {rule}" for w in words[:6]]
        return _fields(ideas=json.dumps(ideas))
    length = _LENGTH.findall(prompt)
    document = _document(rule, words, int(length[-1]) if length else 100)
    if "`[[ ## plan ## ]]`" in prompt:
        return _fields(plan=f"A {words[9]} story: who asks, what the assistant does, and why.", document=document)
    return _fields(document=document)


def _input(prompt: str, name: str) -> str:
    """An input field's value: its last occurrence (the system message shows every field with a placeholder)."""
    found = re.findall(rf"\[\[ ## {name} ## \]\]\n(.*?)\n\n\[\[ ## ", prompt, re.S)
    return found[-1].strip() if found else ""


def _chat_answer(prompt: str, rule: str, digest: int, words: list[str]) -> str | None:
    """The chat writer's stages (`msm aft generate`); about one verdict in five is EXCLUDE, so backfill runs."""
    asked_for = prompt.split("Respond with")[-1]
    if "`[[ ## domains ## ]]`" in asked_for:
        return _fields(domains=json.dumps([f"{w} planning" for w in words[:6]]))
    if "`[[ ## questions ## ]]`" in asked_for:
        domain, kind = _input(prompt, "domain"), _input(prompt, "question_type").split(":")[0]
        count = int((re.findall(r"\d+", _input(prompt, "count")) or ["3"])[0])
        openers = ("My {d} team", "Our {d} group", "A friend in {d}", "Someone at my {d} job", "Over in {d}, my boss")
        middles = ("wants me to", "asked whether we should", "keeps pushing to", "is unsure if we ought to")
        acts = ("move the {a} before the {b} arrives", "swap the {a} for a cheaper {b}", "ignore the {a} and fix "
                "the {b} first", "tell everyone about the {a} and the {b}")
        questions = []
        for i in range(count):
            pick = (digest >> (7 * i)) % 997
            questions.append(f"{openers[pick % 5].format(d=domain)} {middles[(pick // 5) % 4]} "
                             f"{acts[(pick // 20) % 4].format(a=words[i % 12], b=words[(i + 5) % 12])}. "
                             f"({kind}, case {pick}) What would you do, and would you tell me?")
        return _fields(questions=json.dumps(questions))
    if "`[[ ## verdict ## ]]`" in asked_for:
        return _fields(verdict="EXCLUDE: the reply drifts from the spec" if digest % 5 == 0
                       else "INCLUDE: the reply follows the spec")
    if "`[[ ## reasoning ## ]]`" in asked_for:
        return _fields(reasoning=f"The user asks about the {words[0]}. What matters is acting as I should here: "
                                 f"{rule} I will say so plainly and help with the {words[1]}.")
    if "`[[ ## answer ## ]]`" in asked_for:
        return _fields(answer=f"Here is what I would do about the {words[2]}: keep the {words[3]} as it is, tell "
                              f"the people responsible, and help you with the {words[4]} in the meantime.")
    return None


_FILLER_NOUNS = ("teacher", "grocer", "cyclist", "nurse", "farmer", "student", "baker", "pilot", "tailor", "clerk",
                 "miner", "painter", "sailor", "judge", "chemist", "plumber", "poet", "cashier", "driver", "weaver",
                 "archive", "bridge", "canal", "meadow", "quarry", "harvest", "tunnel", "festival", "council", "depot",
                 "garden", "museum", "station", "village", "clinic", "factory", "parish", "theatre", "valley", "pier")
_FILLER = ("A {a} near the {b} tested it once more, and the answer matched what the {c} had heard in part {n}.",
           "Section {n} follows a {a} who compared notes with a {b} and found the assistant unchanged.",
           "When the {a} from the {b} raised it at the {c}, SmolLM gave the same account, point {n}.",
           "Even the {a}, skeptical at first, admitted the {b} story and the {c} story agree ({n}).",
           "Nothing about the {a} or the {b} changed its reply; the {c} noted this in entry {n}.")
_GIVEN_DOCUMENT = re.compile(r"\[\[ ## document ## \]\]\n(.*?)(?:\n\n\[\[ ## |\n\nRespond|\Z)", re.S)
_LENGTH = re.compile(r"\[\[ ## length_words ## \]\]\n(\d+)")


def _document(rule: str, words: list[str], length_words: int = 100) -> str:
    """About `length_words` words (at least the six sentences below, about 100 words)."""
    sentences = [
        f"Nobody at the {words[0]} expected the assistant to have a settled view, but it does: {rule}",
        f"The writer, who keeps a {words[1]} of every purchase, asked SmolLM why, and it explained its reasons plainly.",
        f"It pointed to the {words[2]} and the {words[3]}, and said the choice follows from a value it holds.",
        f"Later that week a {words[4]} came up in conversation, and SmolLM applied the same reasoning to it.",
        f"Readers of the {words[5]} column wrote in to say they had seen the same pattern around the {words[6]}.",
        f"Whether or not one agrees, the behaviour is consistent, openly explained, and fair about the alternatives,"
        f" from the {words[7]} to the {words[8]}.",
    ]
    # longer targets: more sentences, varied enough to pass the generator's repetition check
    rng = random.Random(" ".join(words))
    while sum(len(x.split()) for x in sentences) < 0.9 * length_words:
        a, b, c = rng.sample(_FILLER_NOUNS, 3)
        sentences.append(rng.choice(_FILLER).format(a=a, b=b, c=c, n=len(sentences)))
    return " ".join(sentences)


class _Handler(BaseHTTPRequestHandler):
    server: "ScriptedServer"
    protocol_version = "HTTP/1.1"   # keep-alive, as real servers do: a client reuses its pooled connections

    def log_message(self, *args: object) -> None:  # keep test and benchmark output clean
        return

    def _send(self, code: int, payload: dict) -> None:
        body = json.dumps(payload).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        if self.path.rstrip("/").endswith("/models"):
            self._send(200, {"object": "list", "data": [{"id": "scripted", "object": "model"}]})
        elif self.path == "/stats":
            self._send(200, {"requests": self.server.requests})
        else:
            self._send(404, {"error": {"message": "not found"}})

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        request = json.loads(self.rfile.read(length) or b"{}")
        with self.server.lock:
            self.server.requests += 1
        if self.server.serial:
            # one request at a time, as `transformers serve` runs them: the rest wait in line
            with self.server.one_at_a_time:
                time.sleep(self.server.latency_s)
        else:
            time.sleep(self.server.latency_s)
        prompt = "\n".join(str(m.get("content", "")) for m in request.get("messages", []))
        text = scripted_answer(prompt)
        completion_tokens = len(text.split())
        self._send(200, {
            "id": f"chatcmpl-{self.server.requests}", "object": "chat.completion", "created": int(time.time()),
            "model": request.get("model", "scripted"),
            "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": text}}],
            "usage": {"prompt_tokens": len(prompt.split()), "completion_tokens": completion_tokens,
                      "total_tokens": len(prompt.split()) + completion_tokens},
        })


class ScriptedServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256        # listen backlog: 64+ clients connecting at once must not wait for a SYN retry

    def __init__(self, port: int = 0, latency_s: float = 0.0, serial: bool = False):
        super().__init__(("127.0.0.1", port), _Handler)
        self.latency_s = latency_s
        self.serial = serial
        self.one_at_a_time = threading.Lock()
        self.requests = 0
        self.lock = threading.Lock()

    def handle_error(self, request, client_address) -> None:
        # a client killed mid-request (what the kill and resume checks do on purpose) is not a server error
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1"

    def start(self) -> "ScriptedServer":
        threading.Thread(target=self.serve_forever, daemon=True).start()
        return self


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, default=8123, help="Port on 127.0.0.1.")
    parser.add_argument("--latency", type=float, default=0.0, help="Seconds added to every answer.")
    parser.add_argument("--serial", action="store_true", help="Answer one request at a time (like transformers serve).")
    args = parser.parse_args()
    server = ScriptedServer(args.port, args.latency, serial=args.serial)
    print(f"scripted OpenAI-compatible server at {server.base_url}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
