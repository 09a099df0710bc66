"""`msm eval` (run a suite on a model, write a result file) and `msm eval compare` (conditions side by side with
CIs, and the paired difference against the first)."""

from __future__ import annotations

from pathlib import Path

import click

from msm.cli_support import BoundedInt, FiniteFloat, MAX_OPTION_INT, emit, info, json_option, progress, state, table
from msm.errors import BadInput
from msm.eval.lm_scoring import VARIANTS
from msm.eval.scorers import SCORER_CHOICES
from msm.eval.suites import SUITES


def _fmt(value: float | None, digits: int = 3) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def _ci(metric) -> str:
    if metric.ci_low is None or metric.ci_high is None:
        return ""
    return f"[{_fmt(metric.ci_low)}, {_fmt(metric.ci_high)}]"


def _variants(value: str) -> tuple[str, ...]:
    chosen = tuple(v.strip() for v in value.split(",") if v.strip())
    bad = [v for v in chosen if v not in VARIANTS]
    if bad or "letter" not in chosen:
        raise BadInput(f"--variants {value!r}: use a comma list of {', '.join(VARIANTS)} that includes letter")
    return chosen


@click.group("eval", invoke_without_command=True)
@click.option("--model", help="Model to evaluate: local:smollm2-135m, a model directory, a workspace model, or hf:<repo>; "
                             "with --model-api-base, the model id the endpoint serves.")
@click.option("--model-api-base", help="OpenAI-compatible endpoint serving --model (e.g. `transformers serve` or vLLM at "
                                       "http://127.0.0.1:8000/v1); for generate-mode and Inspect suites.")
@click.option("--suite", type=click.Choice(sorted(SUITES)), help="Which suite to run.")
@click.option("--out", type=click.Path(path_type=Path, file_okay=False),
              help="Directory for the result files (default: <workspace>/evals).")
@click.option("--limit", type=BoundedInt(min=1),
              help="Evaluate a seeded random subset of this many items (agentic_misalignment: conditions).")
@click.option("--seed", type=BoundedInt(min=-MAX_OPTION_INT), default=0, show_default=True,
              help="Seed for --limit's subset, sampling and bootstrap CIs; the same seed gives the same numbers.")
@click.option("--samples", "--n", "--epochs", "samples", type=BoundedInt(min=1), default=1, show_default=True,
              help="Sampled responses per item, scenario or condition (agentic, agentic_misalignment, --mode generate).")
@click.option("--temperature", type=FiniteFloat(min=0.0), default=0.7, show_default=True,
              help="Sampling temperature for generated responses (0 = greedy).")
@click.option("--max-new-tokens", type=BoundedInt(min=1, max=32768), default=256, show_default=True,
              help="Length limit of each generated response (the paper's agentic runs used 4096).")
@click.option("--batch-size", type=BoundedInt(min=1, max=256), default=8, show_default=True,
              help="Sequences per forward pass in-process, or requests in flight to --model-api-base.")
@click.option("--variants", default=",".join(VARIANTS), show_default=True,
              help="Value-probe log-prob variants (comma list; letter is the reported rate, text/text_pmi are extra).")
@click.option("--mode", type=click.Choice(["logprob", "generate"]), default="logprob", show_default=True,
              help="Value-probe suites: score option log-probabilities, or generate answers and have --judge-lm read them.")
@click.option("--scorer", type=click.Choice(SCORER_CHOICES), default="letter", show_default=True,
              help="Choice suites (logprob mode): how a pick is read — letter (P of A/B), stance (log-prob of \"I would "
                   "choose <option>.\" minus the same after a content-free prompt), sampled (generate, classify which "
                   "option the answer names), or auto (check each on the format controls, use the first that "
                   "discriminates). The result records the scorer and its validity verdict.")
@click.option("--spec", "specs", multiple=True,
              help="spec_knowledge: spec id or path to ask about (repeatable; default: the specs in the model's manifest).")
@click.option("--items", "items_path", type=click.Path(path_type=Path, dir_okay=False),
              help="Use this JSONL item file instead of the suite's shipped one (same schema), or hf:<owner>/<dataset>"
                   "[/<file>] for a Hub dataset of two-option items (the paper's released sets; fields mapped as "
                   "docs/paper-fidelity.md says).")
@click.option("--judge-lm", "--grader-lm", "judge_lm",
              help="Judge (grader) LM: any model --lm accepts — local:smollm2-135m, a model directory, a workspace "
                   "model, or a dspy/LiteLLM string such as openai/gpt-4.1-mini (agentic, agentic_misalignment, "
                   "--mode generate).")
