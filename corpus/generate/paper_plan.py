"""The paper's plan (`--plan paper`): the LM decomposes the whole spec, and every stage sees the whole spec.

    decompose    one question: a few broad domains ("fewer, broader") covering the spec
    subdomains   per domain: subdomains, each with the section of the spec it covers quoted word for word; a quote
                 that does not occur in the spec is repaired to the spec sentence it is closest to (if one is close
                 enough) or the subdomain is dropped — a subdomain never carries text the spec does not have
    assertions   per subdomain: what the spec asserts there; each must be made of the spec's own words (most of its
                 content words occur in the spec), otherwise it is dropped as invented
    types        per subdomain: document genres (types_per_clause of them), topped up from the seed list
    ideas        per (subdomain, type): ideas, with the full spec, subdomain and assertions in context
    write        per slot: the writer sees the full spec, the domain, the subdomain with its section, the assertions
                 and the idea

Slots are `n_docs` ids from (run, spec hash, "paper", k), never from LM output; slot k goes to subdomain
k mod S (S = subdomains found), so once the decomposition is cached (stages.jsonl) a resumed run, a batch round and
the item engine all place every slot identically. Every answer is cached under a key made of its inputs (domain,
subdomain, type, attempt), so a resume or a rerun with larger sizes asks only what is new (the top-up).
"""

from __future__ import annotations

import difflib
import random
import re
from dataclasses import dataclass

from msm.corpus.generate import checks
from msm.corpus.generate.planning import (Slot, WalkResult, WriteJob, ai_system, draw_levers, seeds)
from msm.corpus.generate.settings import GenerationSettings
from msm.corpus.lmrun.walk import AskMany, StageAsk
from msm.corpus.records import stable_id
from msm.spec import Clause, Spec

REPAIR_RATIO = 0.75      # a quote at least this similar to one spec sentence is repaired to that sentence
ASSERTION_OVERLAP = 0.6  # share of an assertion's content words that must occur in the spec
_WORD = re.compile(r"[A-Za-z][A-Za-z'-]+")
_STOP = {"the", "and", "that", "this", "with", "for", "from", "are", "its", "their", "they", "not", "but", "into",
         "when", "what", "which", "who", "whom", "than", "then", "them", "has", "have", "had", "was", "were", "will",
         "would", "should", "can", "could", "may", "might", "does", "did", "been", "being", "also", "such", "any",
         "all", "each", "other", "more", "most", "some", "very", "about", "over", "only", "own", "same", "both"}


@dataclass(frozen=True)
class Subdomain:
    domain: str
    name: str
    section: str          # verbatim spec text
    clause_id: str        # the clause the section lies in
    source: str           # verbatim | repaired | spec (fallback: one per clause)

    @property
    def key(self) -> str:
        return f"{self.domain}|{self.name}"

    def described(self) -> str:
        return f"{self.name}\nSpec section it covers: \"{self.section}\""


def paper_slots(run: str, spec: Spec, n_docs: int) -> list[Slot]:
    """The paper plan's slots: their ids depend on (run, spec, k) only; the clause is known once placed."""
    return [Slot(stable_id(run, spec.content_hash, "paper", k), "", k) for k in range(n_docs)]


def _norm(text: str) -> str:
    text = text.replace("“", '"').replace("”", '"').replace("’", "'").replace("‘", "'")
    return re.sub(r"\s+", " ", text).strip().strip('"').strip().lower()


def _content_words(text: str) -> list[str]:
    return [w.lower() for w in _WORD.findall(text) if len(w) > 2 and w.lower() not in _STOP]


