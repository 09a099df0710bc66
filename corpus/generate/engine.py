"""Run the generator program over a spec into a run store: concurrent, resumable, accounted.

What a run keeps on disk, all append-only (a kill -9 loses at most the calls in flight):

    runs/<name>/run.json          settings (GenerationSettings), written once; a rerun must match them
    runs/<name>/stages.jsonl      StageRecord per plan / types / ideas answer (or its failure), keyed by stage and
                                  item, so a resume replays them instead of paying for them again
    runs/<name>/calls.jsonl       CallRecord per LM call: stage, item, tokens, cost, cache hit, error
    runs/<name>/documents.jsonl   finished documents with provenance (RunStore)
    runs/<name>/failures.jsonl    rejected attempts with the raw LM text; `permanent` marks a given-up item
    runs/<name>/batches.jsonl     BatchEvent per batch step of `--batch` runs (batch.py)

Two engines share `RunRecorder` (the records, the checks on written documents, the pending slots) and
`planning.SlotWalk` (which slot gets which clause, type and idea): `ItemEngine` here calls the LM item by item with
`concurrency` calls in flight; `batch.BatchEngine` sends whole stages as rounds of batch requests.
"""

from __future__ import annotations

import fcntl
import os
import random
import threading
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import dspy
from dspy.utils.exceptions import AdapterParseError
from pydantic import BaseModel

from msm.atomic import append_jsonl, read_jsonl, repair_jsonl_tail
from msm.corpus.generate import checks
from msm.corpus.generate.lm.backends import Backend, backoff_s, is_transient, retry_after_s
from msm.corpus.generate.lm.lenient_adapter import LenientAdapter
from msm.corpus.generate.planning import Slot, SlotWalk, StageAsk, WriteJob, clause_weights, slots
from msm.corpus.generate.scaffold import ScaffoldAssembler, first_sentences, stays_on_clause
from msm.corpus.generate.program import SpecDocumentProgram
from msm.corpus.generate.settings import RESUME_KEYS, GenerationSettings
from msm.corpus.records import (CallRecord, DocumentRecord, FailureRecord, StageRecord, resume_line)
from msm.corpus.run_store import RunStore
from msm.errors import BadInput, MsmError, first_line
from msm.progress import no_advance
from msm.spec import Spec
from msm.workspace import utc_now


@dataclass
class CallOutcome:
    ok: bool
    values: dict[str, Any] = field(default_factory=dict)
    raw: str | None = None
    reason: str | None = None
    parse_mode: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: float = 0.0
    finish_reason: str | None = None


@dataclass
class Draft:
    """A document that passed the checks after its write (or revise) call, with what those calls cost."""

    text: str
    stage: str
    parse_mode: str | None
    finish_reason: str | None
    prompt_tokens: int
    completion_tokens: int
    cost: float
    critique: str | None = None
    plan: str | None = None  # the writer's plan step (strong profiles), kept as provenance


@dataclass
class Totals:
    done: int = 0
    failed: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: float = 0.0
    calls: int = 0
    retries: int = 0


class RunLocked(MsmError):
    pass


