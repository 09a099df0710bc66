"""`msm curate` — dedup and quality filters that mark documents (nothing is deleted), and its report."""

from __future__ import annotations

import click

from msm.cli_support import emit, info, json_option, progress, state, table


@click.group("curate", invoke_without_command=True)
@click.option("--run", "run_name", default=None, help="Run to curate.")
@click.option("--config", type=click.Path(dir_okay=False), default=None,
              help="Curation config YAML (default: the shipped corpus/curate/default_config.yaml; chat_config.yaml for "
                   "chat runs of `msm aft generate`); `paper`: the replication's marks-only curation (every shipped "
                   "rule flags, only empty documents are dropped; use with --steps filters).")
@click.option("--steps", default="dedup,filters", show_default=True,
              help="Comma-separated steps to run: dedup, filters. Marks reflect exactly these steps.")
@click.option("--engine", type=click.Choice(["local", "ray"]), default="local", show_default=True,
              help="local: this process (DuckDB + numpy threads); ray: the same steps as Ray Data tasks, "
                   "with identical marks (needs `pip install 'msm-midtrain[scale]'`).")
@click.option("--ray-address", default=None, metavar="ADDR",
              help="Ray cluster to join with --engine ray (e.g. ray://head:10001 or auto); default: $RAY_ADDRESS, "
                   "else a local Ray on this machine's CPUs.")
@click.option("--ray-scratch", default=None, metavar="URI",
              help="Where Ray workers read the document shards: an object-store URI (s3://bucket/prefix) or a "
                   "directory every node mounts; default: the run's curation directory in the workspace.")
@click.option("--ray-shuffle", type=click.Choice(["sort", "hash"]), default=None,
              help="Ray Data shuffle that moves the hash-partitioned buckets with --engine ray: sort (tasks; "
                   "default) or hash (Ray's aggregator actors). Same marks either way.")
@json_option
@click.pass_context
def curate_group(ctx: click.Context, run_name: str | None, config: str | None, steps: str, engine: str,
                 ray_address: str | None, ray_scratch: str | None, ray_shuffle: str | None) -> None:
    """Mark documents of a run as kept or dropped (exact + MinHash dedup, DuckDB quality filters).

    Nothing is deleted: each curation writes new marks and makes them current, so curating again with
    another config simply re-curates. See `msm curate report --run NAME`.
    """
    if ctx.invoked_subcommand is not None:
        return
    if not run_name:
        raise click.UsageError("missing option '--run'")
    from msm.corpus.curate.engine import curate_run, parse_steps

    chosen = parse_steps(steps)
    if engine == "local" and (ray_address or ray_scratch or ray_shuffle):
        raise click.UsageError("--ray-address, --ray-scratch and --ray-shuffle need --engine ray")
    summary = curate_run(state().workspace(), run_name, config, chosen, progress=progress, engine=engine,
                         ray_address=ray_address, ray_scratch=ray_scratch, ray_shuffle=ray_shuffle or "sort")
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
@click.option("--examples", default=3, show_default=True, type=click.IntRange(0, 50), help="Examples per rule.")
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