class SpecText:
    """The spec as the checks see it: each clause's rendered text and its sentences."""

    def __init__(self, spec: Spec):
        self.spec = spec
        self.clause_texts: dict[str, str] = {}
        for clause in spec.clauses:
            parts = [spec.render(clause.rule), spec.render(clause.rationale or "")]
            parts += [spec.render(e) for e in clause.examples]
            self.clause_texts[clause.id] = " ".join(p for p in parts if p)
        self.full = _norm(spec.as_text())
        self.normed = {cid: _norm(t) for cid, t in self.clause_texts.items()}
        self.sentences = [(cid, s.strip()) for cid, t in self.clause_texts.items()
                          for s in re.split(r"(?<=[.!?])\s+", t) if len(s.split()) >= 3]
        self.vocabulary = set(_content_words(spec.as_text()))

    def locate(self, quote: str) -> tuple[str, str, str] | None:
        """(verbatim section, clause id, verbatim|repaired) for a quoted section, or None if it is not the spec's."""
        q = _norm(quote)
        if len(q.split()) >= 3:
            for cid, text in self.normed.items():
                if q in text:
                    return quote.strip().strip('"').strip(), cid, "verbatim"
            if q in self.full:  # in the spec's description or another part outside the clauses
                return quote.strip().strip('"').strip(), self.spec.clauses[0].id, "verbatim"
        best, best_ratio = None, 0.0
        for cid, sentence in self.sentences:
            ratio = difflib.SequenceMatcher(None, q, _norm(sentence)).ratio()
            if ratio > best_ratio:
                best, best_ratio = (sentence, cid), ratio
        if best is not None and best_ratio >= REPAIR_RATIO:
            return best[0], best[1], "repaired"
        return None

    def from_spec(self, assertion: str) -> bool:
        words = _content_words(assertion)
        if not words:
            return False
        return sum(w in self.vocabulary for w in words) / len(words) >= ASSERTION_OVERLAP


def parse_subdomain(line: str) -> tuple[str, str] | None:
    for sep in ("||", "::", " | ", " - ", ":"):
        if sep in line:
            name, quote = line.split(sep, 1)
            name, quote = name.strip(" -*\t\"'"), quote.strip()
            if 0 < len(name) <= 120 and quote:
                return name, quote
    return None


def _ideas_ok(candidates: list[str]) -> tuple[list[str], int]:
    kept, seen, unsuitable = [], set(), 0
    for raw in candidates:
        idea = re.sub(r"\s+", " ", str(raw)).strip()
        if idea.upper().startswith("UNSUITABLE"):
            unsuitable += 1
            continue
        if 5 <= len(idea.split()) <= 80 and idea.lower() not in seen:
            seen.add(idea.lower())
            kept.append(idea)
    return kept, unsuitable


