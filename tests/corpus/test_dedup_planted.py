"""Near-duplicate detection on a planted corpus: duplicates found, hard negatives not merged, signatures equal
datasketch's, representatives deterministic."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest
from datasketch import MinHash, MinHashLSH

from msm.corpus.curate.config import DedupSettings

from msm.corpus.curate.dedup import MAX_BUCKET_NEIGHBOURS, find_duplicates, lsh_candidate_pairs, lsh_parameters
from msm.corpus.curate.minhash import SignatureComputer, exact_key, normalize, normalized_batch, shingle_hashes

_spec = importlib.util.spec_from_file_location("planted", Path(__file__).parents[2] / "benchmarks" / "planted.py")
planted = importlib.util.module_from_spec(_spec)
sys.modules["planted"] = planted   # dataclasses look their module up in sys.modules
_spec.loader.exec_module(planted)


@pytest.fixture(scope="module")
def corpus():
    return planted.planted_corpus(800, seed=7)


def test_planted_duplicates_found_and_hard_negatives_not_merged(corpus) -> None:
    settings = DedupSettings(workers=1)
    result = find_duplicates((d.text for d in corpus), len(corpus), settings, list(range(len(corpus))))
    clusters = {d.id: (c if c >= 0 else None) for d, c in zip(corpus, result.cluster_of)}
    scores = planted.pair_scores(planted.true_pairs(corpus), planted.cluster_pairs(clusters))
    assert scores["precision"] >= 0.95 and scores["recall"] >= 0.95, scores
    by_id = {d.id: i for i, d in enumerate(corpus)}
    hard = [d for d in corpus if d.kind == "hard_negative"]
    assert hard
    for d in hard:   # a hard negative shares a paragraph with a base document but must stay in no cluster with it
        assert result.cluster_of[by_id[d.id]] == -1, d.id
    assert result.stats["rejected_candidate_pairs"] >= 0 and result.stats["verified_pairs"] > 0


def test_two_workers_give_the_same_clusters(corpus, monkeypatch: pytest.MonkeyPatch) -> None:
    import msm.corpus.curate.minhash as signatures

    monkeypatch.setattr(signatures, "_BATCH_DOCS", 32)   # many small batches, several in flight on the threads
    docs = corpus[:400]
    one = find_duplicates((d.text for d in docs), len(docs), DedupSettings(workers=1), list(range(len(docs))))
    two = find_duplicates((d.text for d in docs), len(docs), DedupSettings(workers=2), list(range(len(docs))))
    assert one.cluster_of == two.cluster_of and one.exact_keys == two.exact_keys


def test_signature_equals_datasketch_minhash_with_the_same_shingle_hashes() -> None:
    text = "The quick brown fox, jumps over the lazy dog; and the dog sleeps."
    settings = DedupSettings(shingle_words=3, num_perm=64)
    permutations = MinHash(num_perm=64, seed=settings.seed, scheme="affine32").permutations
    _, signatures = SignatureComputer(3, 32, permutations)([text, "", "one two"])
    words = normalize(text).split()
    reference = MinHash(num_perm=64, seed=settings.seed, scheme="affine32", hashfunc=lambda h: int(h))
    reference.update_batch([int(h) for h in shingle_hashes(words, 3)])
    assert np.array_equal(signatures[0], reference.hashvalues)
    assert (signatures[1] == np.iinfo(np.uint32).max).all()        # empty text: empty signature
    short = MinHash(num_perm=64, seed=settings.seed, scheme="affine32", hashfunc=lambda h: int(h))
    short.update_batch([int(h) for h in shingle_hashes(["one", "two"], 3)])
    assert np.array_equal(signatures[2], short.hashvalues)          # shorter than k: one shingle


def test_exact_duplicates_by_normalized_text_and_deterministic_representative() -> None:
    assert exact_key("Hello,   WORLD!") == exact_key("hello world") != exact_key("hello there world")
    assert normalize("Ｆｕｌｌ－width") == normalize("full width")
    texts = ["A B C D E F G H", "a b c d e f g h!", "completely different words here entirely now"]
    rank_prefers_second = [2, 1, 3]
    result = find_duplicates(iter(texts), 3, DedupSettings(workers=1), rank_prefers_second)
    assert result.cluster_of == [1, 1, -1]
    assert result.duplicate_kind == ["exact_duplicate", None, None]


def _signatures(texts: list[str], settings: DedupSettings) -> np.ndarray:
    permutations = MinHash(num_perm=settings.num_perm, seed=settings.seed, scheme=settings.hash_scheme).permutations
    return SignatureComputer(settings.shingle_words, 32, permutations)(texts)[1]


def test_numpy_band_keys_give_the_same_candidate_pairs_as_datasketch_minhashlsh(corpus) -> None:
    settings = DedupSettings(workers=1)
    docs = corpus[:500]
    signatures = _signatures([d.text for d in docs], settings)
    lsh = MinHashLSH(threshold=settings.threshold, num_perm=settings.num_perm, weights=settings.lsh_weights)
    permutations = MinHash(num_perm=settings.num_perm, seed=settings.seed, scheme=settings.hash_scheme).permutations
    for i, row in enumerate(signatures):
        lsh.insert(i, MinHash(num_perm=settings.num_perm, seed=settings.seed, hashvalues=row, permutations=permutations,
                              scheme=settings.hash_scheme))
    expected = set()
    for table in lsh.hashtables:
        for bucket in table.keys():
            members = sorted(table.get(bucket))
            expected.update((a, b) for n, a in enumerate(members) for b in members[n + 1:])
    bands, rows = lsh_parameters(settings.threshold, settings.num_perm, settings.lsh_weights)
    assert (bands, rows) == (lsh.b, lsh.r)
    pairs, capped = lsh_candidate_pairs(signatures, np.arange(len(docs)), bands, rows)
    assert capped == 0 and len(expected) > 50
    assert set(map(tuple, pairs.tolist())) == expected
    # documents left out of the index (exact duplicates, empty texts) never appear in a pair
    subset = np.arange(0, len(docs), 2)
    pairs, _ = lsh_candidate_pairs(signatures, subset, bands, rows)
    assert set(map(tuple, pairs.tolist())) == {(a, b) for a, b in expected if a % 2 == 0 and b % 2 == 0}


def test_an_oversized_bucket_is_capped_but_still_clustered_whole() -> None:
    base = " ".join(f"word{i}" for i in range(300))
    texts = [f"{base} variant{i}" for i in range(MAX_BUCKET_NEIGHBOURS * 3)]
    result = find_duplicates(iter(texts), len(texts), DedupSettings(workers=1), list(range(len(texts))))
    assert result.stats["capped_buckets"] > 0
    n = len(texts)
    assert result.stats["candidate_pairs"] < n * (n - 1) // 2      # not every pair of the bucket
    assert result.cluster_of == [0] * n                              # verified links chain the whole bucket


def test_batch_normalization_equals_normalize_on_hostile_text() -> None:
    texts = ["", "  Hello,   WORLD!\t\n", "a\x00b\x1cc\x1fd  ", "...", "Ｆｕｌｌ－width café  ñ", "", " ,",
             "snake_case_word and\r\nCRLF", "tab\tsep\x0bvt", " leading", "trailing ", "x"]
    for batch in (texts, texts[::-1], [" "], ["!!", "b"]):
        assert normalized_batch(batch).tobytes() == ("\n".join(normalize(t) for t in batch) + "\n").encode("utf-8")


def test_signature_does_not_depend_on_batch_position_or_chunking(monkeypatch: pytest.MonkeyPatch) -> None:
    import msm.corpus.curate.minhash as module

    settings = DedupSettings()
    long_text = " ".join(f"token{i % 997} t{i}" for i in range(5000))
    texts = ["The quick brown fox jumps over the lazy dog.", long_text, "", "short"]
    alone = np.stack([_signatures([t], settings)[0] for t in texts])
    together = _signatures(texts, settings)
    monkeypatch.setattr(module, "_SHINGLES_PER_CHUNK", 7)   # chunks cut documents, partial minima are folded
    chunked = _signatures(texts, settings)
    assert np.array_equal(alone, together) and np.array_equal(together, chunked)
