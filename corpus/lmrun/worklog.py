"""A run's LM-work log: every record an LM-written run keeps, append-only, so a kill -9 loses at most the calls in
flight and a rerun pays for nothing twice.

    runs/<name>/run.json          settings, written once; a rerun must match them (`open_run`)
    runs/<name>/stages.jsonl      StageRecord per cached answer (brainstorms, kept drafts, responses, verdicts),
                                  keyed by (stage, key); a rerun replays them instead of asking again
    runs/<name>/calls.jsonl       CallRecord per LM call or batch result: stage, item, tokens, cost, error
    runs/<name>/documents.jsonl   finished records with provenance (RunStore)
    runs/<name>/failures.jsonl    rejected attempts with the raw LM text; `permanent` marks a given-up item

What the records *mean* (which stage keys exist, what an item is, what makes a record finished) is the walk's
business (documents: `generate.engine.DocumentWalk`; chats: `aft.walk.ChatWalk`); this class only keeps them,
counts them and guards the run.
"""

from __future__ import annotations

import fcntl
import os
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Sequence

from pydantic import BaseModel

from msm.atomic import append_jsonl, read_jsonl, repair_jsonl_tail
from msm.corpus.records import CallRecord, DocumentRecord, FailureRecord, RunKind, StageRecord, resume_line
from msm.corpus.run_store import RunStore
from msm.errors import BadInput, MsmError
from msm.workspace import utc_now


@dataclass
class Totals:
    done: int = 0
    failed: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: float = 0.0
    calls: int = 0
    retries: int = 0
    timeouts: int = 0


class RunStopped(Exception):
    """Raised inside a worker thread when the run was interrupted: the call is not made (nor recorded as a
    failure), so the item stays open for the rerun."""


class RunInterrupted(KeyboardInterrupt):
    """Ctrl-C during a run: what was kept, and how to resume (the CLI prints it and exits 130)."""


class RunLocked(MsmError):
    pass


