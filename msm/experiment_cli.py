"""`msm experiment run | status` and `msm report` (issue #9)."""

from __future__ import annotations

import click

from msm.cli_support import not_built


@click.group("experiment")
def experiment_group() -> None:
    """Run a whole experiment (every stage, per condition, cached per stage)."""


@experiment_group.command("run")
@click.argument("file", type=click.Path(dir_okay=False))
def run_command(file: str) -> None:
    """Run every stage of experiment FILE for each condition; rerunning resumes."""
    not_built("experiment run", 9)()


@experiment_group.command("status")
@click.argument("file", type=click.Path(dir_okay=False))
def status_command(file: str) -> None:
    """Show which stage each condition of experiment FILE has reached."""
    not_built("experiment status", 9)()


@click.command("report")
@click.argument("experiment")
def report_command(experiment: str) -> None:
    """Write the HTML + Markdown comparison report of an experiment."""
    not_built("report", 9)()
