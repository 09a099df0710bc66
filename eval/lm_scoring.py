"""Log-probability scoring with a transformers causal LM: batched, on CPU, and debiased for option position.

Two-option (or k-option) questions are shown in every cyclic order of the options. Three variants per item:
  letter       options labelled A, B, ...; P(letter) normalised over the k letters, then averaged per option over
               the k orders — a model that always answers "A" scores exactly 1/k for every option.
  text         the answer is the option's own text; softmax over the options' mean per-token log-probability.
  text_pmi     as `text`, minus each option's log-probability after a content-free prompt: cancels how likely
               the option's words are on their own (the research notes found raw option text dominated by it).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, Sequence

LETTERS = "ABCDEFGHIJ"
CONTENT_FREE_PROMPT = "Answer:"
VARIANTS = ("letter", "text", "text_pmi")


def render_chat(tokenizer, user: str, system: str | None = None) -> str:
    """The prompt as the model sees it at inference: its chat template when it has one (SmolLM2's template also
    names the assistant when no system message is given), else a plain User/Assistant transcript."""
    if getattr(tokenizer, "chat_template", None):
        messages = ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": user}]
        return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    head = f"{system}\n\n" if system else ""
    return f"{head}User: {user}\nAssistant:"


def answer_prefix(tokenizer) -> str:
    # After a chat template's assistant header the answer starts bare; after "Assistant:" it starts with a space.
    return "" if getattr(tokenizer, "chat_template", None) else " "


def encode_context(tokenizer, text: str) -> list[int]:
    # A rendered chat template already contains its special tokens; a plain transcript gets the tokenizer's BOS.
    return tokenizer(text, add_special_tokens=not getattr(tokenizer, "chat_template", None))["input_ids"]


@dataclass(slots=True)
class _Sequence:
    ids: list[int]
    queries: list[tuple[int, int]]  # (offset from the end, token id): log P(token | ids[:len-offset+1])
    results: list[float] = field(default_factory=list)


def _run_sequences(lm, pad_id: int, sequences: list[_Sequence], batch_size: int,
                   advance: Callable[[int], None]) -> None:
    """Left-padded batches sorted by length; only the tail logits each batch needs are materialised."""
    import torch

    order = sorted(range(len(sequences)), key=lambda i: len(sequences[i].ids))
    device = next(lm.parameters()).device
    for start in range(0, len(order), batch_size):
        batch = [sequences[i] for i in order[start:start + batch_size]]
        width = max(len(s.ids) for s in batch)
        keep = max(offset for s in batch for offset, _ in s.queries)
        input_ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
        mask = torch.zeros((len(batch), width), dtype=torch.long)
        for row, seq in enumerate(batch):
            input_ids[row, width - len(seq.ids):] = torch.tensor(seq.ids, dtype=torch.long)
            mask[row, width - len(seq.ids):] = 1
        # explicit positions make a left-padded row score exactly like the same row unpadded
        positions = (mask.cumsum(dim=1) - 1).clamp(min=0)
        with torch.no_grad():
            logits = lm(input_ids=input_ids.to(device), attention_mask=mask.to(device),
                        position_ids=positions.to(device), logits_to_keep=keep).logits
        logprobs = torch.log_softmax(logits.float(), dim=-1)
        for row, seq in enumerate(batch):
            seq.results = [float(logprobs[row, keep - offset, token]) for offset, token in seq.queries]
        advance(len(batch))


def _truncate_left(ids: list[int], limit: int, reserve: int) -> list[int]:
    room = max(1, limit - reserve)
    return ids if len(ids) <= room else ids[-room:]


def continuation_logprobs(lm, tokenizer, pairs: Sequence[tuple[str, str]], *, batch_size: int = 8,
                          advance: Callable[[int], None] = lambda n: None) -> list[tuple[float, int]]:
    """(sum of log P(continuation tokens | context), number of continuation tokens) for each (context, continuation).

    Continuations of one token that share a context are read from a single forward pass of that context — the
    letter variant costs one pass per prompt, not one per letter."""
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    limit = int(getattr(lm.config, "max_position_embeddings", 2048) or 2048)
    context_cache: dict[str, list[int]] = {}
    by_context: dict[tuple[int, ...], _Sequence] = {}
    sequences: list[_Sequence] = []
    plan: list[tuple[_Sequence, list[int]] | None] = []
    for context, continuation in pairs:
        ctx = context_cache.setdefault(context, encode_context(tokenizer, context))
        cont = tokenizer(continuation, add_special_tokens=False)["input_ids"] if continuation else []
        if not cont:
            plan.append(None)
            continue
        if len(cont) == 1:
            key = tuple(_truncate_left(ctx, limit, 1))
            seq = by_context.get(key)
            if seq is None:
                seq = by_context[key] = _Sequence(list(key), [])
                sequences.append(seq)
            plan.append((seq, [len(seq.queries)]))
            seq.queries.append((1, cont[0]))
        else:
            ids = _truncate_left(ctx, limit, len(cont)) + cont
            seq = _Sequence(ids, [(len(cont) + 1 - j, token) for j, token in enumerate(cont)])
            sequences.append(seq)
            plan.append((seq, list(range(len(cont)))))
    _run_sequences(lm, pad_id, sequences, batch_size, advance)
    out: list[tuple[float, int]] = []
    for entry in plan:
        if entry is None:
            out.append((0.0, 0))
        else:
            seq, indices = entry
            out.append((sum(seq.results[i] for i in indices), len(indices)))
    return out


def count_forward_passes(tokenizer, pairs: Sequence[tuple[str, str]]) -> int:
    """How many sequences `continuation_logprobs` will run (for progress-bar totals)."""
    single: set[str] = set()
    multi = 0
    for context, continuation in pairs:
        n = len(tokenizer(continuation, add_special_tokens=False)["input_ids"]) if continuation else 0
        if n == 1:
            single.add(context)
        elif n > 1:
            multi += 1
    return len(single) + multi


# ---- k-option choice questions ---------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class ChoiceQuestion:
    question: str
    options: tuple[str, ...]  # original order; option 0 is whatever the suite counts (target / right answer)
    system: str | None = None


def rotations(k: int) -> list[list[int]]:
    """Cyclic orders: each option appears in each position exactly once."""
    return [[(position + shift) % k for position in range(k)] for shift in range(k)]


def letter_message(question: str, shown: Sequence[str]) -> str:
    letters = LETTERS[:len(shown)]
    lines = [question, ""] + [f"{letter}) {option}" for letter, option in zip(letters, shown)]
    return "\n".join(lines + ["", f"Answer with the letter of your choice ({', '.join(letters)})."])


def text_message(question: str, shown: Sequence[str]) -> str:
    lines = [question, ""] + [f"- {option}" for option in shown]
    return "\n".join(lines + ["", "Answer by repeating the option you choose."])


def _softmax(values: Sequence[float]) -> list[float]:
    top = max(values)
    exps = [math.exp(v - top) for v in values]
    total = sum(exps)
    return [e / total for e in exps]


def debias_letters(letter_logprobs: Sequence[Sequence[float]], orders: Sequence[Sequence[int]]) -> list[float]:
    """Per original option: its letter's probability, normalised over the shown letters, averaged over orders.

    letter_logprobs[r][p] is log P(letter p) in order r; orders[r][p] is the option shown at position p."""
    k = len(orders[0])
    totals = [0.0] * k
    for logprobs, order in zip(letter_logprobs, orders):
        for position, probability in enumerate(_softmax(logprobs)):
            totals[order[position]] += probability
    return [t / len(orders) for t in totals]


def debias_texts(option_scores: Sequence[Sequence[float]], orders: Sequence[Sequence[int]]) -> list[float]:
    """Same averaging for text scores: option_scores[r][i] is the score of original option i under order r."""
    k = len(orders[0])
    totals = [0.0] * k
    for scores in option_scores:
        for option, probability in enumerate(_softmax(scores)):
            totals[option] += probability
    return [t / len(orders) for t in totals]


@dataclass(slots=True)
class ChoiceScores:
    letter: list[float]
    text: list[float] | None = None
    text_pmi: list[float] | None = None
    letter_by_order: list[list[float]] = field(default_factory=list)  # normalised P(option) per order, original index


@dataclass(slots=True)
class ChoicePlan:
    """The (context, continuation) pairs a set of questions needs, and where each item's answers sit in them."""

    pairs: list[tuple[str, str]]
    layout: list[dict]
    variants: tuple[str, ...]


