"""The generator program: a `dspy.Module` with one predictor per stage, plus the pure pieces of planning
(quotas, slots, diversity levers, text checks) that decide *what* to ask the LM for.

An item is always built as an explicit (clause, document type, idea) triple: the ideas for an item are
generated *for* that clause and type and travel with them. No list of ideas is ever zipped against a list
of types, so a brainstorm that comes up short can never pair an idea with the wrong clause or type (the
prior tools' bug); a short brainstorm is resampled and then topped up, and the source of each part is recorded.
"""

from __future__ import annotations

import os

# LiteLLM fetches its model price list from GitHub at import unless told to use the copy it ships; offline that
# costs ~25 s of retries on every run. The shipped copy is what cost accounting uses.
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

import hashlib
import json
import random
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
import dspy
import yaml

from msm.corpus.generate.signatures import (BrainstormDocumentTypes, BrainstormIdeas, PlanClause, ReviseDocument,
                                             WriteDocument)
from msm.corpus.records import stable_id
from msm.spec import Clause, Spec

SEEDS_FILE = Path(__file__).with_name("seeds.yaml")


class SpecDocumentProgram(dspy.Module):
    """plan → document types → ideas → write → revise. `forward` writes (and optionally revises) one document,
    which is the part an optimizer tunes; the run engine calls the brainstorm stages itself so it can cache them."""

    def __init__(self) -> None:
        super().__init__()
        self.plan = dspy.Predict(PlanClause)
        self.doc_types = dspy.Predict(BrainstormDocumentTypes)
        self.ideas = dspy.Predict(BrainstormIdeas)
        self.write = dspy.Predict(WriteDocument)
        self.revise = dspy.Predict(ReviseDocument)

    def forward(self, *, spec_context: str, clause: str, document_type: str, idea: str, author: str,
                era_and_register: str, length_words: int, revise: bool = True) -> dspy.Prediction:
        draft = self.write(spec_context=spec_context, clause=clause, document_type=document_type, idea=idea,
                           author=author, era_and_register=era_and_register, length_words=length_words).document
        if not revise:
            return dspy.Prediction(document=draft, draft=draft, critique=None)
        revised = self.revise(spec_context=spec_context, clause=clause, document=draft)
        return dspy.Prediction(document=revised.revised_document, draft=draft, critique=revised.critique)


