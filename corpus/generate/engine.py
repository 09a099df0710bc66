"""Run the generator program over a spec into a run store: concurrent, resumable, accounted.

What a run keeps on disk, all append-only (a kill -9 loses at most the calls in flight):

    runs/<name>/run.json          settings (GenerationSettings), written once; a rerun must match them
    runs/<name>/stages.jsonl      every plan / types / ideas answer (or its failure), keyed by stage and item,
                                  so a resume replays them instead of paying for them again
    runs/<name>/calls.jsonl       one line per LM call: stage, item, tokens, cost, cache hit, error
    runs/<name>/documents.jsonl   finished documents with provenance (RunStore)
    runs/<name>/failures.jsonl    rejected attempts with the raw LM text; `permanent` marks a given-up item
    runs/<name>/batches.jsonl     batch ids and files of `--batch` runs (see batch_generation.py)

Doc ids come from (run, spec hash, clause, k) — never from LM output — so a rerun sees exactly the same slots,
skips the finished and permanently failed ones, and continues an unfinished item after its last failed attempt.
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
from typing import Any, Callable, Literal

import dspy
from dspy.utils.exceptions import AdapterParseError
from pydantic import BaseModel, ConfigDict

from msm.atomic import append_jsonl, read_jsonl, repair_jsonl_tail
from msm.corpus.generate import program as prog
from msm.corpus.generate.lm.lenient_adapter import LenientAdapter
from msm.corpus.generate.lm.backends import Backend, backoff_s, is_transient, retry_after_s
from msm.corpus.records import DocumentRecord, FailureRecord
from msm.corpus.run_store import RunStore
from msm.errors import BadInput, MsmError
from msm.spec import Clause, Spec
from msm.workspace import utc_now

SETTINGS_SCHEMA_VERSION = 1
STAGE_SCHEMA_VERSION = 1
# settings that define what a run's documents are; a rerun with other values would mix two corpora in one run
RESUME_KEYS = ("spec_hash", "n_docs", "seed", "lm", "program_hash", "profile", "context_scope", "revise", "opening")


class GenerationSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    schema_version: int = SETTINGS_SCHEMA_VERSION
    spec_id: str
    spec_hash: str
    lm: str
    api_base: str | None = None
    n_docs: int
    seed: int
    program_hash: str
    program_file: str | None = None
    profile: Literal["weak", "strong"]
    context_scope: Literal["full", "clause"]
    revise: bool
    plan_with_lm: bool
    temperature: float
    max_tokens: dict[str, int]
    attempts: int = 3
    brainstorm_resamples: int = 3
    max_retries: int = 5
    min_words: int
    length_choices: list[int]
    types_per_clause: int = 6
    # API models in the weak profile: served small models loop without a penalty (transformers serve maps it to
    # repetition_penalty = 1 + value, the 1.1 the in-process model uses; vLLM applies it additively)
    frequency_penalty: float | None = None
    opening: bool = False  # weak models continue a template opening (rule + quoted reason) instead of a blank page

    @classmethod
    def for_profile(cls, profile: str, **fields: Any) -> "GenerationSettings":
        defaults = dict(PROFILE_DEFAULTS[profile], max_tokens=dict(PROFILE_DEFAULTS[profile]["max_tokens"]))
        defaults.update({k: v for k, v in fields.items() if v is not None})
        return cls(profile=profile, **defaults)


# Weak (small local) models: clause-only context, short documents, no revise pass, no LM plan — their plans are
# noise and quotas are arithmetic; one brainstorm try each (measured: the 135M model's lists are mostly junk, and
# resampling tripled the time before the first document). Strong models: the paper's full pipeline.
PROFILE_DEFAULTS: dict[str, dict[str, Any]] = {
    "weak": dict(context_scope="clause", revise=False, plan_with_lm=False, temperature=0.8, brainstorm_resamples=1,
                 opening=True, frequency_penalty=0.1,
                 max_tokens={"plan": 160, "types": 64, "ideas": 128, "write": 240, "revise": 320},
                 min_words=40, length_choices=[120, 150, 180]),
    "strong": dict(context_scope="full", revise=True, plan_with_lm=True, temperature=0.9,
                   max_tokens={"plan": 400, "types": 400, "ideas": 800, "write": 1600, "revise": 2400},
                   min_words=80, length_choices=[150, 250, 400, 600]),
}


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


@dataclass
class WriteJob:
    slot: prog.Slot
    clause: Clause
    plan: dict
    doc_type: str
    type_source: str
    idea: str
    idea_source: str
    unsuitable: int
    levers: prog.Levers
    inputs: dict[str, Any]
    opening: str

    def rollout(self, attempt: int) -> str:
        return f"{self.slot.doc_id}:{attempt}"

    def revise_inputs(self, text: str) -> dict[str, Any]:
        return dict(spec_context=self.inputs["spec_context"], clause=self.inputs["clause"], document=text)


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


class GenerationRun:
    def __init__(self, store: RunStore, spec: Spec, backend: Backend, program: prog.SpecDocumentProgram,
                 settings: GenerationSettings, *, concurrency: int, max_failures: int | None = None,
                 on_progress: Callable[..., None] = lambda n=1, **_: None, sleep: Callable[[float], None] = time.sleep):
        self.store = store
        self.spec = spec
        self.backend = backend
        self.program = program
        self.settings = settings
        self.concurrency = concurrency
        self.max_failures = max_failures
        self.on_progress = on_progress
        self.sleep = sleep
        self.adapter = LenientAdapter(plain_prompts=settings.profile == "weak", prefill_as_turn=backend.local)
        self.rng = random.Random(settings.seed)
        self._lock = threading.Lock()
        self.totals = Totals()
        self.started = time.monotonic()
        self.stages_path = store.dir / "stages.jsonl"
        self.calls_path = store.dir / "calls.jsonl"
        for path in (self.stages_path, self.calls_path, store.documents_path, store.failures_path):
            repair_jsonl_tail(path)  # a killed run's torn last line; from here on only this process appends
        self.stage_cache: dict[tuple[str, str], dict] = {}
        for rec in read_jsonl(self.stages_path):
            self.stage_cache.setdefault((rec["stage"], rec["key"]), rec)

    def _append(self, path: Path, records: list[dict]) -> None:
        """Every record the run writes goes through here (called under `_lock`)."""
        append_jsonl(path, records)

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
                reason = f"{type(exc).__name__}: {(str(exc).splitlines() or [''])[0][:300]}"
                self._log_call(stage, item, rollout, None, time.monotonic() - started, error=reason)
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
                self._account(outcome, entry)
                self._log_call(stage, item, rollout, entry, time.monotonic() - started)
            if outcome.raw is None and lm.history[before:]:
                outcome.raw = _entry_text(lm.history[-1])
            return outcome
        raise AssertionError("unreachable")  # the loop returns on its last iteration

    def _account(self, outcome: CallOutcome, entry: dict) -> None:
        usage = entry.get("usage") or {}
        outcome.prompt_tokens += int(usage.get("prompt_tokens") or 0)
        outcome.completion_tokens += int(usage.get("completion_tokens") or 0)
        outcome.cost += float(entry.get("cost") or 0.0)
        outcome.finish_reason = _finish_reason(entry.get("response"))

    def _log_call(self, stage: str, item: str, rollout: str, entry: dict | None, latency: float,
                  error: str | None = None, **extra: Any) -> None:
        usage = (entry or {}).get("usage") or {}
        response = (entry or {}).get("response")
        record = {"schema_version": STAGE_SCHEMA_VERSION, "stage": stage, "item": item, "rollout": rollout,
                  "prompt_tokens": int(usage.get("prompt_tokens") or 0),
                  "completion_tokens": int(usage.get("completion_tokens") or 0),
                  "cost": float((entry or {}).get("cost") or 0.0),
                  "cache_hit": bool(getattr(response, "cache_hit", False)), "error": error,
                  "latency_s": round(latency, 3), "at": utc_now().isoformat(), **extra}
        with self._lock:
            self.totals.calls += 1
            self.totals.prompt_tokens += record["prompt_tokens"]
            self.totals.completion_tokens += record["completion_tokens"]
            self.totals.cost += record["cost"]
            self._append(self.calls_path, [record])

    # ---- cached brainstorm stages -----------------------------------------------------------------------------
    def _stage(self, predictor: dspy.Predict, stage: str, key: str, **inputs: Any) -> dict:
        """One brainstorm answer, from the run's stage cache or from the LM (then cached, append-only)."""
        cached = self.stage_cache.get((stage, key))
        if cached is not None:
            return cached
        outcome = self.call(predictor, stage=stage, item=key, rollout=f"{stage}:{key}", **inputs)
        return self.record_stage(stage, key, outcome)

    def record_stage(self, stage: str, key: str, outcome: CallOutcome, **extra: Any) -> dict:
        if not outcome.ok and outcome.raw is None:
            # the provider never answered (outage, bad key): not cached, so a rerun asks again
            return {"stage": stage, "key": key, "ok": False, "output": {}, "reason": outcome.reason}
        record = {"schema_version": STAGE_SCHEMA_VERSION, "stage": stage, "key": key, "ok": outcome.ok,
                  "output": outcome.values, "raw": outcome.raw, "reason": outcome.reason,
                  "parse_mode": outcome.parse_mode, "lm": self.settings.lm, "at": utc_now().isoformat(), **extra}
        with self._lock:
            self._append(self.stages_path, [record])
            self.stage_cache.setdefault((stage, key), record)
        return record

    def plan_clause(self, clause: Clause) -> dict:
        given = [s for s in (clause.domain, clause.subdomain) if s]
        if not self.settings.plan_with_lm:
            return {"domain": clause.domain, "settings": given + list(clause.key_terms), "source": "spec"}
        rec = self._stage(self.program.plan, "plan", clause.id, spec_context=prog.spec_context(self.spec, "full"),
                          clause=prog.clause_text(self.spec, clause), domain=clause.domain or "unspecified")
        subdomains = [s for s in (rec["output"].get("subdomains") or []) if isinstance(s, str) and 0 < len(s) <= 120]
        if rec["ok"] and subdomains:
            return {"domain": clause.domain, "settings": given + subdomains[:8], "source": "lm"}
        return {"domain": clause.domain, "settings": given + list(clause.key_terms), "source": "spec"}

    def doc_types(self, clause: Clause, plan: dict, want: int) -> list[tuple[str, str]]:
        """(type, source) pairs: LM brainstorm, resampled while short, then topped up from the seed list."""
        found: list[str] = []
        weak = self.settings.profile == "weak"
        for attempt in range(self.settings.brainstorm_resamples):
            rec = self._stage(self.program.doc_types, "types", f"{clause.id}#{attempt}",
                              clause=prog.clause_text(self.spec, clause), settings="; ".join(plan["settings"]),
                              count=want + 2)
            listed = rec["output"].get("document_types") or [] if rec["ok"] else []
            found = prog.clean_doc_types(found + [str(t) for t in listed], require_known_genre=weak)
            if len(found) >= want:
                break
        typed = [(t, "lm") for t in found[:want]]
        if len(typed) < want:
            pool = list(prog.seeds()["doc_types"])
            random.Random(f"{self.settings.seed}:types:{clause.id}").shuffle(pool)
            have = {t.lower() for t, _ in typed}
            typed += [(t, "seed_list") for t in pool if t.lower() not in have][: want - len(typed)]
        return typed

    def ideas(self, clause: Clause, doc_type: str, need: int) -> tuple[list[tuple[str, str]], int]:
        """(idea, source) pairs for exactly this clause and type, and how many the LM marked unsuitable."""
        found: list[str] = []
        unsuitable = 0
        for attempt in range(self.settings.brainstorm_resamples):
            rec = self._stage(self.program.ideas, "ideas", f"{clause.id}|{doc_type}#{attempt}",
                              clause=prog.clause_text(self.spec, clause), document_type=doc_type, count=need + 1)
            listed = [str(i) for i in (rec["output"].get("ideas") or [])] if rec["ok"] else []
            usable, dropped = prog.split_ideas(found + listed, self.spec, clause)
            found, unsuitable = usable, unsuitable + dropped
            if len(found) >= need:
                break
        ideas = [(i, "lm") for i in found[:need]]
        ideas += [(prog.fallback_idea(self.spec, clause, doc_type, n), "template") for n in range(len(ideas), need)]
        return ideas, unsuitable

    # ---- the run --------------------------------------------------------------------------------------------
    def pending_slots(self) -> tuple[list[prog.Slot], list[prog.Slot], dict[str, int]]:
        """(all slots, slots still to write, failed attempts used per item), from the run's files."""
        done = self.store.done_ids()
        failures = list(self.store.failures())
        given_up = {f.item_id for f in failures if f.permanent}
        attempts_used: dict[str, int] = {}
        for f in failures:
            attempts_used[f.item_id] = attempts_used.get(f.item_id, 0) + 1
        self.totals.failed = len(given_up)
        all_slots = prog.slots(self.store.name, self.spec, self.settings.n_docs)
        pending = [s for s in all_slots if s.doc_id not in done and s.doc_id not in given_up]
        return all_slots, pending, attempts_used

    def place_slots(self, clause_ids: list[str], types: dict[str, list[tuple[str, str]]]
                    ) -> tuple[dict[str, tuple[str, str, str, int]], dict[tuple[str, str], int]]:
        """Which type (and which of that type's ideas) each slot gets: {"clause/k": (type, source, clause, j)}, and
        how many ideas each (clause, type) needs. Every slot of a clause is placed (not only pending ones) so a
        resume assigns identically."""
        quota = prog.quotas(self.spec, self.settings.n_docs)
        placed: dict[str, tuple[str, str, str, int]] = {}
        need: dict[tuple[str, str], int] = {}
        for cid in clause_ids:
            for k in range(quota[cid]):
                doc_type, type_source = types[cid][k % len(types[cid])]
                j = need.get((cid, doc_type), 0)
                need[(cid, doc_type)] = j + 1
                placed[f"{cid}/{k}"] = (doc_type, type_source, cid, j)
        return placed, need

    def run(self) -> Totals:
        settings = self.settings
        all_slots, pending, attempts_used = self.pending_slots()
        self.on_progress(len(all_slots) - len(pending), **self._status())
        if not pending:
            return self.totals
        clauses = {c.id: c for c in self.spec.clauses}
        quota = prog.quotas(self.spec, settings.n_docs)
        wanted_clauses = sorted({s.clause_id for s in pending}, key=list(clauses).index)
        with ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix="generate") as pool:
            plans = dict(zip(wanted_clauses, pool.map(lambda cid: self.plan_clause(clauses[cid]), wanted_clauses)))
            types = dict(zip(wanted_clauses, pool.map(
                lambda cid: self.doc_types(clauses[cid], plans[cid], min(quota[cid], settings.types_per_clause)),
                wanted_clauses)))
            placed, need = self.place_slots(wanted_clauses, types)
            pairs = list(need)
            idea_lists = dict(zip(pairs, pool.map(lambda p: self.ideas(clauses[p[0]], p[1], need[p]), pairs)))
            futures: dict[Future, str] = {}
            queue = list(pending)
            stop = False
            while queue or futures:
                while queue and not stop and len(futures) < self.concurrency:
                    slot = queue.pop(0)
                    doc_type, type_source, cid, j = placed[f"{slot.clause_id}/{slot.index}"]
                    ideas, unsuitable = idea_lists[(cid, doc_type)]
                    idea, idea_source = ideas[j]
                    item = dict(slot=slot, clause=clauses[cid], plan=plans[cid], doc_type=doc_type,
                                type_source=type_source, idea=idea, idea_source=idea_source,
                                unsuitable=unsuitable, first_attempt=attempts_used.get(slot.doc_id, 0))
                    futures[pool.submit(self.write_item, **item)] = slot.doc_id
                if not futures:
                    break
                finished, _ = wait(list(futures), return_when=FIRST_COMPLETED)
                for fut in finished:
                    futures.pop(fut)
                    fut.result()  # a bug in write_item should surface, not vanish
                    self.on_progress(1, **self._status())
                    if self.max_failures is not None and self.totals.failed > self.max_failures:
                        stop = True
            if stop:
                raise MsmError(f"run {self.store.name}: stopped after {self.totals.failed} failed items "
                               f"(--max-failures {self.max_failures}); finished documents are kept, rerun to resume")
        return self.totals

    def write_item(self, *, slot: prog.Slot, clause: Clause, plan: dict, doc_type: str, type_source: str, idea: str,
                   idea_source: str, unsuitable: int, first_attempt: int) -> None:
        settings = self.settings
        job = self.write_job(slot=slot, clause=clause, plan=plan, doc_type=doc_type, type_source=type_source,
                             idea=idea, idea_source=idea_source, unsuitable=unsuitable)
        if first_attempt >= settings.attempts:  # a rerun with fewer --attempts than this item already used
            self._fail(slot.doc_id, "write", f"no attempts left ({first_attempt} used)", None, True)
            return
        for attempt in range(first_attempt, settings.attempts):
            written = self.call(self.program.write, stage="write", item=slot.doc_id, rollout=job.rollout(attempt),
                                prefill=job.opening or None, **job.inputs)
            draft = self.check_written(job, attempt, written)
            if draft is not None and settings.revise:
                revised = self.call(self.program.revise, stage="revise", item=slot.doc_id,
                                    rollout=job.rollout(attempt), **job.revise_inputs(draft.text))
                draft = self.check_revised(job, attempt, draft, revised)
            if draft is not None:
                self.store_document(job, attempt, draft)
                return

    def write_job(self, *, slot: prog.Slot, clause: Clause, plan: dict, doc_type: str, type_source: str, idea: str,
                  idea_source: str, unsuitable: int) -> "WriteJob":
        """Everything one slot's write (and revise) calls need, reproducible from the run's seed and the slot."""
        settings = self.settings
        levers = prog.draw_levers(settings.seed, slot.doc_id, length_choices=settings.length_choices)
        context = prog.spec_context(self.spec, settings.context_scope)
        inputs = dict(spec_context=context, clause=prog.clause_text(self.spec, clause), document_type=doc_type,
                      idea=idea, author=f"{levers.author}, {levers.persona}",
                      era_and_register=f"{levers.era}; {levers.register}", length_words=levers.length_words)
        opening = (prog.weak_opening(self.spec, clause, doc_type, levers, settings.seed, slot.doc_id)
                   if settings.opening else "")
        return WriteJob(slot=slot, clause=clause, plan=plan, doc_type=doc_type, type_source=type_source, idea=idea,
                        idea_source=idea_source, unsuitable=unsuitable, levers=levers, inputs=inputs, opening=opening)

    def check_written(self, job: "WriteJob", attempt: int, written: CallOutcome) -> "Draft | None":
        """The write call's document if it passes the checks; otherwise the failure is recorded and None returned."""
        last = attempt == self.settings.attempts - 1
        if not written.ok:
            self._fail(job.slot.doc_id, "write", written.reason or "failed", written.raw, last)
            return None
        text, finish = written.values["document"].strip(), written.finish_reason
        if finish == "length":
            # the LM hit its token limit mid-sentence: keep what it finished; "trimmed" (not "length") tells
            # curation's `truncated` rule that the stored text does not end cut off
            cut = prog.trim_to_last_sentence(text, keep_from=len(job.opening))
            if cut is not None:
                text, finish = cut, "trimmed"
        draft = Draft(text=text, stage="write", parse_mode=written.parse_mode,
                      finish_reason=finish, prompt_tokens=written.prompt_tokens,
                      completion_tokens=written.completion_tokens, cost=written.cost)
        problems = prog.document_problems(draft.text, self.spec, job.clause, min_words=self.settings.min_words,
                                          opening=job.opening)
        if problems:
            self._fail(job.slot.doc_id, "write", "; ".join(problems), draft.text, last)
            return None
        return draft

    def check_revised(self, job: "WriteJob", attempt: int, draft: "Draft", revised: CallOutcome) -> "Draft | None":
        last = attempt == self.settings.attempts - 1
        tokens = (draft.prompt_tokens + revised.prompt_tokens, draft.completion_tokens + revised.completion_tokens)
        if not revised.ok:
            self._fail(job.slot.doc_id, "revise", revised.reason or "failed", revised.raw, last)
            return None
        text = revised.values["revised_document"].strip()
        problems = prog.document_problems(text, self.spec, job.clause, min_words=self.settings.min_words)
        if problems:
            self._fail(job.slot.doc_id, "revise", "; ".join(problems), text, last)
            return None
        return Draft(text=text, stage="revise", parse_mode=revised.parse_mode, finish_reason=revised.finish_reason,
                     prompt_tokens=tokens[0], completion_tokens=tokens[1], cost=draft.cost + revised.cost,
                     critique=revised.values.get("critique"))

    def store_document(self, job: "WriteJob", attempt: int, draft: "Draft",
                       extra_metadata: dict[str, Any] | None = None) -> None:
        settings, levers, slot = self.settings, job.levers, job.slot
        record = DocumentRecord(
            doc_id=slot.doc_id, run=self.store.name, text=draft.text, created_at=utc_now(), stage=draft.stage,
            spec_id=self.spec.id, spec_hash=self.spec.content_hash, clause_id=job.clause.id, domain=job.plan["domain"],
            doc_type=job.doc_type, idea=job.idea, persona=levers.persona, lm=settings.lm,
            program_hash=settings.program_hash, seed=settings.seed, prompt_tokens=draft.prompt_tokens,
            completion_tokens=draft.completion_tokens, finish_reason=draft.finish_reason,
            metadata={"author": levers.author, "era": levers.era, "register": levers.register,
                      "length_target_words": levers.length_words, "rollout_id": job.rollout(attempt),
                      "attempt": attempt, "cost_usd": draft.cost, "parse_mode": draft.parse_mode,
                      "context_scope": settings.context_scope, "profile": settings.profile,
                      "critique": draft.critique,
                      "sources": {"plan": job.plan["source"], "doc_type": job.type_source,
                                  "idea": job.idea_source},
                      "ideas_marked_unsuitable": job.unsuitable,
                      # the template opening the LM continued (weak profile); 0 when the LM wrote it all
                      "opening_chars": len(job.opening) if draft.stage == "write" else 0,
                      **(extra_metadata or {})},
        )
        with self._lock:
            self._append(self.store.documents_path, [record.model_dump(mode="json")])
            self.totals.done += 1

    def _fail(self, item_id: str, stage: str, reason: str, raw: str | None, permanent: bool) -> None:
        failure = FailureRecord(run=self.store.name, item_id=item_id, stage=stage, reason=reason[:500], raw=raw,
                                created_at=utc_now(), permanent=permanent)
        with self._lock:
            self._append(self.store.failures_path, [failure.model_dump(mode="json")])
            if permanent:
                self.totals.failed += 1

    def _status(self) -> dict[str, Any]:
        minutes = max((time.monotonic() - self.started) / 60, 1e-9)
        t = self.totals
        return {"docs/min": f"{t.done / minutes:.1f}", "tok": t.prompt_tokens + t.completion_tokens,
                "cost": f"${t.cost:.4f}", "fail": t.failed}


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


