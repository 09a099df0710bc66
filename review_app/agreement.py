"""Inter-annotator agreement on accept/reject verdicts: Cohen's kappa per reviewer pair and Krippendorff's
alpha (nominal) over all reviewers, on documents that at least two reviewers judged."""

from __future__ import annotations

from collections import Counter
from itertools import combinations

from pydantic import BaseModel

# ratings: doc_id -> {reviewer: label}
Ratings = dict[str, dict[str, str]]


class PairKappa(BaseModel):
    a: str
    b: str
    n_docs: int
    observed: float
    kappa: float | None          # None when chance agreement is 1 (both always gave the same single label)


class AgreementReport(BaseModel):
    n_docs_multi: int            # documents judged by >= 2 reviewers
    alpha: float | None
    pairs: list[PairKappa]
    disagreements: list[str]     # doc ids with differing labels


def cohen_kappa(labels_a: list[str], labels_b: list[str]) -> tuple[float, float | None]:
    """(observed agreement, kappa) for two aligned label lists."""
    n = len(labels_a)
    if n == 0 or n != len(labels_b):
        raise ValueError("cohen_kappa needs two non-empty lists of the same length")
    observed = sum(x == y for x, y in zip(labels_a, labels_b)) / n
    count_a, count_b = Counter(labels_a), Counter(labels_b)
    expected = sum(count_a[c] * count_b[c] for c in set(count_a) | set(count_b)) / (n * n)
    if expected == 1.0:
        return observed, None
    return observed, (observed - expected) / (1 - expected)


def krippendorff_alpha_nominal(ratings: Ratings) -> float | None:
    """Krippendorff's alpha for nominal labels, any number of raters, missing ratings allowed.
    Units with fewer than two ratings carry no pairing information and are left out."""
    coincidence: Counter[tuple[str, str]] = Counter()
    for by_rater in ratings.values():
        values = list(by_rater.values())
        m = len(values)
        if m < 2:
            continue
        for i, j in ((i, j) for i in range(m) for j in range(m) if i != j):
            coincidence[(values[i], values[j])] += 1 / (m - 1)
    n_c: Counter[str] = Counter()
    for (c, _k), weight in coincidence.items():
        n_c[c] += weight
    n = sum(n_c.values())
    if n <= 1:
        return None
    disagree_observed = sum(w for (c, k), w in coincidence.items() if c != k)
    disagree_expected = sum(n_c[c] * n_c[k] for c in n_c for k in n_c if c != k)
    if disagree_expected == 0:
        return None
    return 1 - (n - 1) * disagree_observed / disagree_expected


def agreement_report(ratings: Ratings) -> AgreementReport:
    multi = {doc: r for doc, r in ratings.items() if len(r) >= 2}
    reviewers = sorted({name for r in multi.values() for name in r})
    pairs = []
    for a, b in combinations(reviewers, 2):
        shared = [doc for doc, r in multi.items() if a in r and b in r]
        if not shared:
            continue
        observed, kappa = cohen_kappa([multi[d][a] for d in shared], [multi[d][b] for d in shared])
        pairs.append(PairKappa(a=a, b=b, n_docs=len(shared), observed=observed, kappa=kappa))
    disagreements = sorted(doc for doc, r in multi.items() if len(set(r.values())) > 1)
    return AgreementReport(n_docs_multi=len(multi), alpha=krippendorff_alpha_nominal(multi), pairs=pairs,
                           disagreements=disagreements)
