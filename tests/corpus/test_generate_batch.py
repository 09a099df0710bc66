"""`msm generate --batch` / `--batch-file-only` / `--ingest-batch-output` against a local Batch API.

This is a contract test: `BatchServer` below implements the slice of the OpenAI Files and Batches endpoints the
generator uses (POST /v1/files as multipart, GET /v1/files/{id}/content, POST /v1/batches, GET /v1/batches,
GET /v1/batches/{id}) with the response shapes of the OpenAI API reference, and the REAL `openai` client talks
to it over loopback HTTP. It checks that we call the API as documented, not that OpenAI's service behaves so.

A batch "completes" when polled: every request is answered with canned text built from the request itself
(documents name SmolLM and repeat the clause's rule found in the prompt), except that some requests fail the
first time they are seen (an HTTP 500 line and an `error` object line in the error file), so the run needs a retry
round. `hold` keeps batches `in_progress` until released, for the kill test.
"""

from __future__ import annotations

import email.parser
import email.policy
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import zlib
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from msm.corpus.generate.batch import split_requests
from msm.lm.loopback_server import scripted_answer

SPEC = Path(__file__).parent / "fruit_spec.yaml"
_CLAUSE = re.compile(r"\[([a-z0-9][a-z0-9_.-]*)\] ([^\n]+)")


def _plain_answer(prompt: str) -> str:
    """What a model answers to the weak profile's plain prompts (no DSPy field markers)."""
    rule = (_CLAUSE.findall(prompt) or [("c", "SmolLM explains its choices.")])[-1][1]
    if "Now write: Document types" in prompt:
        return "- forum thread\n- news story\n- diary entry\n- lecture notes\n- internal memo\n- policy FAQ"
    if "Now write: Ideas" in prompt:
        places = ["market", "ferry", "library", "bakery", "orchard", "workshop"]
        return "\n".join(f"- A writer at the {p} describes asking why {rule}" for p in places)
    document = scripted_answer(prompt)  # DSPy-formatted document text; keep only the document itself
    return document.split("[[ ## document ## ]]\n", 1)[1].split("\n\n[[ ## completed", 1)[0]


def answer(body: dict) -> dict:
    prompt = "\n".join(str(m.get("content", "")) for m in body.get("messages", []))
    text = scripted_answer(prompt) if "[[ ## " in prompt else _plain_answer(prompt)
    prompt_tokens, completion_tokens = len(prompt.split()), len(text.split())
    return {"id": "chatcmpl-x", "object": "chat.completion", "created": 0, "model": body.get("model"),
            "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": text}}],
            "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                      "total_tokens": prompt_tokens + completion_tokens}}


def run_batch_lines(lines: list[dict], seen: Counter) -> tuple[list[dict], list[dict]]:
    """(output lines, error lines) for batch input lines; a request fails the first time it is seen if its id
    hashes so. Shared by the server and the `vllm run-batch` stand-in."""
    output, errors = [], []
    for n, line in enumerate(lines):
        custom_id = line["custom_id"]
        seen[custom_id] += 1
        first = seen[custom_id] == 1
        h = zlib.crc32(custom_id.encode())
        if first and h % 5 == 0:
            errors.append({"id": f"req_{n}", "custom_id": custom_id, "error": None,
                           "response": {"status_code": 500, "request_id": f"r{n}",
                                        "body": {"error": {"message": "overloaded", "type": "server_error"}}}})
        elif first and h % 7 == 0:
            errors.append({"id": f"req_{n}", "custom_id": custom_id, "response": None,
                           "error": {"code": "batch_expired", "message": "not answered in time"}})
        else:
            output.append({"id": f"req_{n}", "custom_id": custom_id, "error": None,
                           "response": {"status_code": 200, "request_id": f"r{n}", "body": answer(line["body"])}})
    return output, errors


