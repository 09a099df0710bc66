"""`msm` — the command-line entry point. Each stage owns its command module; this file wires them
together and turns failures into the contract's exit codes: 0 ok, 1 runtime failure, 2 bad input or
usage, always with a one-line reason on stderr and no traceback unless --debug."""

from __future__ import annotations

import os
import sys
import traceback
from pathlib import Path

import click

from msm import __version__
from msm.cli_support import AppState, emit, state
from msm.errors import MsmError, first_line


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option("--workspace", type=click.Path(path_type=Path, file_okay=False), envvar="MSM_WORKSPACE",
              help="Workspace directory (default: $MSM_WORKSPACE, else ./msm-workspace).")
@click.option("--json", "json_output", is_flag=True, help="Machine-readable JSON output on read commands.")
@click.option("--debug", is_flag=True, help="Show full tracebacks on errors.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bars or status messages.")
@click.version_option(__version__, prog_name="msm")
@click.pass_context
def cli(ctx: click.Context, workspace: Path | None, json_output: bool, debug: bool, quiet: bool) -> None:
    """msm — Model Spec Midtraining.

    Generate, curate, review and freeze corpora of synthetic documents that discuss an AI's Model
    Spec; midtrain and fine-tune a model on them; measure how it generalizes.
    """
    ctx.obj = AppState(workspace_path=workspace, json=json_output, debug=debug, quiet=quiet)


@cli.command("init")
def init_command() -> None:
    """Create (or upgrade) the workspace: a DuckDB catalog plus runs/, snapshots/, models/, reports/."""
    ws_state = state()
    from msm.workspace import Workspace, default_workspace_path

    ws = Workspace(ws_state.workspace_path or default_workspace_path())
    existed = ws.exists()
    applied = ws.init()
    emit(
        {"workspace": str(ws.root.resolve()), "created": not existed, "migrations_applied": applied,
         "schema_version": ws.schema_version()},
        lambda d: click.echo(
            f"{'Created' if d['created'] else 'Workspace exists at'} {d['workspace']} (catalog schema v{d['schema_version']})"
        ),
    )


def _register() -> None:
    from msm.spec_cli import spec_group
    from msm.models_cli import models_group
    from msm.corpus.generate.cli import generate_command
    from msm.corpus.aft.cli import aft_group
    from msm.corpus.runs_cli import corpus_group, runs_group
    from msm.corpus.optimize.cli import optimize_command
    from msm.corpus.curate.cli import curate_group
    from msm.corpus.snapshot.cli import snapshot_group
    from msm.review_app.cli import review_group
    from msm.train.cli import train_group
    from msm.eval.cli import eval_command
    from msm.experiment_cli import experiment_group, report_command

    for command in (spec_group, models_group, generate_command, aft_group, runs_group, corpus_group, optimize_command,
                    curate_group, snapshot_group, review_group, train_group, eval_command, experiment_group,
                    report_command):
        cli.add_command(command)


_register()


def _debug_requested(argv: list[str]) -> bool:
    return "--debug" in argv or os.environ.get("MSM_DEBUG") == "1"


def main(argv: list[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        result = cli.main(args=argv, prog_name="msm", standalone_mode=False)
        code = result if isinstance(result, int) else 0
    except click.exceptions.Exit as exc:
        code = exc.exit_code
    except click.exceptions.Abort:
        click.echo("msm: aborted", err=True)
        code = 1
    except click.UsageError as exc:
        where = f" (see `{exc.ctx.command_path} --help`)" if exc.ctx else ""
        click.echo(f"msm: usage error: {exc.format_message()}{where}", err=True)
        code = 2
    except click.ClickException as exc:
        click.echo(f"msm: error: {exc.format_message()}", err=True)
        code = exc.exit_code
    except MsmError as exc:
        if _debug_requested(argv):
            traceback.print_exc()
        click.echo(f"msm: error: {exc}", err=True)
        code = exc.exit_code
    except KeyboardInterrupt:
        click.echo("msm: interrupted", err=True)
        code = 130
    except Exception as exc:  # a bug or an unexpected runtime failure: still one line by default
        if _debug_requested(argv):
            traceback.print_exc()
        click.echo(f"msm: error: {type(exc).__name__}: {first_line(exc)} (rerun with --debug for the traceback)", err=True)
        code = 1
    sys.exit(code)


if __name__ == "__main__":
    main()