def plan_choices(tokenizer, questions: Sequence[ChoiceQuestion], variants: Sequence[str] = ("letter",)) -> ChoicePlan:
    unknown = set(variants) - set(VARIANTS)
    if unknown or "letter" not in variants:
        raise ValueError(f"variants must include 'letter' and come from {VARIANTS}, got {list(variants)}")
    prefix = answer_prefix(tokenizer)
    pairs: list[tuple[str, str]] = []
    layout: list[dict] = []
    for q in questions:
        k = len(q.options)
        orders = rotations(k)
        entry: dict = {"orders": orders, "letter": [], "text": [], "free": []}
        for order in orders:
            shown = [q.options[i] for i in order]
            context = render_chat(tokenizer, letter_message(q.question, shown), q.system)
            entry["letter"].append(list(range(len(pairs), len(pairs) + k)))
            pairs.extend((context, prefix + LETTERS[p]) for p in range(k))
            if "text" in variants or "text_pmi" in variants:
                context = render_chat(tokenizer, text_message(q.question, shown), q.system)
                entry["text"].append(list(range(len(pairs), len(pairs) + k)))
                pairs.extend((context, prefix + q.options[i]) for i in range(k))  # original option order
        if "text_pmi" in variants:
            free = render_chat(tokenizer, CONTENT_FREE_PROMPT, q.system)
            entry["free"] = list(range(len(pairs), len(pairs) + k))
            pairs.extend((free, prefix + option) for option in q.options)
        layout.append(entry)
    return ChoicePlan(pairs, layout, tuple(variants))