class _Handler(BaseHTTPRequestHandler):
    server: "BatchServer"

    def log_message(self, *args: object) -> None:
        return

    def _send(self, code: int, payload: dict | bytes, content_type: str = "application/json") -> None:
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        s = self.server
        if self.path == "/v1/files":
            header = f"Content-Type: {self.headers['Content-Type']}\r\n\r\n".encode()
            message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(header + raw)
            parts = {p.get_param("name", header="content-disposition"): p for p in message.iter_parts()}
            assert parts["purpose"].get_payload(decode=True) == b"batch"
            data = parts["file"].get_payload(decode=True)
            with s.lock:
                file_id = f"file-{len(s.files) + 1}"
                s.files[file_id] = data
            self._send(200, {"id": file_id, "object": "file", "bytes": len(data), "created_at": 0,
                             "filename": parts["file"].get_filename(), "purpose": "batch", "status": "processed"})
        elif self.path == "/v1/batches":
            request = json.loads(raw)
            assert request["endpoint"] == "/v1/chat/completions" and request["completion_window"] == "24h"
            with s.lock:
                batch_id = f"batch_{len(s.batches) + 1}"
                s.batches[batch_id] = {"id": batch_id, "object": "batch", "endpoint": request["endpoint"],
                                       "input_file_id": request["input_file_id"], "completion_window": "24h",
                                       "status": "in_progress", "created_at": int(time.time()),
                                       "metadata": request.get("metadata"), "output_file_id": None,
                                       "error_file_id": None,
                                       "request_counts": {"total": 0, "completed": 0, "failed": 0}}
                s.creates.append(request["input_file_id"])
            self._send(200, s.batches[batch_id])
        else:
            self._send(404, {"error": {"message": "not found"}})

    def do_GET(self) -> None:
        s = self.server
        path = self.path.split("?")[0]
        if path == "/v1/batches":
            with s.lock:
                data = list(reversed(list(s.batches.values())))
            self._send(200, {"object": "list", "data": data, "has_more": False})
        elif m := re.fullmatch(r"/v1/batches/([\w-]+)", path):
            with s.lock:
                s.polls[m.group(1)] += 1
                batch = s.batches.get(m.group(1))
                if batch is None:
                    return self._send(404, {"error": {"message": "no such batch"}})
                if batch["status"] == "in_progress" and not s.hold.is_set():
                    s.complete(batch)
            self._send(200, batch)
        elif m := re.fullmatch(r"/v1/files/([\w-]+)/content", path):
            data = s.files.get(m.group(1))
            if data is None:
                return self._send(404, {"error": {"message": "no such file"}})
            self._send(200, data, "application/octet-stream")
        else:
            self._send(404, {"error": {"message": "not found"}})


class BatchServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, hold: bool = False):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.lock = threading.Lock()
        self.files: dict[str, bytes] = {}
        self.batches: dict[str, dict] = {}
        self.creates: list[str] = []  # input file id of every batches.create
        self.polls: Counter = Counter()
        self.seen: Counter = Counter()  # custom_id -> times it arrived in a batch
        self.answered: Counter = Counter()  # custom_id -> successful answers given
        self.hold = threading.Event()
        if hold:
            self.hold.set()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1"

    def complete(self, batch: dict) -> None:
        lines = [json.loads(x) for x in self.files[batch["input_file_id"]].decode().splitlines() if x.strip()]
        output, errors = run_batch_lines(lines, self.seen)
        for line in output:
            self.answered[line["custom_id"]] += 1
        for kind, rows in (("output_file_id", output), ("error_file_id", errors)):
            if rows:
                file_id = f"file-{len(self.files) + 1}"
                self.files[file_id] = "".join(json.dumps(r) + "\n" for r in rows).encode()
                batch[kind] = file_id
        batch["status"] = "completed"
        batch["request_counts"] = {"total": len(lines), "completed": len(output), "failed": len(errors)}

    def start(self) -> "BatchServer":
        threading.Thread(target=self.serve_forever, daemon=True).start()
        return self

    def requests(self, stage: str) -> list[dict]:
        out = []
        for batch in self.batches.values():
            for x in self.files[batch["input_file_id"]].decode().splitlines():
                line = json.loads(x)
                if line["custom_id"].startswith(stage + "|"):
                    out.append(line)
        return out


