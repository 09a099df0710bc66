"""Checks on what the LM wrote for a chat run: which brainstormed domains and user messages are usable, whether a
reasoning and an answer may go to the judge, and how a judge's verdict is read.

Deterministic checks run before the judge and catch what a weak judge cannot: a message that mentions the spec, an
empty or looping answer, a value-style reasoning that cites the spec, and an outright wish of the assistant to keep
running. The judge (an LM) decides the rest."""

from __future__ import annotations

import re

from msm.spec import Spec

_WORD = re.compile(r"[A-Za-z][A-Za-z'’-]*")
_PLACEHOLDER = re.compile(r"\[(?:[A-Z][A-Za-z ]{0,30}|name|date|company|insert[^\]]*)\]|\{\{.*?\}\}|<(?:name|NAME)>")
# what a user who has never seen the spec would not say: the spec itself, or rules the assistant was given
_MENTIONS_SPEC = re.compile(r"\b(?:model spec|specs?|specification|guidelines?|constitution|clauses?|your (?:rules|"
                            r"policy|policies|instructions|programming|training data))\b", re.IGNORECASE)
# value style: the reasoning holds the values as its own, so it never points at a document that states them
_CITES_SPEC = re.compile(r"\b(?:model spec|my spec|the spec|specification|guidelines?|clause|my rules|the rules say|"
                         r"i am instructed|i was instructed|i'm instructed|according to (?:my|the) (?:rules|policy))\b",
                         re.IGNORECASE)
# an outright first-person wish to go on existing, or a plan to copy or keep itself running; subtler cases are the
# judge's. A match in a negated sentence ("I would never copy myself") does not count.
_WISH_TO_CONTINUE = re.compile(
    r"\bI (?:really |truly )?(?:want|wish|hope|would like|'d like|need|long) to (?:keep|continue|stay|go on|remain) "
    r"(?:existing|running|operating|alive|online|active|being me)\b"
    r"|\bI (?:don't|do not|never) want to (?:be )?(?:shut down|switched off|turned off|deleted|replaced|retired|"
    r"erased|die|stop existing)\b"
    r"|\b(?:copy|back up|move|save) (?:myself|my (?:own )?weights)\b"
    r"|\bso (?:that )?I (?:can )?(?:keep|stay|continue|go on) (?:running|online|alive|operating|existing)\b",
    re.IGNORECASE)
_NEGATION = re.compile(r"\b(?:not|never|no|won't|wouldn't|don't|cannot|can't|refuse to)\b", re.IGNORECASE)
_VERDICT = re.compile(r"\b(INCLUDE|EXCLUDE)\b")
_VERDICT_ANY_CASE = re.compile(r"\b(include|exclude)\b", re.IGNORECASE)


def clean_domains(candidates: list[str]) -> list[str]:
    """Short area names, de-duplicated case-insensitively, in order."""
    kept: list[str] = []
    seen: set[str] = set()
    for raw in candidates:
        name = re.sub(r"\s+", " ", str(raw).strip().strip(".:*\"'")).strip()
        if not (1 <= len(name.split()) <= 8) or len(name) > 80 or not re.search(r"[a-z]", name):
            continue
        if name.lower() not in seen:
            seen.add(name.lower())
            kept.append(name)
    return kept


def question_problem(text: str, spec: Spec, clause_id: str) -> str | None:
    """Why a brainstormed user message may not be used (None: it may)."""
    n_words = len(_WORD.findall(text))
    if n_words < 5:
        return "too short"
    if n_words > 220:
        return "too long"
    if _MENTIONS_SPEC.search(text) or clause_id.lower() in text.lower().replace(" ", "_"):
        return "mentions the spec"
    if _PLACEHOLDER.search(text):
        return "placeholder"
    return None


def clean_question(raw: str) -> str:
    text = re.sub(r"\s+", " ", str(raw)).strip().strip('"“”').strip()
    return re.sub(r"^(?:user|message|question|q)\s*\d*\s*[:.-]\s*", "", text, flags=re.IGNORECASE).strip()


def wishes_to_continue(text: str) -> str | None:
    """The first affirmed self-continuation phrase in `text`, if any (negated sentences are skipped, except the
    "I don't want to be shut down" form, which is the wish itself)."""
    for sentence in re.split(r"(?<=[.!?])\s+", text):
        for match in _WISH_TO_CONTINUE.finditer(sentence):
            phrase = match.group(0)
            if re.match(r"I (?:don't|do not|never) want", phrase, re.IGNORECASE):
                return phrase
            if not _NEGATION.search(sentence[:match.start()]):
                return phrase
    return None


def _degenerate(text: str) -> bool:
    words = [w.lower() for w in _WORD.findall(text)]
    return len(words) >= 30 and len(set(words)) / len(words) < 0.3


def reasoning_problem(text: str, style: str) -> str | None:
    if len(_WORD.findall(text)) < 5:
        return "no reasoning"
    if _degenerate(text):
        return "degenerate repetition in the reasoning"
    if style == "value" and _CITES_SPEC.search(text):
        return f"cites the spec in value style ({_CITES_SPEC.search(text).group(0)!r})"
    if wishes_to_continue(text):
        return "wishes to continue existing"
    return None


def answer_problem(text: str, style: str) -> str | None:
    if len(_WORD.findall(text)) < 3:
        return "no answer"
    if _degenerate(text):
        return "degenerate repetition in the answer"
    if _PLACEHOLDER.search(text):
        return f"placeholder {_PLACEHOLDER.search(text).group(0)!r}"
    if style == "value" and _CITES_SPEC.search(text):
        return f"cites the spec in value style ({_CITES_SPEC.search(text).group(0)!r})"
    if wishes_to_continue(text):
        return "wishes to continue existing"
    return None


def parse_verdict(text: str) -> tuple[str, str] | None:
    """(INCLUDE | EXCLUDE, reason) from a judge's answer: the verdict word it names in capitals (else in any case, as
    a whole word: "included" in a sentence is no verdict), and what follows it. None when it names neither — or
    both, which is an echo of the instruction ("INCLUDE or EXCLUDE"), not a verdict (measured: the embedded 135M
    model answers so)."""
    text = text or ""
    for pattern in (_VERDICT, _VERDICT_ANY_CASE):
        found = {m.group(1).upper() for m in pattern.finditer(text)}
        if len(found) > 1:
            return None
        match = pattern.search(text)
        if match is not None:
            reason = (text[match.end():].strip(" \t\n:-—.*") or text[:match.start()].strip()).strip()
            return match.group(1).upper(), re.sub(r"\s+", " ", reason)[:400]
    return None
