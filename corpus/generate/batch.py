"""Run the generator's stages as rounds of batch requests: the OpenAI Batch API, or JSONL files for `vllm run-batch`.

The per-item engine (`engine.ItemEngine`) asks for one item at a time; here every request the run needs next — all
missing plans, then all document-type brainstorms, then all idea brainstorms, then every write and revise — goes
out together as one round of batches. The answers pass through the same parsing (the run's DSPy adapter), the
same checks and the same records as the per-item engine: brainstorm answers into `stages.jsonl`, documents and
failures into the run store, one line per request result into `calls.jsonl` (tokens from the response's usage;
cost at LiteLLM's list price for the model, halved: the Batch API bills half; 0 for a model LiteLLM does not price).

What needs asking next is always recomputed from the run's files by the same `planning.SlotWalk` the per-item
engine uses — its brainstorm questions answered from the run's cache, the open ones turned into requests — so a
request's `custom_id` (`stage|key`) names the same piece of work in every process, and an answer is applied only
while that work is still open:

    runs/<name>/batches.jsonl   append-only events: uploaded (file id) → submitted (batch id) → finished →
                                ingested; file_written for request files (--batch-file-only)

A batch id is written there before the process waits on it; a process killed while batches are in flight
finds them on rerun and polls the same batches to completion instead of submitting again. An upload whose batch
id was never recorded (a kill inside `batches.create`) is looked up in the provider's batch list by its input
file id. A per-request error leaves its work open, so the next round asks again (up to `max_retries` times in
one process, then it fails like a per-item call that ran out of retries).

A written-but-not-yet-revised draft is kept in `stages.jsonl` (stage `draft`, key `<doc id>:<attempt>`), so the
revise round never pays for a write twice.
"""

from __future__ import annotations

import importlib.util
import io
import json
import time
from collections import Counter
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

import dspy
from dspy.utils.exceptions import AdapterParseError

from msm.atomic import append_jsonl, read_jsonl, repair_jsonl_tail
from msm.corpus.generate.engine import CallOutcome, Draft, RunRecorder, Totals
from msm.corpus.generate.lm.backends import TRANSIENT_STATUS
from msm.corpus.generate.lm.lenient_adapter import LenientAdapter
from msm.corpus.generate.planning import StageAsk, WriteJob
from msm.corpus.generate.program import SpecDocumentProgram
from msm.corpus.generate.settings import GenerationSettings
from msm.corpus.records import BatchEvent, StageRecord, resume_line
from msm.corpus.run_store import RunStore
from msm.errors import BadInput, MsmError
from msm.progress import no_progress
from msm.spec import Spec
from msm.workspace import utc_now

# the Batch API's limits per input file (https://platform.openai.com/docs/guides/batch): a bigger round is split
MAX_REQUESTS_PER_FILE = 50_000
MAX_BYTES_PER_FILE = 200 * 1000 * 1000
STAGE_ORDER = ("plan", "types", "ideas", "write", "revise")
TERMINAL = {"completed", "failed", "expired", "cancelled"}
ENDPOINT = "/v1/chat/completions"
BATCH_DISCOUNT = 0.5  # Batch API requests are billed at half the list price


@dataclass
class BatchRequest:
    """One piece of open work: what to send, and what to do with the answer."""

    custom_id: str
    stage: str
    item: str  # the item calls.jsonl names (a stage key or a doc id)
    rollout: str
    signature: type[dspy.Signature]
    prefill: str | None
    build_body: Callable[[], dict[str, Any]]  # only requests that are sent get their prompt formatted
    apply: Callable[[CallOutcome, str | None], None]  # (outcome, batch id or source file)

    def line(self) -> bytes:
        return (json.dumps({"custom_id": self.custom_id, "method": "POST", "url": ENDPOINT, "body": self.build_body()},
                           ensure_ascii=False) + "\n").encode("utf-8")


@dataclass
class RoundResult:
    """What one round's answers did."""

    answered: int = 0
    errors: int = 0
    skipped: int = 0  # answers for work that was no longer open (already applied, or unknown ids)
    error_reasons: Counter = field(default_factory=Counter)
    seen: set[str] = field(default_factory=set)


