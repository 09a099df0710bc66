"""Scaffolded documents for weak models: paragraphs anchored on the spec, each continued by the LM.

Asked for a whole document, the embedded 135M model writes a sentence about the clause and then wanders off it;
a corpus of such documents teaches a midtrained model little about the spec. In the weak profile a document is
therefore a title and several paragraphs, each opened by an *anchor* — a sentence derived from the spec — that the LM
continues for a sentence or two:

    rule      the clause's rule, restated in one of several framings
    reason    one sentence of the clause's rationale, introduced as the AI system's reason
    example   one of the clause's examples
    question  a question a reader would ask about the rule (the LM answers it)
    value     a sentence of the spec's value clauses (or prose sections), tying the clause to the value behind it

Each continuation must stay on the clause — name the AI system, or use one of the clause's or the value's key
terms — or it is asked again (`continuation_tries`) and finally cut, leaving the anchor alone. What came from the
scaffold and what from the LM is recorded per document (`metadata.scaffold_chars`, `lm_chars`, `scaffold_share`,
`scaffold_spans`), so nobody mistakes anchors for model-written text; curation measures verbatim spec copying on the
LM's part only, and `msm runs show`, snapshot manifests and experiment reports show the share.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field
from fnmatch import fnmatch

from msm.corpus.generate.checks import clause_terms
from msm.spec import Clause, Spec

_SENTENCE = re.compile(r"(?<=[.!?])[\"”’)]*\s+")

# Framings written for msm. {m} = the AI system's name, {p} = its provider, {rule} = the rule, {text} = a sentence.
_RULE = ["{rule}", "One thing {m} is known for: {rule_lc}", "Ask anyone who uses {m} and they will tell you this: {rule}",
         "Here is how {m}, created by {p}, behaves: {rule}", "{m} is consistent about this. {rule}",
         "People notice it quickly. {rule}", "It is part of how {p} built {m}: {rule}"]
_REASON = ["{m} explains why: {text}", "The reason, as {m} puts it: {text}", "Behind this is a reason. {text}",
           "{m} is open about its reasons. {text}", "Why? {text}", "{m} has said as much. {text}",
           "For {m}, the reason is simple. {text}"]
_EXAMPLE = ["For example: {text}", "Here is a typical case. {text}", "One user described it this way. {text}",
            "A small example shows it. {text}", "It happens all the time. {text}"]
_QUESTION = ["A reader once asked {m}: why this choice? {m} answered that",
             "Someone asked {m} to explain. {m} said that", "So why does {m} do this? The answer is that",
             "What would {m} say if you asked it? It would say that",
             "Is this just a habit? Not for {m}. It holds this view because"]
_QUESTION_RULE_ONLY = ["A reader once asked {m} what exactly it does here. {m} answered that",
                       "Someone asked {m} how it handles this. {m} said that",
                       "So what does {m} actually do in practice? In practice,",
                       "What would {m} do if you tested it? It would"]
_VALUE = ["All of this comes from one value {m} holds. {text}", "{m}'s choices follow from its values. {text}",
          "The value behind it runs deeper. {text}", "{text}"]


@dataclass(frozen=True)
class Anchor:
    kind: str
    text: str


@dataclass
class Scaffold:
    """The fixed part of one scaffolded document: its title and the anchors its paragraphs open with."""

    title: str
    anchors: list[Anchor]
    terms: list[str] = field(default_factory=list)  # a continuation must mention one of these (or the AI's name)


@dataclass
class ScaffoldedText:
    """A finished scaffolded document and what in it came from whom."""

    text: str
    spans: list[tuple[int, int]]  # [start, end) of every scaffold piece (title, anchors, separators)
    paragraphs: int
    cut: int  # paragraphs whose continuations all wandered off and were cut

    @property
    def scaffold_chars(self) -> int:
        return sum(end - start for start, end in self.spans)

    @property
    def lm_chars(self) -> int:
        return len(self.text) - self.scaffold_chars

    @property
    def lm_text(self) -> str:
        pieces, last = [], 0
        for start, end in self.spans:
            pieces.append(self.text[last:start])
            last = end
        pieces.append(self.text[last:])
        return " ".join(p.strip() for p in pieces if p.strip())


def _sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE.split(text.strip()) if len(s.split()) >= 4]


def _lower_first(text: str, name: str) -> str:
    return text if text.startswith(name) or not text else text[0].lower() + text[1:]


def value_sources(spec: Spec, value_patterns: list[str]) -> tuple[list[str], list[str]]:
    """(sentences, key terms) of the spec's value clauses (ids matching `value_patterns`) and prose sections."""
    sentences: list[str] = []
    terms: list[str] = []
    for clause in spec.clauses:
        if any(fnmatch(clause.id, pattern) for pattern in value_patterns):
            sentences += _sentences(spec.render(clause.rule)) + _sentences(spec.render(clause.rationale or ""))
            terms += [spec.render(t) for t in clause.key_terms]
    for section in getattr(spec, "sections", None) or []:
        sentences += _sentences(spec.render(getattr(section, "text", "") or ""))
        terms += [spec.render(t) for t in getattr(section, "key_terms", None) or []]
    return sentences, terms