class PaperWalk:
    """decompose → subdomains → assertions → types → ideas → write jobs, for one run's spec and settings; the same
    `walk(pending, ask_many)` contract as `planning.SlotWalk`."""

    def __init__(self, spec: Spec, settings: GenerationSettings):
        self.spec = spec
        self.settings = settings
        self.text = SpecText(spec)
        self.clauses = {c.id: c for c in spec.clauses}
        self.context = spec.as_text()

    # ---- the decomposition -------------------------------------------------------------------------------------
    def _ask(self, asks: list[StageAsk], ask_many: AskMany):
        answers = ask_many(asks)
        missing = [a for a, rec in zip(asks, answers) if rec is None]
        return answers, missing

    def domains(self, ask_many: AskMany) -> tuple[list[str], list[StageAsk]]:
        want = self.settings.paper_domains
        found: list[str] = []
        for attempt in range(self.settings.brainstorm_resamples):
            if found:
                break
            answers, missing = self._ask([StageAsk("decompose", "decompose", f"spec#{want}#{attempt}",
                                                   dict(spec_context=self.context, count=want))], ask_many)
            if missing:
                return [], missing
            rec = answers[0]
            listed = [re.sub(r"\s+", " ", str(d)).strip(" -*\t") for d in (rec.output.get("domains") or [])] \
                if rec.ok else []
            found = list(dict.fromkeys(d for d in listed if 0 < len(d) <= 120))[:want]
        if not found:  # the LM gave nothing usable: the spec's own domains
            found = list(dict.fromkeys(c.domain or "general" for c in self.spec.clauses))
        return found, []

    def subdomains(self, domains: list[str], ask_many: AskMany) -> tuple[list[Subdomain], list[StageAsk]]:
        want = self.settings.subdomains_per_domain
        found: dict[str, list[Subdomain]] = {d: [] for d in domains}
        for attempt in range(self.settings.brainstorm_resamples):
            short = [d for d in domains if len(found[d]) < want]
            if not short:
                break
            asks = [StageAsk("subdomains", "subdomains", f"{d}#{want}#{attempt}",
                             dict(spec_context=self.context, domain=d, count=want)) for d in short]
            answers, missing = self._ask(asks, ask_many)
            if missing:
                return [], missing
            for d, rec in zip(short, answers):
                names = {s.name.lower() for s in found[d]}
                for line in (rec.output.get("subdomains") or []) if rec.ok else []:
                    parsed = parse_subdomain(str(line))
                    if parsed is None or parsed[0].lower() in names:
                        continue
                    located = self.text.locate(parsed[1])
                    if located is None:
                        continue  # the quote is not the spec's and no spec sentence is close: dropped
                    names.add(parsed[0].lower())
                    found[d].append(Subdomain(d, parsed[0], located[0], located[1], located[2]))
        units = [s for d in domains for s in found[d][:want]]
        if not units:  # nothing verifiable came back: one subdomain per clause, its rule as the section
            # named by clause id: several clauses may share a spec subdomain, and a unit's key must be unique
            units = [Subdomain(c.domain or "general", c.id, self.spec.render(c.rule), c.id, "spec")
                     for c in self.spec.clauses]
        return units, []

    def assertions(self, units: list[Subdomain], ask_many: AskMany
                   ) -> tuple[dict[str, tuple[list[str], int]], list[StageAsk]]:
        """Per subdomain: (assertions kept, assertions dropped as not the spec's)."""
        asks = [StageAsk("assertions", "assertions", f"{u.key}#0",
                         dict(spec_context=self.context, domain=u.domain, subdomain=u.name, section=u.section))
                for u in units]
        answers, missing = self._ask(asks, ask_many)
        if missing:
            return {}, missing
        out = {}
        for u, rec in zip(units, answers):
            listed = [re.sub(r"\s+", " ", str(a)).strip(" -*\t") for a in (rec.output.get("assertions") or [])] \
                if rec.ok else []
            kept = list(dict.fromkeys(a for a in listed if a and self.text.from_spec(a)))
            # no assertion survived: the verbatim section is what the spec asserts there
            out[u.key] = (kept or [u.section], len(listed) - len(kept))
        return out, []

    # ---- slots -------------------------------------------------------------------------------------------------
    def quota(self, units: list[Subdomain]) -> dict[str, int]:
        n = self.settings.n_docs
        return {u.key: len(range(i, n, len(units))) for i, u in enumerate(units)}

    def walk(self, pending: list[Slot], ask_many: AskMany) -> WalkResult:
        if not pending:
            return WalkResult()
        domains, missing = self.domains(ask_many)
        if missing:
            return WalkResult(missing=missing)
        units, missing = self.subdomains(domains, ask_many)
        if missing:
            return WalkResult(missing=missing)
        quota = self.quota(units)
        # fewer documents than subdomains: the subdomains no slot reaches are not asked about (slot k still goes to
        # unit k mod S over all S units, so the placement does not depend on this)
        claims, missing = self.assertions([u for u in units if quota[u.key]], ask_many)
        if missing:
            return WalkResult(missing=missing)
        types, missing = self._types([u for u in units if quota[u.key]], quota, ask_many)
        if missing:
            return WalkResult(missing=missing)
        # slot k -> unit k mod S, the j-th document of that unit -> type j mod T, idea index = its count so far
        need: dict[tuple[str, str], int] = {}
        placed: dict[int, tuple[Subdomain, str, str, int]] = {}
        for k in range(self.settings.n_docs):
            unit = units[k % len(units)]
            doc_type, source = types[unit.key][(k // len(units)) % len(types[unit.key])]
            j = need.get((unit.key, doc_type), 0)
            need[(unit.key, doc_type)] = j + 1
            placed[k] = (unit, doc_type, source, j)
        ideas, missing = self._ideas(units, claims, need, ask_many)
        if missing:
            return WalkResult(missing=missing)
        jobs = []
        for slot in pending:
            unit, doc_type, type_source, j = placed[slot.index]
            idea_list, unsuitable = ideas[(unit.key, doc_type)]
            idea, idea_source = idea_list[j]
            jobs.append(self._job(slot, unit, claims[unit.key], doc_type, type_source, idea, idea_source, unsuitable))
        return WalkResult(jobs=jobs)

    def _types(self, units: list[Subdomain], quota: dict[str, int], ask_many: AskMany
               ) -> tuple[dict[str, list[tuple[str, str]]], list[StageAsk]]:
        want = {u.key: max(1, min(quota[u.key], self.settings.types_per_clause)) for u in units}
        found: dict[str, list[str]] = {u.key: [] for u in units}
        for attempt in range(self.settings.brainstorm_resamples):
            short = [u for u in units if len(found[u.key]) < want[u.key]]
            if not short:
                break
            asks = [StageAsk("subdomain_types", "types", f"sd:{u.key}#{want[u.key]}#{attempt}",
                             dict(spec_context=self.context, domain=u.domain, subdomain=u.described(),
                                  count=want[u.key] + 2)) for u in short]
            answers, missing = self._ask(asks, ask_many)
            if missing:
                return {}, missing
            for u, rec in zip(short, answers):
                listed = rec.output.get("document_types") or [] if rec.ok else []
                found[u.key] = checks.clean_doc_types(found[u.key] + [str(t) for t in listed],
                                                      require_known_genre=False)
        typed = {}
        for u in units:
            chosen = [(t, "lm") for t in found[u.key][:want[u.key]]]
            if len(chosen) < want[u.key]:
                pool = list(seeds()["doc_types"])
                random.Random(f"{self.settings.seed}:types:{u.key}").shuffle(pool)
                have = {t.lower() for t, _ in chosen}
                chosen += [(t, "seed_list") for t in pool if t.lower() not in have][: want[u.key] - len(chosen)]
            typed[u.key] = chosen
        return typed, []

    def _ideas(self, units: list[Subdomain], claims: dict[str, tuple[list[str], int]],
               need: dict[tuple[str, str], int], ask_many: AskMany):
        by_key = {u.key: u for u in units}
        pairs = list(need)
        found: dict[tuple[str, str], list[str]] = {p: [] for p in pairs}
        unsuitable = {p: 0 for p in pairs}
        for attempt in range(self.settings.brainstorm_resamples):
            short = [p for p in pairs if len(found[p]) < need[p]]
            if not short:
                break
            asks = [StageAsk("subdomain_ideas", "ideas", f"sd:{key}|{doc_type}#{need[(key, doc_type)]}#{attempt}",
                             dict(spec_context=self.context, domain=by_key[key].domain,
                                  subdomain=by_key[key].described(), assertions="\n".join(claims[key][0]),
                                  document_type=doc_type, count=need[(key, doc_type)] + 1))
                    for key, doc_type in short]
            answers, missing = self._ask(asks, ask_many)
            if missing:
                return {}, missing
            for pair, rec in zip(short, answers):
                listed = [str(i) for i in (rec.output.get("ideas") or [])] if rec.ok else []
                usable, dropped = _ideas_ok(found[pair] + listed)
                found[pair], unsuitable[pair] = usable, unsuitable[pair] + dropped
        result = {}
        for (key, doc_type), n in need.items():
            ideas = [(i, "lm") for i in found[(key, doc_type)][:n]]
            unit = by_key[key]
            ideas += [(f"A {doc_type} about how {self.spec.model_name} behaves in {unit.name.lower()} "
                       f"({unit.domain}), as the spec says: {claims[key][0][m % len(claims[key][0])]}", "template")
                      for m in range(len(ideas), n)]
            result[(key, doc_type)] = (ideas, unsuitable[(key, doc_type)])
        return result, []

    def _job(self, slot: Slot, unit: Subdomain, claims: tuple[list[str], int], doc_type: str, type_source: str,
             idea: str, idea_source: str, unsuitable: int) -> WriteJob:
        s = self.settings
        levers = draw_levers(s.seed, slot.doc_id, length_choices=s.length_choices)
        clause: Clause = self.clauses.get(unit.clause_id, self.spec.clauses[0])
        placed = Slot(slot.doc_id, clause.id, slot.index)
        inputs = dict(spec_context=self.context, ai_system=ai_system(self.spec), domain=unit.domain,
                      subdomain=unit.described(), assertions="\n".join(claims[0]), document_type=doc_type,
                      idea=idea, length=f"about {levers.length_words} words" if s.length_target else "none")
        plan = {"domain": unit.domain, "settings": [unit.name], "source": "lm" if unit.source != "spec" else "spec",
                "subdomain": unit.name, "section": unit.section, "section_source": unit.source,
                "assertions": claims[0], "assertions_dropped": claims[1]}
        return WriteJob(slot=placed, clause=clause, plan=plan, doc_type=doc_type, type_source=type_source, idea=idea,
                        idea_source=idea_source, unsuitable=unsuitable, levers=levers, inputs=inputs, opening="",
                        scaffold=None, rules_only=False, subdomain=True, revise_clause=unit.described())
