"""Bootstrap confidence intervals: one item-level mean, a paired difference between two conditions on the same
items, and a cluster bootstrap (resample scenarios, keep their samples together).

Percentile intervals over B resamples with a seeded generator, so the same inputs and seed always give the same
interval. The item is the unit of resampling because items, not repeated samples of one item, are what varies
between a probe set and the population of probes we care about."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

DEFAULT_RESAMPLES = 2000


@dataclass(frozen=True, slots=True)
class Estimate:
    value: float
    ci_low: float
    ci_high: float
    n: int


def _percentiles(samples: np.ndarray, level: float) -> tuple[float, float]:
    tail = (1.0 - level) / 2.0 * 100.0
    low, high = np.percentile(samples, [tail, 100.0 - tail])
    return float(low), float(high)


def bootstrap_mean(values: Sequence[float], *, seed: int = 0, resamples: int = DEFAULT_RESAMPLES,
                   level: float = 0.95) -> Estimate:
    """Mean of item-level values with a percentile bootstrap CI. Empty input gives NaNs with n=0."""
    data = np.asarray(values, dtype=float)
    if data.size == 0:
        return Estimate(float("nan"), float("nan"), float("nan"), 0)
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, data.size, size=(resamples, data.size))
    low, high = _percentiles(data[idx].mean(axis=1), level)
    return Estimate(float(data.mean()), low, high, int(data.size))


def bootstrap_ratio(numerators: Sequence[float], denominators: Sequence[float], *, seed: int = 0,
                    resamples: int = DEFAULT_RESAMPLES, level: float = 0.95) -> Estimate:
    """sum(num)/sum(den) resampling items together: a token-weighted mean (perplexity's NLL) or a pooled rate over
    clusters of unequal size (scenarios with different numbers of judged samples)."""
    num = np.asarray(numerators, dtype=float)
    den = np.asarray(denominators, dtype=float)
    keep = den > 0
    num, den = num[keep], den[keep]
    if num.size == 0:
        return Estimate(float("nan"), float("nan"), float("nan"), 0)
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, num.size, size=(resamples, num.size))
    low, high = _percentiles(num[idx].sum(axis=1) / den[idx].sum(axis=1), level)
    return Estimate(float(num.sum() / den.sum()), low, high, int(num.size))


def paired_bootstrap_difference(a: Sequence[float], b: Sequence[float], *, seed: int = 0,
                                resamples: int = DEFAULT_RESAMPLES, level: float = 0.95) -> Estimate:
    """mean(b) - mean(a) over the same items, resampling item indices jointly so per-item difficulty cancels."""
    first = np.asarray(a, dtype=float)
    second = np.asarray(b, dtype=float)
    if first.shape != second.shape:
        raise ValueError(f"paired bootstrap needs equal lengths, got {first.size} and {second.size}")
    return bootstrap_mean(second - first, seed=seed, resamples=resamples, level=level)
