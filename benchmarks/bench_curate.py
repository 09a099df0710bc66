"""`msm curate` end to end (CLI start to marks written) against the scripts a user would otherwise run.

    .venv/bin/python benchmarks/bench_curate.py [--n-docs 50000] [--datatrove-docs 3000] [--repeat 1]

One workspace with one run of N planted documents (benchmarks/planted.py: near-duplicates with 1-8% word edits,
exact copies, hard negatives that share a paragraph or 30-55% of a base document's sentences), imported once
with `msm corpus import` and reused from benchmarks/results/. Then, per repetition, each as its own process on
the run's documents.jsonl:

  rensa      benchmarks/rensa_dedup.py: RMinHash + RMinHashLSH, candidates verified, union-find
  msm dedup  `msm curate --run bench --steps dedup`
  msm full   `msm curate --run bench` (every signal, the default rules, dedup)
  datatrove  benchmarks/datatrove_filters.py: Gopher quality + repetition + FineWeb + C4 filters, default
             settings, on the first --datatrove-docs documents, half just before and half just after msm's
             full curation (its loop timed without imports; its docs/s gives the time for all N)

Printed: wall seconds, pair precision/recall/F1 of the clusters against the planted truth, and the two ratios
the goals are about: rensa wall / msm dedup wall (goal >= 1.0) and datatrove's time for N documents / msm full
wall (goal >= 20). msm uses every core (signal batches and MinHash on threads); rensa's script and datatrove
run on one. The 1-minute load average is printed with each repetition: the machine is shared.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import pyarrow.parquet as pq  # noqa: E402

from planted import cluster_pairs, pair_scores, planted_corpus, true_pairs  # noqa: E402

HERE = Path(__file__).resolve().parent
RUN = "bench"
BIN = Path(sys.executable).parent


def build(root: Path, n_docs: int) -> tuple[Path, dict[str, str]]:
    """(workspace, doc_id -> planted truth cluster), building the workspace once."""
    ws = root / f"curate-{n_docs}"
    truth_file = ws / "truth.json"
    if not truth_file.exists():
        docs = planted_corpus(n_docs, seed=5, shared_sentences=(0.3, 0.55))
        ws.mkdir(parents=True, exist_ok=True)
        source = ws / "planted.jsonl"
        with open(source, "w", encoding="utf-8") as handle:
            for d in docs:
                handle.write(json.dumps({"id": d.id, "text": d.text}) + "\n")
        msm(ws, "init")
        msm(ws, "corpus", "import", str(source), "--run", RUN)
        truth_by_source = {d.id: d.truth_cluster for d in docs}
        truth = {}
        with open(ws / "runs" / RUN / "documents.jsonl", encoding="utf-8") as handle:
            for line in handle:
                row = json.loads(line)
                truth[row["doc_id"]] = truth_by_source[row["source_id"]]
        truth_file.write_text(json.dumps(truth))
    return ws, json.loads(truth_file.read_text())


def msm(ws: Path, *args: str) -> tuple[float, str]:
    started = time.perf_counter()
    done = subprocess.run([str(BIN / "msm"), "--workspace", str(ws), "--quiet", *args], capture_output=True,
                          text=True, env={**os.environ, "MSM_WORKSPACE": str(ws)})
    if done.returncode != 0:
        raise SystemExit(f"msm {' '.join(args)} failed: {done.stderr.strip()}")
    return time.perf_counter() - started, done.stdout


def timed(*command: str) -> tuple[float, str]:
    started = time.perf_counter()
    done = subprocess.run(list(command), capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{command} failed: {done.stderr.strip()}")
    return time.perf_counter() - started, done.stdout


def scores(truth: dict[str, str], clusters: dict[str, str]) -> dict:
    truth_pairs = true_pairs([type("D", (), {"id": i, "truth_cluster": c}) for i, c in truth.items()])
    return pair_scores(truth_pairs, cluster_pairs(clusters))


def current_clusters(ws: Path) -> dict[str, str]:
    current = (ws / "runs" / RUN / "curation" / "CURRENT").read_text().strip()
    marks = pq.read_table(ws / "runs" / RUN / "curation" / current / "marks.parquet", columns=["doc_id", "cluster_id"])
    return {d: c for d, c in zip(marks.column("doc_id").to_pylist(), marks.column("cluster_id").to_pylist()) if c}


def main() -> None:
    parser = argparse.ArgumentParser(description="msm curate end to end vs rensa and datatrove")
    parser.add_argument("--n-docs", type=int, default=50000)
    parser.add_argument("--datatrove-docs", type=int, default=3000)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--root", type=Path, default=HERE / "results")
    args = parser.parse_args()
    ws, truth = build(args.root, args.n_docs)
    documents = ws / "runs" / RUN / "documents.jsonl"
    n = len(truth)
    print(f"{n} planted documents, {true_pairs_count(truth)} "
          f"true duplicate pairs; workspace {ws}")
    for repetition in range(1, args.repeat + 1):
        load = os.getloadavg()[0]
        out = ws / "rensa-clusters.json"
        t_rensa, _ = timed(str(BIN / "python"), str(HERE / "rensa_dedup.py"), str(documents), "--out", str(out))
        s_rensa = scores(truth, json.loads(out.read_text()))
        t_dedup, stdout = msm(ws, "curate", "--run", RUN, "--steps", "dedup", "--json")
        s_dedup, dedup_seconds = scores(truth, current_clusters(ws)), json.loads(stdout)["seconds"]
        # datatrove's sample is timed in two halves, just before and just after msm's full curation, so that
        # a change of load on the shared machine hits both sides alike
        half = args.datatrove_docs // 2
        _, before = timed(str(BIN / "python"), str(HERE / "datatrove_filters.py"), str(documents), "--limit", str(half))
        t_full, stdout = msm(ws, "curate", "--run", RUN, "--json")
        s_full, full_seconds = scores(truth, current_clusters(ws)), json.loads(stdout)["seconds"]
        _, after = timed(str(BIN / "python"), str(HERE / "datatrove_filters.py"), str(documents), "--skip", str(half),
                         "--limit", str(args.datatrove_docs - half))
        halves = [json.loads(before), json.loads(after)]
        dt = {"documents": sum(h["documents"] for h in halves), "wall_s": sum(h["wall_s"] for h in halves)}
        t_datatrove = dt["wall_s"] / dt["documents"] * n
        print(f"\nrepetition {repetition} (1-minute load average {load:.1f} at the start)")
        print("| pipeline | wall s | docs/s | precision | recall | F1 | ratio |\n|---|---|---|---|---|---|---|")
        print(f"| rensa script (dedup) | {t_rensa:.1f} | {n / t_rensa:,.0f} | {s_rensa['precision']:.3f} | "
              f"{s_rensa['recall']:.3f} | {s_rensa['f1']:.3f} | |")
        print(f"| msm curate --steps dedup | {t_dedup:.1f} | {n / t_dedup:,.0f} | {s_dedup['precision']:.3f} | "
              f"{s_dedup['recall']:.3f} | {s_dedup['f1']:.3f} | **{t_rensa / t_dedup:.2f}x rensa** |")
        print(f"| datatrove 4 filters ({dt['documents']} docs timed, x{n / dt['documents']:.1f}) | {t_datatrove:.1f} | "
              f"{dt['documents'] / dt['wall_s']:,.0f} | | | | |")
        print(f"| msm curate (signals + rules + dedup) | {t_full:.1f} | {n / t_full:,.0f} | {s_full['precision']:.3f} | "
              f"{s_full['recall']:.3f} | {s_full['f1']:.3f} | **{t_datatrove / t_full:.1f}x datatrove** |")
        print(f"msm stages (s): dedup-only {dedup_seconds}; full {full_seconds}")


def true_pairs_count(truth: dict[str, str]) -> int:
    sizes: dict[str, int] = {}
    for c in truth.values():
        sizes[c] = sizes.get(c, 0) + 1
    return sum(s * (s - 1) // 2 for s in sizes.values())


if __name__ == "__main__":
    main()
