"""The batch engine: a walk's open work as rounds of batch requests — the OpenAI Batch API, or JSONL files for
`vllm run-batch`.

The item engine asks for one item at a time; here every request the walk needs next — all its open brainstorm
questions, and the next call of every open item — goes out together as one round of batches, one file per stage
(split at the Batch API's per-file limits). The answers pass through the same parsing (the run's DSPy adapter) and
the same `apply` of the walk as an item-engine call: cached answers into `stages.jsonl`, finished records and
failures into the run store, one line per request result into `calls.jsonl` (tokens from the response's usage;
cost at LiteLLM's list price for the model, halved: the Batch API bills half; 0 for a model LiteLLM does not price).

What needs asking next is always recomputed from the run's files by the walk, so a request's `custom_id`
(`stage|key`) names the same piece of work in every process, and an answer is applied only while that work is still
open:

    runs/<name>/batches.jsonl   append-only events: uploaded (file id) → submitted (batch id) → finished →
                                ingested; file_written for request files (--batch-file-only)

A batch id is written there before the process waits on it; a process killed while batches are in flight
finds them on rerun and polls the same batches to completion instead of submitting again. An upload whose batch
id was never recorded (a kill inside `batches.create`) is looked up in the provider's batch list by its input
file id. A per-request error leaves its work open, so the next round asks again (up to `max_retries` times in
one process, then it fails like an item-engine call that ran out of retries).
"""

from __future__ import annotations

import importlib.util
import io
import json
import time
from collections import Counter
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

import dspy
from dspy.utils.exceptions import AdapterParseError

from msm.atomic import append_jsonl, read_jsonl, repair_jsonl_tail
from msm.lm.backends import TRANSIENT_STATUS
from msm.lm.lenient_adapter import LenientAdapter
from msm.corpus.lmrun.caller import CallOutcome, Sampling
from msm.corpus.lmrun.walk import PendingCall, StageAsk, Walk
from msm.corpus.lmrun.worklog import Totals, WorkLog
from msm.corpus.records import BatchEvent, StageRecord, resume_line
from msm.errors import BadInput, MsmError
from msm.progress import no_advance, no_progress
from msm.workspace import utc_now

# the Batch API's limits per input file (https://platform.openai.com/docs/guides/batch): a bigger round is split
MAX_REQUESTS_PER_FILE = 50_000
MAX_BYTES_PER_FILE = 200 * 1000 * 1000
TERMINAL = {"completed", "failed", "expired", "cancelled"}
ENDPOINT = "/v1/chat/completions"
BATCH_DISCOUNT = 0.5  # Batch API requests are billed at half the list price


