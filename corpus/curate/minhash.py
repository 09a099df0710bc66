"""MinHash signatures of batches of texts, vectorized with numpy — the part of dedup that runs on worker
threads. Nearly all of it is numpy over a whole batch's bytes, which releases the GIL, so threads overlap on
both cores without the start-up cost of processes (a spawned worker re-imports the caller's main module: ~2 s
for the `msm` CLI, longer than dedup of 10k documents takes).

Per batch: ASCII texts are normalized by a byte table over the whole batch (`normalized_batch`, equal to
`normalize` per text; other texts go through `normalize` in Python); every word is hashed vectorized over the
normalized bytes (`word_hashes`); a shingle's hash is a fixed odd-multiplier combination of its k word hashes
(all shingles of the batch at once); the permutation step is datasketch's affine scheme: the MurmurHash3
finalizer, then `a_k * h + b_k` with wraparound, where the caller passes datasketch's own
`MinHash(num_perm, seed, scheme).permutations`. So a signature here equals a datasketch MinHash with
hashfunc = our shingle hash, updated with the same shingles (tests/corpus/test_dedup_planted.py checks this).
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from typing import Iterable, Iterator

import numpy as np

_NON_WORD = re.compile(r"[^\w\s]+|_+")
# Odd 64-bit multipliers that combine the k word hashes of a shingle position-dependently.
_POSITION_MULTIPLIERS = np.array([0x9E3779B97F4A7C15, 0xC2B2AE3D27D4EB4F, 0x165667B19E3779F9, 0xD6E8FEB86659FD93,
                                  0xFF51AFD7ED558CCD, 0xC4CEB9FE1A85EC53, 0x27D4EB2F165667C5, 0x85EBCA77C2B2AE63,
                                  0x94D049BB133111EB, 0xBF58476D1CE4E5B9, 0x2545F4914F6CDD1D, 0x9FB21C651E98DF25,
                                  0xA0761D6478BD642F, 0xE7037ED1A0B428DB, 0x8EBC6AF09C88C6E3, 0x589965CC75374CC3],
                                 dtype=np.uint64)
_SHINGLES_PER_CHUNK = 1 << 13   # (num_perm x chunk) permutation buffer: 4 MB at 128 perms, measured fastest
_BATCH_DOCS = 256
_BATCHES_IN_FLIGHT_PER_WORKER = 2   # bounds memory: only this many batches of texts are held per thread


# ASCII fast path of `normalize`: for ASCII text NFKC is the identity and casefold is lower().
_ASCII_PUNCT_TO_SPACE = str.maketrans({c: " " for c in map(chr, range(128)) if not (c.isalnum() or c.isspace())})


def normalize(text: str) -> str:
    """Unicode NFKC, case-folded, punctuation removed, whitespace collapsed: what 'exact duplicate' compares."""
    if text.isascii():
        return " ".join(text.lower().translate(_ASCII_PUNCT_TO_SPACE).split())
    text = _NON_WORD.sub(" ", unicodedata.normalize("NFKC", text).casefold())
    return " ".join(text.split())


def exact_key(text: str) -> str:
    return hashlib.blake2b(normalize(text).encode("utf-8"), digest_size=16).hexdigest()


# Byte table of `normalize` for ASCII: letters and digits lower-cased, every other byte a space. Bytes >= 128
# only occur in texts already normalized in Python, and pass through unchanged.
_NORMALIZE_BYTES = bytes([ord(chr(c).lower()) if chr(c).isalnum() else 32 for c in range(128)] + list(range(128, 256)))


def normalized_batch(texts: list[str]) -> np.ndarray:
    """UTF-8 bytes of `"\\n".join(normalize(t) for t in texts) + "\\n"`, computed over the whole batch at once.

    Python only encodes (and normalizes the rare non-ASCII text); mapping bytes and collapsing runs of spaces
    is numpy: a space survives only as the first of its run, between two word bytes of the same document.
    """
    pieces = [t.encode("ascii") if t.isascii() else normalize(t).encode("utf-8") for t in texts]
    mapped = np.frombuffer(bytearray(b"\n".join(pieces) + b"\n").translate(_NORMALIZE_BYTES), dtype=np.uint8)
    lengths = np.fromiter(map(len, pieces), dtype=np.int64, count=len(pieces))
    mapped[np.cumsum(lengths + 1) - 1] = 10          # document boundaries, after the table blanked real newlines
    is_space = mapped == 32
    word_byte = ~is_space & (mapped != 10)
    keep = ~is_space
    # runs of spaces: starts and ends pair up in order; the final newline guarantees a byte after every run
    run_start = np.flatnonzero(is_space[1:] & ~is_space[:-1]) + 1
    if is_space[0]:
        run_start = np.concatenate(([0], run_start))
    following = np.flatnonzero(is_space[:-1] & ~is_space[1:]) + 1
    previous = run_start - 1
    keep[run_start] = (previous >= 0) & word_byte[np.maximum(previous, 0)] & word_byte[following]
    return mapped[keep]


def _fmix(values: np.ndarray, width: int) -> np.ndarray:
    """MurmurHash3 finalizer (the pre-mix datasketch's affine schemes apply to every input hash)."""
    if width == 32:
        values = values ^ (values >> np.uint32(16))
        values = values * np.uint32(0x85EBCA6B)
        values = values ^ (values >> np.uint32(13))
        values = values * np.uint32(0xC2B2AE35)
        return values ^ (values >> np.uint32(16))
    values = values ^ (values >> np.uint64(33))
    values = values * np.uint64(0xFF51AFD7ED558CCD)
    values = values ^ (values >> np.uint64(33))
    values = values * np.uint64(0xC4CEB9FE1A85EC53)
    return values ^ (values >> np.uint64(33))


_BYTE_MULTIPLIER = 0x100000001B3                        # odd, so invertible modulo 2^64
_BYTE_MULTIPLIER_INVERSE = pow(_BYTE_MULTIPLIER, -1, 1 << 64)
_powers_cache: list[np.ndarray] = [np.ones(1, dtype=np.uint64), np.ones(1, dtype=np.uint64)]


def _byte_powers(n: int) -> tuple[np.ndarray, np.ndarray]:
    """(P^j, P^-j) mod 2^64 for j < n, cached and grown by doubling (batches have similar sizes)."""
    powers, inverse_powers = _powers_cache
    if len(powers) < n:
        size = max(n, 2 * len(powers))
        powers = np.cumprod(np.full(size, _BYTE_MULTIPLIER, dtype=np.uint64), dtype=np.uint64)
        inverse_powers = np.cumprod(np.full(size, _BYTE_MULTIPLIER_INVERSE, dtype=np.uint64), dtype=np.uint64)
        powers[1:], powers[0] = powers[:-1].copy(), 1
        inverse_powers[1:], inverse_powers[0] = inverse_powers[:-1].copy(), 1
        _powers_cache[:] = [powers, inverse_powers]
    return powers[:n], inverse_powers[:n]


def word_hashes(data: np.ndarray, n_docs: int) -> tuple[np.ndarray, np.ndarray]:
    """(64-bit hash of every word of the documents in order, number of words per document).

    Vectorized over the UTF-8 bytes of the whole batch: with c_j = (byte_j + 1) * P^j over the batch and C its
    running sum, a word spanning bytes [s, e) hashes to (C[e] - C[s]) * P^-s = sum((byte + 1) * P^(j - s)) mod 2^64
    — a polynomial hash of the word alone, whatever its position — mixed by the MurmurHash3 finalizer. One
    cumulative sum replaces per-word work. `data` is `normalized_batch` of `n_docs` documents.
    """
    powers, inverse_powers = _byte_powers(len(data))
    running = np.empty(len(data) + 1, dtype=np.uint64)
    running[0] = 0
    contribution = data.astype(np.uint64)
    contribution += np.uint64(1)
    contribution *= powers
    np.cumsum(contribution, out=running[1:])
    separators = np.flatnonzero((data == 32) | (data == 10))
    starts = np.concatenate(([0], separators[:-1] + 1))
    is_word = separators > starts                      # an empty document leaves an empty span
    starts, ends = starts[is_word], separators[is_word]
    hashes = _fmix((running[ends] - running[starts]) * inverse_powers[starts], 64)
    # a word belongs to the document whose newline is the first separator at or after its end
    doc_of_word = np.cumsum(data[separators] == 10)[is_word] - (data[ends] == 10)
    words_per_doc = np.bincount(doc_of_word, minlength=n_docs)[:n_docs]
    return hashes, words_per_doc


def _combine(word_hashes_: np.ndarray, starts: np.ndarray, lengths: np.ndarray, k: int, width: int) -> np.ndarray:
    """Hash of the shingle of `lengths` (<= k) words beginning at each start."""
    combined = np.zeros(len(starts), dtype=np.uint64)
    last = len(word_hashes_) - 1
    for j in range(k):
        term = word_hashes_[np.minimum(starts + j, last)] * _POSITION_MULTIPLIERS[j] if last >= 0 else combined
        combined += np.where(lengths > j, term, np.uint64(0))
    if width == 32:
        return ((combined ^ (combined >> np.uint64(32))) & np.uint64(0xFFFFFFFF)).astype(np.uint32)
    return combined


def _shingles(n_words: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(start word index, words in the shingle, shingles per document): every k-window of each document; a
    document shorter than k is one shingle of all its words."""
    offsets = np.concatenate(([0], np.cumsum(n_words)[:-1])).astype(np.int64)
    per_doc = np.where(n_words >= k, n_words - k + 1, np.where(n_words > 0, 1, 0)).astype(np.int64)
    total = int(per_doc.sum())
    doc_of_shingle = np.repeat(np.arange(len(n_words)), per_doc)
    first_of_doc = np.concatenate(([0], np.cumsum(per_doc)[:-1]))
    starts = offsets[doc_of_shingle] + (np.arange(total) - first_of_doc[doc_of_shingle])
    lengths = np.minimum(n_words[doc_of_shingle], k)
    return starts, lengths, per_doc


def shingle_hashes(words: list[str], k: int, width: int = 32) -> np.ndarray:
    """Hashes of the word k-shingles of one document (a document shorter than k is one shingle)."""
    hashes, n_words = word_hashes(np.frombuffer((" ".join(words) + "\n").encode("utf-8"), dtype=np.uint8), 1)
    starts, lengths, _ = _shingles(n_words, k)
    return _combine(hashes, starts, lengths, k, width)


class SignatureComputer:
    """Signatures and exact keys of batches of texts; holds no per-call state, so threads may share one."""

    def __init__(self, shingle_words: int, width: int, permutations: np.ndarray):
        self.k = shingle_words
        self.width = width
        self.dtype = np.uint32 if width == 32 else np.uint64
        a, b = permutations
        self.a = np.asarray(a).astype(self.dtype)[:, None]
        self.b = np.asarray(b).astype(self.dtype)[:, None]
        self.empty = np.iinfo(self.dtype).max

    def __call__(self, texts: list[str]) -> tuple[list[str], np.ndarray]:
        data = normalized_batch(texts)
        ends = np.flatnonzero(data == 10)
        raw = memoryview(data)
        keys = [hashlib.blake2b(raw[start:end], digest_size=16).hexdigest()
                for start, end in zip([0, *(ends[:-1] + 1).tolist()], ends.tolist())]
        hashes, n_words = word_hashes(data, len(texts))
        starts, lengths, n_shingles = _shingles(n_words, self.k)
        shingle = _fmix(_combine(hashes, starts, lengths, self.k, self.width), self.width)
        signatures = np.full((len(texts), len(self.a)), self.empty, dtype=self.dtype)
        doc_of_shingle_start = np.concatenate(([0], np.cumsum(n_shingles)))[:-1]
        # Fixed-size chunks of shingles, written into one reused buffer: a (num_perm x chunk) matrix that stays in
        # cache is ~3x faster than one allocated per batch. A chunk may cut a document; its partial minima are
        # folded into the document's row with np.minimum, so long documents need no bigger buffer.
        has_shingles = np.flatnonzero(n_shingles)
        first_shingle = doc_of_shingle_start[has_shingles]
        buffer = np.empty((len(self.a), _SHINGLES_PER_CHUNK), dtype=self.dtype)
        for lo in range(0, len(shingle), _SHINGLES_PER_CHUNK):
            chunk = shingle[lo:lo + _SHINGLES_PER_CHUNK]
            permuted = buffer[:, :len(chunk)]
            np.multiply(self.a, chunk[None, :], out=permuted)
            np.add(permuted, self.b, out=permuted)
            # segments: the documents that start inside the chunk, plus the one running into it from before
            first = int(np.searchsorted(first_shingle, lo, side="right")) - 1
            last = int(np.searchsorted(first_shingle, lo + len(chunk), side="left"))
            docs = has_shingles[max(first, 0):last]
            starts = np.maximum(first_shingle[max(first, 0):last] - lo, 0)
            minima = np.minimum.reduceat(permuted, starts, axis=1).T
            signatures[docs] = np.minimum(signatures[docs], minima)
        return keys, signatures


def _batches(texts: Iterable[str], size: int) -> Iterator[list[str]]:
    batch: list[str] = []
    for text in texts:
        batch.append(text)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def signature_batches(texts: Iterable[str], n_docs: int, shingle_words: int, width: int, permutations: np.ndarray,
                      workers: int) -> Iterator[tuple[list[str], np.ndarray]]:
    """(exact keys, signatures[batch, num_perm]) per batch of texts, in order, computed on `workers` threads
    while the caller consumes earlier batches; at most `workers * 2` batches are read ahead."""
    compute = SignatureComputer(shingle_words, width, permutations)
    if workers <= 1 or n_docs <= _BATCH_DOCS:
        yield from map(compute, _batches(texts, _BATCH_DOCS))
        return
    with ThreadPoolExecutor(workers, thread_name_prefix="minhash") as pool:
        pending: deque = deque()
        for batch in _batches(texts, _BATCH_DOCS):
            pending.append(pool.submit(compute, batch))
            if len(pending) >= workers * _BATCHES_IN_FLIGHT_PER_WORKER:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