class WorkLog:
    """The records of one run, shared by the walk that decides what they mean and the engine that makes the calls.
    `unit` / `noun` name what the run finishes ("docs" / "documents", "chats" / "chats") in its status and errors."""

    def __init__(self, store: RunStore, *, lm: str, max_failures: int | None = None,
                 max_cost_usd: float | None = None, unit: str = "docs", noun: str = "documents"):
        self.store = store
        self.lm = lm
        self.max_failures = max_failures
        self.max_cost_usd = max_cost_usd
        self.unit = unit
        self.noun = noun
        self.lock = threading.Lock()
        self.totals = Totals()
        self.started = time.monotonic()
        self.stages_path = store.dir / "stages.jsonl"
        self.calls_path = store.dir / "calls.jsonl"
        for path in (self.stages_path, self.calls_path, store.documents_path, store.failures_path):
            repair_jsonl_tail(path)  # a killed run's torn last line; from here on only this process appends
        # what earlier processes of this run already spent: a cost budget is the run's, not this process's
        self.cost_before = (sum(CallRecord.model_validate(raw).cost for raw in read_jsonl(self.calls_path))
                            if max_cost_usd is not None else 0.0)
        self.stage_cache: dict[tuple[str, str], StageRecord] = {}
        for raw in read_jsonl(self.stages_path):
            record = StageRecord.model_validate(raw)
            self.stage_cache.setdefault((record.stage, record.key), record)
        self._buffer: dict[Path, list] | None = None
        self.stop = threading.Event()  # set on Ctrl-C: no new call starts
        from msm.corpus.lmrun.concurrency import AdaptiveConcurrency

        self.concurrency = AdaptiveConcurrency(1, adaptive=False)  # the engine sets the run's (ItemRunner)
        self.stage = ""  # what the run is doing now, for the progress bar ("ideas 3/12", "write")

    def _append(self, path: Path, records: Sequence[BaseModel]) -> None:
        """Every record the run writes goes through here (called under `lock`)."""
        lines = [resume_line(r) if not isinstance(r, (DocumentRecord, FailureRecord)) else r.model_dump(mode="json")
                 for r in records]
        if self._buffer is None:
            append_jsonl(path, lines)
        else:
            self._buffer.setdefault(path, []).extend(lines)

    @contextmanager
    def buffered_writes(self) -> Iterator[None]:
        """Collect the records written inside the block and append them file by file at its end (one fsync each
        instead of one per record: measured 7 ms a sync here). The batch engine applies a whole batch's answers
        this way; safe after a kill mid-way, because an answer already applied is no longer open work."""
        self._buffer = {}
        try:
            yield
        finally:
            buffer, self._buffer = self._buffer, None
            for path, lines in buffer.items():
                append_jsonl(path, lines)

    # ---- accounting -----------------------------------------------------------------------------------------------
    def log_call(self, stage: str, item: str, rollout: str, entry: dict | None, latency: float,
                 error: str | None = None, **extra: Any) -> None:
        usage = (entry or {}).get("usage") or {}
        response = (entry or {}).get("response")
        record = CallRecord(stage=stage, item=item, rollout=rollout,
                            prompt_tokens=int(usage.get("prompt_tokens") or 0),
                            completion_tokens=int(usage.get("completion_tokens") or 0),
                            cost=float((entry or {}).get("cost") or 0.0),
                            cache_hit=bool(getattr(response, "cache_hit", False)), error=error,
                            latency_s=round(latency, 3), at=utc_now().isoformat(), **extra)
        with self.lock:
            self.totals.calls += 1
            self.totals.prompt_tokens += record.prompt_tokens
            self.totals.completion_tokens += record.completion_tokens
            self.totals.cost += record.cost
            self._append(self.calls_path, [record])

    def count_retry(self) -> None:
        with self.lock:
            self.totals.retries += 1

    def count_timeout(self, call_started: float, timeout_s: float | None = None, alone: bool = False) -> None:
        with self.lock:
            self.totals.timeouts += 1
        self.concurrency.on_timeout(call_started, timeout_s, alone=alone)

    def check_stop(self) -> None:
        if self.stop.is_set():
            raise RunStopped()

    # ---- the stage cache ------------------------------------------------------------------------------------------
    def record_stage(self, stage: str, key: str, outcome: Any, batch_id: str | None = None,
                     with_usage: bool = False) -> StageRecord:
        """Cache a call's answer (`CallOutcome`) under (stage, key), with its tokens and cost if `with_usage`. An
        answer that never arrived (outage, bad key) is not cached, so a rerun asks again."""
        usage = ({"prompt_tokens": outcome.prompt_tokens, "completion_tokens": outcome.completion_tokens,
                  "cost": outcome.cost} if with_usage else None)
        record = StageRecord(stage=stage, key=key, ok=outcome.ok, output=outcome.values, raw=outcome.raw,
                             reason=outcome.reason, parse_mode=outcome.parse_mode, lm=self.lm,
                             at=utc_now().isoformat(), batch_id=batch_id, usage=usage)
        if not outcome.ok and outcome.raw is None:
            return record
        self.keep_stage(record)
        return record

    def keep_stage(self, record: StageRecord) -> None:
        with self.lock:
            self._append(self.stages_path, [record])
            self.stage_cache.setdefault((record.stage, record.key), record)

    def cached(self, ask: Any) -> StageRecord | None:
        return self.stage_cache.get((ask.stage, ask.key))

    # ---- finished and failed items ----------------------------------------------------------------------------------
    def store_record(self, record: DocumentRecord) -> None:
        with self.lock:
            self._append(self.store.documents_path, [record])
            self.totals.done += 1

    def fail(self, item_id: str, stage: str, reason: str, raw: str | None, permanent: bool) -> None:
        failure = FailureRecord(run=self.store.name, item_id=item_id, stage=stage, reason=reason[:500], raw=raw,
                                created_at=utc_now(), permanent=permanent)
        with self.lock:
            self._append(self.store.failures_path, [failure])
            if permanent:
                self.totals.failed += 1

    def check_failures(self) -> None:
        if self.max_failures is not None and self.totals.failed > self.max_failures:
            raise MsmError(f"run {self.store.name}: stopped after {self.totals.failed} failed items "
                           f"(--max-failures {self.max_failures}); finished {self.noun} are kept, rerun to resume")

    def over_failure_limit(self) -> bool:
        return self.max_failures is not None and self.totals.failed > self.max_failures

    def over_budget(self) -> bool:
        return self.max_cost_usd is not None and self.cost_before + self.totals.cost >= self.max_cost_usd

    def check_budget(self) -> None:
        if self.over_budget():
            raise MsmError(f"run {self.store.name}: stopped at its cost budget (${self.cost_before + self.totals.cost:.4f}"
                           f" recorded, --max-cost-usd {self.max_cost_usd}); finished {self.noun} are kept, rerun with "
                           f"a higher budget to resume")

    def status(self) -> dict[str, Any]:
        minutes = max((time.monotonic() - self.started) / 60, 1e-9)
        t = self.totals
        status = {"stage": self.stage, "ok": t.done, "fail": t.failed, "timeouts": t.timeouts, "retries": t.retries,
                  "calls": t.calls, "tok": t.prompt_tokens + t.completion_tokens,
                  f"{self.unit}/min": f"{t.done / minutes:.1f}", "cost": f"${t.cost:.4f}"}
        if self.concurrency.adaptive:
            status["in_flight"] = f"{self.concurrency.limit}/{self.concurrency.requested}"
        return status

    def interrupted(self) -> RunInterrupted:
        kept = len(self.store.done_ids())
        return RunInterrupted(f"interrupted — {kept} {self.noun} kept; rerun the same command to resume")


class run_lock:
    """One writing process per run: a second one would write the same items twice."""

    def __init__(self, store: RunStore, command: str = "msm generate"):
        self.path = store.dir / ".generate.lock"
        self.command = command

    def __enter__(self) -> "run_lock":
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self.fd)
            raise RunLocked(f"run {self.path.parent.name}: another `{self.command}` is writing it right now") from None
        return self

    def __exit__(self, *exc: object) -> None:
        fcntl.flock(self.fd, fcntl.LOCK_UN)
        os.close(self.fd)


def open_run(store: RunStore, settings: BaseModel, *, kind: RunKind, resume_keys: Sequence[str], spec: Any = None,
             spec_source: str | Path | None = None) -> None:
    """Create the run (carrying a frozen copy of `spec`, read from `spec_source`), or check that a rerun asks for
    the same output (then it resumes)."""
    data = settings.model_dump(mode="json")
    if not store.exists():
        store.create(kind=kind, config=data, spec_id=data.get("spec_id"), spec_hash=data.get("spec_hash"), spec=spec,
                     spec_source=spec_source)
        return
    existing = store.config()
    if existing.get("kind") != kind:
        raise BadInput(f"run {store.name}: is an {existing.get('kind')} run; write into a new --run")
    config = existing.get("config", {})
    fields = type(settings).model_fields
    for key in resume_keys:
        # a setting added after the run was started was its default then
        before = config.get(key, fields[key].get_default(call_default_factory=True) if key in fields else None)
        if before != data[key]:
            raise BadInput(f"run {store.name}: was started with {key}={before!r}, this command has "
                           f"{data[key]!r}; rerun with the same settings to resume, or pick a new --run")