def split_requests(lines: list[bytes], *, max_requests: int = MAX_REQUESTS_PER_FILE,
                   max_bytes: int = MAX_BYTES_PER_FILE) -> list[list[bytes]]:
    """Cut request lines into files of at most `max_requests` lines and `max_bytes` bytes each."""
    parts: list[list[bytes]] = []
    current: list[bytes] = []
    size = 0
    for line in lines:
        if len(line) > max_bytes:
            raise MsmError(f"one batch request is {len(line)} bytes, over the {max_bytes}-byte file limit")
        if current and (len(current) >= max_requests or size + len(line) > max_bytes):
            parts.append(current)
            current, size = [], 0
        current.append(line)
        size += len(line)
    if current:
        parts.append(current)
    return parts


def request_model(lm: str) -> str:
    """The model name the provider sees: `openai/gpt-4.1-mini` → `gpt-4.1-mini`."""
    return lm.split("/", 1)[1] if "/" in lm else lm


@lru_cache(maxsize=1)
def _priced_models() -> frozenset[str]:
    """The models in the price table LiteLLM ships (the one it uses offline, see the generate package), read without
    importing LiteLLM: that import takes several seconds, and a self-hosted model has no price anyway."""
    spec = importlib.util.find_spec("litellm")
    table = Path(next(iter(spec.submodule_search_locations or []), "")) / "model_prices_and_context_window_backup.json"
    try:
        return frozenset(json.loads(table.read_text(encoding="utf-8")))
    except (OSError, ValueError):
        return frozenset()


def batch_cost(lm: str, prompt_tokens: int, completion_tokens: int) -> tuple[float, str]:
    """(USD, how it was priced): LiteLLM's list price for the model, halved for the Batch API; 0 if LiteLLM does
    not know the model (a self-hosted server)."""
    provider, _, model = lm.partition("/")
    for name in (lm, model):
        if name and name in _priced_models():
            import litellm

            try:
                prompt_cost, completion_cost = litellm.cost_per_token(
                    model=name, prompt_tokens=prompt_tokens, completion_tokens=completion_tokens,
                    custom_llm_provider=provider or None)
            except Exception:  # a price entry LiteLLM cannot apply to chat completions
                break
            return (prompt_cost + completion_cost) * BATCH_DISCOUNT, "litellm list price x 0.5 (batch)"
    return 0.0, "unknown to litellm"


