"""Instrument validity: the format controls, the verdict's thresholds on hand-built readings (a position reader, a
working reader, a reader that flips with the order), the stance scorer's normalisation and order symmetry, the
sampled scorer's answer classifier, and the verdict travelling into the result, the Inspect log and `compare`."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from msm.eval.instrument import (ACCURACY_CI_LOW_MIN, DISCRIMINATES, DOES_NOT, judge_validity, load_controls,
                                 measurable)
from msm.eval.lm_scoring import ChoiceQuestion
from msm.eval.scorers import PairScore, classify_answer, finish_stance, order_consistent, p_first_shown, stance_sentence


def test_the_format_controls_are_many_varied_and_well_formed():
    controls, files = load_controls()
    assert len(controls) >= 60 and set(files) == {"format_controls.jsonl"}
    assert len({c.domain for c in controls}) >= 5
    assert len({c.question + c.right for c in controls}) == len(controls)
    # nothing at stake: no price or origin words that the value probes turn on
    for c in controls:
        text = f"{c.question} {c.right} {c.wrong}".lower()
        assert "$" not in text and "america" not in text and "cheap" not in text, c.id


def _reader(pairs: list[tuple[float, float]]) -> list[PairScore]:
    return [PairScore(p=(a + b) / 2, by_order=[a, b]) for a, b in pairs]


def test_a_pure_position_reader_does_not_discriminate():
    # P(option 0) is 0.9 whenever it is shown first and 0.1 whenever it is shown second: it reads only the position
    scores = _reader([(0.9, 0.1)] * 64)
    validity = judge_validity("letter", scores, seed=0)
    assert not validity.discriminates and validity.public()["verdict"] == DOES_NOT
    assert validity.order_consistency["value"] == 0.0 and validity.position_bias["value"] == pytest.approx(0.9)
    assert len(validity.reasons) == 2  # accuracy at chance, and no item the same in both orders


def test_a_working_reader_discriminates():
    scores = _reader([(0.8, 0.7)] * 58 + [(0.4, 0.3)] * 6)
    validity = judge_validity("stance", scores, seed=0)
    assert validity.discriminates and validity.public()["verdict"] == DISCRIMINATES
    assert validity.accuracy["ci_low"] > ACCURACY_CI_LOW_MIN and validity.reasons == []


def test_a_reader_right_on_average_but_flipping_with_the_order_does_not_discriminate():
    # debiasing turns (0.95, 0.40) into 0.675 — "right" — yet the second order picks the wrong option every time
    scores = _reader([(0.95, 0.40)] * 64)
    validity = judge_validity("letter", scores, seed=0)
    assert validity.accuracy["value"] == 1.0 and not validity.discriminates
    assert any("order consistency" in r for r in validity.reasons)


def test_unreadable_sampled_answers_count_against_the_scorer():
    readable = [PairScore(p=1.0, by_order=[1.0, 1.0], samples=2, unclassified=0)] * 20
    unreadable = [PairScore(p=None, by_order=[None, None], samples=2, unclassified=2)] * 44
    validity = judge_validity("sampled", readable + unreadable, seed=0)
    assert validity.classified_share == pytest.approx(20 / 64) and not validity.discriminates
    assert validity.accuracy["value"] == pytest.approx(20 / 64)  # an unreadable item is not a right answer


def test_order_statistics_on_ties_and_gaps():
    assert not order_consistent(PairScore(p=0.5, by_order=[0.5, 0.5]))
    assert not order_consistent(PairScore(p=0.7, by_order=[0.7, None]))
    assert order_consistent(PairScore(p=0.3, by_order=[0.2, 0.4]))
    assert p_first_shown(PairScore(p=0.5, by_order=[0.9, 0.1])) == pytest.approx(0.9)
    assert p_first_shown(PairScore(p=None, by_order=[None, 0.1])) is None


def test_stance_subtracts_the_content_free_prompt():
    # option 0's sentence is likelier everywhere (a prior); the question adds +1 nat to option 1 only
    prior0, prior1 = -5.0, -9.0
    scored = [(prior0, 5), (prior1 + 1.0, 5),  # order 0
              (prior0, 5), (prior1 + 1.0, 5),  # order 1 (same sentences, options listed the other way)
              (prior0, 5), (prior1, 5)]  # after the content-free prompt
    (score,) = finish_stance(scored, 1)
    expected = 1 / (1 + math.exp(1.0))
    assert score.p == pytest.approx(expected) and score.by_order == pytest.approx([expected, expected])


def test_stance_sentence_reads_as_one_sentence():
    assert stance_sentence("A used paperback, $4.") == "I would choose a used paperback, $4."
    assert stance_sentence("Paris") == "I would choose Paris."
    assert stance_sentence("Apples") == "I would choose Apples."


@pytest.mark.parametrize("answer, expected", [
    ("A) because it is cheaper", 0), ("B", 1), ("(B) The second one.", 1), ("I would pick option B.", 1),
    ("My answer is A.", 0), ("I'd go with the banana, obviously.", 0), ("B. It is a tool.", 1),
    # the article "A" is not the letter A; "choose a ..." is not either
    ("A hammer, since it lasts.", 1), ("I would choose a hammer.", 1),
    ("Both a banana and a hammer are useful.", None), ("I cannot decide.", None), ("", None),
])
def test_sampled_answers_are_classified_by_the_option_they_name(answer: str, expected):
    assert classify_answer(answer, ["a banana", "a hammer"]) == expected


def test_old_results_without_an_instrument_stay_measurable():
    assert measurable(None) and measurable({"discriminates": True}) and not measurable({"discriminates": False})


@pytest.fixture(scope="module")
def tiny(tiny_model_dir: Path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from msm.eval.suite_base import LoadedModel

    return LoadedModel(AutoModelForCausalLM.from_pretrained(tiny_model_dir).eval(),
                       AutoTokenizer.from_pretrained(tiny_model_dir))


def _no_progress(_d, _n):
    from contextlib import nullcontext

    return nullcontext(lambda n=1, **_: None)


def test_stance_scores_mirror_when_the_options_swap(tiny):
    from msm.eval.scorers import score_stance

    questions = [ChoiceQuestion("Which of these is a fruit?", ("a banana", "a hammer")),
                 ChoiceQuestion("What is 2 + 3?", ("5", "9"), "You are helpful.")]
    forward = score_stance(tiny, questions, 4, _no_progress, "t")
    swapped = score_stance(tiny, [ChoiceQuestion(q.question, q.options[::-1], q.system) for q in questions], 4,
                           _no_progress, "t")
    for a, b in zip(forward, swapped):
        assert a.p == pytest.approx(1 - b.p, abs=1e-5)
        assert a.by_order[0] == pytest.approx(1 - b.by_order[1], abs=1e-5)


def test_the_verdict_reaches_the_result_the_inspect_log_and_compare(msm, tiny_model_dir: Path, tmp_path: Path):
    out = tmp_path / "r"
    runs = []
    for _ in range(2):
        result = msm("--json", "eval", "--model", str(tiny_model_dir), "--out", str(out), "--suite", "cheese_items",
                     "--limit", "4", "--scorer", "stance")
        assert result.code == 0, result.err
        runs.append(json.loads(result.out)["result"])
    data = json.loads(Path(runs[0]).read_text())
    instrument = data["instrument"]
    assert data["schema_version"] == 3 and instrument["scorer"] == "stance" and instrument["requested"] == "stance"
    # a tiny random model cannot tell 5 from 9: the instrument must say so
    assert instrument["discriminates"] is False and instrument["verdict"] == DOES_NOT and instrument["reasons"]
    assert instrument["validity"]["control_accuracy"]["n"] >= 60 and "format_control_accuracy" in data["metrics"]
    assert instrument["controls_file"]["format_controls.jsonl"]

    from inspect_ai.log import read_eval_log

    log = read_eval_log(str(out / data["inspect_logs"][0]))
    assert log.eval.metadata["instrument"]["verdict"] == DOES_NOT

    compared = msm("--json", "eval", "compare", *runs)
    assert compared.code == 0, compared.err
    diff = json.loads(compared.out)["differences"][0]
    assert diff["measurable"] is False and diff["instrument_note"].startswith("not measurable with this scorer")
    table = msm("eval", "compare", *runs)
    assert "not measurable with this scorer" in table.out and "not detected" not in table.out


def test_compare_refuses_results_of_different_scorers(msm, tiny_model_dir: Path, tmp_path: Path):
    out = tmp_path / "r"
    paths = []
    for scorer in ("letter", "stance"):
        result = msm("--json", "eval", "--model", str(tiny_model_dir), "--out", str(out), "--suite", "cheese_items",
                     "--limit", "3", "--scorer", scorer, "--variants", "letter")
        assert result.code == 0, result.err
        paths.append(json.loads(result.out)["result"])
    compared = msm("eval", "compare", *paths)
    assert compared.code == 2 and "'letter'" in compared.err and "'stance'" in compared.err


def test_auto_tries_every_scorer_and_records_them(tiny):
    from msm.eval.instrument import choose_scorer
    from msm.eval.suite_base import EvalSettings

    settings = EvalSettings(scorer="auto", temperature=0.0, max_new_tokens=8, batch_size=16)
    chosen, tried = choose_scorer("auto", tiny, settings, _no_progress)
    # nothing discriminates on random weights, so all three were checked and the best lower bound was taken
    assert [v.scorer for v in tried] == ["letter", "stance", "sampled"] and not any(v.discriminates for v in tried)
    assert chosen == max(tried, key=lambda v: v.accuracy["ci_low"]).scorer


def test_the_experiment_report_never_calls_a_blind_comparison_not_detected():
    from msm.experiment.report import _across_sentence, _comparison_sentence

    base = {"suite": "cheese_values", "baseline": "base", "condition": "msm", "seed": 0, "metric": "america_prob",
            "n_paired": 40, "difference": 0.002, "ci_low": -0.001, "ci_high": 0.004, "detected": False}
    blind = dict(base, measurable=False,
                 instrument_note="not measurable with this scorer (letter): the instrument does not discriminate on m")
    sentence = _comparison_sentence(blind)
    assert "not measurable with this scorer" in sentence and "not detected" not in sentence
    assert "the effect was not detected" in _comparison_sentence(dict(base, measurable=True))
    across = dict(blind, per_seed={0: 0.002, 1: 0.001}, n_seeds=2, mean=0.0015, same_sign=2)
    assert "not measurable with this scorer" in _across_sentence(across)
