"""`msm optimize` — tune the generator's prompts with a DSPy optimizer."""

from __future__ import annotations

import click

from msm.cli_support import BoundedInt, MAX_OPTION_INT, emit, info, json_option, state, table


def _comma_list(_ctx: click.Context, _param: click.Parameter, value: str | None) -> list[str] | None:
    return [c.strip() for c in value.split(",") if c.strip()] if value else None


@click.command("optimize")
@click.option("--spec", required=True, help="Spec file or shipped spec id.")
@click.option("--out", required=True, type=click.Path(dir_okay=False),
              help="Where to write the optimized program JSON (FILE.report.json is written beside it).")
@click.option("--optimizer", type=click.Choice(["bootstrap", "mipro", "gepa"]), default="bootstrap", show_default=True,
              help="DSPy optimizer: BootstrapFewShot (demos), MIPROv2 (instructions + demos) or GEPA (reflective).")
@click.option("--lm", default="local:smollm2-135m", show_default=True, help="LM the program runs on.")
@click.option("--judge-lm", default=None,
              help="LM that answers the metric's yes/no questions (default: --lm; 'none': deterministic checks only).")
@click.option("--reflection-lm", default=None, help="LM that proposes instructions for mipro and gepa (default: --lm).")
@click.option("--api-base", default=None, help="Base URL of an OpenAI-compatible server for API LMs.")
@click.option("--train-clauses", callback=_comma_list, default=None,
              help="Comma-separated clause ids to train on; the others form the held-out valset "
                   "[default: a seeded split, a third of the clauses held out].")
@click.option("--budget", type=BoundedInt(min=1), default=None,
              help="Optimizer budget: bootstrap = train items tried, mipro = trials, gepa = metric calls "
                   "[default: 3 / 2 / 8 on local models, 12 / 12 / 120 on API models].")
@click.option("--n-train", type=BoundedInt(min=1), default=None, help="Train items [default: 3 local, 12 API].")
@click.option("--n-val", type=BoundedInt(min=1), default=None, help="Valset items [default: 3 local, 12 API].")
@click.option("--max-tokens", type=BoundedInt(min=16), default=None,
              help="Token limit of the write stage [default: the generation profile's, 240 local, 1600 API].")
@click.option("--threads", type=BoundedInt(min=1, max=256), default=None,
              help="Items evaluated in parallel (the batch size of a local model) [default: 16 local, 8 API].")
@click.option("--novelty-runs", callback=_comma_list, default=None,
              help="Comma-separated runs whose documents count as accepted for novelty [default: all runs of SPEC].")
@click.option("--seed", type=BoundedInt(min=-MAX_OPTION_INT), default=0, show_default=True, help="Seed for the split, items and optimizers.")
@click.option("--program-kind", type=click.Choice(["documents", "aft"]), default="documents", show_default=True,
              help="documents: the document generator (`msm generate`) against the corpus-quality metric; aft: the "
                   "chat writer (`msm aft generate`) against judge-INCLUDE rate and question diversity.")
@click.option("--style", type=click.Choice(["value", "rule", "opaque"]), default="value", show_default=True,
              help="With --program-kind aft: the response style the chat program is tuned for.")
@json_option
def optimize_command(spec: str, out: str, optimizer: str, lm: str, judge_lm: str | None, reflection_lm: str | None,
                     api_base: str | None, train_clauses: list[str] | None, budget: int | None, n_train: int | None,
                     n_val: int | None, max_tokens: int | None, threads: int | None, novelty_runs: list[str] | None,
                     seed: int, program_kind: str, style: str) -> None:
    """Optimize the generator program (or, with --program-kind aft, the chat writer) on held-out clauses.

    Prints the metric on the valset before and after (mean, bootstrap 95% CI, paired change per part), tokens
    and cost, and the optimized instructions; writes the program to --out for `msm generate --program` (or
    `msm aft generate --program`).
    """
    from pathlib import Path

    from msm.corpus.optimize.optimizer import OptimizeRequest, optimize
    from msm.errors import BadInput
    from msm.spec import load_spec, resolve_spec_path

    the_spec = load_spec(resolve_spec_path(spec))
    if program_kind == "aft":
        from msm.corpus.optimize.chats import AftOptimizeRequest, optimize_chats

        for name, value in (("--max-tokens", max_tokens), ("--novelty-runs", novelty_runs)):
            if value is not None:
                raise BadInput(f"{name}: only for --program-kind documents")
        report = optimize_chats(state().workspace(create=True), AftOptimizeRequest(
            spec=the_spec, out=Path(out), style=style, optimizer=optimizer, lm=lm, judge_lm=judge_lm,
            reflection_lm=reflection_lm, api_base=api_base, train_clauses=train_clauses, budget=budget,
            n_train=n_train, n_val=n_val, threads=threads, seed=seed), log=info)
        emit({k: v for k, v in report.items() if k != "valset"}, _print_report)
        return
    request = OptimizeRequest(spec=the_spec, out=Path(out), optimizer=optimizer, lm=lm, judge_lm=judge_lm,
                              reflection_lm=reflection_lm, api_base=api_base, train_clauses=train_clauses,
                              budget=budget, n_train=n_train, n_val=n_val, max_tokens=max_tokens, threads=threads,
                              novelty_runs=novelty_runs, seed=seed)
    report = optimize(state().workspace(create=True), request, log=info)
    emit({k: v for k, v in report.items() if k != "valset"}, _print_report)


def _print_report(r: dict) -> None:
    judge_name = r["judge_lm"] or "none (deterministic checks only)"
    kind = f"chat program ({r['style']} style) · " if r.get("program_kind") == "aft" else ""
    click.echo(f"{kind}{r['optimizer']} on {r['lm']} · judge {judge_name} · valset {r['n_val']} items of held-out "
               f"clauses {', '.join(r['val_clauses'])} (trained on {', '.join(r['train_clauses'])})")

    def ci(pair: list[float]) -> str:
        return f"[{pair[0]:.3f}, {pair[1]:.3f}]"

    table([{"part": row["part"], "before": f"{row['before']:.3f} {ci(row['before_ci'])}",
            "after": f"{row['after']:.3f} {ci(row['after_ci'])}",
            "change (paired)": f"{row['change']:+.3f} {ci(row['change_ci'])}"} for row in r["table"]],
          ["part", "before", "after", "change (paired)"])
    judge = r["tokens"]["judge"]
    judged = (f" (judge {judge['prompt_tokens']} / {judge['completion_tokens']}, {judge['failed_judgements']}/"
              f"{judge['calls']} judgements unreadable)" if r["judge_lm"] else "")
    click.echo(f"\ntokens {r['prompt_tokens']} in / {r['completion_tokens']} out{judged} · cost ${r['cost_usd']:.4f} · "
               f"{r['seconds']} s")
    for name, found in r["instructions"].items():
        click.echo(f"\n{name} ({found['demos']} demos):\n{found['instructions']}")
    for warning in r.get("warnings", []):
        click.echo(f"\nwarning: {warning}")
    click.echo(f"\nprogram {r['program_file']} (hash {r['program_hash'][:12]}) · report {r['report_file']}")