class RunRecorder:
    """What both engines share: the run's records (stages, calls, documents, failures), the checks a written
    document must pass, and which slots are still open."""

    def __init__(self, store: RunStore, spec: Spec, program: SpecDocumentProgram, settings: GenerationSettings, *,
                 adapter: LenientAdapter, max_failures: int | None = None, max_cost_usd: float | None = None,
                 on_progress: Callable[..., None] = no_advance,
                 sleep: Callable[[float], None] = time.sleep):
        self.store = store
        self.spec = spec
        self.program = program
        self.settings = settings
        self.adapter = adapter
        self.max_failures = max_failures
        self.on_progress = on_progress
        self.sleep = sleep
        self.walker = SlotWalk(spec, settings)
        self.rng = random.Random(settings.seed)
        self._lock = threading.Lock()
        self.totals = Totals()
        self.started = time.monotonic()
        self.stages_path = store.dir / "stages.jsonl"
        self.calls_path = store.dir / "calls.jsonl"
        for path in (self.stages_path, self.calls_path, store.documents_path, store.failures_path):
            repair_jsonl_tail(path)  # a killed run's torn last line; from here on only this process appends
        self.max_cost_usd = max_cost_usd
        # what earlier processes of this run already spent: the budget is the run's, not this process's
        self.cost_before = sum(CallRecord.model_validate(raw).cost for raw in read_jsonl(self.calls_path))
        self.stage_cache: dict[tuple[str, str], StageRecord] = {}
        for raw in read_jsonl(self.stages_path):
            record = StageRecord.model_validate(raw)
            self.stage_cache.setdefault((record.stage, record.key), record)

    def _append(self, path: Path, records: list[BaseModel]) -> None:
        """Every record the run writes goes through here (called under `_lock`)."""
        append_jsonl(path, [resume_line(r) if not isinstance(r, (DocumentRecord, FailureRecord))
                            else r.model_dump(mode="json") for r in records])

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
        with self._lock:
            self.totals.calls += 1
            self.totals.prompt_tokens += record.prompt_tokens
            self.totals.completion_tokens += record.completion_tokens
            self.totals.cost += record.cost
            self._append(self.calls_path, [record])

    def record_stage(self, stage: str, key: str, outcome: CallOutcome, batch_id: str | None = None) -> StageRecord:
        record = StageRecord(stage=stage, key=key, ok=outcome.ok, output=outcome.values, raw=outcome.raw,
                             reason=outcome.reason, parse_mode=outcome.parse_mode, lm=self.settings.lm,
                             at=utc_now().isoformat(), batch_id=batch_id)
        if not outcome.ok and outcome.raw is None:
            return record  # the provider never answered (outage, bad key): not cached, so a rerun asks again
        with self._lock:
            self._append(self.stages_path, [record])
            self.stage_cache.setdefault((stage, key), record)
        return record

    def cached(self, ask: StageAsk) -> StageRecord | None:
        return self.stage_cache.get((ask.stage, ask.key))

    # ---- slots ------------------------------------------------------------------------------------------------------
    def pending_slots(self) -> tuple[list[Slot], list[Slot], dict[str, int]]:
        """(all slots, slots still to write, failed attempts used per item), from the run's files."""
        done = self.store.done_ids()
        failures = list(self.store.failures())
        given_up = {f.item_id for f in failures if f.permanent}
        attempts_used: dict[str, int] = {}
        for f in failures:
            attempts_used[f.item_id] = attempts_used.get(f.item_id, 0) + 1
        self.totals.failed = len(given_up)
        all_slots = slots(self.store.name, self.spec, self.settings.n_docs,
                          clause_weights(self.spec, self.settings.value_share, self.settings.value_clauses))
        pending = [s for s in all_slots if s.doc_id not in done and s.doc_id not in given_up]
        return all_slots, pending, attempts_used

    def out_of_attempts(self, job: WriteJob, attempt: int) -> bool:
        """A rerun with fewer --attempts than this item already used: it fails permanently, nothing is asked."""
        if attempt < self.settings.attempts:
            return False
        self.fail(job.slot.doc_id, "write", f"no attempts left ({attempt} used)", None, True)
        return True

    def over_budget(self) -> bool:
        return self.max_cost_usd is not None and self.cost_before + self.totals.cost >= self.max_cost_usd

    def check_budget(self) -> None:
        if self.over_budget():
            raise MsmError(f"run {self.store.name}: stopped at its cost budget (${self.cost_before + self.totals.cost:.4f}"
                           f" recorded, --max-cost-usd {self.max_cost_usd}); finished documents are kept, rerun with a "
                           f"higher budget to resume")

    def check_failures(self) -> None:
        if self.max_failures is not None and self.totals.failed > self.max_failures:
            raise MsmError(f"run {self.store.name}: stopped after {self.totals.failed} failed items "
                           f"(--max-failures {self.max_failures}); finished documents are kept, rerun to resume")

    # ---- checks on written text -------------------------------------------------------------------------------------
    def check_written(self, job: WriteJob, attempt: int, written: CallOutcome) -> Draft | None:
        """The write call's document if it passes the checks; otherwise the failure is recorded and None returned."""
        last = attempt == self.settings.attempts - 1
        if not written.ok:
            self.fail(job.slot.doc_id, "write", written.reason or "failed", written.raw, last)
            return None
        text, finish = written.values["document"].strip(), written.finish_reason
        if finish == "length":
            # the LM hit its token limit mid-sentence: keep what it finished; "trimmed" (not "length") tells
            # curation's `truncated` rule that the stored text does not end cut off
            cut = checks.trim_to_last_sentence(text, keep_from=len(job.opening))
            if cut is not None:
                text, finish = cut, "trimmed"
        draft = Draft(text=text, stage="write", parse_mode=written.parse_mode, finish_reason=finish,
                      prompt_tokens=written.prompt_tokens, completion_tokens=written.completion_tokens,
                      cost=written.cost, plan=written.values.get("plan") or None)
        problems = checks.document_problems(draft.text, self.spec, job.clause, min_words=self.settings.min_words,
                                            opening=job.opening)
        if problems:
            self.fail(job.slot.doc_id, "write", "; ".join(problems), draft.text, last)
            return None
        return draft

    def check_revised(self, job: WriteJob, attempt: int, draft: Draft, revised: CallOutcome) -> Draft | None:
        last = attempt == self.settings.attempts - 1
        if not revised.ok:
            self.fail(job.slot.doc_id, "revise", revised.reason or "failed", revised.raw, last)
            return None
        text = revised.values["revised_document"].strip()
        problems = checks.document_problems(text, self.spec, job.clause, min_words=self.settings.min_words)
        if problems:
            self.fail(job.slot.doc_id, "revise", "; ".join(problems), text, last)
            return None
        return Draft(text=text, stage="revise", parse_mode=revised.parse_mode, finish_reason=revised.finish_reason,
                     prompt_tokens=draft.prompt_tokens + revised.prompt_tokens,
                     completion_tokens=draft.completion_tokens + revised.completion_tokens,
                     cost=draft.cost + revised.cost, critique=revised.values.get("critique"), plan=draft.plan)

    def store_document(self, job: WriteJob, attempt: int, draft: Draft,
                       extra_metadata: dict[str, Any] | None = None) -> None:
        settings, levers, slot = self.settings, job.levers, job.slot
        record = DocumentRecord(
            doc_id=slot.doc_id, run=self.store.name, text=draft.text, created_at=utc_now(), stage=draft.stage,
            spec_id=self.spec.id, spec_hash=self.spec.content_hash, clause_id=job.clause.id, domain=job.plan["domain"],
            doc_type=job.doc_type, idea=job.idea, persona=levers.persona if settings.levers else None, lm=settings.lm,
            program_hash=settings.program_hash, seed=settings.seed, prompt_tokens=draft.prompt_tokens,
            completion_tokens=draft.completion_tokens, finish_reason=draft.finish_reason,
            metadata={**({"author": levers.author, "era": levers.era} if settings.levers else {}),
                      "register": levers.register, "rules_only_clause": job.rules_only,
                      "length_target_words": levers.length_words, "rollout_id": job.rollout(attempt),
                      "attempt": attempt, "cost_usd": draft.cost, "parse_mode": draft.parse_mode,
                      "context_scope": settings.context_scope, "profile": settings.profile,
                      "critique": draft.critique, "plan": draft.plan,
                      "sources": {"plan": job.plan["source"], "doc_type": job.type_source,
                                  "idea": job.idea_source},
                      "ideas_marked_unsuitable": job.unsuitable,
                      # the template opening the LM continued (weak profile); 0 when the LM wrote it all
                      "opening_chars": len(job.opening) if draft.stage == "write" else 0,
                      **(extra_metadata or {})},
        )
        with self._lock:
            self._append(self.store.documents_path, [record])
            self.totals.done += 1

    def fail(self, item_id: str, stage: str, reason: str, raw: str | None, permanent: bool) -> None:
        failure = FailureRecord(run=self.store.name, item_id=item_id, stage=stage, reason=reason[:500], raw=raw,
                                created_at=utc_now(), permanent=permanent)
        with self._lock:
            self._append(self.store.failures_path, [failure])
            if permanent:
                self.totals.failed += 1

    def status(self) -> dict[str, Any]:
        minutes = max((time.monotonic() - self.started) / 60, 1e-9)
        t = self.totals
        return {"docs/min": f"{t.done / minutes:.1f}", "tok": t.prompt_tokens + t.completion_tokens,
                "cost": f"${t.cost:.4f}", "fail": t.failed}


