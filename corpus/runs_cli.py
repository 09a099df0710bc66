"""`msm runs list | show | export` and `msm corpus import`."""

from __future__ import annotations

import click

from msm.cli_support import emit, json_option, not_built, state, table


@click.group("runs")
def runs_group() -> None:
    """List, inspect and export runs (generated or imported documents)."""


@runs_group.command("list")
@json_option
def list_command() -> None:
    """List the runs in the workspace."""
    from msm.corpus.run_store import list_runs

    rows = list_runs(state().workspace())
    emit(rows, lambda r: table(r, ["name", "kind", "spec_id", "created_at"]))


@runs_group.command("show")
@click.argument("name")
@json_option
def show_command(name: str) -> None:
    """Counts per clause and type, failures, tokens and cost of run NAME."""
    not_built("runs show", 3)()


@runs_group.command("export")
@click.argument("name")
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="FILE.jsonl or FILE.parquet")
def export_command(name: str, out: str) -> None:
    """Write every document of run NAME with provenance, signals, cluster id and decisions."""
    not_built("runs export", 5)()


@click.group("corpus")
def corpus_group() -> None:
    """Bring your own documents into a run."""


@corpus_group.command("import")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--run", "run_name", required=True, help="Run to create with the imported documents.")
@click.option("--spec", default=None, help="Spec the documents were written for (file or shipped id).")
def import_command(file: str, run_name: str, spec: str | None) -> None:
    """Import documents from FILE (JSONL or Parquet with a `text` field) into a new run."""
    not_built("corpus import", 5)()
