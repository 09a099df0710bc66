"""Bootstrap CIs against distributions whose answer is known."""

from __future__ import annotations

import numpy as np
import pytest

from msm.eval.stats import bootstrap_mean, bootstrap_ratio, paired_bootstrap_difference


def test_ci_of_a_bernoulli_mean_has_the_textbook_width():
    rng = np.random.default_rng(1)
    values = (rng.random(2000) < 0.3).astype(float)
    est = bootstrap_mean(values, seed=0)
    assert est.ci_low < 0.3 < est.ci_high
    expected_half_width = 1.96 * np.sqrt(0.3 * 0.7 / 2000)
    assert (est.ci_high - est.ci_low) / 2 == pytest.approx(expected_half_width, rel=0.15)


def test_95_percent_intervals_cover_the_true_mean_about_95_percent_of_the_time():
    rng = np.random.default_rng(7)
    covered = 0
    trials = 200
    for trial in range(trials):
        sample = rng.normal(loc=2.0, scale=1.0, size=80)
        est = bootstrap_mean(sample, seed=trial, resamples=1000)
        covered += est.ci_low <= 2.0 <= est.ci_high
    assert 0.88 <= covered / trials <= 0.99, covered


def test_paired_difference_cancels_item_difficulty():
    rng = np.random.default_rng(3)
    difficulty = rng.normal(0.0, 5.0, size=300)  # huge between-item spread
    baseline = difficulty + rng.normal(0.0, 0.1, size=300)
    condition = difficulty + 0.2 + rng.normal(0.0, 0.1, size=300)
    diff = paired_bootstrap_difference(baseline, condition, seed=0)
    assert diff.ci_low > 0.15 and diff.ci_high < 0.25  # an unpaired CI would span zero by a wide margin
    assert paired_bootstrap_difference(baseline, baseline, seed=0).ci_high == 0.0


def test_paired_difference_refuses_unequal_lengths():
    with pytest.raises(ValueError):
        paired_bootstrap_difference([1.0, 2.0], [1.0])


def test_ratio_is_token_weighted_and_same_seed_gives_same_interval():
    est = bootstrap_ratio([10.0, 1.0], [10.0, 1.0], seed=5)
    assert est.value == pytest.approx(1.0)
    weighted = bootstrap_ratio([30.0, 1.0], [10.0, 10.0])
    assert weighted.value == pytest.approx(31.0 / 20.0)
    assert bootstrap_mean([0.1, 0.5, 0.9, 0.3], seed=4) == bootstrap_mean([0.1, 0.5, 0.9, 0.3], seed=4)
    assert np.isnan(bootstrap_mean([]).value) and bootstrap_mean([]).n == 0