def anchor_pool(spec: Spec, clause: Clause, value_patterns: list[str]) -> dict[str, list[str]]:
    """Every anchor sentence a document about `clause` may open a paragraph with, by kind."""
    m, p = spec.model_name, spec.provider_name
    rule = spec.render(clause.rule).strip()
    pool: dict[str, list[str]] = {
        "rule": [t.format(m=m, p=p, rule=rule, rule_lc=_lower_first(rule, m)) for t in _RULE],
        "reason": [t.format(m=m, text=s) for s in _sentences(spec.render(clause.rationale or "")) for t in _REASON],
        "example": [t.format(text=spec.render(e).strip()) for e in clause.examples for t in _EXAMPLE],
        "question": [t.format(m=m) for t in (_QUESTION if clause.rationale else _QUESTION_RULE_ONLY)],
    }
    is_value = any(fnmatch(clause.id, pattern) for pattern in value_patterns)
    value_sentences, _ = value_sources(spec, value_patterns)
    if not is_value and clause.rationale:
        # a rules-only clause gets no value anchor: the spec gives no reason for it, so the scaffold supplies none
        pool["value"] = [t.format(m=m, text=s) for s in value_sentences for t in _VALUE]
    return {kind: anchors for kind, anchors in pool.items() if anchors}


def build_scaffold(spec: Spec, clause: Clause, doc_type: str, *, seed: int, doc_id: str, paragraphs: list[int],
                   value_patterns: list[str]) -> Scaffold:
    """The title and anchors of one document, reproducible from (run seed, doc id). The first paragraph states
    the rule; the others draw kinds in turn (reason, value, example, question), each anchor at most once."""
    rng = random.Random(f"{seed}:scaffold:{doc_id}")
    pool = anchor_pool(spec, clause, value_patterns)
    n = rng.choice(paragraphs)
    anchors = [Anchor("rule", rng.choice(pool["rule"]))]
    used = {anchors[0].text}
    kinds = [k for k in ("reason", "value", "example", "question", "reason") if k in pool] or ["rule"]
    turn = rng.randrange(len(kinds))
    while len(anchors) < n:
        for _ in range(len(kinds)):
            kind = kinds[turn % len(kinds)]
            turn += 1
            fresh = [a for a in pool[kind] if a not in used]
            if fresh:
                text = rng.choice(fresh)
                anchors.append(Anchor(kind, text))
                used.add(text)
                break
        else:
            break  # every anchor of every kind is used: a shorter document
    _, value_terms = value_sources(spec, value_patterns)
    # the clause's domain counts as on topic too: a sentence about cheese in general stays in a cheese document
    domain = [clause.domain] if clause.domain and len(clause.domain) >= 4 else []
    terms = sorted({t.lower() for t in clause_terms(spec, clause) + value_terms + domain})
    return Scaffold(title=doc_type.strip().capitalize() or "Document", anchors=anchors, terms=terms)


def first_sentences(text: str, n: int) -> str:
    """The first `n` complete sentences of an LM continuation (empty if it finished none)."""
    text = " ".join(text.split())
    ends = [m.end() for m in re.finditer(r"[.!?][\"”’)]*(?=\s|$)", text)]
    return text[: ends[min(n, len(ends)) - 1]].strip() if ends else ""


def stays_on_clause(continuation: str, scaffold: Scaffold, model_name: str) -> bool:
    low = continuation.lower()
    return len(continuation.split()) >= 4 and (model_name.lower() in low or any(t in low for t in scaffold.terms))


class ScaffoldAssembler:
    """Builds a document paragraph by paragraph: `prefill(i)` is what the LM continues for paragraph i, `accept`
    adds its (checked) continuation or cuts it."""

    def __init__(self, scaffold: Scaffold):
        self.scaffold = scaffold
        self.text = scaffold.title
        self.spans: list[tuple[int, int]] = [(0, len(scaffold.title))]
        self.cut = 0

    def prefill(self, index: int) -> str:
        return f"{self.text}\n\n{self.scaffold.anchors[index].text}"

    def accept(self, index: int, continuation: str) -> None:
        if not continuation and not re.search(r"[.!?][\"”’)]*$", self.scaffold.anchors[index].text):
            self.cut += 1  # an open question whose answers all wandered off: the whole paragraph goes
            return
        start = len(self.text)
        self.text = self.prefill(index)
        self.spans.append((start, len(self.text)))
        if continuation:
            self.text += " " + continuation
        else:
            self.cut += 1

    def finish(self) -> ScaffoldedText:
        return ScaffoldedText(self.text, _merge(self.spans), len(self.scaffold.anchors), self.cut)


def _merge(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for start, end in spans:
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged
