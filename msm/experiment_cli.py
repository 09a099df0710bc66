"""`msm experiment run | status | plan` and `msm report`."""

from __future__ import annotations

import os
import time

import click

from msm.cli_support import emit, info, json_option, state, table
from msm.experiment_runner import STAGE_ORDER


@click.group("experiment")
def experiment_group() -> None:
    """Run a whole experiment (every stage, per condition, cached per stage)."""


def _load(file: str, only: tuple[str, ...], *, create: bool = True):
    from msm.experiment_config import load_experiment
    from msm.experiment_runner import plan_experiment
    from msm.workspace import Workspace, default_workspace_path

    experiment = load_experiment(file)
    # `status` reads only: it must not create a workspace as a side effect
    ws = state().workspace(create=True) if create else Workspace(state().workspace_path or default_workspace_path())
    return ws, plan_experiment(experiment, ws, only or None)


@experiment_group.command("run")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--only", multiple=True, help="Run only this condition (repeatable).")
@click.option("--from", "from_stage", type=click.Choice(STAGE_ORDER),
              help="Redo this stage and every later one (their cached outputs are removed first).")
@click.option("--report/--no-report", default=True, show_default=True, help="Write the report when every stage is done.")
def run_command(file: str, only: tuple[str, ...], from_stage: str | None, report: bool) -> None:
    """Run every stage of experiment FILE for each condition; rerunning skips finished stages and resumes."""
    from msm.experiment_runner import run_experiment

    ws, plan = _load(file, only)
    started = time.monotonic()
    view = _LiveView(plan) if state().show_progress else None
    try:
        if view:
            view.start()
        summary = run_experiment(ws, plan, from_stage=from_stage, debug=state().debug,
                                 on_update=view.update if view else _log_update)
    finally:
        if view:
            view.stop()
    result = {"experiment": plan.experiment.name, "stages_run": len(summary["ran"]),
              "stages_cached": len(summary["cached"]), "seconds": round(time.monotonic() - started, 1)}
    if report:
        from msm.experiment_report import write_report

        paths = write_report(ws, plan.experiment.name)
        result.update({"report_html": str(paths["html"]), "report_md": str(paths["md"]), "summary": paths["summary"]})
    emit(result, lambda d: click.echo(
        f"{d['experiment']}: {d['stages_run']} stages run, {d['stages_cached']} cached, {d['seconds']} s"
        + (f"\nreport: {d['report_html']}\n\n{d['summary']}" if "report_html" in d else "")))


def _log_update(condition: str, stage: str, status: str) -> None:
    if status != "cached":
        info(f"[{condition}] {stage}: {status}")


class _LiveView:
    """A table of conditions × stages that redraws as stages start and finish (TTY only)."""

    def __init__(self, plan):
        self.plan = plan
        self.cells = {(c, plan.stages[k].label): "pending" for c, keys in plan.by_condition.items() for k in keys}
        self.live = None

    def _render(self):
        from rich.table import Table

        grid = Table(title=f"experiment {self.plan.experiment.name}")
        grid.add_column("condition")
        grid.add_column("stage")
        grid.add_column("status")
        for (condition, stage), status in self.cells.items():
            colour = {"running": "yellow", "failed": "red", "cached": "dim"}.get(status.split()[0], "green")
            grid.add_row(condition, stage, f"[{colour}]{status}[/]" if status != "pending" else status)
        return grid

    def start(self) -> None:
        from rich.live import Live

        self.live = Live(self._render(), refresh_per_second=2, transient=False, console=None)
        self.live.start()

    def update(self, condition: str, stage: str, status: str) -> None:
        self.cells[(condition, stage)] = status
        self.live.update(self._render())

    def stop(self) -> None:
        self.live.stop()


@experiment_group.command("status")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--only", multiple=True, help="Show only this condition (repeatable).")
@json_option
def status_command(file: str, only: tuple[str, ...]) -> None:
    """Show which stage each condition of experiment FILE has reached (no work is done)."""
    from msm.experiment_runner import experiment_status

    ws, plan = _load(file, only, create=False)
    rows = experiment_status(ws, plan)
    emit(rows, lambda r: table(r, ["condition", "stage", "status", "duration_s", "output"]))


@experiment_group.command("validate")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
def validate_command(files: tuple[str, ...]) -> None:
    """Validate experiment FILES (exit 2 with `file: field: problem`)."""
    from msm.experiment_config import load_experiment

    for file in files:
        experiment = load_experiment(file)
        click.echo(f"ok  {file}  ({experiment.name}, {len(experiment.conditions)} conditions)")


@click.command("report")
@click.argument("experiment")
@json_option
def report_command(experiment: str) -> None:
    """Write the HTML + Markdown comparison report of EXPERIMENT (its name, or its YAML file)."""
    from msm.experiment_report import write_report

    name = experiment
    if experiment.endswith((".yaml", ".yml")) or os.path.isfile(experiment):   # False, not OSError, for any name
        from msm.experiment_config import load_experiment

        name = load_experiment(experiment).name
    paths = write_report(state().workspace(), name)
    emit({k: str(v) for k, v in paths.items()},
         lambda d: click.echo(f"report: {d['html']}\nmarkdown: {d['md']}\n\n{d['summary']}"))
