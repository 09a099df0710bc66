"""The document walk: what a document run's slots are, which are still open, the checks a written document must pass,
and how a slot's write (and revise) calls become a stored document — for both engines of `msm.corpus.lmrun`.

What a run keeps on disk (all append-only; `lmrun.worklog` keeps them):

    runs/<name>/run.json          settings (GenerationSettings), written once; a rerun must match them
    runs/<name>/stages.jsonl      StageRecord per plan / types / ideas answer (or its failure), keyed by stage and
                                  item, and written-but-not-yet-revised drafts of the batch engine (stage `draft`)
    runs/<name>/calls.jsonl       CallRecord per LM call: stage, item, tokens, cost, cache hit, error
    runs/<name>/documents.jsonl   finished documents with provenance (RunStore)
    runs/<name>/failures.jsonl    rejected attempts with the raw LM text; `permanent` marks a given-up item
    runs/<name>/batches.jsonl     BatchEvent per batch step of `--batch` runs (lmrun.rounds)

`DocumentWalk` gives the engines `planning.SlotWalk`'s brainstorm questions and write jobs; `ItemEngine` here runs it
item by item (`lmrun.items.ItemRunner`, `concurrency` calls in flight), `batch.BatchEngine` in batch rounds
(`lmrun.rounds.BatchRounds`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Callable, NamedTuple

from msm.corpus.generate import checks
from msm.lm.backends import Backend
from msm.lm.lenient_adapter import LenientAdapter
from msm.corpus.generate.planning import (Slot, SlotWalk, WriteJob, settings_weights, slots,
                                          writing_context_hash)
from msm.corpus.generate.scaffold import ScaffoldAssembler, first_sentences, stays_on_clause
from msm.corpus.generate.program import SpecDocumentProgram
from msm.corpus.generate.settings import RESUME_KEYS, GenerationSettings
from msm.corpus.lmrun import worklog
from msm.corpus.lmrun.caller import CallOutcome, LMCaller, Sampling
from msm.corpus.lmrun.items import ItemRunner
from msm.corpus.lmrun.walk import AskMany, Open, PendingCall
from msm.corpus.lmrun.worklog import RunLocked, Totals, WorkLog, run_lock  # noqa: F401  (the engines' names)
from msm.corpus.records import DocumentRecord, StageRecord
from msm.corpus.run_store import RunStore
from msm.progress import no_advance
from msm.spec import Spec
from msm.workspace import utc_now

STAGE_ORDER = ("plan", "decompose", "subdomains", "assertions", "types", "ideas", "write", "revise")


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
    problems: list[str] | None = None  # checks' findings on a stored document (drop_on_checks off)


class SlotJob(NamedTuple):
    """An open slot's write job and the attempt it starts at (failed attempts already recorded)."""

    write: WriteJob
    attempt: int


def sampling_for(settings: GenerationSettings) -> Sampling:
    return Sampling(lm=settings.lm, temperature=settings.temperature, max_tokens=settings.max_tokens,
                    max_retries=settings.max_retries)


