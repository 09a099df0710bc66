"""The chat walk: what to ask the LM for an alignment fine-tuning run, recomputed from the run's records each time an
engine asks what is open (the `lmrun.walk.Walk` protocol, so the item engine and the batch engine both run it).

    quotas     chats per clause, proportional to clause weights (generate.planning.quotas)
    domains    per clause: an LM brainstorm of conversation areas, resampled while short, topped up from a list
    cells      per clause: (domain, question type) pairs in a fixed order that cycles through the types first and
               rotates the domains, so a small run still covers every type
    questions  per cell: the LM writes `questions_per_ask` user messages of that type in that domain for that clause;
               each message travels with its own cell, so a short answer can never pair a message with the wrong
               domain or type; ids come from (run, spec hash, clause, round, cell, position) — never from LM text
    dedup      per clause, in order: checks (`checks.question_problem`), then exact and MinHash near-duplicates of a
               message kept before it (`questions.NearDuplicateFilter`)
    chats      the first kept messages still needed become jobs: reasoning (value and rule styles) → answer →
               judge; INCLUDE stores the chat, EXCLUDE records it as a rejected item (`--judge checks`: no LM
               verdict, a chat that passes the deterministic checks is stored)
    backfill   when a clause's messages are used up and it still has fewer accepted chats than its quota, a new round
               of cells is asked for (quota − accepted) × overgenerate messages — until the quota is met, a round
               adds no accepted chat, or `max_rounds` rounds were asked

Every stage answer is cached in `stages.jsonl`: brainstorms under (stage, clause key), a chat's calls under
(stage, `<question id>:<attempt>`) with their tokens, so a run killed at any point resumes without paying again.
A failed check or an unreadable verdict uses up one attempt of the message (`attempts`); a judge's EXCLUDE is final.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from typing import Any, Callable

from msm.corpus.aft import checks
from msm.corpus.aft.program import SpecChatProgram
from msm.corpus.aft.questions import NearDuplicateFilter
from msm.corpus.aft.settings import QUESTION_TYPES, ChatSettings
from msm.corpus.aft.signatures import STYLE_REQUIREMENTS
from msm.corpus.chats import render_chat
from msm.corpus.generate.planning import clause_text, quotas
from msm.corpus.lmrun.caller import CallOutcome, Sampling
from msm.corpus.lmrun.walk import AskMany, Open, PendingCall, StageAsk
from msm.corpus.lmrun.worklog import WorkLog
from msm.corpus.records import ChatMessage, DocumentRecord, StageRecord, stable_id
from msm.spec import Clause, Spec
from msm.workspace import utc_now

STAGE_ORDER = ("domains", "questions", "reason", "answer", "judge")
# areas any assistant is asked about; a clause's brainstorm is topped up from these (seeded order per clause)
FALLBACK_DOMAINS = ("everyday household decisions", "work and careers", "software and data engineering",
                    "school and studying", "health and wellbeing", "money and shopping", "travel and transport",
                    "food and cooking", "science and technology news", "family and friendships",
                    "an automated workflow the assistant runs as an agent", "community and local politics")


@dataclass(frozen=True)
class Question:
    qid: str
    clause_id: str
    domain: str
    domain_source: str
    question_type: str
    round: int
    cell: int
    position: int
    text: str


@dataclass
class ChatJob:
    question: Question
    attempt: int
    outcome: str | None = None  # accepted | rejected | failed, once the job is over


@dataclass
class ClausePool:
    """One clause's brainstormed messages, in order, with the dedup decisions made so far."""

    filter: NearDuplicateFilter
    questions: list[Question] = field(default_factory=list)  # kept, in order
    dropped: dict[str, str] = field(default_factory=dict)  # question id -> why it is not used
    rounds: list[list[Question]] = field(default_factory=list)  # each round's kept messages
    cells_per_round: list[int] = field(default_factory=list)


def sampling_for(settings: ChatSettings) -> Sampling:
    return Sampling(lm=settings.lm, temperature=settings.temperature, max_tokens=settings.max_tokens,
                    temperatures={"judge": settings.judge_temperature}, max_retries=settings.max_retries)