class BatchEngine(RunRecorder):
    """The generator run with every stage answered in batch rounds. `client` is an `openai.OpenAI` (None when only
    files are written or read)."""

    def __init__(self, store: RunStore, spec: Spec, program: SpecDocumentProgram, settings: GenerationSettings, *,
                 client: Any = None, poll_s: float = 30.0, max_failures: int | None = None,
                 max_cost_usd: float | None = None,
                 round_progress: Callable[[str, int], AbstractContextManager] = no_progress,
                 log: Callable[[str], None] = lambda _m: None, max_requests: int | None = None,
                 max_bytes: int | None = None, sleep: Callable[[float], None] = time.sleep):
        # the opening goes into the request as text: a batch endpoint cannot continue a prefilled assistant turn
        super().__init__(store, spec, program, settings,
                         adapter=LenientAdapter(plain_prompts=settings.profile == "weak", prefill_as_turn=False),
                         max_failures=max_failures, max_cost_usd=max_cost_usd, sleep=sleep)
        self.client = client
        self.poll_s = poll_s
        self.round_progress = round_progress
        self.log = log
        self.max_requests = max_requests or MAX_REQUESTS_PER_FILE
        self.max_bytes = max_bytes or MAX_BYTES_PER_FILE
        self.batches_path = store.dir / "batches.jsonl"
        repair_jsonl_tail(self.batches_path)
        self.model = request_model(settings.lm)
        self._errors: Counter = Counter()  # per custom_id, in this process
        self._gave_up: dict[tuple[str, str], StageRecord] = {}  # brainstorm requests out of retries, in this process
        self._buffer: dict[Path, list] | None = None
        self.batches_submitted = 0
        self.rounds = 0

    # ---- what is open: the slot walk answered from the cache; open questions become requests ---------------------
    def _known(self, ask: StageAsk) -> StageRecord | None:
        return self.cached(ask) or self._gave_up.get((ask.stage, ask.key))

    def _brainstorm_request(self, ask: StageAsk) -> BatchRequest:
        stage, key = ask.stage, ask.key

        def apply(outcome: CallOutcome, batch_id: str | None) -> None:
            if (stage, key) in self.stage_cache:
                return
            record = self.record_stage(stage, key, outcome, batch_id=batch_id)
            if (stage, key) not in self.stage_cache:  # never answered: not cached, a later process asks again
                self._gave_up[(stage, key)] = record

        return self._request(getattr(self.program, ask.predictor), stage, key, key, f"{stage}:{key}", ask.inputs,
                             None, apply)

    def _request(self, predictor: dspy.Predict, stage: str, key: str, item: str, rollout: str,
                 inputs: dict[str, Any], prefill: str | None,
                 apply: Callable[[CallOutcome, str | None], None]) -> BatchRequest:
        def build_body() -> dict[str, Any]:
            # the predictor's own signature and demos, so an optimized program's instructions and demos are sent
            self.adapter.set_prefill(prefill)
            try:
                messages = self.adapter.format(predictor.signature, predictor.demos, inputs)
            finally:
                self.adapter.set_prefill(None)
            return {"model": self.model, "messages": messages, "temperature": self.settings.temperature,
                    "max_tokens": self.settings.max_tokens[stage]}

        return BatchRequest(custom_id=f"{stage}|{key}", stage=stage, item=item, rollout=rollout,
                            signature=predictor.signature, prefill=prefill, build_body=build_body, apply=apply)

    def open_requests(self) -> list[BatchRequest]:
        """Every request the run needs next, all of one brainstorm stage, or every write and revise together (a
        retried write and another slot's revise do not wait for each other). Empty: the run is finished."""
        _, pending, attempts_used = self.pending_slots()
        walked = self.walker.walk(pending, lambda asks: [self._known(a) for a in asks])
        if walked.missing:
            return [self._brainstorm_request(ask) for ask in walked.missing]
        requests = []
        for job in walked.jobs:
            attempt = attempts_used.get(job.slot.doc_id, 0)
            if self.out_of_attempts(job, attempt):
                continue
            draft = self.stage_cache.get(("draft", f"{job.slot.doc_id}:{attempt}"))
            if draft is not None and self.settings.revise:
                requests.append(self._revise_request(job, attempt, Draft(**draft.output)))
            else:
                requests.append(self._write_request(job, attempt))
        return requests

    def _write_request(self, job: WriteJob, attempt: int) -> BatchRequest:
        doc_id = job.slot.doc_id

        def apply(outcome: CallOutcome, batch_id: str | None) -> None:
            draft = self.check_written(job, attempt, outcome)
            if draft is None:
                return
            if not self.settings.revise:
                self.store_document(job, attempt, draft, {"batch_id": batch_id, "batch_ids": {"write": batch_id}})
                return
            record = StageRecord(stage="draft", key=f"{doc_id}:{attempt}", ok=True, output=draft.__dict__,
                                 batch_id=batch_id, lm=self.settings.lm, at=utc_now().isoformat())
            with self._lock:
                self._append(self.stages_path, [record])
                self.stage_cache[("draft", record.key)] = record

        writer = self.program.writer(rules_only=job.rules_only, planned=self.settings.plan_before_writing)
        return self._request(writer, "write", f"{doc_id}|{attempt}", doc_id, job.rollout(attempt),
                             job.inputs, job.opening or None, apply)

    def _revise_request(self, job: WriteJob, attempt: int, draft: Draft) -> BatchRequest:
        write_batch = self.stage_cache[("draft", f"{job.slot.doc_id}:{attempt}")].batch_id

        def apply(outcome: CallOutcome, batch_id: str | None) -> None:
            revised = self.check_revised(job, attempt, draft, outcome)
            if revised is not None:
                self.store_document(job, attempt, revised,
                                    {"batch_id": batch_id, "batch_ids": {"write": write_batch, "revise": batch_id}})

        return self._request(self.program.revise, "revise", f"{job.slot.doc_id}|{attempt}", job.slot.doc_id,
                             job.rollout(attempt), job.revise_inputs(draft.text), None, apply)

    # ---- answers ---------------------------------------------------------------------------------------------------
    def _append(self, path: Path, records: list) -> None:
        if self._buffer is None:
            super()._append(path, records)
        else:
            self._buffer.setdefault(path, []).extend(records)

    @contextmanager
    def _buffered_writes(self) -> Iterator[None]:
        """Collect the records of one batch's answers and append them file by file (one fsync each instead of
        one per record: measured 7 ms a sync here). Safe after a kill mid-way: an answer already applied is no
        longer open work and is skipped when the batch is ingested again."""
        self._buffer = {}
        try:
            yield
        finally:
            buffer, self._buffer = self._buffer, None
            for path, records in buffer.items():
                super()._append(path, records)

    def apply_results(self, requests: list[BatchRequest], results: Iterable[dict], *, source: str | None,
                      expected: set[str] | None = None) -> RoundResult:
        """Apply batch output/error lines (`custom_id`, `response.status_code`, `response.body`, `error`) to the
        open requests they answer. A request in `expected` with no line at all counts as a per-request error."""
        by_id = {r.custom_id: r for r in requests}
        outcome = RoundResult()
        seen = outcome.seen
        with self._buffered_writes():
            self._apply_lines(by_id, results, outcome, source)
            for custom_id in sorted((expected or set()) - seen):
                if custom_id in by_id:
                    self._apply_error(by_id[custom_id], None, "no result in the batch output", source)
                    outcome.errors += 1
                    outcome.error_reasons["missing"] += 1
        return outcome

    def _apply_lines(self, by_id: dict[str, BatchRequest], results: Iterable[dict], outcome: RoundResult,
                     source: str | None) -> None:
        seen = outcome.seen
        for line in results:
            custom_id = line.get("custom_id")
            request = by_id.get(custom_id)
            if request is None or custom_id in seen:
                outcome.skipped += 1
                continue
            seen.add(custom_id)
            batch_id = line.get("_batch_id") or source
            response = line.get("response") or {}
            status = response.get("status_code")
            body = response.get("body") if isinstance(response.get("body"), dict) else None
            if status == 200 and body and body.get("choices"):
                self._apply_answer(request, body, batch_id)
                outcome.answered += 1
            else:
                error = line.get("error") or (body or {}).get("error") or {}
                if not isinstance(error, dict):  # vLLM may give the error as a plain string
                    error = {"message": str(error)}
                kind = f"HTTP {status}" if status else str(error.get("code") or "error")
                reason = f"{kind}: {error.get('message') or error.get('code') or 'no answer'}"
                self._apply_error(request, status, reason, batch_id)
                outcome.errors += 1
                outcome.error_reasons[kind] += 1

    def _apply_answer(self, request: BatchRequest, body: dict, batch_id: str | None) -> None:
        choice = body["choices"][0]
        text = (choice.get("message") or {}).get("content") or ""
        usage = body.get("usage") or {}
        prompt_tokens = int(usage.get("prompt_tokens") or 0)
        completion_tokens = int(usage.get("completion_tokens") or 0)
        cost, basis = batch_cost(self.settings.lm, prompt_tokens, completion_tokens)
        self.adapter.set_prefill(request.prefill)
        try:
            values = self.adapter.parse(request.signature, text)
            for name in request.signature.output_fields:
                values.setdefault(name, None)
            outcome = CallOutcome(ok=True, values=values, raw=text, parse_mode=self.adapter.last_parse_mode)
        except (AdapterParseError, ValueError):
            outcome = CallOutcome(ok=False, raw=text, reason="unparseable answer")
        finally:
            self.adapter.set_prefill(None)
        outcome.prompt_tokens, outcome.completion_tokens, outcome.cost = prompt_tokens, completion_tokens, cost
        outcome.finish_reason = choice.get("finish_reason")
        self.log_call(request.stage, request.item, request.rollout,
                      {"usage": usage, "cost": cost}, 0.0, batch_id=batch_id, custom_id=request.custom_id,
                      cost_basis=basis)
        request.apply(outcome, batch_id)

    def _apply_error(self, request: BatchRequest, status: int | None, reason: str, batch_id: str | None) -> None:
        self.log_call(request.stage, request.item, request.rollout, None, 0.0, error=reason[:300],
                      batch_id=batch_id, custom_id=request.custom_id)
        self._errors[request.custom_id] += 1
        transient = status is None or status in TRANSIENT_STATUS or status >= 500
        if transient and self._errors[request.custom_id] <= self.settings.max_retries:
            with self._lock:
                self.totals.retries += 1
            return  # left open: the next round asks again
        prefix = "gave up after retries: " if transient else ""
        request.apply(CallOutcome(ok=False, reason=prefix + reason), batch_id)

    # ---- the batch log -----------------------------------------------------------------------------------------
    def _event(self, **fields: Any) -> BatchEvent:
        event = BatchEvent(**fields, at=utc_now().isoformat())
        append_jsonl(self.batches_path, [resume_line(event)])
        return event

    def events(self) -> list[BatchEvent]:
        return [BatchEvent.model_validate(raw) for raw in read_jsonl(self.batches_path)]

    def _next_round(self) -> int:
        return max((e.round or 0 for e in self.events()), default=0) + 1

    def open_batches(self) -> list[BatchEvent]:
        """Submitted batches whose answers were not ingested yet (a killed process's), oldest first."""
        events = self.events()
        ingested = {e.batch_id for e in events if e.event == "ingested"}
        return [e for e in events if e.event == "submitted" and e.batch_id not in ingested]

    # ---- the Batch API ------------------------------------------------------------------------------------------
    def run(self) -> Totals:
        all_slots, pending, _ = self.pending_slots()
        self.on_progress(len(all_slots) - len(pending), **self.status())
        self._adopt_unrecorded_submissions()
        left_over = self.open_batches()
        if left_over:
            self.log(f"resuming {len(left_over)} batch(es) submitted earlier: "
                     + ", ".join(e.batch_id or "?" for e in left_over))
            self._await_and_ingest(left_over)
        while True:
            self.check_failures()
            self.check_budget()
            requests = self.open_requests()
            if not requests:
                return self.totals
            self._await_and_ingest(self._submit(requests))

    def _request_files(self, by_stage: dict[str, list["BatchRequest"]], round_no: int):
        """(stage, part, file name, JSONL lines) of one round, stage by stage, split at the per-file limits."""
        for stage in sorted(by_stage, key=STAGE_ORDER.index):
            parts = split_requests([r.line() for r in by_stage[stage]], max_requests=self.max_requests,
                                   max_bytes=self.max_bytes)
            for part, lines in enumerate(parts):
                yield stage, part, f"{self.store.name}-r{round_no}-{stage}-{part}.jsonl", lines

    def _submit(self, requests: list[BatchRequest]) -> list[BatchEvent]:
        round_no = self._next_round()
        self.rounds += 1
        submitted = []
        by_stage = _by_stage(requests)
        for stage, part, name, lines in self._request_files(by_stage, round_no):
            uploaded = self.client.files.create(file=(name, io.BytesIO(b"".join(lines))), purpose="batch")
            self._event(event="uploaded", stage=stage, round=round_no, part=part, input_file_id=uploaded.id,
                        requests=len(lines), bytes=sum(map(len, lines)))
            batch = self.client.batches.create(
                input_file_id=uploaded.id, endpoint=ENDPOINT, completion_window="24h",
                metadata={"msm_run": self.store.name, "msm_stage": stage, "msm_round": str(round_no)})
            # recorded before any wait: a killed process resumes this batch
            submitted.append(self._event(event="submitted", stage=stage, round=round_no, part=part,
                                         input_file_id=uploaded.id, batch_id=batch.id, status=batch.status,
                                         requests=len(lines)))
            self.batches_submitted += 1
        counts = ", ".join(f"{stage} {len(by_stage[stage])}" for stage in sorted(by_stage, key=STAGE_ORDER.index))
        self.log(f"round {round_no}: {counts} requests in {len(submitted)} batch(es)")
        return submitted

    def _adopt_unrecorded_submissions(self) -> None:
        """An upload with no recorded batch: a process killed inside `batches.create`. If the provider has a batch
        for that file, it is this run's and is resumed; otherwise the upload is abandoned (its work is still open)."""
        events = self.events()
        recorded = {e.input_file_id for e in events if e.event in {"submitted", "abandoned"}}
        orphans = [e for e in events if e.event == "uploaded" and e.input_file_id not in recorded]
        if not orphans:
            return
        wanted = {e.input_file_id for e in orphans}
        by_file = {}
        for n, batch in enumerate(self.client.batches.list(limit=100)):  # newest first
            if batch.input_file_id in wanted:
                by_file[batch.input_file_id] = batch
            if len(by_file) == len(wanted) or n >= 1000:
                break
        for upload in orphans:
            batch = by_file.get(upload.input_file_id)
            if batch is None:
                self._event(event="abandoned", stage=upload.stage, round=upload.round, part=upload.part,
                            input_file_id=upload.input_file_id)
                continue
            self._event(event="submitted", stage=upload.stage, round=upload.round, part=upload.part,
                        input_file_id=upload.input_file_id, batch_id=batch.id, status=batch.status,
                        requests=upload.requests, adopted=True)

    def _await_and_ingest(self, batches: list[BatchEvent]) -> None:
        total = sum(int(b.requests or 0) for b in batches)
        stages = sorted({b.stage for b in batches}, key=STAGE_ORDER.index)
        finished: dict[str, Any] = {}
        done_before = 0
        with self.round_progress(f"batch round {batches[0].round} ({', '.join(stages)})", total) as advance:
            while len(finished) < len(batches):
                counted = 0
                for b in batches:
                    if b.batch_id in finished:
                        counts = finished[b.batch_id].request_counts
                    else:
                        batch = self.client.batches.retrieve(b.batch_id)
                        counts = batch.request_counts
                        if batch.status in TERMINAL:
                            finished[b.batch_id] = batch
                            self._event(event="finished", batch_id=batch.id, stage=b.stage, round=b.round,
                                        status=batch.status, output_file_id=batch.output_file_id,
                                        error_file_id=batch.error_file_id,
                                        request_counts=counts.model_dump() if counts else None)
                    counted += (counts.completed + counts.failed) if counts else 0
                advance(max(0, counted - done_before))
                done_before = max(done_before, counted)
                if len(finished) < len(batches):
                    self.sleep(self.poll_s)
        # answers are applied against the work open now; what a previous, interrupted ingest applied is skipped
        requests = self.open_requests()
        answered: set[str] = set()
        done_before = self.totals.done
        for b in batches:
            batch = finished[b.batch_id]
            lines = [{**line, "_batch_id": batch.id} for file_id in (batch.output_file_id, batch.error_file_id)
                     if file_id for line in self._file_lines(file_id)]
            result = self.apply_results(requests, lines, source=batch.id)
            answered |= result.seen
            self._event(event="ingested", batch_id=batch.id, stage=b.stage, round=b.round, status=batch.status,
                        answered=result.answered, errors=result.errors, skipped=result.skipped)
            if result.errors or batch.status != "completed":
                reasons = ", ".join(f"{n} {kind}" for kind, n in result.error_reasons.most_common())
                self.log(f"batch {batch.id} ended {batch.status} with {result.errors} per-request error(s) "
                         f"({reasons}); transient ones are asked again in the next round")
        # open work of these stages that no output or error line mentions (a failed or cancelled batch)
        unanswered = [r for r in requests if r.stage in stages and r.custom_id not in answered]
        if unanswered:
            self.apply_results(unanswered, [], source=batches[-1].batch_id,
                               expected={r.custom_id for r in unanswered})
        self.on_progress(self.totals.done - done_before, **self.status())

    def _file_lines(self, file_id: str) -> Iterator[dict]:
        content = self.client.files.content(file_id)
        for raw in content.text.splitlines():
            if raw.strip():
                yield json.loads(raw)

    # ---- files for `vllm run-batch` (no API) -------------------------------------------------------------------
    def write_request_files(self, out_dir: Path) -> tuple[str | None, list[Path], int]:
        """Write the next round's requests as JSONL into `out_dir`: (stages, files, requests). No files: done."""
        requests = self.open_requests()
        if not requests:
            return None, [], 0
        round_no = self._next_round()
        out_dir.mkdir(parents=True, exist_ok=True)
        paths = []
        by_stage = _by_stage(requests)
        for stage, part, name, lines in self._request_files(by_stage, round_no):
            path = out_dir / name
            path.write_bytes(b"".join(lines))
            self._event(event="file_written", stage=stage, round=round_no, part=part, path=str(path.resolve()),
                        requests=len(lines))
            paths.append(path)
        return ",".join(sorted(by_stage, key=STAGE_ORDER.index)), paths, len(requests)

    def ingest_output_file(self, path: Path) -> RoundResult:
        """Apply a batch output file (`vllm run-batch` or a downloaded OpenAI output/error file) to the open work.
        Lines for work already done are skipped, so ingesting a file twice changes nothing."""
        lines = []
        for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if not raw.strip():
                continue
            try:
                line = json.loads(raw)
            except json.JSONDecodeError:
                raise BadInput(f"{path}: line {number}: not JSON") from None
            if not isinstance(line, dict) or "custom_id" not in line:
                raise BadInput(f"{path}: line {number}: custom_id: missing (not a batch output file)")
            lines.append(line)
        result = self.apply_results(self.open_requests(), lines, source=f"file:{path.name}")
        self._event(event="ingested", batch_id=f"file:{path.resolve()}", answered=result.answered,
                    errors=result.errors, skipped=result.skipped)
        return result


def _by_stage(requests: list["BatchRequest"]) -> dict[str, list["BatchRequest"]]:
    grouped: dict[str, list[BatchRequest]] = {}
    for r in requests:
        grouped.setdefault(r.stage, []).append(r)
    return grouped
