"""What to ask the LM for: quotas, slots, diversity levers, write inputs — and the one slot walk both engines use.

    plan      per clause: settings from the spec, or (strong profiles) an LM plan of subdomains
    types     per clause: an LM brainstorm of document genres, resampled while short, topped up from the seed list
    ideas     per (clause, type): an LM brainstorm, resampled while short, topped up with a templated idea
    slots     per clause `k`: which type (round-robin over the clause's types) and which of that type's ideas
    jobs      per pending slot: a `WriteJob` with everything its write (and revise) calls send

An item is always an explicit (clause, document type, idea) triple: ideas are asked *for* a clause and type and
travel with them; no list is ever zipped against another, so a short brainstorm can never pair an idea with the
wrong clause or type. Doc ids come from (run, spec hash, clause, k) — never from LM output — so a rerun sees exactly
the same slots, and every slot of a clause is placed (not only the pending ones) so a resume assigns identically.

`SlotWalk.walk` asks its brainstorm questions a level at a time through `ask_many`. The per-item engine answers them
by calling the LM; the batch engine answers from the run's cache and returns None for the ones still open, which
stops the walk at that level and hands back the open questions as the next round of batch requests. Both engines
therefore give every slot the same (type, idea), which is what makes resume and batch/item mixing safe.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from fnmatch import fnmatch
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from msm.corpus.generate import checks
from msm.corpus.generate.openings import weak_opening
from msm.corpus.generate.scaffold import Scaffold, build_scaffold
from msm.corpus.generate.settings import GenerationSettings
from msm.corpus.lmrun.walk import AskMany, StageAsk
from msm.corpus.records import stable_id
from msm.spec import Clause, Spec

SEEDS_FILE = Path(__file__).with_name("seeds.yaml")


# ---- quotas and slots ---------------------------------------------------------------------------------------
def is_value_clause(clause: Clause, patterns: list[str]) -> bool:
    return any(fnmatch(clause.id, pattern) for pattern in patterns)


def clause_weights(spec: Spec, value_share: float | None = None, value_clauses: list[str] | None = None
                   ) -> dict[str, float]:
    """Each clause's share of the documents: its `weight`; with `value_share`, the value clauses together get that
    share (split by their weights) and the other clauses the rest."""
    weights = {c.id: c.weight for c in spec.clauses}
    if value_share is None:
        return weights
    values = {c.id for c in spec.clauses if is_value_clause(c, value_clauses or [])}
    others = set(weights) - values
    if not values or not others:
        return weights  # nothing to rebalance (checked with a message when the run is set up)
    v_total, o_total = sum(weights[c] for c in values), sum(weights[c] for c in others)
    return {cid: (value_share * w / v_total if cid in values else (1 - value_share) * w / o_total)
            for cid, w in weights.items()}


def quotas(spec: Spec, n_docs: int, weights: dict[str, float] | None = None) -> dict[str, int]:
    """Documents per clause, proportional to clause weights (largest remainder; ties by spec order)."""
    weights = weights or {c.id: c.weight for c in spec.clauses}
    total = sum(weights.values())
    exact = [(c.id, n_docs * weights[c.id] / total) for c in spec.clauses]
    floors = {cid: int(x) for cid, x in exact}
    left = n_docs - sum(floors.values())
    order = sorted(range(len(exact)), key=lambda i: (-(exact[i][1] - floors[exact[i][0]]), i))
    for i in order[:left]:
        floors[exact[i][0]] += 1
    return floors


@dataclass(frozen=True)
class Slot:
    doc_id: str
    clause_id: str
    index: int  # k-th document of this clause


def settings_weights(spec: Spec, settings: GenerationSettings) -> dict[str, float]:
    """A run's clause weights: the spec's (or the value share's), or the clause shares `--focus-from` set."""
    if settings.clause_shares:
        return {c.id: settings.clause_shares.get(c.id, 0.0) for c in spec.clauses}
    return clause_weights(spec, settings.value_share, settings.value_clauses)


def settings_quotas(spec: Spec, settings: GenerationSettings) -> dict[str, int]:
    return quotas(spec, settings.n_docs, settings_weights(spec, settings))


def slots(run: str, spec: Spec, n_docs: int, weights: dict[str, float] | None = None) -> list[Slot]:
    """The run's document slots. A doc id depends only on run, spec and (clause, k), never on LM output, so a
    rerun finds exactly the same ids and each is written once."""
    quota = quotas(spec, n_docs, weights)
    return [Slot(stable_id(run, spec.content_hash, clause.id, k), clause.id, k)
            for clause in spec.clauses for k in range(quota[clause.id])]


# ---- what the LM sees of the spec ---------------------------------------------------------------------------
def clause_text(spec: Spec, clause: Clause) -> str:
    lines = [f"[{clause.id}] {spec.render(clause.rule)}"]
    if clause.rationale:
        lines.append(f"Why: {spec.render(clause.rationale)}")
    for example in clause.examples[:2]:
        lines.append(f"Example: {spec.render(example)}")
    return "\n".join(lines)


def spec_context(spec: Spec, scope: str) -> str:
    """'full': the whole spec (what the paper does); 'clause': only the spec's description (the clause travels
    in its own field), for small local models whose prefill cost and attention do not stretch to a multi-thousand-
    token spec — measured on the 135M model, the extra spec text pulled its documents off topic."""
    if scope == "full":
        return spec.as_text()
    return spec.render(spec.description)


def writing_context_hash(spec: Spec, settings: GenerationSettings) -> str:
    """A hash of the spec context a document is written from, besides its own clause: what the spec is about (names,
    title, description), and — where the writer or the scaffold reads them — the prose sections and the value
    clauses. Two runs whose clause hash and this hash agree wrote that clause's documents from the same text, so
    `--reuse-from` may copy them. Left out on purpose: the version label, and in the full-spec context the other
    (non-value) clauses' text, which the writer sees but which does not decide what a document about this clause
    says — without that, a one-clause edit would regenerate the whole corpus."""
    import hashlib
    import json

    parts: dict[str, Any] = {"frame": spec.frame_hash(), "scope": settings.context_scope}
    if settings.context_scope == "full" or settings.scaffold:
        parts["sections"] = spec.section_hashes()
    if settings.scaffold:
        parts["value_clauses"] = {c.id: c.content_hash for c in spec.clauses
                                  if is_value_clause(c, settings.value_clauses)}
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()


# ---- diversity levers ---------------------------------------------------------------------------------------
@lru_cache(maxsize=1)
def seeds() -> dict[str, list]:
    return yaml.safe_load(SEEDS_FILE.read_text(encoding="utf-8"))


@dataclass(frozen=True)
class Levers:
    persona: str
    author: str
    era: str
    register: str
    length_words: int


def draw_levers(seed: int, doc_id: str, *, length_choices: list[int] | None = None) -> Levers:
    """Per-item persona, author name, era, register and length, reproducible from (run seed, doc id)."""
    pool = seeds()
    rng = random.Random(f"{seed}:{doc_id}")
    return Levers(persona=rng.choice(pool["personas"]),
                  author=f"{rng.choice(pool['first_names'])} {rng.choice(pool['last_names'])}",
                  era=rng.choice(pool["eras"]), register=rng.choice(pool["registers"]),
                  length_words=rng.choice(length_choices or pool["length_words"]))


def fallback_idea(spec: Spec, clause: Clause, doc_type: str, n: int) -> str:
    """An idea for a slot the brainstorm could not fill: the clause and type stay the slot's own."""
    angles = ["explains to readers", "debates with examples", "recounts a conversation showing",
              "questions and then defends", "compares alternatives to illustrate"]
    rule = spec.render(clause.rule).rstrip(".")
    return f"A {doc_type} that {angles[n % len(angles)]} why {rule}."


# ---- the write inputs -------------------------------------------------------------------------------------------
@dataclass
class WriteJob:
    """Everything one slot's write (and revise) calls send, reproducible from the run's seed and the slot."""

    slot: Slot
    clause: Clause
    plan: dict
    doc_type: str
    type_source: str
    idea: str
    idea_source: str
    unsuitable: int
    levers: Levers
    inputs: dict[str, Any]
    opening: str
    scaffold: Scaffold | None = None
    rules_only: bool = False  # the clause has no rationale: the rules-only writer, no reason supplied
    subdomain: bool = False   # the paper plan's job (paper_plan.py): its writer sees domain, subdomain, assertions
    revise_clause: str | None = None  # what the revise call is told the document is about (paper plan)

    def continue_inputs(self) -> dict[str, Any]:
        """A scaffolded paragraph's inputs: short on purpose (see signatures.ContinueDocument)."""
        return dict(document_type=self.doc_type, topic=self.inputs["clause"].split("\n", 1)[0].split("] ", 1)[-1])

    def rollout(self, attempt: int) -> str:
        return f"{self.slot.doc_id}:{attempt}"

    def revise_inputs(self, text: str) -> dict[str, Any]:
        clause = self.revise_clause if self.revise_clause is not None else self.inputs["clause"]
        return dict(spec_context=self.inputs["spec_context"], clause=clause, document=text)


def ai_system(spec: Spec) -> str:
    return f"{spec.model_name}, created by {spec.provider_name}"


def persona(settings: GenerationSettings, levers: Levers) -> str:
    """The writer: with `--levers` a named persona in an era and a register; by default only the register — no
    invented author names, bylines or dates."""
    if settings.levers:
        return f"{levers.author}, {levers.persona}; {levers.era}; {levers.register}"
    return f"none (an unnamed writer; register: {levers.register})"


def write_inputs(spec: Spec, settings: GenerationSettings, clause: Clause, doc_type: str, idea: str,
                 levers: Levers) -> dict[str, Any]:
    """The write stage's inputs — the one builder runs, batch rounds and `msm optimize` all use, so a program tuned
    by the optimizer sees exactly the requests a run sends."""
    return dict(spec_context=spec_context(spec, settings.context_scope), ai_system=ai_system(spec),
                clause=clause_text(spec, clause), document_type=doc_type, idea=idea, persona=persona(settings, levers),
                length_words=levers.length_words)


def idea_focus(clause: Clause) -> str:
    """What ideas for a clause must be about: its reasons only where the spec gives them."""
    if clause.rationale:
        return "how the AI system behaves under this clause and the values and reasons the spec gives for it"
    return ("what the rule requires and how the AI system complies with it in practice; the spec gives no reason "
            "for the rule, so the ideas must not supply one")


def opening_for(spec: Spec, settings: GenerationSettings, clause: Clause, doc_type: str, levers: Levers,
                doc_id: str) -> str:
    return weak_opening(spec, clause, doc_type, levers, settings.seed, doc_id) if settings.opening else ""


def build_write_job(spec: Spec, settings: GenerationSettings, *, slot: Slot, clause: Clause, plan: dict,
                    doc_type: str, type_source: str, idea: str, idea_source: str, unsuitable: int) -> WriteJob:
    levers = draw_levers(settings.seed, slot.doc_id, length_choices=settings.length_choices)
    scaffold = (build_scaffold(spec, clause, doc_type, seed=settings.seed, doc_id=slot.doc_id,
                               paragraphs=settings.scaffold_paragraphs, value_patterns=settings.value_clauses)
                if settings.scaffold else None)
    return WriteJob(slot=slot, clause=clause, plan=plan, doc_type=doc_type, type_source=type_source, idea=idea,
                    idea_source=idea_source, unsuitable=unsuitable, levers=levers,
                    inputs=write_inputs(spec, settings, clause, doc_type, idea, levers),
                    opening="" if scaffold else opening_for(spec, settings, clause, doc_type, levers, slot.doc_id),
                    scaffold=scaffold, rules_only=not clause.rationale)


# ---- the slot walk ----------------------------------------------------------------------------------------------
@dataclass
class WalkResult:
    """Either the write jobs of the pending slots (`missing` empty) or the questions still open at the level where
    the walk stopped (`jobs` empty)."""

    jobs: list[WriteJob] = field(default_factory=list)
    missing: list[StageAsk] = field(default_factory=list)


class SlotWalk:
    """plan → types → ideas → slots → write jobs, for one run's spec and settings."""

    def __init__(self, spec: Spec, settings: GenerationSettings):
        self.spec = spec
        self.settings = settings
        self.clauses = {c.id: c for c in spec.clauses}
        self.quota = settings_quotas(spec, settings)
        self.weak = settings.profile == "weak"

    def walk(self, pending: list[Slot], ask_many: AskMany) -> WalkResult:
        wanted = sorted({s.clause_id for s in pending}, key=list(self.clauses).index)
        if not wanted:
            return WalkResult()
        plans, missing = self._plans(wanted, ask_many)
        if missing:
            return WalkResult(missing=missing)
        types, missing = self._types(wanted, plans, ask_many)
        if missing:
            return WalkResult(missing=missing)
        placed, need = self.place_slots(wanted, types)
        ideas, missing = self._ideas(need, ask_many)
        if missing:
            return WalkResult(missing=missing)
        jobs = []
        for slot in pending:
            doc_type, type_source, cid, j = placed[(slot.clause_id, slot.index)]
            idea_list, unsuitable = ideas[(cid, doc_type)]
            idea, idea_source = idea_list[j]
            jobs.append(build_write_job(self.spec, self.settings, slot=slot, clause=self.clauses[cid],
                                        plan=plans[cid], doc_type=doc_type, type_source=type_source, idea=idea,
                                        idea_source=idea_source, unsuitable=unsuitable))
        return WalkResult(jobs=jobs)

    # ---- levels --------------------------------------------------------------------------------------------------
    def _spec_plan(self, clause: Clause) -> dict:
        given = [s for s in (clause.domain, clause.subdomain) if s]
        return {"domain": clause.domain, "settings": given + list(clause.key_terms), "source": "spec"}

    def _plans(self, wanted: list[str], ask_many: AskMany) -> tuple[dict[str, dict], list[StageAsk]]:
        if not self.settings.plan_with_lm:
            return {cid: self._spec_plan(self.clauses[cid]) for cid in wanted}, []
        asks = [StageAsk("plan", "plan", cid, dict(spec_context=spec_context(self.spec, "full"),
                                                   clause=clause_text(self.spec, self.clauses[cid]),
                                                   domain=self.clauses[cid].domain or "unspecified"))
                for cid in wanted]
        answers = ask_many(asks)
        missing = [ask for ask, rec in zip(asks, answers) if rec is None]
        if missing:
            return {}, missing
        plans = {}
        for cid, rec in zip(wanted, answers):
            clause = self.clauses[cid]
            listed = rec.output.get("subdomains") or [] if rec.ok else []
            subdomains = [s for s in listed if isinstance(s, str) and 0 < len(s) <= 120]
            if subdomains:
                given = [s for s in (clause.domain, clause.subdomain) if s]
                plans[cid] = {"domain": clause.domain, "settings": given + subdomains[:8], "source": "lm"}
            else:
                plans[cid] = self._spec_plan(clause)
        return plans, []

    def _types(self, wanted: list[str], plans: dict[str, dict], ask_many: AskMany
               ) -> tuple[dict[str, list[tuple[str, str]]], list[StageAsk]]:
        """(type, source) pairs per clause: LM brainstorm, resampled while short, then topped up from the seed list."""
        want = {cid: min(self.quota[cid], self.settings.types_per_clause) for cid in wanted}
        found: dict[str, list[str]] = {cid: [] for cid in wanted}
        for attempt in range(self.settings.brainstorm_resamples):
            short = [cid for cid in wanted if len(found[cid]) < want[cid]]
            if not short:
                break
            asks = [StageAsk("doc_types", "types", f"{cid}#{attempt}",
                             dict(clause=clause_text(self.spec, self.clauses[cid]),
                                  settings="; ".join(plans[cid]["settings"]), count=want[cid] + 2)) for cid in short]
            answers = ask_many(asks)
            missing = [ask for ask, rec in zip(asks, answers) if rec is None]
            if missing:
                return {}, missing
            for cid, rec in zip(short, answers):
                listed = rec.output.get("document_types") or [] if rec.ok else []
                found[cid] = checks.clean_doc_types(found[cid] + [str(t) for t in listed],
                                                    require_known_genre=self.weak)
        typed: dict[str, list[tuple[str, str]]] = {}
        for cid in wanted:
            chosen = [(t, "lm") for t in found[cid][:want[cid]]]
            if len(chosen) < want[cid]:
                pool = list(seeds()["doc_types"])
                random.Random(f"{self.settings.seed}:types:{cid}").shuffle(pool)
                have = {t.lower() for t, _ in chosen}
                chosen += [(t, "seed_list") for t in pool if t.lower() not in have][: want[cid] - len(chosen)]
            typed[cid] = chosen
        return typed, []

    def place_slots(self, clause_ids: list[str], types: dict[str, list[tuple[str, str]]]
                    ) -> tuple[dict[tuple[str, int], tuple[str, str, str, int]], dict[tuple[str, str], int]]:
        """Which type (and which of that type's ideas) each slot gets: {(clause, k): (type, source, clause, j)},
        and how many ideas each (clause, type) needs. Every slot of a clause is placed, not only pending ones."""
        placed: dict[tuple[str, int], tuple[str, str, str, int]] = {}
        need: dict[tuple[str, str], int] = {}
        for cid in clause_ids:
            for k in range(self.quota[cid]):
                doc_type, type_source = types[cid][k % len(types[cid])]
                j = need.get((cid, doc_type), 0)
                need[(cid, doc_type)] = j + 1
                placed[(cid, k)] = (doc_type, type_source, cid, j)
        return placed, need

    def _ideas(self, need: dict[tuple[str, str], int], ask_many: AskMany
               ) -> tuple[dict[tuple[str, str], tuple[list[tuple[str, str]], int]], list[StageAsk]]:
        """(idea, source) pairs for exactly each (clause, type), and how many the LM marked unsuitable."""
        pairs = list(need)
        found: dict[tuple[str, str], list[str]] = {p: [] for p in pairs}
        unsuitable: dict[tuple[str, str], int] = {p: 0 for p in pairs}
        # a scaffolded document's paragraphs are continued from its anchors and genre; its idea is never sent, so
        # asking the LM for ideas would only cost time (measured: a third of a weak run's decoding)
        resamples = 0 if self.settings.scaffold else self.settings.brainstorm_resamples
        for attempt in range(resamples):
            short = [p for p in pairs if len(found[p]) < need[p]]
            if not short:
                break
            asks = [StageAsk("ideas", "ideas", f"{cid}|{doc_type}#{attempt}",
                             dict(clause=clause_text(self.spec, self.clauses[cid]), document_type=doc_type,
                                  focus=idea_focus(self.clauses[cid]), count=need[(cid, doc_type)] + 1))
                    for cid, doc_type in short]
            answers = ask_many(asks)
            missing = [ask for ask, rec in zip(asks, answers) if rec is None]
            if missing:
                return {}, missing
            for pair, rec in zip(short, answers):
                listed = [str(i) for i in (rec.output.get("ideas") or [])] if rec.ok else []
                usable, dropped = checks.split_ideas(found[pair] + listed, self.spec, self.clauses[pair[0]])
                found[pair], unsuitable[pair] = usable, unsuitable[pair] + dropped
        result = {}
        for (cid, doc_type), n in need.items():
            ideas = [(i, "lm") for i in found[(cid, doc_type)][:n]]
            ideas += [(fallback_idea(self.spec, self.clauses[cid], doc_type, m), "template")
                      for m in range(len(ideas), n)]
            result[(cid, doc_type)] = (ideas, unsuitable[(cid, doc_type)])
        return result, []
