"""Agreement math on fixtures whose values are worked out by hand."""

from __future__ import annotations

import pytest

from msm.review_app.agreement import agreement_report, cohen_kappa, krippendorff_alpha_nominal


def _two_rater_fixture() -> dict[str, dict[str, str]]:
    # 50 items: both yes 20, A yes / B no 5, A no / B yes 10, both no 15.
    # p_o = 0.7; A says yes 25/50, B 30/50 → p_e = 0.5·0.6 + 0.5·0.4 = 0.5 → kappa = 0.4.
    # Alpha: n = 100 values (55 yes, 45 no), 30 off-diagonal coincidences → 1 - 99·30/(2·55·45) = 0.4.
    pattern = [("yes", "yes")] * 20 + [("yes", "no")] * 5 + [("no", "yes")] * 10 + [("no", "no")] * 15
    return {f"d{i}": {"A": a, "B": b} for i, (a, b) in enumerate(pattern)}


def test_cohen_kappa_known_value():
    ratings = _two_rater_fixture()
    observed, kappa = cohen_kappa([r["A"] for r in ratings.values()], [r["B"] for r in ratings.values()])
    assert observed == pytest.approx(0.7)
    assert kappa == pytest.approx(0.4)


def test_krippendorff_alpha_known_values():
    assert krippendorff_alpha_nominal(_two_rater_fixture()) == pytest.approx(0.4)
    # Three raters with missing values; u4 has one rating and carries no information. Coincidences:
    # u1 (Y,Y,N) → YY 1, YN 1, NY 1; u2 (N,N) → NN 2; u3 (Y,Y) → YY 2. n_Y = 4, n_N = 3, n = 7,
    # observed disagreement 2, expected 2·4·3 = 24 → alpha = 1 - 6·2/24 = 0.5.
    ratings = {"u1": {"a": "Y", "b": "Y", "c": "N"}, "u2": {"a": "N", "b": "N"}, "u3": {"a": "Y", "c": "Y"},
               "u4": {"b": "Y"}}
    assert krippendorff_alpha_nominal(ratings) == pytest.approx(0.5)


def test_perfect_and_degenerate_agreement():
    perfect = {"d1": {"A": "accept", "B": "accept"}, "d2": {"A": "reject", "B": "reject"}}
    assert krippendorff_alpha_nominal(perfect) == pytest.approx(1.0)
    assert cohen_kappa(["accept", "reject"], ["accept", "reject"])[1] == pytest.approx(1.0)
    # Everyone always said the same single label: chance agreement is 1, kappa and alpha are undefined.
    same = {"d1": {"A": "accept", "B": "accept"}}
    assert cohen_kappa(["accept"], ["accept"]) == (1.0, None)
    assert krippendorff_alpha_nominal(same) is None


def test_report_lists_pairs_and_disagreements():
    ratings = {"d1": {"A": "accept", "B": "reject", "C": "accept"}, "d2": {"A": "accept", "B": "accept"},
               "d3": {"C": "reject"}}
    report = agreement_report(ratings)
    assert report.n_docs_multi == 2
    assert report.disagreements == ["d1"]
    assert [(p.a, p.b, p.n_docs) for p in report.pairs] == [("A", "B", 2), ("A", "C", 1), ("B", "C", 1)]