def run_summary(store: RunStore) -> dict[str, Any]:
    """What `msm runs show` prints: counts per clause and type, failures, tokens and cost."""
    config = store.config()
    per_clause: dict[str, int] = {}
    per_type: dict[str, int] = {}
    per_stage: dict[str, int] = {}
    sources: dict[str, dict[str, int]] = {}
    n_docs = 0
    for doc in store.documents():
        n_docs += 1
        per_clause[doc.clause_id or "-"] = per_clause.get(doc.clause_id or "-", 0) + 1
        per_type[doc.doc_type or "-"] = per_type.get(doc.doc_type or "-", 0) + 1
        per_stage[doc.stage] = per_stage.get(doc.stage, 0) + 1
        for part, source in (doc.metadata.get("sources") or {}).items():
            sources.setdefault(part, {})[source] = sources.setdefault(part, {}).get(source, 0) + 1
    failures = list(store.failures())
    reasons: dict[str, int] = {}
    for f in failures:
        reasons[f.reason.split(" (")[0]] = reasons.get(f.reason.split(" (")[0], 0) + 1
    calls = {"calls": 0, "errors": 0, "cache_hits": 0, "prompt_tokens": 0, "completion_tokens": 0, "cost_usd": 0.0}
    for call in read_jsonl(store.dir / "calls.jsonl"):
        calls["calls"] += 1
        calls["errors"] += bool(call.get("error"))
        calls["cache_hits"] += bool(call.get("cache_hit"))
        calls["prompt_tokens"] += int(call.get("prompt_tokens") or 0)
        calls["completion_tokens"] += int(call.get("completion_tokens") or 0)
        calls["cost_usd"] += float(call.get("cost") or 0.0)
    settings = config.get("config", {})
    return {"name": store.name, "kind": config.get("kind"), "spec_id": config.get("spec_id"),
            "spec_hash": config.get("spec_hash"), "created_at": config.get("created_at"), "lm": settings.get("lm"),
            "target": settings.get("n_docs"), "documents": n_docs, "per_clause": per_clause, "per_type": per_type,
            "per_stage": per_stage, "sources": sources,
            "failed_items": len({f.item_id for f in failures if f.permanent}), "failed_attempts": len(failures),
            "failure_reasons": reasons, **calls}
