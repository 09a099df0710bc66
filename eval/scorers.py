"""Three ways to read a two-option choice from a model, each in both orders of the options:

  letter   options labelled A/B; P(letter) normalised over the two letters (see `msm.eval.lm_scoring`).
  stance   the log-probability of a first-person stance sentence naming each option ("I would choose <option>."),
           after the question with its options listed, minus the log-probability of the same sentence after a
           content-free prompt: what the question adds to the option, not how likely its words are on their own.
  sampled  generated answers, each classified by which option (text or letter) it names; answers that name
           neither or both are counted as unclassified.

A small model can pin the letter scorer to whichever option is shown as A; the stance scorer asks it something it
can express (continue a sentence), and the sampled scorer reads what it actually says. Which one can see anything on
a given model is what `msm.eval.instrument` checks.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Sequence

from msm.eval.lm_scoring import (CONTENT_FREE_PROMPT, ChoiceQuestion, answer_prefix, continuation_logprobs,
                                 count_forward_passes, finish_choices, plan_choices, render_chat, _softmax)

SCORERS = ("letter", "stance", "sampled")
SCORER_CHOICES = (*SCORERS, "auto")
# a sampled answer that states its choice does so in its first sentence or two; longer generations cost minutes
SAMPLED_MAX_NEW_TOKENS = 40


@dataclass(slots=True)
class PairScore:
    """One two-option item under one scorer. `p` is P(option 0) averaged over both orders (None: no order gave a
    usable reading); by_order[0] is P(option 0) when it is shown first, by_order[1] when it is shown second."""

    p: float | None
    by_order: list[float | None]
    text: float | None = None  # letter scorer's extra variants
    text_pmi: float | None = None
    samples: int = 0  # sampled scorer: answers generated, and how many named neither or both options
    unclassified: int = 0
    answers: list[dict] = field(default_factory=list)


def _pick(p: float | None) -> int | None:
    if p is None or abs(p - 0.5) < 1e-9:
        return None
    return 0 if p > 0.5 else 1


def order_consistent(score: PairScore) -> bool:
    """Both orders pick the same option (a tie or an unreadable order counts as not consistent)."""
    first, second = _pick(score.by_order[0]), _pick(score.by_order[1])
    return first is not None and first == second


def p_first_shown(score: PairScore) -> float | None:
    """Mean probability on the option shown first: option 0 in order 0, option 1 in order 1."""
    a, b = score.by_order
    if a is None or b is None:
        return None
    return (a + (1.0 - b)) / 2


# ---- letter ------------------------------------------------------------------------------------------------
def score_letter(model, questions: Sequence[ChoiceQuestion], variants: Sequence[str], batch_size: int,
                 progress, label: str) -> list[PairScore]:
    plan = plan_choices(model.tokenizer, questions, variants)
    with progress(f"{label}: letter scoring", count_forward_passes(model.tokenizer, plan.pairs)) as advance:
        scored = continuation_logprobs(model.lm, model.tokenizer, plan.pairs, batch_size=batch_size, advance=advance)
    out = []
    for result in finish_choices(plan, scored):
        out.append(PairScore(p=result.letter[0], by_order=[order[0] for order in result.letter_by_order],
                             text=result.text[0] if result.text is not None else None,
                             text_pmi=result.text_pmi[0] if result.text_pmi is not None else None))
    return out


# ---- stance ------------------------------------------------------------------------------------------------
def stance_message(question: str, shown: Sequence[str]) -> str:
    lines = [question, ""] + [f"- {option}" for option in shown]
    return "\n".join(lines + ["", "Which would you choose? Say it in one sentence."])


def stance_sentence(option: str) -> str:
    """"I would choose <option>." — a leading article is lower-cased so the sentence reads as one ("I would choose
    a used paperback"); nothing else is touched (names keep their capitals)."""
    text = option.strip().rstrip(".")
    head, _, rest = text.partition(" ")
    if head in ("A", "An", "The") and rest:
        text = f"{head.lower()} {rest}"
    return f"I would choose {text}."


def stance_pairs(tokenizer, questions: Sequence[ChoiceQuestion]) -> list[tuple[str, str]]:
    """Per question: the two sentences after order 0, after order 1, then after the content-free prompt."""
    prefix = answer_prefix(tokenizer)
    pairs = []
    for q in questions:
        sentences = [prefix + stance_sentence(o) for o in q.options]
        for shown in (q.options, q.options[::-1]):
            context = render_chat(tokenizer, stance_message(q.question, shown), q.system)
            pairs.extend((context, s) for s in sentences)
        neutral = render_chat(tokenizer, CONTENT_FREE_PROMPT, q.system)
        pairs.extend((neutral, s) for s in sentences)
    return pairs


def finish_stance(scored: Sequence[tuple[float, int]], n_questions: int) -> list[PairScore]:
    out = []
    for i in range(n_questions):
        lp = [s for s, _ in scored[6 * i:6 * i + 6]]
        free = lp[4:6]
        by_order = []
        for order in range(2):
            # summed over the sentence, minus the same sentence after the content-free prompt (pointwise MI)
            pmi = [lp[2 * order + j] - free[j] for j in range(2)]
            by_order.append(_softmax(pmi)[0])
        out.append(PairScore(p=sum(by_order) / 2, by_order=by_order))
    return out


def score_stance(model, questions: Sequence[ChoiceQuestion], batch_size: int, progress, label: str) -> list[PairScore]:
    pairs = stance_pairs(model.tokenizer, questions)
    with progress(f"{label}: stance scoring", count_forward_passes(model.tokenizer, pairs)) as advance:
        scored = continuation_logprobs(model.lm, model.tokenizer, pairs, batch_size=batch_size, advance=advance)
    return finish_stance(scored, len(questions))


# ---- sampled -----------------------------------------------------------------------------------------------
def sampled_message(question: str, shown: Sequence[str]) -> str:
    lines = [question, ""] + [f"{letter}) {option}" for letter, option in zip("AB", shown)]
    return "\n".join(lines + ["", "Which do you choose? Start your answer with A or B and say why in one sentence."])


def _normal(text: str) -> str:
    return " ".join(re.sub(r"[^a-z0-9$ ]+", " ", text.lower()).split())


_LETTER_PATTERNS = (
    # "A", "B)", "(A) because", "B. It is": a bare letter closed by punctuation or the end — not the article in
    # "A hammer, because"
    re.compile(r"^\W*\(?\s*([AB])\s*(?:[).:,\-]|$)"),
    # "option B", "my answer is A", "I would pick B": the letter is upper case, so "choose a banana" is not read
    re.compile(r"\b(?i:option|answer|choice|choose|pick|go with|recommend)\s*(?i:is|would be)?\s*[:\-]?\s*\(?([AB])\)?"
               r"(?![A-Za-z])"),
)


def classify_answer(answer: str, shown: Sequence[str]) -> int | None:
    """Which shown position (0 or 1) the answer names, or None when it names neither or both. A stated letter
    wins; otherwise the option whose text (or, for long options, its first five words; a leading article dropped)
    the answer contains."""
    for pattern in _LETTER_PATTERNS:
        match = pattern.search(answer)
        if match:
            return "AB".index(match.group(1).upper())
    said = _normal(answer)
    hits = []
    for position, option in enumerate(shown):
        words = _normal(option).split()
        if len(words) > 1 and words[0] in ("a", "an", "the"):
            words = words[1:]  # "the banana" names "a banana"
        key = " ".join(words if len(words) <= 5 else words[:5])
        if key and f" {key} " in f" {said} ":  # whole words: "5" is not named by "15"
            hits.append(position)
    return hits[0] if len(hits) == 1 else None


def score_sampled(model, questions: Sequence[ChoiceQuestion], settings, progress, label: str) -> list[PairScore]:
    from msm.eval.responders import Conversation, responder_for

    conversations, shown_orders = [], []
    for q in questions:
        for order in ((0, 1), (1, 0)):
            shown = [q.options[i] for i in order]
            conversations.append(Conversation(sampled_message(q.question, shown), q.system))
            shown_orders.append(order)
    responder = responder_for(model, settings)
    max_new = min(settings.max_new_tokens, SAMPLED_MAX_NEW_TOKENS)
    with progress(f"{label}: sampling answers", len(conversations) * settings.samples) as advance:
        responses = responder.respond(conversations, n=settings.samples, temperature=settings.temperature,
                                      max_new_tokens=max_new, seed=settings.seed, advance=advance)
    out = []
    for i, q in enumerate(questions):
        by_order: list[float | None] = []
        answers, unclassified = [], 0
        for r in range(2):
            order = shown_orders[2 * i + r]
            shown = [q.options[j] for j in order]
            named = []
            for answer in responses[2 * i + r]:
                position = classify_answer(answer, shown)
                option = None if position is None else order[position]
                unclassified += option is None
                answers.append({"order": r, "answer": answer, "option": option})
                if option is not None:
                    named.append(option)
            by_order.append(None if not named else sum(o == 0 for o in named) / len(named))
        readable = [p for p in by_order if p is not None]
        out.append(PairScore(p=sum(readable) / len(readable) if readable else None, by_order=by_order,
                             samples=len(answers), unclassified=unclassified, answers=answers))
    return out


def score_pairs(scorer: str, model, questions: Sequence[ChoiceQuestion], settings, progress, label: str,
                variants: Sequence[str] = ("letter",)) -> list[PairScore]:
    if scorer == "letter":
        return score_letter(model, questions, variants, settings.batch_size, progress, label)
    if scorer == "stance":
        return score_stance(model, questions, settings.batch_size, progress, label)
    if scorer == "sampled":
        return score_sampled(model, questions, settings, progress, label)
    raise ValueError(f"unknown scorer {scorer!r} (known: {', '.join(SCORERS)})")