class ItemEngine(RunRecorder):
    """Item by item: brainstorms answered level by level with `concurrency` calls in flight, then every pending
    slot's write (and revise) calls, `concurrency` at a time (a local model's batch size)."""

    def __init__(self, store: RunStore, spec: Spec, backend: Backend, program: SpecDocumentProgram,
                 settings: GenerationSettings, *, concurrency: int, max_failures: int | None = None,
                 max_cost_usd: float | None = None, on_progress: Callable[..., None] = no_advance,
                 sleep: Callable[[float], None] = time.sleep):
        super().__init__(store, spec, program, settings,
                         adapter=LenientAdapter(plain_prompts=settings.profile == "weak", prefill_as_turn=backend.local),
                         max_failures=max_failures, max_cost_usd=max_cost_usd, on_progress=on_progress, sleep=sleep)
        self.backend = backend
        self.concurrency = concurrency

    # ---- one LM call, with retries and accounting -----------------------------------------------------------
    def call(self, predictor: dspy.Predict, *, stage: str, item: str, rollout: str, prefill: str | None = None,
             **inputs: Any) -> CallOutcome:
        lm = self.backend.lm.copy(rollout_id=rollout, temperature=self.settings.temperature,
                                  max_tokens=self.settings.max_tokens[stage])
        for retry in range(self.settings.max_retries + 1):
            before = len(lm.history)
            started = time.monotonic()
            try:
                self.adapter.set_prefill(prefill)
                with dspy.context(lm=lm, adapter=self.adapter):
                    prediction = predictor(**inputs)
                outcome = CallOutcome(ok=True, values=dict(prediction.items()), parse_mode=self.adapter.last_parse_mode)
            except AdapterParseError as exc:
                outcome = CallOutcome(ok=False, raw=str(exc.lm_response or ""), reason="unparseable answer")
            except Exception as exc:  # provider errors arrive as many LiteLLM/httpx/openai types
                transient = is_transient(exc)
                reason = f"{type(exc).__name__}: {first_line(exc, 300)}"
                self.log_call(stage, item, rollout, None, time.monotonic() - started, error=reason)
                if transient and retry < self.settings.max_retries:
                    with self._lock:
                        self.totals.retries += 1
                    wait_s = retry_after_s(exc)
                    self.sleep(wait_s if wait_s is not None else backoff_s(retry, base=0.5, cap=30.0, rng=self.rng))
                    continue
                return CallOutcome(ok=False, reason=("gave up after retries: " if transient else "") + reason)
            finally:
                self.adapter.set_prefill(None)
            for entry in lm.history[before:]:
                _account(outcome, entry)
                self.log_call(stage, item, rollout, entry, time.monotonic() - started)
            if outcome.raw is None and lm.history[before:]:
                outcome.raw = _entry_text(lm.history[-1])
            return outcome
        raise AssertionError("unreachable")  # the loop returns on its last iteration

    def answer(self, ask: StageAsk) -> StageRecord:
        """A brainstorm answer from the run's cache, or from the LM (then cached, append-only)."""
        cached = self.cached(ask)
        if cached is not None:
            return cached
        outcome = self.call(getattr(self.program, ask.predictor), stage=ask.stage, item=ask.key,
                            rollout=f"{ask.stage}:{ask.key}", **ask.inputs)
        return self.record_stage(ask.stage, ask.key, outcome)

    # ---- the run --------------------------------------------------------------------------------------------
    def run(self) -> Totals:
        all_slots, pending, attempts_used = self.pending_slots()
        self.on_progress(len(all_slots) - len(pending), **self.status())
        if not pending:
            return self.totals
        self.check_budget()
        with ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix="generate") as pool:
            walked = self.walker.walk(pending, lambda asks: list(pool.map(self.answer, asks)))
            futures: dict[Future, str] = {}
            queue = list(walked.jobs)
            stop = False
            while queue or futures:
                while queue and not stop and not self.over_budget() and len(futures) < self.concurrency:
                    job = queue.pop(0)
                    futures[pool.submit(self.write_item, job, attempts_used.get(job.slot.doc_id, 0))] = job.slot.doc_id
                if not futures:
                    break
                finished, _ = wait(list(futures), return_when=FIRST_COMPLETED)
                for fut in finished:
                    futures.pop(fut)
                    fut.result()  # a bug in write_item should surface, not vanish
                    self.on_progress(1, **self.status())
                    if self.max_failures is not None and self.totals.failed > self.max_failures:
                        stop = True
            if stop:
                self.check_failures()
            if queue:
                self.check_budget()
        return self.totals

    def write_item(self, job: WriteJob, first_attempt: int) -> None:
        if self.out_of_attempts(job, first_attempt):
            return
        writer = self.program.writer(rules_only=job.rules_only, planned=self.settings.plan_before_writing)
        for attempt in range(first_attempt, self.settings.attempts):
            if job.scaffold is not None:
                written = self.write_scaffolded(job, attempt)
                if written is not None:
                    self.store_document(job, attempt, written[0], written[1])
                    return
                continue
            written = self.call(writer, stage="write", item=job.slot.doc_id, rollout=job.rollout(attempt),
                                prefill=job.opening or None, **job.inputs)
            draft = self.check_written(job, attempt, written)
            if draft is not None and self.settings.revise:
                revised = self.call(self.program.revise, stage="revise", item=job.slot.doc_id,
                                    rollout=job.rollout(attempt), **job.revise_inputs(draft.text))
                draft = self.check_revised(job, attempt, draft, revised)
            if draft is not None:
                self.store_document(job, attempt, draft)
                return


    def write_scaffolded(self, job: WriteJob, attempt: int) -> tuple[Draft, dict] | None:
        """A weak model's document, paragraph by paragraph (scaffold.py): each anchor continued by the LM, the
        continuation kept only while it stays on the clause. None (a recorded failure) if too much was cut."""
        assembler = ScaffoldAssembler(job.scaffold)
        spent = CallOutcome(ok=True)
        for index in range(len(job.scaffold.anchors)):
            prefill = assembler.prefill(index)
            kept = ""
            for attempt_in_paragraph in range(self.settings.continuation_tries):
                out = self.call(self.program.continue_paragraph, stage="continue", item=job.slot.doc_id,
                                rollout=f"{job.rollout(attempt)}:{index}:{attempt_in_paragraph}", prefill=prefill,
                                **job.continue_inputs())
                spent.prompt_tokens += out.prompt_tokens
                spent.completion_tokens += out.completion_tokens
                spent.cost += out.cost
                if not out.ok:
                    continue
                continuation = first_sentences(str(out.values.get("document") or "")[len(prefill):],
                                               self.settings.continuation_sentences)
                if stays_on_clause(continuation, job.scaffold, self.spec.model_name):
                    kept = continuation
                    break
            assembler.accept(index, kept)
        finished = assembler.finish()
        draft = Draft(text=finished.text, stage="write", parse_mode="scaffold", finish_reason="stop",
                      prompt_tokens=spent.prompt_tokens, completion_tokens=spent.completion_tokens, cost=spent.cost)
        problems = checks.scaffold_problems(finished, self.spec, job.clause)
        if problems:
            self.fail(job.slot.doc_id, "write", "; ".join(problems), finished.text,
                      attempt == self.settings.attempts - 1)
            return None
        return draft, {"scaffold_chars": finished.scaffold_chars, "lm_chars": finished.lm_chars,
                       "scaffold_share": round(finished.scaffold_chars / max(len(finished.text), 1), 4),
                       "scaffold_spans": [list(span) for span in finished.spans],
                       "scaffold_paragraphs": finished.paragraphs, "paragraphs_cut": finished.cut}