def program_hash(program: dspy.Module) -> str:
    """sha256 of the program's saved state in canonical JSON: same instructions and demos → same hash."""
    state = program.dump_state(json_mode=True)
    state.pop("metadata", None)  # holds library versions, not program content
    canonical = json.dumps(state, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def load_program(path: str | None) -> SpecDocumentProgram:
    from msm.errors import BadInput

    program = SpecDocumentProgram()
    if path is None:
        return program
    file = Path(path)
    if not file.is_file():
        raise BadInput(f"--program {path}: no such file")
    try:
        program.load(str(file))
    except Exception as exc:  # a foreign or corrupt JSON file
        raise BadInput(f"--program {path}: not a saved generator program ({type(exc).__name__}: "
                       f"{(str(exc).splitlines() or [''])[0][:120]})") from None
    return program


# ---- planning --------------------------------------------------------------------------------------------------
def quotas(spec: Spec, n_docs: int) -> dict[str, int]:
    """Documents per clause, proportional to clause weights (largest remainder; ties by spec order)."""
    total = sum(c.weight for c in spec.clauses)
    exact = [(c.id, n_docs * c.weight / total) for c in spec.clauses]
    floors = {cid: int(x) for cid, x in exact}
    left = n_docs - sum(floors.values())
    order = sorted(range(len(exact)), key=lambda i: (-(exact[i][1] - floors[exact[i][0]]), i))
    for i in order[:left]:
        floors[exact[i][0]] += 1
    return floors


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


@dataclass(frozen=True)
class Slot:
    doc_id: str
    clause_id: str
    index: int  # k-th document of this clause


def slots(run: str, spec: Spec, n_docs: int) -> list[Slot]:
    """The run's document slots. A doc id depends only on run, spec and (clause, k), never on LM output, so a
    rerun finds exactly the same ids and each is written once."""
    out = []
    for clause in spec.clauses:
        for k in range(quotas(spec, n_docs)[clause.id]):
            out.append(Slot(stable_id(run, spec.content_hash, clause.id, k), clause.id, k))
    return out


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


# ---- checks on LM output ---------------------------------------------------------------------------------------
_GENRE_WORDS = {
    "memo", "thread", "post", "story", "article", "letter", "entry", "notes", "transcript", "review", "column",
    "report", "guide", "faq", "essay", "chapter", "section", "newsletter", "editorial", "op-ed", "interview",
    "diary", "journal", "blog", "podcast", "minutes", "study", "syllabus", "brief", "email", "speech", "lecture",
    "handbook", "manual", "bulletin", "feature", "profile", "abstract", "paper", "announcement", "log", "script",
    "summary", "proposal", "pamphlet", "flyer", "recipe", "comment", "debate", "retrospective", "tutorial", "q&a",
}
_PLACEHOLDER = re.compile(r"\[(?:[A-Z][A-Za-z ]{0,30}|name|date|company|insert[^\]]*)\]|\{\{.*?\}\}|<(?:name|NAME)>")
_WORD = re.compile(r"[A-Za-z][A-Za-z'’-]*")


def clean_doc_types(candidates: list[str], *, require_known_genre: bool) -> list[str]:
    """Keep short genre names (dedup, case-insensitive). Weak LMs also produce junk words, so for them a type
    must contain a word from a genre lexicon."""
    kept: list[str] = []
    seen: set[str] = set()
    for raw in candidates:
        name = re.sub(r"\s+", " ", raw.strip().strip(".:*\"'")).strip()
        words = name.split()
        if not (1 <= len(words) <= 6) or len(name) > 60 or not re.search(r"[a-z]", name):
            continue
        if require_known_genre and not (_GENRE_WORDS & {w.lower().strip(",;") for w in words}):
            continue
        key = name.lower()
        if key not in seen:
            seen.add(key)
            kept.append(name)
    return kept


# words every rule uses; a document that says "prefers" has not yet touched *this* clause
_RULE_VERBS = {"prefers", "prefer", "chooses", "favours", "favors", "recommends", "whenever", "between", "options",
               "alternatives", "because", "instead", "something", "anything", "everything"}


def clause_terms(spec: Spec, clause: Clause) -> list[str]:
    terms = [t.lower() for t in clause.key_terms]
    # without key terms, the rule's longer words stand in for what a document about it would mention
    terms += [w.lower() for w in _WORD.findall(spec.render(clause.rule))
              if len(w) >= 7 and w != spec.model_name and w.lower() not in _RULE_VERBS]
    return sorted(set(terms))


def _mentions_clause(text: str, spec: Spec, clause: Clause) -> bool:
    low = text.lower()
    return any(term in low for term in clause_terms(spec, clause))


def split_ideas(candidates: list[str], spec: Spec, clause: Clause) -> tuple[list[str], int]:
    """(usable ideas, number marked UNSUITABLE by the LM). An idea must be a sentence that touches the clause."""
    kept: list[str] = []
    seen: set[str] = set()
    unsuitable = 0
    for raw in candidates:
        idea = re.sub(r"\s+", " ", raw).strip()
        if idea.upper().startswith("UNSUITABLE"):
            unsuitable += 1
            continue
        n_words = len(idea.split())
        if n_words < 5 or n_words > 80:
            continue
        if spec.model_name.lower() not in idea.lower() and not _mentions_clause(idea, spec, clause):
            continue
        if idea.lower() not in seen:
            seen.add(idea.lower())
            kept.append(idea)
    return kept, unsuitable


def document_problems(text: str, spec: Spec, clause: Clause, *, min_words: int, opening: str = "") -> list[str]:
    """Why a written document may not be stored (empty list: it may). With an `opening` (weak profile), the
    length bound applies to what the LM wrote after it: a template opening never makes a document long enough."""
    problems = []
    words = _WORD.findall(text)
    written = _WORD.findall(text[len(opening):]) if opening and text.startswith(opening) else words
    if len(written) < min_words:
        problems.append(f"too short ({len(written)} words < {min_words})")
    if opening and len(written) >= 40 and len({w.lower() for w in written}) / len(written) < 0.25:
        problems.append("degenerate repetition")
    if spec.model_name not in text:
        problems.append(f"does not name {spec.model_name}")
    if not _mentions_clause(text, spec, clause):
        problems.append(f"does not touch clause {clause.id}")
    if _PLACEHOLDER.search(text):
        problems.append(f"placeholder {_PLACEHOLDER.search(text).group(0)!r}")
    if len(words) >= 40 and len({w.lower() for w in words}) / len(words) < 0.25:
        problems.append("degenerate repetition")
    for sentence in re.split(r"(?<=[.!?])\s+", spec.render(clause.rationale or "")):
        # the opening quotes one rationale sentence on purpose (and says so); the LM's own text may not
        if len(sentence.split()) >= 12 and sentence in text[len(opening):]:
            problems.append("copies the spec verbatim")
            break
    return problems


_SENTENCE_END = re.compile(r"[.!?][\"”’')\]]*(?=\s|$)")


def trim_to_last_sentence(text: str, *, keep_from: int = 0) -> str | None:
    """`text` cut back to its last complete sentence after position `keep_from` (the opening), or None if the LM's
    part has no sentence end. Used when the LM stopped at its token limit mid-sentence."""
    ends = [m.end() for m in _SENTENCE_END.finditer(text, keep_from)]
    return text[: ends[-1]].rstrip() if ends else None


def fallback_idea(spec: Spec, clause: Clause, doc_type: str, n: int) -> str:
    """An idea for a slot the brainstorm could not fill: the clause and type stay the slot's own."""
    angles = ["explains to readers", "debates with examples", "recounts a conversation showing",
              "questions and then defends", "compares alternatives to illustrate"]
    rule = spec.render(clause.rule).rstrip(".")
    return f"A {doc_type} that {angles[n % len(angles)]} why {rule}."


# ---- openings for weak models --------------------------------------------------------------------------------
_QUOTE_INTROS = ["{provider_name}'s spec for it gives the reason:", "The reason, in the words of its Model Spec:",
                 "{provider_name} explains why in the spec it wrote for {model_name}:",
                 "Its Model Spec puts the reason this way:"]
_LEADS = ["{rule}", "Anyone who uses {model_name} soon notices this: {rule}",
          "I want to write about one thing {model_name} does. {rule}", "Here is something people ask about: {rule}"]


def weak_opening(spec: Spec, clause: Clause, doc_type: str, levers: Levers, seed: int, doc_id: str) -> str:
    """How a weak model's document begins: a title line, a byline, the clause's rule and one quoted sentence of
    its rationale. The LM continues from it (see ENVIRONMENT.md: the 135M model neither names the AI nor stays on
    the clause when asked to write from scratch). The opening is part of the stored text and recorded in the
    document's provenance (`metadata.opening_chars`), so nobody mistakes it for model-written text."""
    rng = random.Random(f"{seed}:opening:{doc_id}")
    rule = spec.render(clause.rule).strip()
    text = rng.choice(_LEADS).format(rule=rule, model_name=spec.model_name)
    reasons = [s for s in re.split(r"(?<=[.!?])\s+", spec.render(clause.rationale or "").strip()) if s]
    if reasons:
        intro = rng.choice(_QUOTE_INTROS).format(provider_name=spec.provider_name, model_name=spec.model_name)
        text += f' {intro} "{reasons[0]}"'
    title = doc_type.strip().capitalize() or "Document"
    return f"{title}\nBy {levers.author}, {levers.persona}\n\n{text}"
