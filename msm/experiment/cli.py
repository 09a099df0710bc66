"""`msm experiment run | status | plan` and `msm report`."""

from __future__ import annotations

import os
import time

import click

from msm.cli_support import BoundedInt, MAX_OPTION_INT, emit, info, json_option, state, table
from msm.experiment.runner import STAGE_ORDER


@click.group("experiment")
def experiment_group() -> None:
    """Run a whole experiment (every stage, per condition, cached per stage)."""


def _load(file: str, only: tuple[str, ...], seeds: tuple[int, ...] = (), *, create: bool = True,
          overrides: tuple[str, ...] = ()):
    from msm.experiment.config import load_experiment
    from msm.experiment.runner import plan_experiment
    from msm.workspace import Workspace, default_workspace_path

    experiment = load_experiment(file, overrides)
    # `status` and `--dry-run` read only: they must not create a workspace as a side effect
    ws = state().workspace(create=True) if create else Workspace(state().workspace_path or default_workspace_path())
    return ws, plan_experiment(experiment, ws, only or None, seeds or None)


_seed_option = click.option("--seed", "seeds", type=BoundedInt(min=-MAX_OPTION_INT), multiple=True,
                            help="Only this replicate seed of an experiment with `seeds` (repeatable).")
_set_option = click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
                           help="Override a setting of the file (repeatable): a dotted KEY (generate.n_docs, "
                                "base_model, conditions.0.specs) and a YAML VALUE; validated like the file and "
                                "recorded in the plan and the report.")


@experiment_group.command("run")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--only", multiple=True, help="Run only this condition (repeatable).")
@_seed_option
@_set_option
@click.option("--from", "from_stage", type=click.Choice(STAGE_ORDER),
              help="Redo this stage and every later one (their cached outputs are removed first).")
@click.option("--report/--no-report", default=True, show_default=True, help="Write the report when every stage is done.")
@click.option("--dry-run", is_flag=True,
              help="Print the stage plan and each generate stage's projected documents, tokens and cost "
                   "(`msm generate --plan-only`); run nothing, write nothing, no network, no GPU.")
def run_command(file: str, only: tuple[str, ...], seeds: tuple[int, ...], from_stage: str | None, report: bool,
                dry_run: bool, overrides: tuple[str, ...] = ()) -> None:
    """Run every stage of experiment FILE for each condition (and seed); rerunning skips finished stages and resumes."""
    from msm.experiment.runner import run_experiment

    if dry_run:
        from msm.experiment.runner import dry_run as plan_only

        ws, plan = _load(file, only, seeds, create=False, overrides=overrides)
        emit(plan_only(ws, plan), _print_dry_run)
        return
    ws, plan = _load(file, only, seeds, overrides=overrides)
    from msm.identity import check_experiment_identity

    check_experiment_identity(plan.experiment, ws)  # before any stage: one name end to end
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
        from msm.experiment.report import write_report

        paths = write_report(ws, plan.experiment.name)
        result.update({"report_html": str(paths["html"]), "report_md": str(paths["md"]), "summary": paths["summary"]})
    emit(result, lambda d: click.echo(
        f"{d['experiment']}: {d['stages_run']} stages run, {d['stages_cached']} cached, {d['seconds']} s"
        + (f"\nreport: {d['report_html']}\n\n{d['summary']}" if "report_html" in d else "")))


def _replicate_groups(labels: list[str]) -> str:
    """`a@0, a@1, a@2, b@0` -> `a@0,1,2  b@0` (how many replicates share a stage, readably)."""
    seeds: dict[str, list[str]] = {}
    for label in labels:
        condition, _, seed = label.partition("@")
        seeds.setdefault(condition, []).append(seed)
    return "  ".join(c if s == [""] else f"{c}@{','.join(s)}" for c, s in seeds.items())


def _print_dry_run(data: dict) -> None:
    import shlex

    replicates = data["replicates"]
    conditions = sorted({r["condition"] for r in replicates.values()})
    seeds = sorted({r["seed"] for r in replicates.values() if r["seed"] is not None})
    counts = ", ".join(f"{n} {kind}" for kind, n in data["stage_counts"].items() if n)
    click.echo(f"experiment {data['experiment']}: {len(conditions)} conditions"
               + (f" x {len(seeds)} seeds ({', '.join(map(str, seeds))}; seeded stages: "
                  f"{', '.join(data['seeded_stages']) or 'none'})" if seeds else "")
               + f" = {len(replicates)} replicates; {len(data['stages'])} stages ({counts})")
    click.echo("dry run: nothing is run or written. Stages in order (a stage shared by several replicates runs once):")
    for stage in data["stages"]:
        click.echo(f"\n[{stage['kind']}] {stage['label']} -> {stage['output']}   ({stage['key']})")
        click.echo(f"    for: {_replicate_groups(stage['replicates'])}")
        click.echo(f"    $ {shlex.join(stage['command'])}")
        projection = stage.get("projection")
        if projection and "unavailable" in projection:
            click.echo(f"    projection unavailable: {projection['unavailable']}")
        elif projection:
            cost = f"${projection['cost_usd']:,.2f}" if projection["priced"] else "not priced (model not in LiteLLM's table)"
            if projection["priced"] and projection.get("batch_cost_usd") is not None:
                cost += f" (batch API ${projection['batch_cost_usd']:,.2f})"
            click.echo(f"    projected: {projection['documents']:,} documents, {projection['input_tokens']:,} input + "
                       f"{projection['output_tokens']:,} output tokens, {cost}")
    totals = data["generation_totals"]
    if totals is None:
        click.echo("\ngeneration projections: unavailable (see the generate stages above)")
    else:
        cost = f"${totals['cost_usd']:,.2f}" + ("" if totals["priced"] else " (some stages not priced)")
        if totals.get("batch_cost_usd") is not None and totals["priced"]:
            cost += f" (batch API ${totals['batch_cost_usd']:,.2f})"
        partial = "" if totals["complete"] else " (some generate stages could not be projected)"
        click.echo(f"\ngeneration total{partial}: {totals['documents']:,} documents, {totals['input_tokens']:,} input + "
                   f"{totals['output_tokens']:,} output tokens, {cost}")