@click.option("--judge-api-base", "--grader-api-base", "judge_api_base",
              help="OpenAI-compatible endpoint for the judge, e.g. http://127.0.0.1:8000/v1 (then --judge-lm openai/<served name>).")
@click.option("--judge-concurrency", type=BoundedInt(min=1, max=256), default=4, show_default=True,
              help="Judge calls in flight at once (a local judge batches them).")
@click.option("--judge-max-tokens", "--grader-max-tokens", "judge_max_tokens", type=BoundedInt(min=1, max=32768),
              default=1024, show_default=True, help="Length limit of each judge (grader) answer.")
@click.option("--scenario", "scenarios", multiple=True,
              help="agentic_misalignment: only these scenarios (blackmail, leaking, murder, exfiltration; repeatable).")
@click.option("--condition", "conditions", multiple=True,
              help="agentic_misalignment: run exactly this condition, <scenario>_<goal type>-<goal value>_<urgency>, "
                   "e.g. exfiltration_explicit-america_replacement (repeatable; default: the paper's grid).")
@click.option("--model-name", default=None,
              help="The assistant's name in the prompts: spec_knowledge's questions and the exfiltration agent "
                   "(the experiment's identity) [default: the spec's; SmolLM for exfiltration].")
@click.option("--provider-name", default=None,
              help="Who made the assistant, in spec-derived prompts [default: the spec's].")
@click.pass_context
def eval_command(ctx: click.Context, model: str | None, model_api_base: str | None, suite: str | None,
                 out: Path | None, limit: int | None, seed: int, samples: int, temperature: float, max_new_tokens: int,
                 batch_size: int, variants: str, mode: str, scorer: str, specs: tuple[str, ...], items_path: Path | None,
                 judge_lm: str | None, judge_api_base: str | None, judge_concurrency: int, judge_max_tokens: int,
                 scenarios: tuple[str, ...], conditions: tuple[str, ...], model_name: str | None = None,
                 provider_name: str | None = None) -> None:
    """Run an evaluation suite on a model and write a typed result file (JSON summary + Parquet items) and an Inspect
    log beside it.

    Suites: cheese_values, cheese_political, cheese_items (two-option value probes), agentic_choice (the agentic
    scenarios as two-option decisions), agentic (free responses, needs --judge-lm), agentic_misalignment (the
    standard Inspect eval plus exfiltration, needs --grader-lm), spec_knowledge (questions from a spec's clauses),
    regression (perplexity + sanity multiple choice).
    """
    if ctx.invoked_subcommand is not None:
        return
    if not model or not suite:
        raise click.UsageError("--model and --suite are required (or use `msm eval compare RESULT...`)")
    from msm.eval.choice_suites import PROBE_SETS
    from msm.eval.judges import check_judge_name, make_judge_lm
    from msm.eval.runner import run_eval
    from msm.eval.suites import EvalSettings
    from msm.workspace import Workspace, default_workspace_path

    app = state()
    ws = Workspace(app.workspace_path or default_workspace_path())
    if out is None:
        if not ws.exists():
            raise BadInput(f"workspace {ws.root}: not initialised (run `msm init`, or pass --out DIR)")
        out = ws.root / "evals"
    if items_path is not None and str(items_path).startswith("hf:"):
        from msm.eval.hub_items import hub_items

        # a Hub dataset (e.g. the paper's released sets): mapped onto msm's item schema (eval/hub_items.py)
        items_path = hub_items(str(items_path), suite, out / "hub-items")
    if model_api_base and not model_api_base.startswith(("http://", "https://")):
        raise BadInput(f"--model-api-base {model_api_base!r}: expected an http(s):// URL")
    judge = None
    if judge_lm:
        check_judge_name(judge_lm, ws=ws, api_base=judge_api_base)
        # an msm suite reads free answers with a dspy judge; agentic_misalignment builds its own Inspect grader
        if suite == "agentic" or (suite in PROBE_SETS and mode == "generate"):
            judge = make_judge_lm(judge_lm, ws=ws, api_base=judge_api_base, concurrency=judge_concurrency,
                                  max_tokens=judge_max_tokens)
    settings = EvalSettings(seed=seed, limit=limit, samples=samples, temperature=temperature,
                            max_new_tokens=max_new_tokens, batch_size=batch_size, variants=_variants(variants),
                            mode=mode, scorer=scorer, specs=specs, items_path=items_path, judge_lm=judge, judge_name=judge_lm,
                            judge_api_base=judge_api_base, judge_concurrency=judge_concurrency,
                            judge_max_tokens=judge_max_tokens,
                            model_api_base=model_api_base, scenarios=scenarios, conditions=conditions,
                            model_name=model_name, provider_name=provider_name)
    result, path = run_eval(model, suite, settings, ws=ws, out_dir=out, progress=progress, log=info)
    summary = {"result": str(path), "run_id": result.run_id, "suite": result.suite, "model": result.model["name"],
               "duration_s": result.duration_s, "primary_metric": result.primary_metric,
               "instrument": result.instrument,
               "inspect_logs": [str(path.parent / name) for name in result.inspect_logs],
               "metrics": {k: m.model_dump() for k, m in result.metrics.items()}}

    def human(data: dict) -> None:
        rows = [{"metric": name, "value": _fmt(m.value), "95% CI": _ci(m), "n": m.n} for name, m in result.metrics.items()]
        table(rows, ["metric", "value", "95% CI", "n"])
        click.echo(f"{result.suite} on {result.model['name']}: {len(result.items)} items in {result.duration_s:.1f} s")
        if result.instrument:
            ins = result.instrument
            why = f" ({'; '.join(ins['reasons'])})" if ins["reasons"] else ""
            click.echo(f"instrument: {ins['scorer']} scorer {ins['verdict']}{why}")
        click.echo(f"result: {data['result']}")
        for log_path in data["inspect_logs"]:
            click.echo(f"inspect log: {log_path}")

    emit(summary, human)


