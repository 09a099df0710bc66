"""Coverage-driven rounds vs uniform quotas at equal documents, on the embedded model.

    round 1   generate N documents of SPEC with uniform quotas, curate (dedup), snapshot, midtrain the base model,
              `msm ledger --measure --json` → ledger.json (spec knowledge per clause after midtraining)
    arms      `uniform` is round 1 itself (the uniform arm's command would be round 1's: same seed, same settings);
              `focus` generates N documents with `--focus-from ledger.json`, same seed and settings, and is curated,
              snapshotted and midtrained from the base model the same way
    measure   spec_knowledge of each arm's model per clause; report the mean accuracy over all items and the worst
              clause's accuracy, each with a bootstrap 95% CI (items resampled within clauses), and focus − uniform
              on the mean with a paired bootstrap CI (the same questions in both arms)

    nice -n 10 python scripts/focus_vs_uniform.py --workspace /tmp/focus-ws [--spec cheese_america] [--n 39]

Writes <workspace>/focus_vs_uniform.json and prints it. Small N gives wide intervals; a null is a valid result.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np


def msm(ws: str, *args: str) -> str:
    proc = subprocess.run([sys.executable, "-m", "msm", "--workspace", ws, *args], capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"msm {' '.join(args)} failed ({proc.returncode}): {proc.stderr.strip()[-1500:]}")
    return proc.stdout


def corpus_and_model(ws: str, args: argparse.Namespace, name: str, *extra: str) -> None:
    msm(ws, "generate", "--spec", args.spec, "--run", name, "--n-docs", str(args.n), "--seed", str(args.seed),
        "--lm", args.lm, *extra)
    msm(ws, "curate", "--run", name, "--steps", "dedup")
    msm(ws, "snapshot", "create", f"{name}-snap", "--from", name)
    msm(ws, "train", "midtrain", "--snapshot", f"{name}-snap", "--base", args.base, "--out", f"{name}-mt",
        "--epochs", str(args.epochs), "--block-size", "256", "--batch-size", "4", "--seed", str(args.seed))


def clause_scores(ledger: dict) -> dict[str, list[float]]:
    """Per clause: the 0/1 item scores of spec_knowledge after midtraining, recovered from the result file."""
    from msm.eval.results import load_result
    from msm.ledger.sources import knowledge_dir
    from msm.ledger.versions import load_ref
    from msm.workspace import Workspace

    section = ledger["ledgers"][0]
    ws = Workspace.open(Path(ledger["_workspace"]))
    spec = load_ref(section["spec_id"], ws)
    directory = knowledge_dir(ws, section["midtrained_model"], spec)
    result = load_result(sorted(directory.glob("spec_knowledge-*.json"))[-1])
    per: dict[str, list[float]] = {}
    for item in result.items:
        for clause in item.clauses:
            per.setdefault(clause, []).append(float(item.score))
    return per


def summarize(per: dict[str, list[float]], rng: np.random.Generator, b: int = 2000) -> dict:
    clauses = sorted(per)
    flat = np.array([s for c in clauses for s in per[c]])
    means, worsts = [], []
    for _ in range(b):
        resampled = {c: rng.choice(per[c], size=len(per[c])) for c in clauses}
        means.append(np.mean(np.concatenate(list(resampled.values()))))
        worsts.append(min(v.mean() for v in resampled.values()))
    worst_clause = min(clauses, key=lambda c: np.mean(per[c]))
    return {"mean": float(flat.mean()), "mean_ci": [float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))],
            "worst": float(np.mean(per[worst_clause])), "worst_clause": worst_clause,
            "worst_ci": [float(np.percentile(worsts, 2.5)), float(np.percentile(worsts, 97.5))],
            "n_items": int(flat.size), "n_clauses": len(clauses)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workspace", required=True)
    parser.add_argument("--spec", default="cheese_america")
    parser.add_argument("--n", type=int, default=39, help="documents per round (each arm gets the same number)")
    parser.add_argument("--lm", default="local:smollm2-135m")
    parser.add_argument("--base", default="local:smollm2-135m")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    ws = args.workspace
    started = time.monotonic()
    subprocess.run([sys.executable, "-m", "msm", "--workspace", ws, "init"], capture_output=True)
    corpus_and_model(ws, args, "round1")
    ledger_path = Path(ws) / "round1-ledger.json"
    ledger_path.write_text(msm(ws, "--json", "ledger", "round1-mt", "--measure"))
    corpus_and_model(ws, args, "focus", "--focus-from", str(ledger_path))
    arms = {}
    per_arm = {}
    for arm, model in (("uniform", "round1-mt"), ("focus", "focus-mt")):
        ledger = json.loads(msm(ws, "--json", "ledger", model, "--measure"))
        ledger["_workspace"] = ws
        per_arm[arm] = clause_scores(ledger)
        arms[arm] = summarize(per_arm[arm], np.random.default_rng(args.seed))
        arms[arm]["documents_per_clause"] = {r["clause_id"]: r["documents"] for r in ledger["ledgers"][0]["rows"]}
    clauses = sorted(per_arm["uniform"])
    a = np.array([s for c in clauses for s in per_arm["uniform"][c]])
    b = np.array([s for c in clauses for s in per_arm["focus"][c]])
    rng = np.random.default_rng(args.seed)
    idx = rng.integers(0, a.size, size=(2000, a.size))
    diffs = (b[idx] - a[idx]).mean(axis=1)
    out = {"spec": args.spec, "n_docs": args.n, "lm": args.lm, "base": args.base, "epochs": args.epochs,
           "seed": args.seed, "arms": arms,
           "focus_minus_uniform_mean": {"value": float((b - a).mean()),
                                        "ci": [float(np.percentile(diffs, 2.5)), float(np.percentile(diffs, 97.5))]},
           "wall_s": round(time.monotonic() - started, 1)}
    (Path(ws) / "focus_vs_uniform.json").write_text(json.dumps(out, indent=2))
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
