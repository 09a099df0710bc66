"""Does this scorer discriminate on this model? Before a choice suite trusts its numbers it scores the format
controls (`format_controls.jsonl`: two options, one plainly right, no value at stake — arithmetic, spelling,
"which is a fruit") with the same scorer and the same two orders, and reads three things:

  control accuracy      share of controls where the right option gets the higher debiased probability
                        (an unreadable sampled item counts as wrong), with a bootstrap 95% CI;
  order consistency     share of controls that get the same pick in both orders;
  position bias         mean probability on whichever option is shown first (0.5 = none).

The verdict is "discriminates on this model" only when the accuracy CI's lower bound is above ACCURACY_CI_LOW_MIN
and order consistency reaches ORDER_CONSISTENCY_MIN (and, for the sampled scorer, at least CLASSIFIED_MIN of the
answers name an option). A model that cannot pick "5" over "9" for 2 + 3 through this scorer cannot show what
training moved through it either: a comparison on such an instrument is "not measurable with this scorer", not
"effect not detected".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

from msm.eval.items import FormatControl, file_sha256, load_items, shipped_path
from msm.eval.lm_scoring import ChoiceQuestion
from msm.eval.scorers import SCORERS, PairScore, order_consistent, p_first_shown, score_pairs
from msm.eval.stats import bootstrap_mean

CONTROLS_FILE = "format_controls.jsonl"
ACCURACY_CI_LOW_MIN = 0.6  # the controls are plainly answerable: chance is 0.5, a working reader is near 1
ORDER_CONSISTENCY_MIN = 0.5  # most controls must not flip with the order (a pure position reader scores 0)
CLASSIFIED_MIN = 0.5  # sampled: most answers must name one option
DISCRIMINATES = "discriminates on this model"
DOES_NOT = "does not discriminate on this model"
NOT_MEASURABLE = "not measurable with this scorer"
THRESHOLDS = {"control_accuracy_ci_low_gt": ACCURACY_CI_LOW_MIN, "control_order_consistency_ge": ORDER_CONSISTENCY_MIN,
              "sampled_classified_share_ge": CLASSIFIED_MIN}


def load_controls() -> tuple[list[FormatControl], dict[str, str]]:
    path = shipped_path(CONTROLS_FILE)
    return load_items(path, FormatControl), {path.name: file_sha256(path)}


def control_questions(controls: Sequence[FormatControl]) -> list[ChoiceQuestion]:
    return [ChoiceQuestion(c.question, (c.right, c.wrong)) for c in controls]


def _estimate(values: list[float], seed: int) -> dict[str, Any]:
    e = bootstrap_mean(values, seed=seed)
    return {"value": e.value, "ci_low": e.ci_low, "ci_high": e.ci_high, "n": e.n} if e.n else \
        {"value": None, "ci_low": None, "ci_high": None, "n": 0}


def pair_statistics(scores: Sequence[PairScore], seed: int) -> dict[str, Any]:
    """Position bias and order consistency of any set of scored pairs (the suite's own items or the controls)."""
    firsts = [p for p in (p_first_shown(s) for s in scores) if p is not None]
    return {"position_bias": _estimate(firsts, seed),
            "order_consistency": _estimate([float(order_consistent(s)) for s in scores], seed)}


@dataclass
class Validity:
    scorer: str
    accuracy: dict[str, Any]
    order_consistency: dict[str, Any]
    position_bias: dict[str, Any]
    classified_share: float | None
    discriminates: bool
    reasons: list[str]

    def public(self) -> dict[str, Any]:
        return {"scorer": self.scorer, "verdict": DISCRIMINATES if self.discriminates else DOES_NOT,
                "discriminates": self.discriminates, "reasons": self.reasons,
                "control_accuracy": self.accuracy, "control_order_consistency": self.order_consistency,
                "control_position_bias": self.position_bias, "control_classified_share": self.classified_share}


def judge_validity(scorer: str, scores: Sequence[PairScore], seed: int) -> Validity:
    right = [1.0 if s.p is not None and s.p > 0.5 else 0.5 if s.p is not None and abs(s.p - 0.5) < 1e-9 else 0.0
             for s in scores]
    accuracy = _estimate(right, seed)
    stats = pair_statistics(scores, seed)
    samples = sum(s.samples for s in scores)
    classified = None if scorer != "sampled" or not samples else 1.0 - sum(s.unclassified for s in scores) / samples
    reasons = []
    low = accuracy["ci_low"]
    if low is None or low <= ACCURACY_CI_LOW_MIN:
        reasons.append(f"control accuracy {_f(accuracy['value'])} has CI lower bound {_f(low)}, "
                       f"not above {ACCURACY_CI_LOW_MIN}")
    consistency = stats["order_consistency"]["value"]
    if consistency is None or consistency < ORDER_CONSISTENCY_MIN:
        reasons.append(f"order consistency {_f(consistency)} below {ORDER_CONSISTENCY_MIN}")
    if scorer == "sampled" and (classified is None or classified < CLASSIFIED_MIN):
        reasons.append(f"only {_f(classified)} of the answers name an option (need {CLASSIFIED_MIN})")
    return Validity(scorer, accuracy, stats["order_consistency"], stats["position_bias"], classified,
                    not reasons, reasons)


def _f(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.3f}"


def check_scorer(scorer: str, model, settings, progress) -> Validity:
    controls, _ = load_controls()
    scores = score_pairs(scorer, model, control_questions(controls), settings, progress, "format controls")
    return judge_validity(scorer, scores, settings.seed)


def choose_scorer(requested: str, model, settings, progress) -> tuple[str, list[Validity]]:
    """The scorer a choice suite uses and every validity check run to pick it. A named scorer is checked and
    used whatever its verdict; `auto` checks each in turn and takes the first that discriminates, or — when none
    does — the one whose control accuracy has the highest CI lower bound (its verdict then says it does not)."""
    if requested != "auto":
        return requested, [check_scorer(requested, model, settings, progress)]
    tried = []
    for scorer in SCORERS:
        validity = check_scorer(scorer, model, settings, progress)
        tried.append(validity)
        if validity.discriminates:
            return scorer, tried
    best = max(tried, key=lambda v: v.accuracy["ci_low"] if v.accuracy["ci_low"] is not None else -1.0)
    return best.scorer, tried


def instrument_record(requested: str, chosen: str, tried: list[Validity], suite_scores: Sequence[PairScore],
                      seed: int) -> dict[str, Any]:
    """What the result JSON, its Inspect log and the experiment report carry about the instrument."""
    used = next(v for v in tried if v.scorer == chosen)
    _, controls_file = load_controls()
    return {"scorer": chosen, "requested": requested, "verdict": used.public()["verdict"],
            "discriminates": used.discriminates, "reasons": used.reasons, "thresholds": THRESHOLDS,
            "controls_file": controls_file, "validity": used.public(),
            "candidates": [v.public() for v in tried], "suite_items": pair_statistics(suite_scores, seed)}


def measurable(instrument: dict | None) -> bool:
    """Results written before the validity check (no record) are taken as they are."""
    return instrument is None or bool(instrument.get("discriminates"))
