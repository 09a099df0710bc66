"""Near-duplicate removal of brainstormed user messages, with curation's MinHash (`curate.minhash`): exact keys on
the normalized text, and the estimated Jaccard of word 2-gram signatures (user messages are a sentence or three;
3-grams would leave two paraphrases with almost no shingle in common).

Greedy and order-stable: a message is kept unless it duplicates a message kept *before* it. A clause's messages only
ever grow at the end (a new backfill round appends), so a decision once made never changes on resume — unlike a
clustering, where one new message similar to two kept ones would join them and drop one that was already answered.
Comparison is exhaustive against the kept signatures (a few thousand per clause at most), so no LSH recall loss.
"""

from __future__ import annotations

import numpy as np
from datasketch import MinHash

from msm.corpus.curate.config import DedupSettings
from msm.corpus.curate.minhash import SignatureComputer

SHINGLE_WORDS = 2


class NearDuplicateFilter:
    def __init__(self, threshold: float, settings: DedupSettings | None = None):
        self.threshold = threshold
        base = settings or DedupSettings()
        width = 32 if base.hash_scheme == "affine32" else 64
        permutations = MinHash(num_perm=base.num_perm, seed=base.seed, scheme=base.hash_scheme).permutations
        self.compute = SignatureComputer(SHINGLE_WORDS, width, permutations)
        self.exact: set[str] = set()
        self._kept = np.empty((64, base.num_perm), dtype=self.compute.dtype)  # grown by doubling
        self.n_kept = 0
        self.seen = 0  # how many messages were decided so far (the walk feeds only what comes after)

    def add(self, texts: list[str]) -> list[str | None]:
        """Decide each new message in order: None (kept), 'exact_duplicate' or 'near_duplicate'."""
        if not texts:
            return []
        keys, signatures = self.compute(texts)
        decisions: list[str | None] = []
        for key, signature in zip(keys, signatures):
            if key in self.exact:
                decisions.append("exact_duplicate")
            elif self.n_kept and float((self._kept[:self.n_kept] == signature).mean(axis=1).max()) >= self.threshold:
                decisions.append("near_duplicate")
            else:
                decisions.append(None)
                self.exact.add(key)
                if self.n_kept == len(self._kept):
                    self._kept = np.concatenate([self._kept, np.empty_like(self._kept)])
                self._kept[self.n_kept] = signature
                self.n_kept += 1
        self.seen += len(texts)
        return decisions


def similarity(a: str, b: str) -> float:
    """Estimated Jaccard of two messages' signatures, as the filter compares them."""
    compute = NearDuplicateFilter(0.5).compute
    _, signatures = compute([a, b])
    return float((signatures[0] == signatures[1]).mean())
