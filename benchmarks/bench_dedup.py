"""Near-duplicate detection: speed (docs/s) and pair precision/recall/F1 on the planted corpus, measured side by side.

    .venv/bin/python benchmarks/bench_dedup.py [--n-docs 10000] [--sweep-docs 2000] [--no-sweep]

Pipelines, each from raw texts to duplicate clusters, same shingles (normalized word 3-grams unless swept):
  msm       corpus.dedup.find_duplicates (vectorized numpy signatures on 2 threads, MinHashLSH banding with
            datasketch's (bands, rows) done as numpy band keys, estimated-Jaccard verification, union-find)
  datasketch  the straightforward use: MinHash.bulk over the shingle bytes + MinHashLSH; every LSH candidate
            pair is a duplicate (union-find)
  rensa     rensa (Rust) RMinHash.from_token_sets + RMinHashLSH, candidates verified with RMinHash.jaccard
Then a sweep of msm's settings (shingle size x threshold x num_perm) on a smaller planted corpus: the table the
defaults in corpus/curate/default_config.yaml were chosen from.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from planted import cluster_pairs, pair_scores, planted_corpus, true_pairs  # noqa: E402

from msm.corpus.curate.config import DedupSettings  # noqa: E402
from msm.corpus.curate.dedup import UnionFind, find_duplicates  # noqa: E402
from msm.corpus.curate.minhash import normalize  # noqa: E402


def shingles(text: str, k: int) -> list[str]:
    words = normalize(text).split()
    if len(words) < k:
        return [" ".join(words)] if words else []
    return [" ".join(words[i:i + k]) for i in range(len(words) - k + 1)]


def clusters_from_pairs(n: int, pairs) -> list[int]:
    union = UnionFind(n)
    for a, b in pairs:
        union.union(a, b)
    roots = [union.find(i) for i in range(n)]
    sizes: dict[int, int] = {}
    for r in roots:
        sizes[r] = sizes.get(r, 0) + 1
    return [r if sizes[r] > 1 else -1 for r in roots]


def run_msm(texts: list[str], settings: DedupSettings) -> list[int]:
    return find_duplicates(iter(texts), len(texts), settings, list(range(len(texts)))).cluster_of


def run_datasketch(texts: list[str], k: int, num_perm: int, threshold: float) -> list[int]:
    from datasketch import MinHash, MinHashLSH

    sets = [[s.encode("utf-8") for s in shingles(t, k)] for t in texts]
    minhashes = MinHash.bulk(sets, num_perm=num_perm)
    lsh = MinHashLSH(threshold=threshold, num_perm=num_perm)
    pairs = []
    for i, m in enumerate(minhashes):
        pairs.extend((j, i) for j in lsh.query(m))
        lsh.insert(i, m)
    return clusters_from_pairs(len(texts), pairs)


def run_rensa(texts: list[str], k: int, num_perm: int, threshold: float) -> list[int]:
    import rensa

    minhashes = rensa.RMinHash.from_token_sets([shingles(t, k) for t in texts], num_perm=num_perm, seed=1)
    lsh = rensa.RMinHashLSH(threshold=threshold, num_perm=num_perm, num_bands=num_perm // 4)
    pairs = []
    for i, m in enumerate(minhashes):
        pairs.extend((j, i) for j in lsh.query(m) if minhashes[j].jaccard(m) >= threshold)
        lsh.insert(i, m)
    return clusters_from_pairs(len(texts), pairs)


def score(docs, cluster_of) -> dict:
    predicted = cluster_pairs({d.id: (c if c >= 0 else None) for d, c in zip(docs, cluster_of)})
    return pair_scores(true_pairs(docs), predicted)


def timed(fn, *args):
    start = time.perf_counter()
    result = fn(*args)
    return result, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description="dedup speed and accuracy, msm vs datasketch vs rensa")
    parser.add_argument("--n-docs", type=int, default=10000)
    parser.add_argument("--sweep-docs", type=int, default=2000)
    parser.add_argument("--no-sweep", action="store_true")
    args = parser.parse_args()
    docs = planted_corpus(args.n_docs, seed=11)
    texts = [d.text for d in docs]
    defaults = DedupSettings()
    k, perms, threshold = defaults.shingle_words, defaults.num_perm, defaults.threshold
    print(f"planted corpus: {len(docs)} documents, {len(true_pairs(docs))} true duplicate pairs; "
          f"shingle_words={k} num_perm={perms} threshold={threshold}")
    rows = []
    ours, t_ours = timed(run_msm, texts, defaults)
    rows.append(("msm (2 threads)", t_ours, score(docs, ours)))
    base, t_base = timed(run_datasketch, texts, k, perms, threshold)
    rows.append(("datasketch bulk+LSH", t_base, score(docs, base)))
    try:
        import rensa  # noqa: F401

        ren, t_ren = timed(run_rensa, texts, k, perms, threshold)
        rows.append(("rensa RMinHash+LSH", t_ren, score(docs, ren)))
    except ImportError:
        print("rensa is not installed: `pip install rensa` to include it")
    print("\n| pipeline | docs/s | msm speed-up | precision | recall | F1 |\n|---|---|---|---|---|---|")
    for name, seconds, s in rows:
        print(f"| {name} | {len(docs) / seconds:,.0f} | {seconds / t_ours:.2f}x | {s['precision']:.3f} | "
              f"{s['recall']:.3f} | {s['f1']:.3f} |")
    if args.no_sweep:
        return
    sweep_docs = planted_corpus(args.sweep_docs, seed=12)
    sweep_texts = [d.text for d in sweep_docs]
    print(f"\naccuracy sweep on {len(sweep_docs)} planted documents "
          f"({len(true_pairs(sweep_docs))} true pairs; 1-8% word edits; hard negatives share one paragraph)")
    print("| shingle words | threshold | num_perm | precision | recall | F1 |\n|---|---|---|---|---|---|")
    for shingle_words in (1, 2, 3, 5):
        for num_perm in (64, 128, 256):
            for sweep_threshold in (0.3, 0.4, 0.5, 0.6, 0.7, 0.8):
                if num_perm != 128 and sweep_threshold not in (0.5,):
                    continue
                settings = DedupSettings(shingle_words=shingle_words, num_perm=num_perm, threshold=sweep_threshold,
                                         workers=1)
                s = score(sweep_docs, run_msm(sweep_texts, settings))
                print(f"| {shingle_words} | {sweep_threshold} | {num_perm} | {s['precision']:.3f} | "
                      f"{s['recall']:.3f} | {s['f1']:.3f} |")


if __name__ == "__main__":
    main()