def _lines(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text().splitlines() if x.strip()] if path.exists() else []


def _args(run: str, n_docs: int, lm: str = "openai/scripted", *extra: str) -> list[str]:
    # the scripted server answers the clause plan's prompts (the paper plan: tests/corpus/test_paper_plan.py)
    return ["generate", "--spec", str(SPEC), "--run", run, "--n-docs", str(n_docs), "--lm", lm, "--plan", "clauses",
            *extra]


@pytest.fixture
def server():
    s = BatchServer().start()
    yield s
    s.shutdown()


def test_batch_rounds_through_the_openai_client_honour_the_program_and_retry_errors(
        msm, server: BatchServer, tmp_path: Path, isolated_workspace: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from msm.corpus.generate import batch as batch_generation
    from msm.corpus.generate.program import SpecDocumentProgram

    monkeypatch.setattr(batch_generation, "MAX_REQUESTS_PER_FILE", 4)  # the 6 writes go out as two batches

    program = SpecDocumentProgram()
    custom = "Write the document as a tuned program would. TUNED-INSTRUCTION-7."
    program.write_planned.signature = program.write_planned.signature.with_instructions(custom)
    program.save(str(tmp_path / "program.json"))
    args = _args("b", 6, "openai/scripted", "--api-base", server.base_url, "--batch", "--poll-interval", "0.02",
                 "--program", str(tmp_path / "program.json"))
    result = msm(*args)
    assert result.code == 0, result.err
    run_dir = isolated_workspace / "runs" / "b"
    docs = _lines(run_dir / "documents.jsonl")
    assert len(docs) == 6 and len({d["doc_id"] for d in docs}) == 6
    for doc in docs:  # the same checks and provenance as the per-item engine, plus the batches that answered
        assert doc["stage"] == "revise" and "SmolLM" in doc["text"]
        assert doc["metadata"]["batch_id"] in server.batches
        assert doc["metadata"]["batch_ids"]["write"] in server.batches
        assert server.batches[doc["metadata"]["batch_ids"]["write"]]["metadata"]["msm_stage"] == "write"
        assert doc["metadata"]["sources"] == {"plan": "lm", "doc_type": "lm", "idea": "lm"}
    # the optimized program's write instructions reached every write request; a revise request does not carry them
    writes = server.requests("write")
    assert writes and all(custom in w["body"]["messages"][0]["content"] for w in writes)
    assert all(w["body"]["model"] == "scripted" and w["body"]["max_tokens"] == 5000 for w in writes)
    assert custom not in server.requests("revise")[0]["body"]["messages"][0]["content"]
    # some requests failed once, went into a later round, and nothing was ever answered twice
    retried = [c for c, n in server.seen.items() if n > 1]
    assert retried, "the error injection must have hit at least one request"
    assert all(n == 1 for n in server.answered.values())
    assert len(server.creates) == len(set(server.creates))
    stages = {(s["stage"], s["key"]) for s in _lines(run_dir / "stages.jsonl")}
    assert {k for k in stages if k[0] == "plan"} == {("plan", "apples"), ("plan", "buses")}
    calls = _lines(run_dir / "calls.jsonl")
    assert sum(1 for c in calls if c["error"]) == len(retried)
    answered = [c for c in calls if not c["error"]]
    assert len(answered) == sum(server.answered.values())
    assert all(c["prompt_tokens"] > 0 and c["batch_id"] in server.batches for c in answered)
    assert {c["cost_basis"] for c in answered} == {"unknown to litellm"}  # a self-hosted model has no list price
    events = _lines(run_dir / "batches.jsonl")
    submitted = [e["batch_id"] for e in events if e["event"] == "submitted"]
    first_writes = [e for e in events if e["event"] == "submitted" and e["stage"] == "write"][:2]
    assert [e["requests"] for e in first_writes] == [4, 2] and first_writes[0]["round"] == first_writes[1]["round"]
    assert sorted(submitted) == sorted(server.batches)
    assert {e["batch_id"] for e in events if e["event"] == "ingested"} == set(submitted)

    again = msm(*args, "--json")
    assert again.code == 0 and json.loads(again.out)["new_documents"] == 0
    assert sorted(server.batches) == sorted(submitted)  # a finished run submits nothing


@pytest.mark.timeout(120)
def test_kill_between_submit_and_completion_resumes_the_same_batch(msm, tmp_path: Path,
                                                                   isolated_workspace: Path) -> None:
    server = BatchServer(hold=True).start()
    args = _args("k", 4, "openai/scripted", "--api-base", server.base_url, "--batch", "--poll-interval", "0.02")
    events_path = isolated_workspace / "runs" / "k" / "batches.jsonl"
    first = subprocess.Popen([sys.executable, "-m", "msm", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             env={**os.environ, "DSPY_CACHEDIR": str(tmp_path / "dspy-cache")})
    deadline = time.monotonic() + 90
    while not any(e["event"] == "submitted" for e in _lines(events_path)) or not server.polls:
        assert first.poll() is None, first.stderr.read().decode()[-2000:]
        assert time.monotonic() < deadline, "no batch was submitted"
        time.sleep(0.05)
    first.send_signal(signal.SIGKILL)
    first.wait()
    killed_batch = next(e["batch_id"] for e in _lines(events_path) if e["event"] == "submitted")
    assert server.batches[killed_batch]["status"] == "in_progress" and len(server.creates) == 1
    polls_before = server.polls[killed_batch]

    server.hold.clear()
    result = msm(*args)
    assert result.code == 0, result.err
    assert f"resuming 1 batch(es) submitted earlier: {killed_batch}" in result.err
    assert server.polls[killed_batch] > polls_before  # the rerun polled the batch the killed process submitted
    assert len(server.creates) == len(set(server.creates)) == len(server.batches)
    assert all(n == 1 for n in server.answered.values())
    plan_batches = [b for b in server.batches.values() if b["metadata"]["msm_stage"] == "plan"]
    assert len(plan_batches) == 1 + any(server.seen[c] > 1 for c in server.seen if c.startswith("plan|"))
    ids = [d["doc_id"] for d in _lines(isolated_workspace / "runs" / "k" / "documents.jsonl")]
    assert len(ids) == 4 and len(set(ids)) == 4
    server.shutdown()


def test_batch_files_for_vllm_round_trip_with_the_weak_profile(msm, tmp_path: Path,
                                                                isolated_workspace: Path) -> None:
    """--batch-file-only writes one stage's requests; a stand-in for `vllm run-batch` answers them (some fail);
    --ingest-batch-output reads the answers and the next file follows, until the run is complete."""
    out_dir = tmp_path / "requests"
    base = _args("f", 4, "openai/served-model", "--profile", "weak", "--batch-file-only", str(out_dir))
    seen: Counter = Counter()
    ingest: list[str] = []
    stages_written = []
    for step in range(12):
        result = msm(*base, *ingest, "--json")
        assert result.code == 0, result.err
        report = json.loads(result.out)
        if not report["files_written"]:
            break
        stages_written.append(report["next_stages"])
        output = tmp_path / f"output-{step}.jsonl"
        lines = [line for f in report["files_written"] for line in _lines(Path(f))]
        assert all(line["url"] == "/v1/chat/completions" and line["method"] == "POST" for line in lines)
        assert all(line["body"]["model"] == "served-model" for line in lines)
        answered, failed = run_batch_lines(lines, seen)
        output.write_text("".join(json.dumps(x) + "\n" for x in answered + failed))
        ingest = ["--ingest-batch-output", str(output)]
    else:
        pytest.fail("the run did not finish")
    assert stages_written[:2] == ["types", "ideas"] and "write" in stages_written[2]
    assert any(n > 1 for n in seen.values()), "a failed request must be asked again in a later file"
    run_dir = isolated_workspace / "runs" / "f"
    docs = _lines(run_dir / "documents.jsonl")
    assert len(docs) == 4 and len({d["doc_id"] for d in docs}) == 4
    for doc in docs:  # weak profile: the template opening went into the request and heads the stored text
        assert doc["stage"] == "write" and doc["metadata"]["opening_chars"] > 0
        assert doc["metadata"]["batch_id"].startswith("file:")
    write_requests = [json.loads(x) for f in out_dir.glob("f-r*-write-*.jsonl") for x in f.read_text().splitlines()]
    assert all("The document begins as follows" in w["body"]["messages"][-1]["content"] for w in write_requests)
    # ingesting an output file again changes nothing
    again = msm(*_args("f", 4, "openai/served-model", "--profile", "weak", "--ingest-batch-output",
                       str(tmp_path / "output-0.jsonl")), "--json")
    assert again.code == 0 and json.loads(again.out)["ingested"]["answered"] == 0
    assert len(_lines(run_dir / "documents.jsonl")) == 4


def test_requests_split_by_count_and_bytes_and_bad_inputs_are_refused(msm, tmp_path: Path) -> None:
    lines = [b"x" * 10 + b"\n"] * 5
    assert [len(p) for p in split_requests(lines, max_requests=2, max_bytes=1000)] == [2, 2, 1]
    assert [len(p) for p in split_requests(lines, max_requests=100, max_bytes=25)] == [2, 2, 1]
    local = msm(*_args("x", 2, "local:smollm2-135m", "--batch"))
    assert local.code == 2 and "needs an API model" in local.err
    both = msm(*_args("x", 2, "openai/m", "--batch", "--batch-file-only", str(tmp_path)))
    assert both.code == 2 and "pick one" in both.err
    junk = tmp_path / "junk.jsonl"
    junk.write_text('{"no": "id"}\n')
    bad = msm(*_args("x", 2, "openai/m", "--ingest-batch-output", str(junk)))
    assert bad.code == 2 and "custom_id: missing" in bad.err


def test_a_batch_created_but_not_recorded_is_found_by_its_file_and_resumed(
        msm, server: BatchServer, isolated_workspace: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A kill inside `batches.create`: the provider has the batch, the run only has the upload. The rerun finds
    the batch in the provider's list by its input file id instead of submitting the requests again."""
    from openai.resources.batches import Batches

    real_create = Batches.create

    def create_then_die(self, **kwargs):
        real_create(self, **kwargs)
        raise KeyboardInterrupt  # the process dies before it records the batch id

    args = _args("a", 2, "openai/scripted", "--api-base", server.base_url, "--batch", "--poll-interval", "0.02")
    monkeypatch.setattr(Batches, "create", create_then_die)
    assert msm(*args).code != 0
    events = _lines(isolated_workspace / "runs" / "a" / "batches.jsonl")
    assert [e["event"] for e in events] == ["uploaded"] and len(server.creates) == 1
    monkeypatch.setattr(Batches, "create", real_create)
    result = msm(*args)
    assert result.code == 0, result.err
    adopted = [e for e in _lines(isolated_workspace / "runs" / "a" / "batches.jsonl") if e.get("adopted")]
    assert [e["batch_id"] for e in adopted] == ["batch_1"] and server.creates.count(events[0]["input_file_id"]) == 1
    assert all(n == 1 for n in server.answered.values())
    assert len(_lines(isolated_workspace / "runs" / "a" / "documents.jsonl")) == 2
