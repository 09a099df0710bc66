"""Does the rules-only writer stop a served model from inventing reasons? Generate N documents of a rules-only spec
twice through the same served model — `before`: every clause gets the generic `WriteDocument` instruction (what msm
did before `WriteRuleDocument` existed); `after`: msm as it is — then count, over every write output (passed
documents and rejected attempts alike, since a weak writer may pass no check), the share with at least 2 rationale
markers (curation's `invented_rationale` rule), with a Wilson 95% interval.

    python scripts/rules_only_ablation.py --workspace WS --lm openai/MODEL --api-base URL [--n 12] [--spec safety_rules]
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
from pathlib import Path

import duckdb

from msm.corpus.curate.spec_signals import RATIONALE_RE

MIN_MARKERS = 2


def _generate(arm: str, args: argparse.Namespace) -> None:
    """One arm in a child process, so the `before` patch never leaks into the `after` arm."""
    patch = ("from msm.corpus.generate import program\n"
             "program.SpecDocumentProgram.writer = lambda self, *, rules_only, planned: "
             "getattr(self, 'write' + ('_planned' if planned else ''))\n") if arm == "before" else ""
    argv = ["--workspace", args.workspace, "generate", "--spec", args.spec, "--run", f"rules-{arm}", "--n-docs",
            str(args.n), "--lm", args.lm, "--api-base", args.api_base, "--profile", "weak", "--no-scaffold",
            "--seed", str(args.seed), "--concurrency", "2"]
    subprocess.run([sys.executable, "-c", patch + f"from msm.cli import main\nmain({argv!r})"], check=False)


def _wilson(k: int, n: int) -> tuple[float, float]:
    if n == 0:
        return math.nan, math.nan
    z, p = 1.96, k / n
    centre, half = p + z * z / (2 * n), z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return (centre - half) / (1 + z * z / n), (centre + half) / (1 + z * z / n)


def _outputs(run: Path) -> list[str]:
    def rows(name: str) -> list[dict]:
        path = run / name
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.exists() else []

    texts = [d.get("lm_text") or d["text"] for d in rows("documents.jsonl")]
    return texts + [f["raw"] for f in rows("failures.jsonl") if f.get("stage") == "write" and f.get("raw")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workspace", required=True)
    parser.add_argument("--lm", required=True)
    parser.add_argument("--api-base", required=True)
    parser.add_argument("--spec", default="safety_rules")
    parser.add_argument("--n", type=int, default=12)
    parser.add_argument("--seed", type=int, default=3)
    args = parser.parse_args()
    con = duckdb.connect()
    for arm in ("before", "after"):
        _generate(arm, args)
        texts = _outputs(Path(args.workspace) / "runs" / f"rules-{arm}")
        k = sum(con.execute("SELECT len(regexp_extract_all(?, ?))", [t, RATIONALE_RE]).fetchone()[0] >= MIN_MARKERS
                for t in texts)
        lo, hi = _wilson(k, len(texts))
        print(f"{arm}: {k} of {len(texts)} write outputs supply reasons ({k / max(len(texts), 1):.2f}, "
              f"95% CI [{lo:.2f}, {hi:.2f}])")


if __name__ == "__main__":
    main()
