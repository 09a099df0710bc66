"""Exact and near-duplicate detection: normalized-text hashes, MinHash signatures, MinHash LSH banding,
verification of candidate pairs, union-find clusters and one deterministic representative per cluster.

Signatures are computed vectorized in `minhash_signatures` with datasketch's own permutations (each row equals
`MinHash(hashvalues=row)` of datasketch). Batches are spread over `workers` threads; texts are streamed, so
memory holds the signatures (N x num_perm x 4 bytes for affine32, 512 MB per million documents at 128
permutations) and one band's keys at a time, never all texts.

LSH follows datasketch's `MinHashLSH`: the same (bands, rows) that `MinHashLSH(threshold, num_perm, weights)`
chooses, and two documents are candidates when all `rows` values of some band are equal. Instead of inserting
documents one by one into MinHashLSH's per-band dicts (Python work per document and band, most of the time at
10k documents), each band of the whole signature matrix is hashed to a 64-bit key with numpy, keys are sorted
and runs of equal keys are the buckets; a pair from a bucket is kept only if its band values are really equal,
so a key collision adds nothing. One difference, for bounded work: in a bucket of more than
`MAX_BUCKET_NEIGHBOURS + 1` documents (boilerplate shared by thousands) each member is paired with the next
`MAX_BUCKET_NEIGHBOURS` members in document order instead of with all of them — verified links still chain the
whole bucket into one cluster through union-find. `tests/corpus/test_dedup_planted.py` checks the candidate
pairs equal MinHashLSH's.

A candidate pair counts only if its estimated Jaccard (share of equal signature positions) is at least
`threshold`: LSH alone returns pairs that merely collide in one band.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable, Iterable

import numpy as np
from datasketch import MinHash, MinHashLSH

from msm.corpus.curation_config import DedupSettings
from msm.corpus.minhash_signatures import signature_batches


class UnionFind:
    def __init__(self, n: int):
        self.parent = list(range(n))

    def find(self, x: int) -> int:
        root = x
        while self.parent[root] != root:
            root = self.parent[root]
        while self.parent[x] != root:   # path compression
            self.parent[x], x = root, self.parent[x]
        return root

    def union(self, x: int, y: int) -> None:
        rx, ry = self.find(x), self.find(y)
        if rx != ry:
            self.parent[max(rx, ry)] = min(rx, ry)


MAX_BUCKET_NEIGHBOURS = 64
# Odd 64-bit multipliers that mix a band's values position-dependently into one key (repeated past 16 rows,
# which is harmless: keys only pre-sort, equality of the values themselves decides).
_ROW_MULTIPLIERS = np.array([0x9E3779B97F4A7C15, 0xC2B2AE3D27D4EB4F, 0x165667B19E3779F9, 0xD6E8FEB86659FD93,
                             0xFF51AFD7ED558CCD, 0xC4CEB9FE1A85EC53, 0x27D4EB2F165667C5, 0x85EBCA77C2B2AE63,
                             0x94D049BB133111EB, 0xBF58476D1CE4E5B9, 0x2545F4914F6CDD1D, 0x9FB21C651E98DF25,
                             0xA0761D6478BD642F, 0xE7037ED1A0B428DB, 0x8EBC6AF09C88C6E3, 0x589965CC75374CC3],
                            dtype=np.uint64)


def lsh_parameters(threshold: float, num_perm: int, weights: tuple[float, float]) -> tuple[int, int]:
    """(bands, rows) exactly as datasketch's MinHashLSH chooses them for these settings."""
    lsh = MinHashLSH(threshold=threshold, num_perm=num_perm, weights=tuple(weights))
    return lsh.b, lsh.r


def _band_keys(band: np.ndarray) -> np.ndarray:
    """A stable 64-bit key per row of `band` (documents x rows): never Python's per-process hash()."""
    key = np.zeros(len(band), dtype=np.uint64)
    for j in range(band.shape[1]):
        key += band[:, j].astype(np.uint64) * _ROW_MULTIPLIERS[j % len(_ROW_MULTIPLIERS)]
    return key ^ (key >> np.uint64(29))