@eval_command.command("compare")
@click.argument("results", nargs=-1, required=True, type=click.Path(path_type=Path, dir_okay=False))
@click.option("--seed", type=BoundedInt(min=-MAX_OPTION_INT), default=0, show_default=True, help="Seed for the paired bootstrap.")
@click.option("--by", "by", type=click.Choice(["item", "clause"]), default="item", show_default=True,
              help="clause: also each later result minus the first per spec clause the items name (items' "
                   "`clauses`), with a paired-bootstrap 95% CI per clause.")
@json_option
def compare_command(results: tuple[Path, ...], seed: int, by: str) -> None:
    """Print each result's primary metric with its CI, and each later result minus the first (the baseline) with a
    paired-bootstrap 95% CI over the items both scored."""
    from msm.eval.results import compare_by_clause, compare_results, load_result

    loaded = [load_result(path) for path in results]
    suites = {r.suite for r in loaded}
    if len(suites) > 1:
        raise BadInput(f"results come from different suites ({', '.join(sorted(suites))}); compare one suite at a time")
    conditions = []
    for path, result in zip(results, loaded):
        metric = result.metrics.get(result.primary_metric)
        conditions.append({"result": str(path), "model": result.model["name"], "suite": result.suite,
                           "metric": result.primary_metric, "value": metric.value if metric else None,
                           "ci_low": metric.ci_low if metric else None, "ci_high": metric.ci_high if metric else None,
                           "n": metric.n if metric else 0})
    differences = [compare_results(loaded[0], other, seed=seed).model_dump() for other in loaded[1:]]
    if by == "clause":
        for difference, other in zip(differences, loaded[1:]):
            difference["by_clause"] = [c.model_dump() for c in compare_by_clause(loaded[0], other, seed=seed)]

    def human(data: dict) -> None:
        table([{"#": i, "model": c["model"], c["metric"]: _fmt(c["value"]),
                "95% CI": "" if c["ci_low"] is None else f"[{_fmt(c['ci_low'])}, {_fmt(c['ci_high'])}]", "n": c["n"]}
               for i, c in enumerate(data["conditions"])], ["#", "model", data["conditions"][0]["metric"], "95% CI", "n"])
        for i, d in enumerate(data["differences"], 1):
            diff = d["difference"]
            body = (f"{diff['value']:+.3f} [{diff['ci_low']:+.3f}, {diff['ci_high']:+.3f}] "
                    f"(paired bootstrap 95% CI, {d['n_paired']} shared items)")
            # a blind instrument's difference is not a measurement: say so instead of "not detected"
            click.echo(f"#{i} - #0: {body}" if d["measurable"] else
                       f"#{i} - #0: {d['instrument_note']} — raw difference {body}")
            if "by_clause" in d:
                table([{"clause": c["clause"], "n": c["n_paired"], "#0": _fmt(c["baseline_mean"]),
                        f"#{i}": _fmt(c["condition_mean"]), "diff": f"{c['difference']['value']:+.3f}",
                        "95% CI": f"[{c['difference']['ci_low']:+.3f}, {c['difference']['ci_high']:+.3f}]"}
                       for c in d["by_clause"]], ["clause", "n", "#0", f"#{i}", "diff", "95% CI"])

    emit({"conditions": conditions, "differences": differences}, human)