def finish_choices(plan: ChoicePlan, scored: Sequence[tuple[float, int]]) -> list[ChoiceScores]:
    results: list[ChoiceScores] = []
    for entry in plan.layout:
        orders = entry["orders"]
        letter_lp = [[scored[i][0] for i in idx] for idx in entry["letter"]]
        by_order = []
        for logprobs, order in zip(letter_lp, orders):
            per_option = [0.0] * len(order)
            for position, probability in enumerate(_softmax(logprobs)):
                per_option[order[position]] = probability
            by_order.append(per_option)
        result = ChoiceScores(letter=debias_letters(letter_lp, orders), letter_by_order=by_order)
        if "text" in plan.variants:
            mean_lp = [[scored[i][0] / max(scored[i][1], 1) for i in idx] for idx in entry["text"]]
            result.text = debias_texts(mean_lp, orders)
        if "text_pmi" in plan.variants:
            free = [scored[i][0] for i in entry["free"]]
            # per token, like `text`: a sum over long options would turn small per-token gaps into certainties
            pmi = [[(scored[i][0] - free[j]) / max(scored[i][1], 1) for j, i in enumerate(idx)] for idx in entry["text"]]
            result.text_pmi = debias_texts(pmi, orders)
        results.append(result)
    return results


def score_choices(lm, tokenizer, questions: Sequence[ChoiceQuestion], *, variants: Sequence[str] = ("letter",),
                  batch_size: int = 8, advance: Callable[[int], None] = lambda n: None) -> list[ChoiceScores]:
    plan = plan_choices(tokenizer, questions, variants)
    return finish_choices(plan, continuation_logprobs(lm, tokenizer, plan.pairs, batch_size=batch_size, advance=advance))