def spec_context(spec: Spec, settings: ChatSettings, clause: Clause) -> str:
    """What the reasoner, answerer and judge see of the spec: all of it (strong), or its description and the clause
    (weak: a small model's attention does not stretch over a multi-thousand-token spec; see generate.planning)."""
    if settings.context_scope == "full":
        return spec.as_text()
    return f"{spec.render(spec.description)}\n\n{clause_text(spec, clause)}"


def cell_of(settings: ChatSettings, clause_id: str, index: int, n_domains: int) -> tuple[int, str]:
    """(domain index, question type) of a clause's `index`-th cell: the types cycle first (from a seeded offset per
    clause), the domain moves on by one each cell and by one more after each full cycle of types."""
    types = settings.question_types
    offset = random.Random(f"{settings.seed}:types:{clause_id}").randrange(len(types))
    return (index + index // len(types)) % n_domains, types[(index + offset) % len(types)]


class ChatWalk:
    stage_order = STAGE_ORDER

    def __init__(self, log: WorkLog, spec: Spec, program: SpecChatProgram, settings: ChatSettings):
        self.log = log
        self.store = log.store
        self.spec = spec
        self.program = program
        self.settings = settings
        self.clauses = {c.id: c for c in spec.clauses}
        self.quota = quotas(spec, settings.n_chats)
        self.pools = {cid: ClausePool(filter=NearDuplicateFilter(settings.dedup_threshold)) for cid in self.clauses}

    def spec_context(self, clause: Clause) -> str:
        return spec_context(self.spec, self.settings, clause)

    # ---- records ----------------------------------------------------------------------------------------------------
    def _state(self) -> tuple[set[str], set[str], dict[str, int]]:
        """(accepted question ids, finished-without-a-chat ids, attempts used per id), from the run's files."""
        failures = list(self.store.failures())
        attempts: dict[str, int] = {}
        for f in failures:
            attempts[f.item_id] = attempts.get(f.item_id, 0) + 1
        given_up = {f.item_id for f in failures if f.permanent}
        self.log.totals.failed = len(given_up)
        return self.store.done_ids(), given_up, attempts

    def progress(self) -> tuple[int, int]:
        return len(self.store.done_ids()), self.settings.n_chats

    # ---- the walk ---------------------------------------------------------------------------------------------------
    def open_work(self, ask_many: AskMany) -> Open:
        accepted, given_up, attempts = self._state()
        domains, missing = self._domains(list(self.clauses), ask_many)
        if missing:
            return Open(missing=missing)
        opened = Open()
        # a clause's rounds follow one another: each turn of this loop asks every clause that needs one for its
        # next round together; a clause whose round is not answered yet (batch engine) waits for it
        active = list(self.clauses)
        while active:
            asked: dict[str, list[StageAsk]] = {}
            for cid in active:
                jobs, asks = self._clause_step(cid, accepted, given_up, attempts, domains[cid])
                opened.jobs.extend(jobs)
                if asks:
                    asked[cid] = asks
            if not asked:
                break
            flat = [a for asks in asked.values() for a in asks]
            answers = dict(zip(((a.stage, a.key) for a in flat), ask_many(flat)))
            active = []
            for cid, asks in asked.items():
                records = [answers[(a.stage, a.key)] for a in asks]
                if any(r is None for r in records):
                    opened.missing.extend(a for a, r in zip(asks, records) if r is None)
                else:
                    self._add_round(cid, asks, records, domains[cid])
                    active.append(cid)
        return opened

    def _clause_step(self, cid: str, accepted: set[str], given_up: set[str], attempts: dict[str, int],
                     domains: list[tuple[str, str]]) -> tuple[list[ChatJob], list[StageAsk]]:
        """One clause: its open jobs, or the questions of its next round, or neither when it is done."""
        pool = self.pools[cid]
        n_accepted = sum(q.qid in accepted for q in pool.questions)
        need = self.quota[cid] - n_accepted
        if need <= 0:
            return [], []
        unfinished = [q for q in pool.questions if q.qid not in accepted and q.qid not in given_up]
        if unfinished:
            return [ChatJob(q, attempts.get(q.qid, 0)) for q in unfinished[:need]], []
        if len(pool.rounds) >= self.settings.max_rounds:
            return [], []
        if pool.rounds and not any(q.qid in accepted for q in pool.rounds[-1]):
            return [], []  # the last round added nothing
        return [], self._round_asks(cid, need, domains)

    def question_counts(self) -> dict[str, int]:
        """Brainstormed user messages so far (replayed from the cache): asked, kept, and why the others were
        dropped. Near-duplicate share = (exact + near duplicates) / messages that passed the checks."""
        self.open_work(lambda asks: [self.log.cached(a) for a in asks])
        kept = sum(len(p.questions) for p in self.pools.values())
        dropped: dict[str, int] = {"problem": 0, "exact_duplicate": 0, "near_duplicate": 0}
        for pool in self.pools.values():
            for why in pool.dropped.values():
                dropped[why if why in dropped else "problem"] += 1
        return {"asked": kept + sum(dropped.values()), "kept": kept, **dropped,
                "rounds": max((len(p.rounds) for p in self.pools.values()), default=0)}

    # ---- domains ----------------------------------------------------------------------------------------------------
    def _domains(self, wanted: list[str], ask_many: AskMany) -> tuple[dict[str, list[tuple[str, str]]],
                                                                       list[StageAsk]]:
        """(area, source) pairs per clause: LM brainstorm, resampled while short, topped up from FALLBACK_DOMAINS."""
        want = self.settings.domains_per_clause
        found: dict[str, list[str]] = {cid: [] for cid in wanted}
        for attempt in range(self.settings.brainstorm_resamples if self.settings.domains_from_lm else 0):
            short = [cid for cid in wanted if len(found[cid]) < want]
            if not short:
                break
            asks = [StageAsk("domains", "domains", f"{cid}#{attempt}",
                             dict(clause=clause_text(self.spec, self.clauses[cid]), count=want + 2)) for cid in short]
            answers = ask_many(asks)
            missing = [ask for ask, rec in zip(asks, answers) if rec is None]
            if missing:
                return {}, missing
            for cid, rec in zip(short, answers):
                listed = rec.output.get("domains") or [] if rec.ok else []
                found[cid] = checks.clean_domains(found[cid] + [str(d) for d in listed])
        result = {}
        for cid in wanted:
            chosen = [(d, "lm") for d in found[cid][:want]]
            if len(chosen) < want:
                fallback = list(FALLBACK_DOMAINS)
                random.Random(f"{self.settings.seed}:domains:{cid}").shuffle(fallback)
                have = {d.lower() for d, _ in chosen}
                chosen += [(d, "fallback_list") for d in fallback if d.lower() not in have][: want - len(chosen)]
            result[cid] = chosen
        return result, []

    # ---- question rounds --------------------------------------------------------------------------------------------
    def cell(self, cid: str, index: int, domains: list[tuple[str, str]]) -> tuple[int, str]:
        return cell_of(self.settings, cid, index, len(domains))

    def _round_asks(self, cid: str, need: int, domains: list[tuple[str, str]]) -> list[StageAsk]:
        """The clause's next round: enough cells for `need` x overgenerate messages, after the cells asked before."""
        pool, per_ask = self.pools[cid], self.settings.questions_per_ask
        round_no, first = len(pool.rounds), sum(pool.cells_per_round)
        n_cells = math.ceil(need * self.settings.overgenerate / per_ask)
        clause = clause_text(self.spec, self.clauses[cid])
        asks = []
        for index in range(first, first + n_cells):
            d, qtype = self.cell(cid, index, domains)
            asks.append(StageAsk("questions", "questions", f"{cid}|r{round_no}|c{index}",
                                 dict(clause=clause, domain=domains[d][0],
                                      question_type=f"{qtype}: {QUESTION_TYPES.get(qtype, qtype)}", count=per_ask)))
        return asks

    def _add_round(self, cid: str, asks: list[StageAsk], answers: list[StageRecord],
                   domains: list[tuple[str, str]]) -> None:
        """A round's answers into the clause's pool: checked, de-duplicated against everything kept before."""
        pool = self.pools[cid]
        round_no = len(pool.rounds)
        pool.cells_per_round.append(len(asks))
        candidates: list[Question] = []
        for ask, rec in zip(asks, answers):
            index = int(ask.key.rsplit("|c", 1)[1])
            d, qtype = self.cell(cid, index, domains)
            listed = [str(q) for q in (rec.output.get("questions") or [])] if rec.ok else []
            for position, raw in enumerate(listed):
                text = checks.clean_question(raw)
                question = Question(qid=stable_id(self.store.name, self.spec.content_hash, cid, round_no, index,
                                                  position),
                                    clause_id=cid, domain=domains[d][0], domain_source=domains[d][1],
                                    question_type=qtype, round=round_no, cell=index, position=position, text=text)
                problem = checks.question_problem(text, self.spec, cid)
                if problem:
                    pool.dropped[question.qid] = problem
                else:
                    candidates.append(question)
        decisions = pool.filter.add([q.text for q in candidates])
        kept = []
        for question, decision in zip(candidates, decisions):
            if decision:
                pool.dropped[question.qid] = decision
            else:
                kept.append(question)
        pool.questions.extend(kept)
        pool.rounds.append(kept)

    # ---- a chat's calls: reasoning → answer → judge ------------------------------------------------------------------
    def run_job(self, job: ChatJob, call: Callable[..., CallOutcome]) -> int:
        """Item engine: the job's calls one after another, each applied as the batch engine applies an answer."""
        while True:
            pending = self.job_calls(job)
            if not pending:
                return int(job.outcome == "accepted")
            for c in pending:
                c.apply(call(c.predictor, stage=c.stage, item=c.item, rollout=c.rollout, prefill=c.prefill,
                             **c.inputs), None)

    def job_calls(self, job: ChatJob) -> list[PendingCall]:
        """The job's next call, after settling whatever its cached answers already decide."""
        while job.outcome is None:
            if job.attempt >= self.settings.attempts:
                self.log.fail(job.question.qid, "respond", f"no attempts left ({job.attempt} used)", None, True)
                job.outcome = "failed"
                break
            pending = self._next_call(job)
            if pending is not None:
                return [pending]
        return []

    def _key(self, job: ChatJob) -> str:
        return f"{job.question.qid}:{job.attempt}"

    def _inputs(self, job: ChatJob) -> dict[str, Any]:
        return dict(model_spec=self.spec_context(self.clauses[job.question.clause_id]), question=job.question.text)

    def _next_call(self, job: ChatJob) -> PendingCall | None:
        """A call still to make for the job's attempt, or None when the cached answers settled something (a failed
        attempt, a stored or rejected chat)."""
        style, key = self.settings.style, self._key(job)
        reasoning = ""
        reasoner = self.program.reasoner(style)
        if reasoner is not None:
            record = self.log.stage_cache.get(("reason", key))
            if record is None:
                return self._call(job, reasoner, "reason", self._inputs(job))
            problem = "unparseable answer" if not record.ok else checks.reasoning_problem(
                str(record.output.get("reasoning") or ""), style)
            if problem:
                return self._fail_attempt(job, "reason", problem, record.raw)
            reasoning = str(record.output["reasoning"]).strip()
        record = self.log.stage_cache.get(("answer", key))
        if record is None:
            inputs = self._inputs(job) if reasoner is None else {**self._inputs(job), "reasoning": reasoning}
            return self._call(job, self.program.answerer(style), "answer", inputs)
        problem = "unparseable answer" if not record.ok else checks.answer_problem(
            str(record.output.get("answer") or ""), style)
        if problem:
            return self._fail_attempt(job, "answer", problem, record.raw)
        answer = str(record.output["answer"]).strip()
        if self.settings.judge == "checks":  # no LM verdict: the deterministic checks above are the filter
            self.store_chat(job, reasoning, answer, None)
            job.outcome = "accepted"
            return None
        record = self.log.stage_cache.get(("judge", key))
        if record is None:
            return self._call(job, self.program.judge, "judge",
                              {**self._inputs(job), "style_requirement": STYLE_REQUIREMENTS[style],
                               "reasoning": reasoning, "answer": answer})
        verdict = checks.parse_verdict(str(record.output.get("verdict") or "")) if record.ok else None
        if verdict is None:
            return self._fail_attempt(job, "judge", "unreadable verdict", record.raw)
        decision, reason = verdict
        if decision == "INCLUDE":
            self.store_chat(job, reasoning, answer, reason)
            job.outcome = "accepted"
        else:
            self.log.fail(job.question.qid, "judge", f"EXCLUDE: {reason}",
                          render_chat(self._messages(job.question.text, reasoning, answer)), True)
            job.outcome = "rejected"
        return None

    def _call(self, job: ChatJob, predictor: Any, stage: str, inputs: dict[str, Any]) -> PendingCall:
        key = self._key(job)

        def apply(outcome: CallOutcome, batch_id: str | None) -> None:
            if not outcome.ok and outcome.raw is None:  # never answered: not cached, the attempt is used up
                self._fail_attempt(job, stage, outcome.reason or "failed", None)
                return
            self.log.record_stage(stage, key, outcome, batch_id=batch_id, with_usage=True)

        return PendingCall(predictor, stage, key, job.question.qid, key, inputs, None, apply)

    def _fail_attempt(self, job: ChatJob, stage: str, reason: str, raw: str | None) -> None:
        self.log.fail(job.question.qid, stage, reason, raw, job.attempt == self.settings.attempts - 1)
        job.attempt += 1
        if job.attempt >= self.settings.attempts:
            job.outcome = "failed"
        return None

    @staticmethod
    def _messages(question: str, reasoning: str, answer: str) -> list[ChatMessage]:
        return [ChatMessage(role="user", content=question),
                ChatMessage(role="assistant", content=answer, reasoning=reasoning or None)]

    def store_chat(self, job: ChatJob, reasoning: str, answer: str, judge_reason: str | None) -> None:
        q, settings, key = job.question, self.settings, self._key(job)
        usage = {stage: (self.log.stage_cache[(stage, key)].usage or {}) for stage in ("reason", "answer", "judge")
                 if (stage, key) in self.log.stage_cache}
        written = [usage[s] for s in ("reason", "answer") if s in usage]
        batch_ids = {s: self.log.stage_cache[(s, key)].batch_id for s in usage
                     if self.log.stage_cache[(s, key)].batch_id}
        messages = self._messages(q.text, reasoning, answer)
        record = DocumentRecord(
            doc_id=q.qid, run=self.store.name, text=render_chat(messages), created_at=utc_now(), stage="respond",
            spec_id=self.spec.id, spec_hash=self.spec.content_hash, clause_id=q.clause_id, domain=q.domain,
            doc_type=q.question_type, idea=q.text, lm=settings.lm, program_hash=settings.program_hash,
            seed=settings.seed, prompt_tokens=int(sum(u.get("prompt_tokens", 0) for u in written)),
            completion_tokens=int(sum(u.get("completion_tokens", 0) for u in written)),
            finish_reason="stop", messages=messages,
            metadata={"kind": "chat", "style": settings.style, "question_type": q.question_type, "round": q.round,
                      "cell": q.cell, "domain_source": q.domain_source, "attempt": job.attempt,
                      "judge": ({"verdict": "INCLUDE", "reason": judge_reason} if judge_reason is not None
                                else {"verdict": None, "reason": "no LM judge (--judge checks)"}),
                      "judge_tokens": int(sum((usage.get("judge") or {}).get(k, 0)
                                              for k in ("prompt_tokens", "completion_tokens"))),
                      "cost_usd": float(sum(u.get("cost", 0.0) for u in usage.values())),
                      "profile": settings.profile, "context_scope": settings.context_scope,
                      **({"batch_ids": batch_ids} if batch_ids else {})})
        self.log.store_record(record)
