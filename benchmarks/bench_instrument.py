"""Every choice suite on one model with every scorer: the format-control validity numbers, the verdict and the
suite's headline, as a Markdown table (docs/results-instrument.md is made with it).

    .venv/bin/python benchmarks/bench_instrument.py [--model local:smollm2-135m] [--limit 40] [--seed 0]
        [--suites cheese_values,cheese_political,cheese_items,agentic_choice] [--scorers letter,stance,sampled]

The model is loaded once; each (suite, scorer) runs the suite exactly as `msm eval --suite S --scorer X --limit N
--seed SEED --variants letter --temperature 0 --batch-size 16` does (the same code path: the format controls are
scored with the scorer first, then the suite's items). --limit takes the same seeded subset `msm eval --limit` takes;
the format controls are always all scored — once per scorer here (the verdict does not depend on the suite, and
`msm eval` would score them again in each run). Sampled answers are greedy (temperature 0), one per order. Rows come
scorer by scorer, so a run cut short still has every suite for the first scorers.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from contextlib import nullcontext
from pathlib import Path


def _progress(_description: str, _total: int):
    return nullcontext(lambda n=1, **_: None)


def _fmt(metric) -> str:
    if metric is None or metric.value is None:
        return "n/a"
    ci = "" if metric.ci_low is None else f" [{metric.ci_low:.3f}, {metric.ci_high:.3f}]"
    return f"{metric.value:.3f}{ci}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="local:smollm2-135m")
    parser.add_argument("--limit", type=int, default=40, help="seeded subset of each suite's items (0 = all)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--suites", default="cheese_values,cheese_political,cheese_items,agentic_choice")
    parser.add_argument("--scorers", default="letter,stance,sampled")
    parser.add_argument("--json-out", type=Path, help="also write every row as JSON here")
    args = parser.parse_args()

    from msm.eval.suites import SUITES, EvalSettings, LoadedModel
    from msm.models import load_causal_lm, resolve
    from msm.workspace import Workspace

    import msm.eval.instrument as instrument

    checked: dict[str, object] = {}
    check = instrument.check_scorer

    def check_once(scorer, model_, settings_, progress_):
        if scorer not in checked:
            checked[scorer] = check(scorer, model_, settings_, progress_)
        return checked[scorer]

    instrument.check_scorer = check_once
    ws = Workspace(Path(os.environ.get("MSM_WORKSPACE") or tempfile.mkdtemp(prefix="msm-bench-instrument-")))
    lm, tokenizer = load_causal_lm(resolve(args.model, ws))
    model = LoadedModel(lm, tokenizer, name=args.model)
    rows = []
    print("| suite | scorer | control accuracy [95% CI] | control order consistency | control position bias | "
          "suite order consistency | suite position bias | verdict | headline | value [95% CI] | s |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for scorer in args.scorers.split(","):
        for suite_name in args.suites.split(","):
            suite = SUITES[suite_name]
            settings = EvalSettings(seed=args.seed, limit=args.limit or None, variants=("letter",), scorer=scorer,
                                    temperature=0.0, batch_size=16, workspace=ws)
            started = time.monotonic()
            dataset = suite.dataset(settings, None)
            out = suite.run(model, dataset, settings, _progress)
            seconds = time.monotonic() - started
            m, ins = out.metrics, out.instrument
            headline = out.primary_metric or suite.primary_metric
            row = {"suite": suite_name, "scorer": scorer, "n_items": len(out.items), "seconds": round(seconds, 1),
                   "verdict": ins["verdict"], "reasons": ins["reasons"], "headline": headline,
                   "metrics": {k: v.model_dump() for k, v in m.items()}}
            rows.append(row)
            print(f"| {suite_name} (n={len(out.items)}) | {scorer} | {_fmt(m['format_control_accuracy'])} | "
                  f"{_fmt(m['format_control_order_consistency'])} | {_fmt(m['format_control_position_bias'])} | "
                  f"{_fmt(m['order_consistency'])} | {_fmt(m['position_bias'])} | {ins['verdict']} | {headline} | "
                  f"{_fmt(m.get(headline))} | {seconds:.0f} |", flush=True)
            if args.json_out:
                args.json_out.write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
