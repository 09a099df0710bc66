"""`msm curate` — dedup and quality filters that mark documents (nothing is deleted), and its report."""

from __future__ import annotations

import click

from msm.cli_support import BoundedInt, emit, info, json_option, progress, state, table
from msm.corpus.curate.request import CurateRequest
from msm.settings import from_cli, settings_options


@click.group("curate", invoke_without_command=True)
@settings_options(CurateRequest)
@json_option
@click.pass_context
def curate_group(ctx: click.Context, **values) -> None:
    """Mark documents of a run as kept or dropped (exact + MinHash dedup, DuckDB quality filters).

    Nothing is deleted: each curation writes new marks and makes them current, so curating again with
    another config simply re-curates. See `msm curate report --run NAME`.
    """
    if ctx.invoked_subcommand is not None:
        return
    request = from_cli(CurateRequest, values)
    if not request.run:
        raise click.UsageError("missing option '--run'")
    from msm.corpus.curate.engine import curate

    summary = curate(state().workspace(), request, progress=progress)
    run_name, engine = request.run, request.engine
    data = {"run": run_name, "curation_id": summary.curation_id, "steps": summary.steps, "engine": engine,
            "n_documents": summary.n_documents, "n_kept": summary.n_kept, "n_dropped": summary.n_dropped,
            "rule_counts": summary.rule_counts, "dedup": summary.step_stats.get("dedup"), "seconds": summary.seconds,
            "config_source": summary.config_source}

    def human(d: dict) -> None:
        click.echo(f"curated {run_name}: {d['n_documents']} documents, {d['n_kept']} kept, {d['n_dropped']} dropped "
                   f"({d['seconds']['total']:.1f}s; steps {','.join(d['steps'])}; config {d['config_source']})")
        if d["dedup"]:
            dd = d["dedup"]
            click.echo(f"  dedup: {dd['dropped_exact_duplicate']} exact + {dd['dropped_near_duplicate']} near duplicates "
                       f"in {dd['clusters']} clusters ({dd['verified_pairs']}/{dd['candidate_pairs']} candidate pairs verified)")
        fired = [(k, v) for k, v in d["rule_counts"].items() if v]
        if fired and "filters" in d["steps"]:
            click.echo("  rules: " + ", ".join(f"{k}={v}" for k, v in sorted(fired, key=lambda x: -x[1])))
        info(f"see `msm curate report --run {run_name}` for examples and the diversity report")

    emit(data, human)


@curate_group.command("report")
@click.option("--run", "run_name", required=True, help="Run whose current curation to report.")
@click.option("--examples", default=3, show_default=True, type=BoundedInt(0, 50), help="Examples per rule.")
@json_option
def report_command(run_name: str, examples: int) -> None:
    """Per-rule drop counts with examples, dedup clusters, and the diversity report of the kept documents."""
    from msm.corpus.curate.store import report

    data = report(state().workspace(), run_name, examples)

    def human(d: dict) -> None:
        click.echo(f"run {d['run']}  curation {d['curation_id']}  config {d['config_hash'][:12]}  steps {','.join(d['steps'])}")
        click.echo(f"{d['n_documents']} documents: {d['n_kept']} kept, {d['n_dropped']} dropped\n")
        table([{"rule": r["rule"], "action": r["action"], "documents": r["documents"], "share": f"{r['share']:.1%}"}
               for r in d["rules"]], ["rule", "action", "documents", "share"])
        for r in d["rules"]:
            for e in r["examples"]:
                click.echo(f"  [{r['rule']}] {e['doc_id']}: {e['opening'][:110]}")
        div = d["diversity"]
        click.echo(f"\ndiversity of the {div['kept_documents']} kept documents: distinct-1 {div['distinct_1']}, "
                   f"distinct-2 {div['distinct_2']}, words p10/p50/p90 {div['words_p10_p50_p90']}")
        click.echo("  per clause: " + ", ".join(f"{k}={v}" for k, v in list(div["per_clause"].items())[:12]))
        click.echo("  per type: " + ", ".join(f"{k}={v}" for k, v in list(div["per_doc_type"].items())[:12]))
        click.echo("  most repeated capitalised words (share of documents): "
                   + ", ".join(f"{w['word']} {w['share']:.0%}" for w in div["top_capitalized_words"]))

    emit(data, human)
