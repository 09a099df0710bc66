"""Curation on Ray vs the local engine: the same planted corpus through `curate_run(engine=...)`, side by side,
plus the measured per-document costs the 10M-document estimate in docs/scaling.md is computed from.

    .venv/bin/python benchmarks/bench_ray_curation.py [--n-docs 10000] [--ray-cpus 2]

Both engines produce identical marks (asserted here too). Ray runs as a local cluster of `--ray-cpus` worker
CPUs on this machine, so the ratio shows Ray's fixed overheads at this size, not a speed-up: the point of the
engine is that its per-document work spreads over nodes. Per-document costs are core-seconds (stage seconds x
CPUs used / documents); driver stages run in one process whatever the cluster size.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from planted import planted_corpus  # noqa: E402


def _cli(workspace: Path, *args: str) -> None:
    from msm.cli import main

    try:
        main(["--workspace", str(workspace), "--quiet", *args])
    except SystemExit as exc:
        if exc.code:
            raise


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description="msm curate: local engine vs Ray engine")
    parser.add_argument("--n-docs", type=int, default=10000)
    parser.add_argument("--ray-cpus", type=int, default=2)
    args = parser.parse_args()

    import pyarrow.parquet as pq
    import ray

    from msm.corpus.curate.engine import curate_run
    from msm.corpus.curate.store import current_curation_dir
    from msm.workspace import Workspace

    with tempfile.TemporaryDirectory() as tmp:
        workspace = Path(tmp) / "ws"
        docs = planted_corpus(args.n_docs, seed=21)
        source = Path(tmp) / "planted.jsonl"
        source.write_text("".join(json.dumps({"id": d.id, "text": d.text}) + "\n" for d in docs))
        _cli(workspace, "init")
        _cli(workspace, "corpus", "import", str(source), "--run", "bench")
        ws = Workspace(workspace)
        n = len(docs)

        t = time.perf_counter()
        ray.init(num_cpus=args.ray_cpus, include_dashboard=False, log_to_driver=False, logging_level=logging.WARNING)
        ray_init = time.perf_counter() - t
        results = {}
        # The first Ray run starts and warms its worker processes (imports); it goes before the local run, which
        # holds every text in its DuckDB, so that the driver's peak RSS growth is the Ray engine's own.
        # "hash" is Ray's actor-based shuffle.
        for name, engine, shuffle in (("ray", "ray", "sort"), ("local", "local", "sort"), ("ray (warm)", "ray", "sort"),
                                      ("ray (warm, --ray-shuffle hash)", "ray", "hash")):
            rss_before = _peak_rss_mb()
            t = time.perf_counter()
            summary = curate_run(ws, "bench", engine=engine, ray_shuffle=shuffle)
            wall = time.perf_counter() - t
            marks = pq.read_table(current_curation_dir(ws, "bench") / "marks.parquet")
            results[name] = (wall, summary, marks, _peak_rss_mb() - rss_before)
        ray.shutdown()

    local_wall, local, local_marks, _ = results["local"]
    ray_wall, on_ray, ray_marks, _ = results["ray (warm)"]
    assert ray_marks.equals(local_marks) and on_ray.rule_counts == local.rule_counts, "engines disagree"
    assert results["ray (warm, --ray-shuffle hash)"][2].equals(local_marks), "hash shuffle disagrees"
    print(f"planted corpus: {n} documents; {local.n_kept} kept; dedup {local.step_stats['dedup']['clusters']} clusters; "
          f"marks identical on both engines: yes")
    print(f"ray.init(num_cpus={args.ray_cpus}): {ray_init:.1f}s (once per process); "
          f"1-minute load average at start: {os.getloadavg()[0]:.1f}\n")
    print("| engine | wall s | docs/s | ratio to local |\n|---|---|---|---|")
    for name in results:
        wall = results[name][0]
        print(f"| {name} | {wall:.1f} | {n / wall:,.0f} | {wall / local_wall:.2f}x |")

    print(f"\nstage seconds (local engine: 2 threads; Ray: {args.ray_cpus} CPUs)")
    print("| stage | local s | ray s | ray / local |\n|---|---|---|---|")
    for stage in ("load", "signals_and_rules", "dedup", "diversity", "total"):
        a, b = local.seconds.get(stage, 0.0), on_ray.seconds.get(stage, 0.0)
        print(f"| {stage} | {a:.2f} | {b:.2f} | {b / a if a else float('nan'):.2f}x |")
    ray_stages = on_ray.step_stats["dedup"]["ray_seconds"]
    print("\nRay dedup stages (s): " + ", ".join(f"{k} {v:.2f}" for k, v in ray_stages.items())
          + f"; {on_ray.step_stats['dedup']['ray_component_rounds']} component rounds")

    # Per-document costs for the estimate: distributed stages in core-seconds, driver stages in seconds.
    cpus = args.ray_cpus
    per_doc = {
        "signals + signatures pass (ray, core-s/doc)": ray_stages["signals_and_signatures_pass"] * cpus / n,
        "exact keys + buckets + verify + components (ray, core-s/doc)":
            (ray_stages["exact_keys_and_buckets"] + ray_stages["verification"] + ray_stages["components"]) * cpus / n,
        "signals_and_rules (local, core-s/doc)": local.seconds["signals_and_rules"] * 2 / n,
        "dedup (local, core-s/doc)": local.seconds["dedup"] * 2 / n,
        # the driver's share: JSONL -> shards, taking in the signal rows, assembling marks, the diversity report
        "driver: shards + signal rows in + marks + diversity (s/doc)":
            (on_ray.seconds["load"] + on_ray.seconds["diversity"]
             + on_ray.seconds["signals_and_rules"] - ray_stages["signals_and_signatures_pass"]
             + on_ray.seconds["total"] - sum(v for k, v in on_ray.seconds.items() if k != "total")) / n,
    }
    print("\nmeasured per-document costs")
    for name, value in per_doc.items():
        print(f"  {name}: {value * 1e3:.3f} ms")
    print(f"  driver peak RSS growth during the first Ray run: {results['ray'][3]:.0f} MB for {n} documents "
          f"(mostly fixed: Ray's client and Ray Data in the driver)")
    row_bytes, signal_bytes = _document_row_bytes(docs[:500])
    # What the driver holds per document: the signal + rule-mark rows in its DuckDB, the marks it assembles
    # (~the marks.parquet row, uncompressed ~150 B), and numpy/Python arrays: exact key strings (~90 B), rank,
    # roots, first-of-key, cluster_of and kind (~100 B).
    rss_per_doc = signal_bytes + 150 + 190
    bands, rows = on_ray.step_stats["dedup"]["lsh_bands"], on_ray.step_stats["dedup"]["lsh_rows"]
    band_bytes = bands * (4 * 8 + 4 * rows)       # part, band, key, doc_idx + the band's values
    print(f"  object store per document: {row_bytes:.0f} B of signal + signature rows (kept for dedup), "
          f"{band_bytes} B of band rows ({bands} bands, during the bucket shuffle)")
    _estimate(per_doc, on_ray.seconds["load"] / n, row_bytes, band_bytes, rss_per_doc)


def _document_row_bytes(docs) -> float:
    """(bytes per document of the rows the Ray engine keeps in the object store, of which signal + rule-mark
    columns, which the driver also holds), measured on a sample."""
    import numpy as np
    import pyarrow as pa
    from datasketch import MinHash

    from msm.corpus.curate.steps import DOC_COLUMNS, SignalInputs
    from msm.corpus.curate.config import compile_rules, load_config
    from msm.corpus.curate.signals import SIGNAL_COLUMNS
    from msm.corpus.curate.ray_engine import _document_rows

    config, source = load_config(None)
    table = pa.table({"doc_idx": np.arange(len(docs)), "doc_id": [d.id for d in docs], "text": [d.text for d in docs],
                      **{c: pa.nulls(len(docs), pa.string()) for c in DOC_COLUMNS if c not in ("doc_idx", "doc_id", "text", "created_at")},
                      "created_at": pa.nulls(len(docs), pa.timestamp("us"))})
    permutations = np.asarray(MinHash(num_perm=config.dedup.num_perm, seed=config.dedup.seed).permutations)
    out = _document_rows(table, SignalInputs(None, None, tuple(compile_rules(config, SIGNAL_COLUMNS, source))),
                         {"shingle_words": config.dedup.shingle_words, "width": 32, "permutations": permutations})
    signals = out.drop_columns(["exact_key", "has_words", "signature"])
    return out.nbytes / len(docs), signals.nbytes / len(docs)


def _estimate(per_doc: dict, load_per_doc: float, row_bytes: float, band_bytes: float, rss_per_doc: float,
              target: int = 10_000_000, cores_per_node: int = 16, driver_cores: int = 16) -> None:
    """Wall time and memory for `target` documents from the measured per-document costs: distributed stages
    divide over all cores; the driver reads the run's JSONL into shards on one core and assembles marks and the
    diversity report in DuckDB on `driver_cores` (measured here on 2)."""
    distributed = (per_doc["signals + signatures pass (ray, core-s/doc)"]
                   + per_doc["exact keys + buckets + verify + components (ray, core-s/doc)"]) * target
    driver_parallel = ((per_doc["driver: shards + signal rows in + marks + diversity (s/doc)"] - load_per_doc)
                       * target * 2 / driver_cores)
    driver_serial = load_per_doc * target
    print(f"\nestimate for {target:,} documents ({cores_per_node}-core nodes, {driver_cores}-core driver; linear in "
          f"documents, Ray's fixed per-stage overheads of seconds left out)")
    print("| nodes | distributed stages | driver: JSONL -> shards (1 core) | driver: DuckDB (rows in, marks, diversity) | total |")
    print("|---|---|---|---|---|")
    for nodes in (1, 4, 16, 64):
        spread = distributed / (nodes * cores_per_node)
        total = spread + driver_serial + driver_parallel
        print(f"| {nodes} | {spread / 60:.1f} min | {driver_serial / 60:.1f} min | {driver_parallel / 60:.1f} min | "
              f"{total / 60:.1f} min |")
    print(f"memory: object store {row_bytes * target / 2**30:.1f} GiB of document rows + {band_bytes * target / 2**30:.1f} GiB "
          f"of band rows while buckets shuffle (spread over the nodes, spilled to disk past the store size); "
          f"driver ~{rss_per_doc * target / 2**30:.1f} GiB ({rss_per_doc:.0f} B per document: signal rows "
          f"measured, marks and arrays estimated) plus ~0.3 GiB fixed")


if __name__ == "__main__":
    main()
