"""A plain near-duplicate script with rensa (Rust MinHash): the baseline `msm curate --steps dedup` is timed against.

    .venv/bin/python benchmarks/rensa_dedup.py DOCUMENTS.jsonl --out clusters.json

Reads a JSONL of {"doc_id", "text"} (a run's documents.jsonl), normalizes each text as msm's exact key does
(lower case, punctuation to spaces, whitespace collapsed), takes word 3-shingles, builds RMinHash signatures
(128 permutations) and an RMinHashLSH index (threshold 0.5, 32 bands), verifies each candidate pair by its
estimated Jaccard >= 0.5, and writes {doc_id: cluster id} for documents in a cluster (union-find).
"""

from __future__ import annotations

import argparse
import json
import re
import sys

import rensa

_PUNCTUATION = re.compile(r"[^\w\s]+|_+")


def shingles(text: str, k: int = 3) -> list[str]:
    words = _PUNCTUATION.sub(" ", text.lower()).split()
    if len(words) < k:
        return [" ".join(words)] if words else []
    return [" ".join(words[i:i + k]) for i in range(len(words) - k + 1)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("documents")
    parser.add_argument("--out", required=True)
    parser.add_argument("--threshold", type=float, default=0.5)
    parser.add_argument("--num-perm", type=int, default=128)
    args = parser.parse_args()
    ids, texts = [], []
    with open(args.documents, encoding="utf-8") as handle:
        for line in handle:
            row = json.loads(line)
            ids.append(row["doc_id"])
            texts.append(row["text"])
    minhashes = rensa.RMinHash.from_token_sets([shingles(t) for t in texts], num_perm=args.num_perm, seed=1)
    lsh = rensa.RMinHashLSH(threshold=args.threshold, num_perm=args.num_perm, num_bands=args.num_perm // 4)
    parent = list(range(len(texts)))

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for i, m in enumerate(minhashes):
        for j in lsh.query(m):
            if minhashes[j].jaccard(m) >= args.threshold:
                a, b = find(i), find(j)
                if a != b:
                    parent[max(a, b)] = min(a, b)
        lsh.insert(i, m)
    roots = [find(i) for i in range(len(texts))]
    sizes: dict[int, int] = {}
    for r in roots:
        sizes[r] = sizes.get(r, 0) + 1
    clusters = {ids[i]: ids[r] for i, r in enumerate(roots) if sizes[r] > 1}
    with open(args.out, "w", encoding="utf-8") as handle:
        json.dump(clusters, handle)
    print(f"{len(texts)} documents, {len(clusters)} in clusters", file=sys.stderr)


if __name__ == "__main__":
    main()
