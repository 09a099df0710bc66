"""Exact and near-duplicate detection: normalized-text hashes, MinHash signatures, MinHash LSH banding,
verification of candidate pairs, union-find clusters and one deterministic representative per cluster.

Signatures are computed vectorized in `minhash` with datasketch's own permutations (each row equals
`MinHash(hashvalues=row)` of datasketch). Batches are spread over `workers` threads; texts are streamed, so
memory holds the signatures (N x num_perm x 4 bytes for affine32, 512 MB per million documents at 128
permutations) and one band's keys at a time, never all texts.

LSH follows datasketch's `MinHashLSH`: the same (bands, rows) that `MinHashLSH(threshold, num_perm, weights)`
chooses, and two documents are candidates when all `rows` values of some band are equal. Instead of inserting
documents one by one into MinHashLSH's per-band dicts (Python work per document and band, most of the time at
10k documents), each band of the whole signature matrix is hashed to a 64-bit key with numpy, keys are sorted
and runs of equal keys are the buckets; a pair from a bucket is kept only if its band values are really equal,
so a key collision adds nothing. One difference, for bounded work: in a bucket of more than
`max_bucket_neighbours + 1` documents (boilerplate shared by thousands) each member is paired with the next
`max_bucket_neighbours` members in document order instead of with all of them — verified links still chain the
whole bucket into one cluster through union-find (Data-Juicer's Ray MinHash dedup likewise keeps a bucket's
work linear, linking members to one id per bucket; here the cap is `max_bucket_neighbours`, default 64). `tests/corpus/test_dedup_planted.py` checks the candidate pairs equal MinHashLSH's.

The steps on a batch of records — `exact_duplicate_groups`, `bucket_candidate_pairs` (any set of whole buckets),
`pair_similarity` and `representatives` — are the functions the Ray engine (`ray_engine`) runs on its
partitions, so both engines give the same clusters by construction.

A candidate pair counts only if its estimated Jaccard (share of equal signature positions) is at least
`threshold`: LSH alone returns pairs that merely collide in one band.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable, Iterable

import numpy as np
from datasketch import MinHash, MinHashLSH

from msm.corpus.curate.config import DEFAULT_MAX_BUCKET_NEIGHBOURS, DedupSettings
from msm.corpus.curate.minhash import signature_batches


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


MAX_BUCKET_NEIGHBOURS = DEFAULT_MAX_BUCKET_NEIGHBOURS
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


def band_keys(band: np.ndarray) -> np.ndarray:
    """A stable 64-bit key per row of `band` (documents x rows): never Python's per-process hash()."""
    key = np.zeros(len(band), dtype=np.uint64)
    for j in range(band.shape[1]):
        key += band[:, j].astype(np.uint64) * _ROW_MULTIPLIERS[j % len(_ROW_MULTIPLIERS)]
    return key ^ (key >> np.uint64(29))


def bucket_candidate_pairs(band_ids: np.ndarray, keys: np.ndarray, doc_idx: np.ndarray, values: np.ndarray,
                           max_neighbours: int) -> tuple[np.ndarray, int]:
    """(candidate pairs (m, 2) of doc indices a < b, possibly repeated; number of capped buckets) from rows
    (band, key, document, the band's values) that hold every member of each of their buckets.

    A bucket is a run of equal (band, key); within it, members in document order are paired with the next
    `max_neighbours` members whose band values are really equal (a key collision is not a bucket).
    """
    order = np.lexsort((doc_idx, keys, band_ids))
    band_ids, keys, doc_idx, values = band_ids[order], keys[order], doc_idx[order], values[order]
    changes = np.flatnonzero((keys[1:] != keys[:-1]) | (band_ids[1:] != band_ids[:-1])) + 1
    bounds = np.concatenate(([0], changes, [len(keys)]))
    run_sizes = np.diff(bounds)
    run_end = np.repeat(bounds[1:], run_sizes)       # end (exclusive) of the run each sorted row belongs to
    positions = np.arange(len(keys))
    active = positions[run_end - positions > 1]
    capped = int(np.count_nonzero(run_sizes > max_neighbours + 1))
    pairs = []
    distance = 1
    while len(active) and distance <= max_neighbours:
        second = active + distance
        same = (values[active] == values[second]).all(axis=1)
        pairs.append(np.stack((doc_idx[active[same]], doc_idx[second[same]]), axis=1))
        distance += 1
        active = active[run_end[active] - active > distance]
    if not pairs:
        return np.zeros((0, 2), dtype=np.int64), capped
    return np.concatenate(pairs).astype(np.int64), capped


