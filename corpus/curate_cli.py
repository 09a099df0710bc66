"""`msm curate` — dedup and quality filters that mark documents (issue #5)."""

from __future__ import annotations

import click

from msm.cli_support import json_option, not_built


@click.group("curate", invoke_without_command=True)
@click.option("--run", "run_name", default=None, help="Run to curate.")
@click.option("--config", type=click.Path(dir_okay=False), default=None, help="Curation config YAML (default: shipped).")
@click.option("--steps", default="dedup,filters", show_default=True, help="Comma-separated steps to run.")
@click.pass_context
def curate_group(ctx: click.Context, run_name: str | None, config: str | None, steps: str) -> None:
    """Mark documents of a run as kept or dropped (exact + MinHash dedup, DuckDB filters); nothing is deleted."""
    if ctx.invoked_subcommand is None:
        if not run_name:
            raise click.UsageError("missing option '--run'")
        not_built("curate", 5)()


@curate_group.command("report")
@click.option("--run", "run_name", required=True, help="Run whose curation to report.")
@json_option
def report_command(run_name: str) -> None:
    """Per-rule drop counts with examples, and the diversity report."""
    not_built("curate report", 5)()