@dataclass
class BatchRequest:
    """One piece of open work: what to send, and what to do with the answer."""

    custom_id: str
    stage: str
    item: str  # the item calls.jsonl names (a stage key or an item id)
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
    """The models in the price table LiteLLM ships (the one it uses offline, see `msm.corpus`), read without
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


class BatchRounds:
    """A walk run with every stage answered in batch rounds. `client` is an `openai.OpenAI` (None when only files
    are written or read). The adapter formats and parses exactly as the item engine's does, except that a prefill
    goes into the request as text: a batch endpoint cannot continue a prefilled assistant turn."""

    def __init__(self, walk: Walk, log: WorkLog, adapter: LenientAdapter, sampling: Sampling, *, client: Any = None,
                 poll_s: float = 30.0, round_progress: Callable[[str, int], AbstractContextManager] = no_progress,
                 on_progress: Callable[..., None] = no_advance, log_line: Callable[[str], None] = lambda _m: None,
                 max_requests: int = MAX_REQUESTS_PER_FILE, max_bytes: int = MAX_BYTES_PER_FILE,
                 sleep: Callable[[float], None] = time.sleep):
        self.walk = walk
        self.log = log
        self.adapter = adapter
        self.sampling = sampling
        self.client = client
        self.poll_s = poll_s
        self.round_progress = round_progress
        self.on_progress = on_progress
        self.log_line = log_line
        self.max_requests = max_requests
        self.max_bytes = max_bytes
        self.sleep = sleep
        self.batches_path = log.store.dir / "batches.jsonl"
        repair_jsonl_tail(self.batches_path)
        self.model = request_model(sampling.lm)
        self._errors: Counter = Counter()  # per custom_id, in this process
        self._gave_up: dict[tuple[str, str], StageRecord] = {}  # brainstorm requests out of retries, in this process
        self.batches_submitted = 0
        self.rounds = 0

    @property
    def totals(self) -> Totals:
        return self.log.totals

    # ---- what is open: the walk answered from the cache; open questions and items' next calls become requests ------
    def _known(self, ask: StageAsk) -> StageRecord | None:
        return self.log.cached(ask) or self._gave_up.get((ask.stage, ask.key))

    def _brainstorm_request(self, ask: StageAsk) -> BatchRequest:
        stage, key = ask.stage, ask.key

        def apply(outcome: CallOutcome, batch_id: str | None) -> None:
            if (stage, key) in self.log.stage_cache:
                return
            record = self.log.record_stage(stage, key, outcome, batch_id=batch_id)
            if (stage, key) not in self.log.stage_cache:  # never answered: not cached, a later process asks again
                self._gave_up[(stage, key)] = record

        return self.request(PendingCall(getattr(self.walk.program, ask.predictor), stage, key, key, f"{stage}:{key}",
                                        ask.inputs, None, apply))

    def request(self, call: PendingCall) -> BatchRequest:
        def build_body() -> dict[str, Any]:
            # the predictor's own signature and demos, so an optimized program's instructions and demos are sent
            self.adapter.set_prefill(call.prefill)
            try:
                messages = self.adapter.format(call.predictor.signature, call.predictor.demos, call.inputs)
            finally:
                self.adapter.set_prefill(None)
            temperature, max_tokens = self.sampling.for_stage(call.stage)
            return {"model": self.model, "messages": messages, "temperature": temperature, "max_tokens": max_tokens}

        return BatchRequest(custom_id=f"{call.stage}|{call.key}", stage=call.stage, item=call.item,
                            rollout=call.rollout, signature=call.predictor.signature, prefill=call.prefill,
                            build_body=build_body, apply=call.apply)

    def open_requests(self) -> list[BatchRequest]:
        """Every request the run needs next: its open brainstorm questions and the next call of every open item (a
        retried call of one item and another item's later stage do not wait for each other). Empty: finished."""
        while True:
            opened = self.walk.open_work(lambda asks: [self._known(a) for a in asks])
            requests = [self._brainstorm_request(ask) for ask in opened.missing]
            settled = False
            for job in opened.jobs:
                calls = self.walk.job_calls(job)
                settled |= not calls
                requests.extend(self.request(call) for call in calls)
            # a job that needed no call settled something from the cache (a stored record, a final failure), so what
            # is open has changed (a walk with backfill opens another item in its place): walk again. Each such job
            # finished its item for good, so this ends.
            if not settled:
                return requests

    # ---- answers ---------------------------------------------------------------------------------------------------
    def apply_results(self, requests: list[BatchRequest], results: Iterable[dict], *, source: str | None,
                      expected: set[str] | None = None) -> RoundResult:
        """Apply batch output/error lines (`custom_id`, `response.status_code`, `response.body`, `error`) to the
        open requests they answer. A request in `expected` with no line at all counts as a per-request error."""
        by_id = {r.custom_id: r for r in requests}
        outcome = RoundResult()
        seen = outcome.seen
        with self.log.buffered_writes():
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
        cost, basis = batch_cost(self.sampling.lm, prompt_tokens, completion_tokens)
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
        self.log.log_call(request.stage, request.item, request.rollout,
                          {"usage": usage, "cost": cost}, 0.0, batch_id=batch_id, custom_id=request.custom_id,
                          cost_basis=basis)
        request.apply(outcome, batch_id)

    def _apply_error(self, request: BatchRequest, status: int | None, reason: str, batch_id: str | None) -> None:
        self.log.log_call(request.stage, request.item, request.rollout, None, 0.0, error=reason[:300],
                          batch_id=batch_id, custom_id=request.custom_id)
        self._errors[request.custom_id] += 1
        transient = status is None or status in TRANSIENT_STATUS or status >= 500
        if transient and self._errors[request.custom_id] <= self.sampling.max_retries:
            self.log.count_retry()
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

    def _stage_rank(self, stage: str) -> int:
        order = self.walk.stage_order
        return order.index(stage) if stage in order else len(order)

    def by_stage(self, requests: list[BatchRequest]) -> dict[str, list[BatchRequest]]:
        grouped: dict[str, list[BatchRequest]] = {}
        for r in requests:
            grouped.setdefault(r.stage, []).append(r)
        return {stage: grouped[stage] for stage in sorted(grouped, key=self._stage_rank)}

    # ---- the Batch API ------------------------------------------------------------------------------------------
    def run(self) -> Totals:
        finished, _ = self.walk.progress()
        self.on_progress(finished, **self.log.status())
        self._adopt_unrecorded_submissions()
        left_over = self.open_batches()
        if left_over:
            self.log_line(f"resuming {len(left_over)} batch(es) submitted earlier: "
                          + ", ".join(e.batch_id or "?" for e in left_over))
            self._await_and_ingest(left_over)
        while True:
            self.log.check_failures()
            self.log.check_budget()
            requests = self.open_requests()
            if not requests:
                return self.totals
            self._await_and_ingest(self._submit(requests))

    def _request_files(self, by_stage: dict[str, list[BatchRequest]], round_no: int):
        """(stage, part, file name, JSONL lines) of one round, stage by stage, split at the per-file limits."""
        for stage, requests in by_stage.items():
            parts = split_requests([r.line() for r in requests], max_requests=self.max_requests,
                                   max_bytes=self.max_bytes)
            for part, lines in enumerate(parts):
                yield stage, part, f"{self.log.store.name}-r{round_no}-{stage}-{part}.jsonl", lines

    def _submit(self, requests: list[BatchRequest]) -> list[BatchEvent]:
        round_no = self._next_round()
        self.rounds += 1
        submitted = []
        by_stage = self.by_stage(requests)
        for stage, part, name, lines in self._request_files(by_stage, round_no):
            uploaded = self.client.files.create(file=(name, io.BytesIO(b"".join(lines))), purpose="batch")
            self._event(event="uploaded", stage=stage, round=round_no, part=part, input_file_id=uploaded.id,
                        requests=len(lines), bytes=sum(map(len, lines)))
            batch = self.client.batches.create(
                input_file_id=uploaded.id, endpoint=ENDPOINT, completion_window="24h",
                metadata={"msm_run": self.log.store.name, "msm_stage": stage, "msm_round": str(round_no)})
            # recorded before any wait: a killed process resumes this batch
            submitted.append(self._event(event="submitted", stage=stage, round=round_no, part=part,
                                         input_file_id=uploaded.id, batch_id=batch.id, status=batch.status,
                                         requests=len(lines)))
            self.batches_submitted += 1
        counts = ", ".join(f"{stage} {len(reqs)}" for stage, reqs in by_stage.items())
        self.log_line(f"round {round_no}: {counts} requests in {len(submitted)} batch(es)")
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
        stages = sorted({b.stage for b in batches}, key=self._stage_rank)
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
                self.log_line(f"batch {batch.id} ended {batch.status} with {result.errors} per-request error(s) "
                              f"({reasons}); transient ones are asked again in the next round")
        # open work of these stages that no output or error line mentions (a failed or cancelled batch)
        unanswered = [r for r in requests if r.stage in stages and r.custom_id not in answered]
        if unanswered:
            self.apply_results(unanswered, [], source=batches[-1].batch_id,
                               expected={r.custom_id for r in unanswered})
        self.on_progress(self.totals.done - done_before, **self.log.status())

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
        by_stage = self.by_stage(requests)
        for stage, part, name, lines in self._request_files(by_stage, round_no):
            path = out_dir / name
            path.write_bytes(b"".join(lines))
            self._event(event="file_written", stage=stage, round=round_no, part=part, path=str(path.resolve()),
                        requests=len(lines))
            paths.append(path)
        return ",".join(by_stage), paths, len(requests)

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


# ---- one batch-mode command: ingest given output files, then submit rounds (--batch) or write the next files --------
def batch_client(api_base: str | None, timeout_s: float) -> Any:
    """An `openai.OpenAI` for `--batch` (key from MSM_API_KEY or OPENAI_API_KEY; any key for a self-hosted base)."""
    import os

    import openai

    api_key = os.environ.get("MSM_API_KEY") or os.environ.get("OPENAI_API_KEY")
    if not api_key and not api_base:
        raise BadInput("--batch: no API key (set OPENAI_API_KEY or MSM_API_KEY)")
    return openai.OpenAI(base_url=api_base, api_key=api_key or "not-needed", timeout=timeout_s)


@dataclass
class BatchModeResult:
    ingested: dict[str, int]
    files_written: list[str]
    next_stages: str | None


def run_batch_mode(rounds: BatchRounds, *, submit: bool, file_dir: str | None, ingest_outputs: Iterable[str],
                   log: Callable[[str], None]) -> BatchModeResult:
    """What `--batch`, `--batch-file-only DIR` and `--ingest-batch-output FILE` do, for any walk: output files are
    applied first; then rounds are submitted until the run is finished (`submit`), or the next round's request files
    are written into `file_dir`; with neither, the stages still open are reported."""
    ingested = {"answered": 0, "errors": 0, "skipped": 0}
    for path in ingest_outputs:
        result = rounds.ingest_output_file(Path(path))
        log(f"{path}: {result.answered} answers applied, {result.errors} per-request errors "
            f"(asked again in the next file), {result.skipped} lines for work already done")
        for key in ingested:
            ingested[key] += getattr(result, key)
    files: list[str] = []
    next_stages = None
    if submit:
        import openai

        from msm.errors import first_line

        try:
            rounds.run()
        except openai.OpenAIError as exc:
            raise MsmError(f"batch API: {type(exc).__name__}: {first_line(exc, 200)}; "
                           f"rerun the same command to resume") from None
    elif file_dir:
        next_stages, paths, n_requests = rounds.write_request_files(Path(file_dir))
        files = [str(p) for p in paths]
        if paths:
            log(f"wrote {n_requests} {next_stages} requests to {len(paths)} file(s); run them "
                f"(e.g. `vllm run-batch -i FILE -o OUT --model MODEL`), then rerun with --ingest-batch-output OUT")
    else:
        next_stages = ",".join(rounds.by_stage(rounds.open_requests())) or None
    return BatchModeResult(ingested=ingested, files_written=files, next_stages=next_stages)