def lsh_candidate_pairs(signatures: np.ndarray, indexed: np.ndarray, bands: int, rows: int,
                        max_neighbours: int = MAX_BUCKET_NEIGHBOURS) -> tuple[np.ndarray, int]:
    """(sorted unique candidate pairs as an (m, 2) array of document indices a < b, number of capped buckets):
    documents of `indexed` (increasing) whose values agree in all `rows` positions of at least one band."""
    codes = []
    capped = 0
    n = np.int64(len(signatures))
    for band_index in range(bands):
        band = signatures[indexed, band_index * rows:(band_index + 1) * rows]
        pairs, band_capped = bucket_candidate_pairs(np.zeros(len(indexed), dtype=np.int64), band_keys(band),
                                                    indexed.astype(np.int64), band, max_neighbours)
        capped += band_capped
        codes.append(pairs[:, 0] * n + pairs[:, 1])
    unique = np.unique(np.concatenate(codes)) if codes else np.zeros(0, dtype=np.int64)
    if not len(unique):
        return np.zeros((0, 2), dtype=np.int64), capped
    return np.stack((unique // n, unique % n), axis=1), capped


def exact_duplicate_groups(exact_keys: np.ndarray, has_words: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(index of the first document with the same exact key, documents that go into LSH: the first of their key
    and with words — an exact duplicate's pairs would only repeat its first's, an empty text has nothing)."""
    _, first_index, inverse = np.unique(exact_keys, return_index=True, return_inverse=True)
    first = first_index[inverse.reshape(-1)]
    return first, (first == np.arange(len(first))) & has_words


def pair_similarity(signatures_a: np.ndarray, signatures_b: np.ndarray) -> np.ndarray:
    """Estimated Jaccard of each pair: the share of equal signature positions."""
    return (signatures_a == signatures_b).mean(axis=1)


def representatives(roots: np.ndarray, rank: np.ndarray, exact_keys: np.ndarray) -> tuple[list[int], list[str | None], int]:
    """(cluster_of, duplicate_kind, number of clusters) from each document's component root: the representative
    of a component of two or more is its member with the lowest (rank, index); the others are dropped as
    exact duplicates when their exact key equals the representative's, else as near-duplicates."""
    n = len(roots)
    index = np.arange(n)
    order = np.lexsort((index, rank, roots))         # per component, the representative first
    sorted_roots = roots[order]
    starts = np.flatnonzero(np.concatenate(([True], sorted_roots[1:] != sorted_roots[:-1])))
    sizes = np.diff(np.concatenate((starts, [n])))
    rep_of_sorted = np.repeat(order[starts], sizes)
    in_cluster = np.repeat(sizes > 1, sizes)
    cluster_of = np.full(n, -1, dtype=np.int64)
    cluster_of[order[in_cluster]] = rep_of_sorted[in_cluster]
    dropped = (cluster_of >= 0) & (cluster_of != index)
    exact = np.zeros(n, dtype=bool)
    exact[dropped] = exact_keys[dropped] == exact_keys[cluster_of[dropped]]
    kind: list[str | None] = [None] * n
    for i in np.flatnonzero(dropped).tolist():
        kind[i] = "exact_duplicate" if exact[i] else "near_duplicate"
    return cluster_of.tolist(), kind, int(np.count_nonzero(sizes > 1))


def dedup_stats(n_docs: int, exact_members: int, candidate_pairs: int, verified: int, n_clusters: int,
                kind: list[str | None], bands: int, rows: int, capped_buckets: int, seconds: float) -> dict:
    return {
        "documents": n_docs, "exact_duplicates": exact_members, "candidate_pairs": candidate_pairs,
        "verified_pairs": verified, "rejected_candidate_pairs": candidate_pairs - verified, "clusters": n_clusters,
        "dropped_exact_duplicate": sum(k == "exact_duplicate" for k in kind),
        "dropped_near_duplicate": sum(k == "near_duplicate" for k in kind),
        "lsh_bands": bands, "lsh_rows": rows, "capped_buckets": capped_buckets, "seconds": round(seconds, 3),
    }


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
    has_words = np.zeros(n_docs, dtype=bool)   # no words: nothing to compare
    row = 0
    for batch_keys, batch_signatures in signature_batches(texts, n_docs, settings.shingle_words, width, permutations,
                                                          settings.workers):
        signatures[row:row + len(batch_keys)] = batch_signatures
        has_words[row:row + len(batch_keys)] = ~(batch_signatures == empty).all(axis=1)
        keys.extend(batch_keys)
        row += len(batch_keys)
        advance(len(batch_keys))
    if row != n_docs:
        raise RuntimeError(f"dedup: expected {n_docs} documents, got {row}")
    key_array = np.array(keys, dtype=object)
    first, indexed = exact_duplicate_groups(key_array, has_words)
    union = UnionFind(n_docs)
    exact_members = np.flatnonzero(first != np.arange(n_docs))
    for i in exact_members.tolist():
        union.union(int(first[i]), i)
    candidates, capped_buckets = lsh_candidate_pairs(signatures, np.flatnonzero(indexed), bands, rows,
                                                     settings.max_bucket_neighbours)
    verified = 0
    for lo in range(0, len(candidates), 65536):
        block = candidates[lo:lo + 65536]
        similarity = pair_similarity(signatures[block[:, 0]], signatures[block[:, 1]])
        for a, b in block[similarity >= settings.threshold].tolist():
            union.union(a, b)
            verified += 1
    roots = np.array([union.find(i) for i in range(n_docs)], dtype=np.int64)
    cluster_of, kind, n_clusters = representatives(roots, np.asarray(rank), key_array)
    stats = dedup_stats(n_docs, len(exact_members), len(candidates), verified, n_clusters, kind, bands, rows,
                        capped_buckets, time.perf_counter() - started)
    return DedupResult(keys, cluster_of, kind, stats)