def lsh_candidate_pairs(signatures: np.ndarray, indexed: np.ndarray, bands: int, rows: int) -> tuple[np.ndarray, int]:
    """(sorted unique candidate pairs as an (m, 2) array of document indices a < b, number of capped buckets):
    documents of `indexed` (increasing) whose values agree in all `rows` positions of at least one band."""
    codes = []
    capped = 0
    n = np.int64(len(signatures))
    for band_index in range(bands):
        band = signatures[indexed, band_index * rows:(band_index + 1) * rows]
        keys = _band_keys(band)
        order = np.argsort(keys, kind="stable")     # equal keys stay in document order
        keys = keys[order]
        # end (exclusive) of the run of equal keys that each sorted position belongs to
        bounds = np.concatenate(([0], np.flatnonzero(keys[1:] != keys[:-1]) + 1, [len(keys)]))
        run_sizes = np.diff(bounds)
        run_end = np.repeat(bounds[1:], run_sizes)
        positions = np.arange(len(keys))
        active = positions[run_end - positions > 1]
        capped += int(np.count_nonzero(run_sizes > MAX_BUCKET_NEIGHBOURS + 1))
        distance = 1
        while len(active) and distance <= MAX_BUCKET_NEIGHBOURS:
            first, second = order[active], order[active + distance]
            same = (band[first] == band[second]).all(axis=1)   # a key collision is not a bucket
            codes.append(indexed[first[same]] * n + indexed[second[same]])
            distance += 1
            active = active[run_end[active] - active > distance]
    if not codes:
        return np.zeros((0, 2), dtype=np.int64), capped
    unique = np.unique(np.concatenate(codes))
    return np.stack((unique // n, unique % n), axis=1), capped


@dataclass
class DedupResult:
    exact_keys: list[str]
    cluster_of: list[int]            # index of the cluster's representative, -1 for a document in no cluster
    duplicate_kind: list[str | None]  # None (kept), 'exact_duplicate' or 'near_duplicate' for dropped members
    stats: dict = field(default_factory=dict)


def find_duplicates(texts: Iterable[str], n_docs: int, settings: DedupSettings, rank: list[int] | np.ndarray,
                    advance: Callable[[int], None] = lambda n: None) -> DedupResult:
    """Cluster documents `0..n_docs-1`; the representative of a cluster is the member with the lowest `rank`
    (the caller ranks by quality, then age, then id)."""
    started = time.perf_counter()
    permutations = MinHash(num_perm=settings.num_perm, seed=settings.seed, scheme=settings.hash_scheme).permutations
    width = 32 if settings.hash_scheme == "affine32" else 64
    bands, rows = lsh_parameters(settings.threshold, settings.num_perm, settings.lsh_weights)
    keys: list[str] = []
    signatures = np.empty((n_docs, settings.num_perm), dtype=np.uint32 if width == 32 else np.uint64)
    empty = np.iinfo(signatures.dtype).max
    indexed = np.zeros(n_docs, dtype=bool)   # first document of its exact key, with words: goes into LSH
    union = UnionFind(n_docs)
    first_with_key: dict[str, int] = {}
    exact_members = 0
    row = 0
    # Signatures arrive batch by batch from the workers; exact keys are matched here while they hash the next.
    for batch_keys, batch_signatures in signature_batches(texts, n_docs, settings.shingle_words, width, permutations,
                                                          settings.workers):
        signatures[row:row + len(batch_keys)] = batch_signatures
        has_words = ~(batch_signatures == empty).all(axis=1)   # no words: nothing to compare
        for offset, key in enumerate(batch_keys):
            i = row + offset
            keys.append(key)
            if key in first_with_key:          # exact duplicate: joins the group, its pairs would only repeat
                union.union(first_with_key[key], i)
                exact_members += 1
                continue
            first_with_key[key] = i
            indexed[i] = has_words[offset]
        row += len(batch_keys)
        advance(len(batch_keys))
    if row != n_docs:
        raise RuntimeError(f"dedup: expected {n_docs} documents, got {row}")
    candidates, capped_buckets = lsh_candidate_pairs(signatures, np.flatnonzero(indexed), bands, rows)
    verified = 0
    for lo in range(0, len(candidates), 65536):
        block = candidates[lo:lo + 65536]
        similarity = (signatures[block[:, 0]] == signatures[block[:, 1]]).mean(axis=1)
        for a, b in block[similarity >= settings.threshold].tolist():
            union.union(a, b)
            verified += 1
    roots = [union.find(i) for i in range(n_docs)]
    members: dict[int, list[int]] = {}
    for i, root in enumerate(roots):
        members.setdefault(root, []).append(i)
    cluster_of = [-1] * n_docs
    kind: list[str | None] = [None] * n_docs
    n_clusters = 0
    for group in members.values():
        if len(group) < 2:
            continue
        n_clusters += 1
        representative = min(group, key=lambda i: (rank[i], i))
        for i in group:
            cluster_of[i] = representative
            if i != representative:
                kind[i] = "exact_duplicate" if keys[i] == keys[representative] else "near_duplicate"
    stats = {
        "documents": n_docs, "exact_duplicates": exact_members, "candidate_pairs": len(candidates),
        "verified_pairs": verified, "rejected_candidate_pairs": len(candidates) - verified, "clusters": n_clusters,
        "dropped_exact_duplicate": sum(k == "exact_duplicate" for k in kind),
        "dropped_near_duplicate": sum(k == "near_duplicate" for k in kind),
        "lsh_bands": bands, "lsh_rows": rows, "capped_buckets": capped_buckets,
        "seconds": round(time.perf_counter() - started, 3),
    }
    return DedupResult(keys, cluster_of, kind, stats)
