"""Corpus-level diversity of a set of documents: how far a corpus is from mode collapse.

    distinct_1/2/3        distinct word n-grams / all word n-grams (lower-cased alphabetic words)
    compression_ratio     raw UTF-8 bytes / gzip bytes of all texts: higher means more repeated text
    mean_pairwise_jaccard mean MinHash Jaccard over document pairs (all pairs up to MAX_PAIRS, else a seeded
                          sample), overall and within a clause; the curation dedup's signatures
    coverage              documents per (clause, doc type) cell, and the spec's clauses with none
    top_capitalized_words the most repeated names (the prior tools' "one name 439k times")
    top_phrases           word 4-grams in the most documents

distinct-1/2, the per-clause/type counts, length quantiles and repeated names come from `diversity_report`, which
`msm curate` also runs over the documents it keeps (one definition); `corpus_diversity` adds the rest.
"""

from __future__ import annotations

import gzip
import re
from collections import Counter
from typing import Any, Iterable

import duckdb
import numpy as np
import pyarrow as pa

from msm.corpus.curate.novelty import NoveltyIndex

MAX_PAIRS = 20_000
TOP = 10
PHRASE_WORDS = 4
_WORD = re.compile(r"[a-z]+")


def diversity_report(con: duckdb.DuckDBPyConnection) -> dict[str, Any]:
    """Over the kept documents: coverage per clause and type, lexical diversity, length spread, and the most
    repeated capitalised words (the 'one name repeated 439k times' mode collapse)."""
    kept = "(SELECT d.* FROM docs d JOIN marks m USING (doc_id) WHERE m.kept)"
    n_kept = con.execute(f"SELECT count(*) FROM {kept}").fetchall()[0][0]
    per_clause = con.execute(f"SELECT coalesce(clause_id, '(none)'), count(*) FROM {kept} GROUP BY 1 ORDER BY 2 DESC, 1").fetchall()
    per_type = con.execute(f"SELECT coalesce(doc_type, '(none)'), count(*) FROM {kept} GROUP BY 1 ORDER BY 2 DESC, 1").fetchall()
    lexical = con.execute(f"""
        WITH w AS (SELECT doc_idx, unnest(list_transform(regexp_extract_all(lower(text), '[[:alpha:]]+'),
                                                        lambda x: x)) AS word FROM {kept}),
             b AS (SELECT doc_idx, word, lead(word) OVER (PARTITION BY doc_idx ORDER BY rowid) AS nxt FROM
                   (SELECT row_number() OVER () AS rowid, * FROM w))
        SELECT count(*), count(DISTINCT word), count(nxt), count(DISTINCT (word, nxt)) FILTER (WHERE nxt IS NOT NULL) FROM b
    """).fetchall()[0]
    lengths = con.execute(f"""SELECT quantile_cont(wc, [0.1, 0.5, 0.9]) FROM
                              (SELECT len(regexp_extract_all(text, '\\S+')) AS wc FROM {kept})""").fetchall()[0][0]
    names = con.execute(f"""
        SELECT name, count(DISTINCT doc_idx) AS docs FROM (
            SELECT doc_idx, unnest(regexp_extract_all(text, '[^.!?\\n"“]\\s+([A-Z][a-z]{{2,}}[A-Za-z]*)', 1)) AS name FROM {kept})
        GROUP BY name ORDER BY docs DESC, name LIMIT 10""").fetchall()
    n_words, n_distinct, n_bigrams, n_distinct_bigrams = lexical
    return {
        "kept_documents": n_kept,
        "per_clause": dict(per_clause), "per_doc_type": dict(per_type),
        "distinct_1": round(n_distinct / n_words, 4) if n_words else None,
        "distinct_2": round(n_distinct_bigrams / n_bigrams, 4) if n_bigrams else None,
        "words_p10_p50_p90": [round(x, 1) for x in lengths] if lengths else None,
        "top_capitalized_words": [{"word": n, "documents": d, "share": round(d / n_kept, 3)} for n, d in names],
    }