_LAST_LOGGED: dict[tuple[str, str], float] = {}


def _log_update(condition: str, stage: str, status: str) -> None:
    """Without a terminal: one line per change of state, and progress inside a stage at most every 15 s."""
    if status == "cached":
        return
    if status.startswith("running "):
        now = time.monotonic()
        if now - _LAST_LOGGED.get((condition, stage), float("-inf")) < 15:
            return
        _LAST_LOGGED[(condition, stage)] = now
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
@_seed_option
@_set_option
@json_option
def status_command(file: str, only: tuple[str, ...], seeds: tuple[int, ...], overrides: tuple[str, ...] = ()) -> None:
    """Show which stage each condition (and seed) of experiment FILE has reached (no work is done)."""
    from msm.experiment.runner import experiment_status

    ws, plan = _load(file, only, seeds, create=False, overrides=overrides)
    rows = experiment_status(ws, plan)
    columns = ["condition", "seed", "kind", "stage", "status", "duration_s", "output"]
    if plan.experiment.seeds is None:
        columns.remove("seed")
    emit(rows, lambda r: table(r, columns))


@experiment_group.command("validate")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@_set_option
def validate_command(files: tuple[str, ...], overrides: tuple[str, ...] = ()) -> None:
    """Validate experiment FILES (exit 2 with `file: field: problem`)."""
    from pathlib import Path

    from msm.errors import BadInput
    from msm.experiment.config import load_experiment
    from msm.experiment.runner import plan_experiment
    from msm.workspace import Workspace

    from msm.identity import check_experiment_identity
    from msm.workspace import default_workspace_path

    ws = Workspace(state().workspace_path or default_workspace_path())
    for file in files:
        experiment = load_experiment(file, overrides)
        try:
            plan_experiment(experiment, Workspace(Path(".")))   # the names it derives must be valid (nothing opened)
        except BadInput as exc:
            raise BadInput(f"{file}: {exc}") from None
        for verdict in check_experiment_identity(experiment, ws):
            info(f"{file}: identity: {verdict}")
        kinds = ", ".join(f"{sum(1 for c in experiment.conditions if c.kind == k)} {k}"
                          for k in ("base", "identity", "aft_only", "msm_only", "msm_aft")
                          if any(c.kind == k for c in experiment.conditions))
        seeds = f", seeds {experiment.seeds}" if experiment.seeds else ""
        shown = f"{file} --set {' --set '.join(overrides)}" if overrides else file
        click.echo(f"ok  {shown}  ({experiment.name}, {len(experiment.conditions)} conditions: {kinds}{seeds})")


@click.command("report")
@click.argument("experiment")
@json_option
def report_command(experiment: str) -> None:
    """Write the HTML + Markdown comparison report of EXPERIMENT (its name, or its YAML file) — or, for the name of a
    run or a trained model made outside an experiment, a Markdown report of that run or model."""
    from msm.experiment.report import write_report

    name = experiment
    ws = state().workspace()
    if not (experiment.endswith((".yaml", ".yml")) or os.path.isfile(experiment)) \
            and not (ws.reports_dir / experiment / "plan.json").is_file():
        from msm.adhoc_report import report_target, write_adhoc_report

        if report_target(ws, experiment) is not None:
            done = write_adhoc_report(ws, experiment)
            emit(done, lambda d: click.echo(f"{d['kind']} report: {d['md']}\n\n{d['summary']}"))
            return
    if experiment.endswith((".yaml", ".yml")) or os.path.isfile(experiment):   # False, not OSError, for any name
        from msm.experiment.config import load_experiment

        name = load_experiment(experiment).name
    paths = write_report(state().workspace(), name)
    emit({k: str(v) for k, v in paths.items()},
         lambda d: click.echo(f"report: {d['html']}\nmarkdown: {d['md']}\n\n{d['summary']}"))
