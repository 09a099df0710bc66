"""Quality signals: docs/s of msm's DuckDB SQL signals vs datatrove's Gopher quality + Gopher repetition +
FineWeb quality filters on the same documents, measured side by side in one run.

    .venv/bin/python benchmarks/bench_signals.py [--n-docs 3000]

msm computes every signal column (Gopher quality and repetition, C4/FineWeb line signals and the synthetic-
document hygiene signals — a superset of what the datatrove filters compute) and evaluates the shipped default
rules. datatrove runs GopherQualityFilter, GopherRepetitionFilter and FineWebQualityFilter's `filter()` on each
document (needs `pip install datatrove spacy`; spacy supplies datatrove's English word tokenizer).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import duckdb  # noqa: E402
import pyarrow as pa  # noqa: E402

from planted import planted_corpus  # noqa: E402

from msm.corpus.curate.steps import apply_rules  # noqa: E402
from msm.corpus.curate.config import compile_rules, load_config  # noqa: E402
from msm.corpus.curate.signals import SIGNAL_COLUMNS, compute_signals  # noqa: E402


def run_msm(texts: list[str]) -> float:
    con = duckdb.connect()
    con.execute("SET threads = 2")
    table = pa.table({"doc_idx": list(range(len(texts))), "doc_id": [str(i) for i in range(len(texts))], "text": texts,
                      "spec_id": pa.nulls(len(texts), pa.string()), "clause_id": pa.nulls(len(texts), pa.string()),
                      "finish_reason": pa.nulls(len(texts), pa.string())})
    con.register("input_rows", table)
    config, source = load_config()
    rules = compile_rules(config, SIGNAL_COLUMNS, source)
    start = time.perf_counter()
    con.execute("CREATE TABLE docs AS SELECT * FROM input_rows")
    compute_signals(con)
    apply_rules(con, rules)
    con.execute("SELECT count(*) FROM rule_marks WHERE len(dropped_by) > 0").fetchall()
    seconds = time.perf_counter() - start
    con.close()
    return seconds


def run_datatrove(texts: list[str]) -> float:
    from datatrove.data import Document
    from datatrove.pipeline.filters import FineWebQualityFilter, GopherQualityFilter, GopherRepetitionFilter

    filters = [GopherQualityFilter(), GopherRepetitionFilter(), FineWebQualityFilter()]
    filters[0].filter(Document(text="warm up the tokenizer once", id="w"))
    start = time.perf_counter()
    for i, text in enumerate(texts):
        doc = Document(text=text, id=str(i))
        for f in filters:
            f.filter(doc)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description="quality signal throughput: msm (DuckDB) vs datatrove")
    parser.add_argument("--n-docs", type=int, default=3000)
    args = parser.parse_args()
    texts = [d.text for d in planted_corpus(args.n_docs, seed=21)]
    words = sum(len(t.split()) for t in texts) / len(texts)
    print(f"{len(texts)} planted documents, {words:.0f} words on average")
    ours = run_msm(texts)
    try:
        theirs = run_datatrove(texts)
    except ImportError as exc:
        print(f"datatrove unavailable ({exc}); msm alone: {len(texts) / ours:,.0f} docs/s")
        return
    print("\n| pipeline | docs/s | msm speed-up |\n|---|---|---|")
    print(f"| msm DuckDB signals + default rules | {len(texts) / ours:,.0f} | 1.00x |")
    print(f"| datatrove Gopher quality + repetition + FineWeb | {len(texts) / theirs:,.0f} | {theirs / ours:.1f}x |")


if __name__ == "__main__":
    main()
