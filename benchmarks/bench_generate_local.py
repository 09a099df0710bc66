"""Embedded generation end to end: weak-profile documents per minute with the in-process model, fp32 vs int8
linear layers, side by side in one run, with the document checks' and the curation's pass rates.

    .venv/bin/python benchmarks/bench_generate_local.py [--n-docs 64] [--arms fp32,int8] [--concurrency 32]

Each arm generates the same request (`msm generate --spec cheese_affordability --n-docs N` on the embedded
model: weak profile, seed 0, batch = concurrency) into a fresh workspace, through the library entry point the
CLI uses (model load, writes, checks and retries included), starting from the same brainstorm answers (plan,
document types, ideas: a run's stages.jsonl, `--stages-from`, else made by a first int8 run), so both arms write
the same documents' prompts and the timed part is the write stage, where a run of many documents spends its time. Printed per arm: wall time, documents
per minute, completion tokens/s, documents that passed the checks on their first attempt, failed attempts, and
the share of documents the default curation filters keep (`msm curate --steps filters`). Arms run in the order
given; the 1-minute load average is printed with each. Goal: int8 >= 2x fp32 documents/minute with the pass
rates not lower.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from bench_train import embedded_dir  # noqa: E402

from msm.corpus.curate.engine import curate_run  # noqa: E402
from msm.corpus.generate.api import GenerateRequest, generate  # noqa: E402
from msm.corpus.run_store import RunStore  # noqa: E402
from msm.workspace import Workspace  # noqa: E402


def run_arm(arm: str, n_docs: int, concurrency: int, spec: str, seed: int, stages: Path | None) -> dict:
    os.environ["MSM_LOCAL_INT8"] = "1" if arm == "int8" else "0"
    ws = Workspace.open(Path(tempfile.mkdtemp(prefix=f"msm-bench-gen-{arm}-")), create=True)
    if stages is not None:                   # the same brainstorm answers for every arm: the timed part is the writes
        (ws.run_dir("bench")).mkdir(parents=True, exist_ok=True)
        shutil.copyfile(stages, ws.run_dir("bench") / "stages.jsonl")
    load = os.getloadavg()[0]
    started = time.perf_counter()
    result = generate(ws, GenerateRequest(spec=spec, run="bench", n_docs=n_docs, lm=str(embedded_dir()),
                                          concurrency=concurrency, seed=seed))
    wall = time.perf_counter() - started
    store = RunStore(ws, "bench")
    docs = list(store.documents())
    failures = list(store.failures())
    first_try = sum(1 for d in docs if int(d.metadata.get("attempt", 0) or 0) == 0)
    curation = curate_run(ws, "bench", steps=["filters"]) if docs else None
    return {"arm": arm, "workspace": str(ws.root), "load": load, "wall_s": wall, "documents": len(docs), "target": n_docs,
            "docs_per_min": 60 * len(docs) / wall, "tokens_per_s": result.completion_tokens / wall,
            "first_try": first_try, "failed_attempts": len(failures), "failed_items": result.failed_items,
            "kept": curation.n_kept if curation else 0,
            "rules": {k: v for k, v in (curation.rule_counts if curation else {}).items() if v}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n-docs", type=int, default=64)
    parser.add_argument("--arms", default="fp32,int8")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--spec", default="cheese_affordability")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--stages-from", type=Path, default=None,
                        help="a run's stages.jsonl (its brainstorm answers) that every arm starts from; default: a "
                             "first int8 run of the same request makes one")
    args = parser.parse_args()
    stages = args.stages_from
    if stages is None:
        print("warm-up: one int8 run fills the brainstorm answers every arm then reuses", flush=True)
        warm = run_arm("int8", args.n_docs, args.concurrency, args.spec, args.seed, None)
        stages = Path(warm["workspace"]) / "runs" / "bench" / "stages.jsonl"
    rows = [run_arm(arm, args.n_docs, args.concurrency, args.spec, args.seed, stages) for arm in args.arms.split(",")]
    print(f"\n{args.n_docs} weak-profile documents of {args.spec} on the embedded model, batch {args.concurrency}")
    print("| arm | load | wall s | docs/min | completion tok/s | passed checks first try | failed attempts | "
          "kept by filters | rules fired |\n|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['arm']} | {r['load']:.1f} | {r['wall_s']:.0f} | {r['docs_per_min']:.2f} | {r['tokens_per_s']:.1f} | "
              f"{r['first_try']}/{r['documents']} | {r['failed_attempts']} | {r['kept']}/{r['documents']} | "
              f"{', '.join(f'{k}={v}' for k, v in sorted(r['rules'].items()))} |")
    if len(rows) == 2:
        print(f"ratio {rows[1]['arm']}/{rows[0]['arm']} documents/minute: {rows[1]['docs_per_min'] / rows[0]['docs_per_min']:.2f}x "
              "(goal >= 2x)")


if __name__ == "__main__":
    main()