def corpus_diversity(docs: Iterable[Any], *, clause_ids: list[str] | None = None, seed: int = 0) -> dict[str, Any]:
    """`docs`: records with doc_id, text, clause_id and doc_type (DocumentRecord). `clause_ids`: the spec's
    clauses, so that clauses without any document show up in the coverage."""
    rows = [{"doc_idx": i, "doc_id": d.doc_id, "text": d.text, "clause_id": d.clause_id, "doc_type": d.doc_type}
            for i, d in enumerate(docs)]
    if not rows:
        return {"documents": 0}
    con = duckdb.connect()
    try:
        con.register("doc_rows", pa.Table.from_pylist(rows))
        con.execute("CREATE TABLE docs AS SELECT * FROM doc_rows")
        con.execute("CREATE TABLE marks AS SELECT doc_id, true AS kept FROM docs")
        shared = diversity_report(con)
    finally:
        con.close()
    texts = [r["text"] for r in rows]
    raw = "\n".join(texts).encode("utf-8")
    coverage: dict[str, dict[str, int]] = {}
    for r in rows:
        cell = coverage.setdefault(r["clause_id"] or "(none)", {})
        cell[r["doc_type"] or "(none)"] = cell.get(r["doc_type"] or "(none)", 0) + 1
    return {
        "documents": len(rows),
        "distinct_1": shared["distinct_1"], "distinct_2": shared["distinct_2"], "distinct_3": distinct_n(texts, 3),
        "compression_ratio": round(len(raw) / len(gzip.compress(raw, compresslevel=9)), 3),
        **pairwise_jaccard(rows, seed=seed),
        "words_p10_p50_p90": shared["words_p10_p50_p90"],
        "coverage": coverage,
        "coverage_cells": sum(len(types) for types in coverage.values()),
        "clauses_without_documents": [c for c in (clause_ids or []) if c not in coverage],
        "top_capitalized_words": shared["top_capitalized_words"],
        "top_phrases": top_phrases(texts),
    }


def distinct_n(texts: list[str], n: int) -> float | None:
    """Distinct / total word n-grams, words tokenized as curation's distinct-1/2 (lower-cased [a-z]+ runs)."""
    grams: set[tuple[str, ...]] = set()
    total = 0
    for text in texts:
        w = _WORD.findall(text.lower())
        for i in range(len(w) - n + 1):
            grams.add(tuple(w[i:i + n]))
            total += 1
    return round(len(grams) / total, 4) if total else None


def pairwise_jaccard(rows: list[dict], *, seed: int = 0) -> dict[str, float | None]:
    index = NoveltyIndex()
    _, signatures = index.compute([r["text"] for r in rows])
    n = len(rows)
    rng = np.random.default_rng(seed)
    if n * (n - 1) // 2 <= MAX_PAIRS:
        a, b = np.triu_indices(n, k=1)
    else:
        a, b = rng.integers(0, n, MAX_PAIRS), rng.integers(0, n, MAX_PAIRS)
        a, b = a[a != b], b[a != b]
    if len(a) == 0:
        return {"mean_pairwise_jaccard": None, "mean_pairwise_jaccard_within_clause": None, "pairs": 0}
    similarity = (signatures[a] == signatures[b]).mean(axis=1)
    clause = np.array([r["clause_id"] or "" for r in rows], dtype=object)
    same = clause[a] == clause[b]
    return {"mean_pairwise_jaccard": round(float(similarity.mean()), 4),
            "mean_pairwise_jaccard_within_clause": round(float(similarity[same].mean()), 4) if same.any() else None,
            "pairs": int(len(a))}


def top_phrases(texts: list[str], k: int = TOP) -> list[dict[str, Any]]:
    """Word 4-grams by the number of documents they occur in (only those in at least two)."""
    counts: Counter[str] = Counter()
    for text in texts:
        w = _WORD.findall(text.lower())
        counts.update({" ".join(w[i:i + PHRASE_WORDS]) for i in range(len(w) - PHRASE_WORDS + 1)})
    return [{"phrase": p, "documents": c, "share": round(c / len(texts), 3)}
            for p, c in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:k] if c >= 2]
