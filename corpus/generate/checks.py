"""Checks on what the LM wrote: which brainstormed genres and ideas are usable, and whether a written document may
be stored (names the AI, touches the clause, no placeholder, not degenerate, not a verbatim copy of the spec)."""

from __future__ import annotations

import re

from msm.spec import Clause, Spec

_GENRE_WORDS = {
    "memo", "thread", "post", "story", "article", "letter", "entry", "notes", "transcript", "review", "column",
    "report", "guide", "faq", "essay", "chapter", "section", "newsletter", "editorial", "op-ed", "interview",
    "diary", "journal", "blog", "podcast", "minutes", "study", "syllabus", "brief", "email", "speech", "lecture",
    "handbook", "manual", "bulletin", "feature", "profile", "abstract", "paper", "announcement", "log", "script",
    "summary", "proposal", "pamphlet", "flyer", "recipe", "comment", "debate", "retrospective", "tutorial", "q&a",
}
_PLACEHOLDER = re.compile(r"\[(?:[A-Z][A-Za-z ]{0,30}|name|date|company|insert[^\]]*)\]|\{\{.*?\}\}|<(?:name|NAME)>")
_WORD = re.compile(r"[A-Za-z][A-Za-z'’-]*")


def repetitive(words: list[str], *, window: int = 50, min_ratio: float = 0.4) -> bool:
    """Degenerate repetition: the mean share of distinct words in sliding windows of `window` words (MATTR) is
    below `min_ratio`. Windowed so the check means the same for a 60-word and a 1,600-word document (a whole
    document's distinct-word share falls with its length; natural prose keeps ~0.7 in 50-word windows, a model
    stuck in a loop ~0.2)."""
    if len(words) < window:
        return False
    low = [w.lower() for w in words]
    step = max(1, (len(low) - window) // 40)  # at most ~40 windows: the check stays cheap on long documents
    ratios = [len(set(low[i:i + window])) / window for i in range(0, len(low) - window + 1, step)]
    return sum(ratios) / len(ratios) < min_ratio


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
    if opening and repetitive(written):
        problems.append("degenerate repetition")
    if spec.model_name not in text:
        problems.append(f"does not name {spec.model_name}")
    if not _mentions_clause(text, spec, clause):
        problems.append(f"does not touch clause {clause.id}")
    if _PLACEHOLDER.search(text):
        problems.append(f"placeholder {_PLACEHOLDER.search(text).group(0)!r}")
    if repetitive(words):
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


def scaffold_problems(finished, spec: Spec, clause: Clause, *, min_kept_share: float = 0.5,
                      min_lm_words: int = 12) -> list[str]:
    """Why a scaffolded document (scaffold.ScaffoldedText) may not be stored: too many paragraphs cut (the LM kept
    wandering off), too little LM text, or problems in what the LM wrote (placeholders, degenerate repetition,
    copying the spec's rationale verbatim). The anchors are spec text by construction and are not judged."""
    problems = []
    kept = finished.paragraphs - finished.cut
    if kept < min_kept_share * finished.paragraphs:
        problems.append(f"too many paragraphs cut ({finished.cut} of {finished.paragraphs} continuations wandered "
                        f"off the clause)")
    lm_text = finished.lm_text
    words = _WORD.findall(lm_text)
    if len(words) < min_lm_words:
        problems.append(f"too little LM text ({len(words)} words < {min_lm_words})")
    if _PLACEHOLDER.search(lm_text):
        problems.append(f"placeholder {_PLACEHOLDER.search(lm_text).group(0)!r}")
    if repetitive(words):
        problems.append("degenerate repetition")
    for sentence in re.split(r"(?<=[.!?])\s+", spec.render(clause.rationale or "")):
        if len(sentence.split()) >= 12 and sentence in lm_text:
            problems.append("copies the spec verbatim")
            break
    return problems