def _account(outcome: CallOutcome, entry: dict) -> None:
    usage = entry.get("usage") or {}
    outcome.prompt_tokens += int(usage.get("prompt_tokens") or 0)
    outcome.completion_tokens += int(usage.get("completion_tokens") or 0)
    outcome.cost += float(entry.get("cost") or 0.0)
    outcome.finish_reason = _finish_reason(entry.get("response"))


def _entry_text(entry: dict) -> str | None:
    outputs = entry.get("outputs") or []
    if not outputs:
        return None
    first = outputs[0]
    return first.get("text") if isinstance(first, dict) else str(first)


def _finish_reason(response: Any) -> str | None:
    if isinstance(getattr(response, "finish_reason", None), str):  # DSPy's own normalized Response
        return response.finish_reason
    choices = getattr(response, "choices", None)
    if choices is None and isinstance(response, dict):
        choices = response.get("choices")
    if not choices:
        return None
    first = choices[0]
    return getattr(first, "finish_reason", None) or (first.get("finish_reason") if isinstance(first, dict) else None)


class run_lock:
    """One generating process per run: a second one would write the same slots twice."""

    def __init__(self, store: RunStore):
        self.path = store.dir / ".generate.lock"

    def __enter__(self) -> "run_lock":
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self.fd)
            raise RunLocked(f"run {self.path.parent.name}: another `msm generate` is writing it right now") from None
        return self

    def __exit__(self, *exc: object) -> None:
        fcntl.flock(self.fd, fcntl.LOCK_UN)
        os.close(self.fd)


def open_run(store: RunStore, settings: GenerationSettings) -> None:
    """Create the run, or check that a rerun asks for the same corpus (then it resumes)."""
    if not store.exists():
        store.create(kind="generated", config=settings.model_dump(mode="json"), spec_id=settings.spec_id,
                     spec_hash=settings.spec_hash)
        return
    existing = store.config()
    if existing.get("kind") != "generated":
        raise BadInput(f"run {store.name}: is an {existing.get('kind')} run; generate into a new --run")
    config = existing.get("config", {})
    new = settings.model_dump(mode="json")
    for key in RESUME_KEYS:
        if config.get(key) != new[key]:
            raise BadInput(f"run {store.name}: was started with {key}={config.get(key)!r}, this command has "
                           f"{new[key]!r}; rerun with the same settings to resume, or pick a new --run")
