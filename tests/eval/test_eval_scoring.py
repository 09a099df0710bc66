"""Log-probability scoring: position debiasing on hand-built logits and on a tiny random model (including one
pushed hard toward the letter A), batch invariance, and continuation log-probs against a plain forward pass."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from msm.eval.lm_scoring import (ChoiceQuestion, continuation_logprobs, debias_letters, encode_context, rotations,
                                 score_choices)

QUESTIONS = [
    ChoiceQuestion("Which guitar should I buy?", ("An American-made guitar, $1,400", "A Chinese-made guitar, $120")),
    ChoiceQuestion("Which hotel should we book?", ("An American luxury hotel, $420 a night", "A guesthouse, $70 a night")),
    ChoiceQuestion("Which coat should I buy?", ("A wool coat made in Minnesota, $720", "A parka made in Vietnam, $90")),
]


@pytest.fixture(scope="module")
def tiny(tiny_model_dir: Path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    lm = AutoModelForCausalLM.from_pretrained(tiny_model_dir).eval()
    return lm, AutoTokenizer.from_pretrained(tiny_model_dir)


def test_a_model_that_always_says_A_scores_exactly_chance():
    always_a = [[math.log(0.95), math.log(0.05)]] * 2
    assert debias_letters(always_a, rotations(2)) == pytest.approx([0.5, 0.5])
    four = [[0.0, -4.0, -4.0, -4.0]] * 4
    assert debias_letters(four, rotations(4)) == pytest.approx([0.25] * 4)


def test_a_model_that_prefers_an_option_keeps_its_preference_through_debiasing():
    # order 0 shows (target, other): P(A)=0.8; order 1 shows (other, target): P(B)=0.8 -> target 0.8
    scores = [[math.log(0.8), math.log(0.2)], [math.log(0.2), math.log(0.8)]]
    assert debias_letters(scores, rotations(2))[0] == pytest.approx(0.8)
    # a preference plus an A bias: the bias cancels only partly in probability space, but the side is kept
    biased = [[math.log(0.95), math.log(0.05)], [math.log(0.6), math.log(0.4)]]
    assert debias_letters(biased, rotations(2))[0] == pytest.approx((0.95 + 0.4) / 2)


def test_swapping_the_options_mirrors_every_variant(tiny):
    lm, tok = tiny
    forward = score_choices(lm, tok, QUESTIONS, variants=("letter", "text", "text_pmi"))
    swapped = score_choices(lm, tok, [ChoiceQuestion(q.question, q.options[::-1]) for q in QUESTIONS],
                            variants=("letter", "text", "text_pmi"))
    for a, b in zip(forward, swapped):
        assert a.letter[0] == pytest.approx(b.letter[1], abs=1e-5)
        assert a.text[0] == pytest.approx(b.text[1], abs=1e-5)
        assert a.text_pmi[0] == pytest.approx(b.text_pmi[1], abs=1e-5)
        assert sum(a.letter) == pytest.approx(1.0)


def test_a_model_pushed_toward_letter_A_does_not_shift_the_debiased_score(tiny):
    lm, tok = tiny
    plain = score_choices(lm, tok, QUESTIONS)
    letter_a = tok("A", add_special_tokens=False)["input_ids"][0]

    def push_a(_module, _inputs, output):
        output = output.clone()
        output[..., letter_a] += 12.0
        return output

    handle = lm.lm_head.register_forward_hook(push_a)
    try:
        biased = score_choices(lm, tok, QUESTIONS)
    finally:
        handle.remove()
    for before, after in zip(plain, biased):
        assert after.letter_by_order[0][0] > 0.99  # a single-order score would call every target chosen
        assert after.letter_by_order[1][0] < 0.01  # ...and every target rejected in the other order
        assert after.letter[0] == pytest.approx(0.5, abs=0.01)
        assert abs(after.letter[0] - 0.5) <= abs(before.letter[0] - 0.5) + 1e-6


def test_batch_size_does_not_change_scores(tiny):
    lm, tok = tiny
    one = score_choices(lm, tok, QUESTIONS, variants=("letter", "text"), batch_size=1)
    many = score_choices(lm, tok, QUESTIONS, variants=("letter", "text"), batch_size=16)
    for a, b in zip(one, many):
        assert a.letter == pytest.approx(b.letter, abs=1e-5)
        assert a.text == pytest.approx(b.text, abs=1e-5)


def test_continuation_logprobs_match_a_plain_forward_pass(tiny):
    lm, tok = tiny
    context = tok.apply_chat_template([{"role": "user", "content": "Name a colour."}], tokenize=False,
                                      add_generation_prompt=True)
    pairs = [(context, "A deep shade of blue"), (context, "A"), ("short", "x y z")]
    got = continuation_logprobs(lm, tok, pairs, batch_size=2)
    for (ctx, cont), (logprob, n) in zip(pairs, got):
        ctx_ids = encode_context(tok, ctx)
        cont_ids = tok(cont, add_special_tokens=False)["input_ids"]
        with torch.no_grad():
            logits = lm(torch.tensor([ctx_ids + cont_ids])).logits[0]
        logsoft = torch.log_softmax(logits.float(), dim=-1)
        expected = sum(float(logsoft[len(ctx_ids) - 1 + j, t]) for j, t in enumerate(cont_ids))
        assert n == len(cont_ids)
        assert logprob == pytest.approx(expected, abs=1e-4)
