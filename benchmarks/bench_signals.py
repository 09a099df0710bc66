"""Quality signals: docs/s of msm's DuckDB SQL signals vs datatrove's Gopher quality + Gopher repetition +
FineWeb + C4 quality filters on the same documents, measured side by side in one run.

    .venv/bin/python benchmarks/bench_signals.py [--n-docs 3000]

msm computes every signal column (Gopher quality and repetition, FineWeb and C4 signals — the same quantities
datatrove's filters compute, tests/corpus/test_datatrove_peer.py — and the synthetic-document hygiene signals) and
evaluates the shipped default rules, in batches on all cores as `msm curate` does. datatrove runs
GopherQualityFilter, GopherRepetitionFilter, FineWebQualityFilter and C4QualityFilter as a pipeline (a document
a filter drops goes no further), on one core. Also printed: CPU seconds per document of each.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import duckdb  # noqa: E402
import pyarrow as pa  # noqa: E402

from planted import planted_corpus  # noqa: E402

from msm.corpus.curate.config import compile_rules, load_config  # noqa: E402
from msm.corpus.curate.signals import SIGNAL_COLUMNS  # noqa: E402
from msm.corpus.curate.steps import SignalInputs, local_signal_batches  # noqa: E402


def run_msm(texts: list[str]) -> tuple[float, float]:
    con = duckdb.connect()
    table = pa.table({"doc_idx": list(range(len(texts))), "doc_id": [str(i) for i in range(len(texts))], "text": texts,
                      "spec_id": pa.nulls(len(texts), pa.string()), "clause_id": pa.nulls(len(texts), pa.string()),
                      "finish_reason": pa.nulls(len(texts), pa.string())})
    con.register("docs", table)
    config, source = load_config()
    inputs = SignalInputs(None, None, tuple(compile_rules(config, SIGNAL_COLUMNS, source)))
    start, cpu = time.perf_counter(), time.process_time()
    dropped = sum(sum(1 for d in batch.column("dropped_by").to_pylist() if d)
                  for batch in local_signal_batches(con, len(texts), inputs))
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    con.close()
    assert dropped >= 0
    return seconds, cpu


def run_datatrove(texts: list[str]) -> tuple[float, float]:
    from datatrove.data import Document
    from datatrove.pipeline.filters import (C4QualityFilter, FineWebQualityFilter, GopherQualityFilter,
                                            GopherRepetitionFilter)

    filters = [GopherQualityFilter(), GopherRepetitionFilter(), FineWebQualityFilter(), C4QualityFilter()]
    for f in filters:
        f.filter(Document(text="Warm up the tokenizer. It loads once. Then it is fast.", id="w"))
    start, cpu = time.perf_counter(), time.process_time()
    for i, text in enumerate(texts):
        doc = Document(text=text, id=str(i))
        all(f.filter(doc) is True for f in filters)
    return time.perf_counter() - start, time.process_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description="quality signal throughput: msm (DuckDB) vs datatrove")
    parser.add_argument("--n-docs", type=int, default=3000)
    args = parser.parse_args()
    texts = [d.text for d in planted_corpus(args.n_docs, seed=21)]
    words = sum(len(t.split()) for t in texts) / len(texts)
    print(f"{len(texts)} planted documents, {words:.0f} words on average; 1-minute load average {os.getloadavg()[0]:.1f}")
    ours, our_cpu = run_msm(texts)
    try:
        theirs, their_cpu = run_datatrove(texts)
    except ImportError as exc:
        print(f"datatrove unavailable ({exc}); msm alone: {len(texts) / ours:,.0f} docs/s")
        return
    n = len(texts)
    print("\n| pipeline | docs/s | CPU ms per doc | msm speed-up |\n|---|---|---|---|")
    print(f"| msm signals + default rules (all cores) | {n / ours:,.0f} | {1000 * our_cpu / n:.2f} | 1.00x |")
    print(f"| datatrove Gopher quality + repetition + FineWeb + C4 | {n / theirs:,.0f} | {1000 * their_cpu / n:.2f} | "
          f"{theirs / ours:.1f}x |")


if __name__ == "__main__":
    main()