class DocumentWalk:
    """A document run as both engines see it: slots, the slot walk, the checks on written text, and the records."""

    stage_order = STAGE_ORDER

    def __init__(self, log: WorkLog, spec: Spec, program: SpecDocumentProgram, settings: GenerationSettings):
        self.log = log
        self.store = log.store
        self.spec = spec
        self.program = program
        self.settings = settings
        if settings.plan == "paper":
            from msm.corpus.generate.paper_plan import PaperWalk

            self.walker = PaperWalk(spec, settings)
        else:
            self.walker = SlotWalk(spec, settings)
        self.context_hash = writing_context_hash(spec, settings)

    # ---- slots ------------------------------------------------------------------------------------------------------
    def pending_slots(self) -> tuple[list[Slot], list[Slot], dict[str, int]]:
        """(all slots, slots still to write, failed attempts used per item), from the run's files."""
        done = self.store.done_ids()
        failures = list(self.store.failures())
        given_up = {f.item_id for f in failures if f.permanent}
        attempts_used: dict[str, int] = {}
        for f in failures:
            attempts_used[f.item_id] = attempts_used.get(f.item_id, 0) + 1
        self.log.totals.failed = len(given_up)
        if self.settings.plan == "paper":
            from msm.corpus.generate.paper_plan import paper_slots

            all_slots = paper_slots(self.store.name, self.spec, self.settings.n_docs)
        else:
            all_slots = slots(self.store.name, self.spec, self.settings.n_docs,
                              settings_weights(self.spec, self.settings))
        pending = [s for s in all_slots if s.doc_id not in done and s.doc_id not in given_up]
        return all_slots, pending, attempts_used

    def progress(self) -> tuple[int, int]:
        all_slots, pending, _ = self.pending_slots()
        return len(all_slots) - len(pending), len(all_slots)

    def open_work(self, ask_many: AskMany) -> Open:
        _, pending, attempts_used = self.pending_slots()
        if not pending:
            return Open()
        walked = self.walker.walk(pending, ask_many)
        return Open(jobs=[SlotJob(job, attempts_used.get(job.slot.doc_id, 0)) for job in walked.jobs],
                    missing=walked.missing)

    def out_of_attempts(self, job: WriteJob, attempt: int) -> bool:
        """A rerun with fewer --attempts than this item already used: it fails permanently, nothing is asked."""
        if attempt < self.settings.attempts:
            return False
        self.log.fail(job.slot.doc_id, "write", f"no attempts left ({attempt} used)", None, True)
        return True

    # ---- checks on written text -------------------------------------------------------------------------------------
    def check_written(self, job: WriteJob, attempt: int, written: CallOutcome) -> Draft | None:
        """The write call's document if it passes the checks; otherwise the failure is recorded and None returned."""
        last = attempt == self.settings.attempts - 1
        if not written.ok:
            self.log.fail(job.slot.doc_id, "write", written.reason or "failed", written.raw, last)
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
        return self._judged(job, "write", draft, problems, last)

    def _judged(self, job: WriteJob, stage: str, draft: Draft, problems: list[str], last: bool) -> Draft | None:
        """The draft, or None with its failure recorded. With `drop_on_checks` off (the paper profile) only an empty
        document fails; the checks' findings travel on the document (metadata.check_problems) for curation to mark."""
        if not draft.text.strip():
            self.log.fail(job.slot.doc_id, stage, "; ".join(["empty document", *problems]), draft.text, last)
            return None
        if problems and self.settings.drop_on_checks:
            self.log.fail(job.slot.doc_id, stage, "; ".join(problems), draft.text, last)
            return None
        draft.problems = problems
        return draft

    def check_revised(self, job: WriteJob, attempt: int, draft: Draft, revised: CallOutcome) -> Draft | None:
        last = attempt == self.settings.attempts - 1
        if not revised.ok:
            self.log.fail(job.slot.doc_id, "revise", revised.reason or "failed", revised.raw, last)
            return None
        text = revised.values["revised_document"].strip()
        problems = checks.document_problems(text, self.spec, job.clause, min_words=self.settings.min_words)
        return self._judged(job, "revise", Draft(text=text, stage="revise", parse_mode=revised.parse_mode, finish_reason=revised.finish_reason,
                     prompt_tokens=draft.prompt_tokens + revised.prompt_tokens,
                     completion_tokens=draft.completion_tokens + revised.completion_tokens,
                     cost=draft.cost + revised.cost, critique=revised.values.get("critique"), plan=draft.plan),
            problems, last)

    def revised_or_last_draft(self, job: WriteJob, attempt: int, draft: Draft,
                              revised: CallOutcome) -> tuple[Draft | None, dict | None]:
        """The revised document if it passes; on the last attempt, the written draft (which passed every check)
        rather than nothing — a small served model's revise answer often does not parse (critique and rewrite
        without field markers), and in issue 30 that left the strong profile with 0 documents. The rejected revise
        is recorded as a failure and named in the document's metadata (`revise_failed`)."""
        if attempt < self.settings.attempts - 1:
            return self.check_revised(job, attempt, draft, revised), None
        problem = (revised.reason or "failed") if not revised.ok else "; ".join(checks.document_problems(
            revised.values["revised_document"].strip(), self.spec, job.clause, min_words=self.settings.min_words))
        if not problem:
            return self.check_revised(job, attempt, draft, revised), None
        self.log.fail(job.slot.doc_id, "revise", problem, revised.raw if not revised.ok else
                      revised.values["revised_document"], False)
        return draft, {"revise_failed": problem[:200]}

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
                      # what `--reuse-from` and the ledger match documents on (clause + its writing context)
                      "slot_index": slot.index,
                      "clause_hash": job.clause.content_hash,
                      "context_hash": self.context_hash,
                      **({"check_problems": draft.problems} if draft.problems else {}),
                      **({"plan_kind": "paper", "subdomain": job.plan["subdomain"], "section": job.plan["section"],
                          "section_source": job.plan["section_source"], "assertions": job.plan["assertions"]}
                         if job.subdomain else {}),
                      # the template opening the LM continued (weak profile); 0 when the LM wrote it all
                      "opening_chars": len(job.opening) if draft.stage == "write" else 0,
                      **(extra_metadata or {})},
        )
        self.log.store_record(record)

    # ---- item engine: a slot's calls one after another ----------------------------------------------------------
    def run_job(self, job: SlotJob, call: Callable[..., CallOutcome]) -> int:
        self.write_item(job.write, job.attempt, call)
        return 1

    def writer(self, job: WriteJob):
        """The write predictor a job's clause needs: rules-only or with values, with the plan step or without."""
        return self.program.writer(rules_only=job.rules_only, planned=self.settings.plan_before_writing,
                                   subdomain=job.subdomain)

    def write_item(self, job: WriteJob, first_attempt: int, call: Callable[..., CallOutcome]) -> None:
        if self.out_of_attempts(job, first_attempt):
            return
        for attempt in range(first_attempt, self.settings.attempts):
            if job.scaffold is not None:
                written = self.write_scaffolded(job, attempt, call)
                if written is not None:
                    self.store_document(job, attempt, written[0], written[1])
                    return
                continue
            written = call(self.writer(job), stage="write", item=job.slot.doc_id, rollout=job.rollout(attempt),
                           prefill=job.opening or None, **job.inputs)
            draft = self.check_written(job, attempt, written)
            extra = None
            if draft is not None and self.settings.revise:
                revised = call(self.program.revise, stage="revise", item=job.slot.doc_id,
                               rollout=job.rollout(attempt), **job.revise_inputs(draft.text))
                draft, extra = self.revised_or_last_draft(job, attempt, draft, revised)
            if draft is not None:
                self.store_document(job, attempt, draft, extra)
                return

    def write_scaffolded(self, job: WriteJob, attempt: int,
                         call: Callable[..., CallOutcome]) -> tuple[Draft, dict] | None:
        """A weak model's document, paragraph by paragraph (scaffold.py): each anchor continued by the LM, the
        continuation kept only while it stays on the clause. None (a recorded failure) if too much was cut."""
        assembler = ScaffoldAssembler(job.scaffold)
        spent = CallOutcome(ok=True)
        for index in range(len(job.scaffold.anchors)):
            prefill = assembler.prefill(index)
            kept = ""
            for try_index in range(self.settings.continuation_tries):
                out = call(self.program.continue_paragraph, stage="continue", item=job.slot.doc_id,
                           rollout=f"{job.rollout(attempt)}:{index}:{try_index}", prefill=prefill,
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
            self.log.fail(job.slot.doc_id, "write", "; ".join(problems), finished.text,
                          attempt == self.settings.attempts - 1)
            return None
        return draft, {"scaffold_chars": finished.scaffold_chars, "lm_chars": finished.lm_chars,
                       "scaffold_share": round(finished.scaffold_chars / max(len(finished.text), 1), 4),
                       "scaffold_spans": [list(span) for span in finished.spans],
                       "scaffold_paragraphs": finished.paragraphs, "paragraphs_cut": finished.cut}

    # ---- batch engine: a slot's next call ---------------------------------------------------------------------------
    def job_calls(self, job: SlotJob) -> list[PendingCall]:
        """The write call of the slot's current attempt, or its revise call once a draft of it is kept. A written-
        but-not-yet-revised draft is kept in `stages.jsonl` (stage `draft`, key `<doc id>:<attempt>`), so the
        revise round never pays for a write twice."""
        write_job, attempt = job
        if self.out_of_attempts(write_job, attempt):
            return []
        draft = self.log.stage_cache.get(("draft", f"{write_job.slot.doc_id}:{attempt}"))
        if draft is not None and self.settings.revise:
            return [self._revise_call(write_job, attempt, Draft(**draft.output))]
        return [self._write_call(write_job, attempt)]

    def _write_call(self, job: WriteJob, attempt: int) -> PendingCall:
        doc_id = job.slot.doc_id

        def apply(outcome: CallOutcome, batch_id: str | None) -> None:
            draft = self.check_written(job, attempt, outcome)
            if draft is None:
                return
            if not self.settings.revise:
                self.store_document(job, attempt, draft, {"batch_id": batch_id, "batch_ids": {"write": batch_id}})
                return
            self.log.keep_stage(StageRecord(stage="draft", key=f"{doc_id}:{attempt}", ok=True, output=draft.__dict__,
                                            batch_id=batch_id, lm=self.settings.lm, at=utc_now().isoformat()))

        return PendingCall(self.writer(job), "write", f"{doc_id}|{attempt}", doc_id, job.rollout(attempt),
                           job.inputs, job.opening or None, apply)

    def _revise_call(self, job: WriteJob, attempt: int, draft: Draft) -> PendingCall:
        write_batch = self.log.stage_cache[("draft", f"{job.slot.doc_id}:{attempt}")].batch_id

        def apply(outcome: CallOutcome, batch_id: str | None) -> None:
            revised = self.check_revised(job, attempt, draft, outcome)
            if revised is not None:
                self.store_document(job, attempt, revised,
                                    {"batch_id": batch_id, "batch_ids": {"write": write_batch, "revise": batch_id}})

        return PendingCall(self.program.revise, "revise", f"{job.slot.doc_id}|{attempt}", job.slot.doc_id,
                           job.rollout(attempt), job.revise_inputs(draft.text), None, apply)


class ItemEngine(ItemRunner):
    """Item by item: brainstorms answered level by level with `concurrency` calls in flight, then every pending
    slot's write (and revise) calls, `concurrency` at a time (a local model's batch size)."""

    def __init__(self, store: RunStore, spec: Spec, backend: Backend, program: SpecDocumentProgram,
                 settings: GenerationSettings, *, concurrency: int, max_failures: int | None = None,
                 max_cost_usd: float | None = None, on_progress: Callable[..., None] = no_advance,
                 sleep: Callable[[float], None] = time.sleep):
        log = WorkLog(store, lm=settings.lm, max_failures=max_failures, max_cost_usd=max_cost_usd)
        adapter = LenientAdapter(plain_prompts=settings.profile == "weak", prefill_as_turn=backend.local)
        caller = LMCaller(log, backend, adapter, sampling_for(settings), seed=settings.seed, sleep=sleep)
        super().__init__(DocumentWalk(log, spec, program, settings), log, caller, concurrency=concurrency,
                         on_progress=on_progress)


def open_run(store: RunStore, settings: GenerationSettings, spec: Spec | None = None,
             spec_source: str | None = None) -> None:
    """Create the run (carrying a frozen copy of `spec`), or check that a rerun asks for the same corpus (then it
    resumes)."""
    worklog.open_run(store, settings, kind="generated", resume_keys=RESUME_KEYS, spec=spec, spec_source=spec_source)
