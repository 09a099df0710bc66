"""`msm` — the command-line entry point. Each stage owns its command module; this file wires them
together and turns failures into the contract's exit codes: 0 ok, 1 runtime failure, 2 bad input or
usage, always with a one-line reason on stderr and no traceback unless --debug."""

from __future__ import annotations

import errno
import importlib
import os
import sys
import traceback
from pathlib import Path

import click

from msm import __version__
from msm.cli_support import AppState, emit, json_option, state
from msm.errors import MsmError, first_line, one_line


# command name -> (module, attribute). A command's module is imported only when that command runs (or when
# every command is listed, for --help): `msm curate` need not import the eval suites' DSPy judges (~1-2 s).
LAZY_COMMANDS = {
    "spec": ("msm.spec_cli", "spec_group"), "models": ("msm.models_cli", "models_group"),
    "generate": ("msm.corpus.generate.cli", "generate_command"), "aft": ("msm.corpus.aft.cli", "aft_group"),
    "runs": ("msm.corpus.runs_cli", "runs_group"),
    "corpus": ("msm.corpus.runs_cli", "corpus_group"), "optimize": ("msm.corpus.optimize.cli", "optimize_command"),
    "curate": ("msm.corpus.curate.cli", "curate_group"), "snapshot": ("msm.corpus.snapshot.cli", "snapshot_group"),
    "review": ("msm.review_app.cli", "review_group"), "train": ("msm.train.cli", "train_group"),
    "eval": ("msm.eval.cli", "eval_command"), "experiment": ("msm.experiment.cli", "experiment_group"),
    "report": ("msm.experiment.cli", "report_command"), "ledger": ("msm.ledger.cli", "ledger_command"),
}
# Subcommands owned by a room above the group they read under: `msm snapshot push` and `msm models push` are the Hub
# push (msm.hub), which needs snapshots and models, so the snapshot and models groups cannot import it themselves.
LAZY_SUBCOMMANDS = {
    "snapshot": [("msm.hub.cli", "snapshot_push_command")],
    "models": [("msm.hub.cli", "models_push_command")],
}


class LazyGroup(click.Group):
    """A group whose subcommands in LAZY_COMMANDS are imported on first use; `commands` lists them all."""

    def _load(self, name: str) -> click.Command | None:
        if name not in self._loaded and name in LAZY_COMMANDS:
            module, attribute = LAZY_COMMANDS[name]
            command = getattr(importlib.import_module(module), attribute)
            if command.name != name:
                raise RuntimeError(f"LAZY_COMMANDS[{name!r}] names the command {command.name!r}")
            for sub_module, sub_attribute in LAZY_SUBCOMMANDS.get(name, []):
                assert isinstance(command, click.Group), name
                command.add_command(getattr(importlib.import_module(sub_module), sub_attribute))
            self._loaded[name] = command
        return self._loaded.get(name)

    @property
    def commands(self) -> dict[str, click.Command]:
        for name in LAZY_COMMANDS:
            self._load(name)
        return self._loaded

    @commands.setter
    def commands(self, value: dict[str, click.Command]) -> None:
        self._loaded = dict(value)

    def add_command(self, cmd: click.Command, name: str | None = None) -> None:
        self._loaded[name or cmd.name] = cmd

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        return self._load(name)

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(self._loaded) | set(LAZY_COMMANDS))


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
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


_REPAIR_LABELS = {"indexed": "indexed (on disk, its catalog row was missing)",
                  "unindexed": "catalog row dropped (its directory is gone)",
                  "removed": "removed (abandoned by a killed command)",
                  "in_use": "left alone (owned by a live process)", "problems": "PROBLEM"}


def _echo_repair(report: dict) -> None:
    for key, label in _REPAIR_LABELS.items():
        for item in report.get(key, []):
            click.echo(f"{label}: {item}")


@cli.command("init")
def init_command() -> None:
    """Create (or upgrade) the workspace: a DuckDB catalog plus runs/, snapshots/, models/, reports/. On an existing
    workspace it also brings the catalog into agreement with the files (as `msm doctor` does)."""
    ws_state = state()
    from msm.workspace import Workspace, default_workspace_path

    ws = Workspace(ws_state.workspace_path or default_workspace_path())
    existed = ws.exists()
    applied = ws.init()
    repaired = ws.last_repair.as_dict() if ws.last_repair else {}

    def human(d: dict) -> None:
        _echo_repair(d["repair"])
        click.echo(f"{'Created' if d['created'] else 'Workspace exists at'} {d['workspace']} "
                   f"(catalog schema v{d['schema_version']})")

    emit({"workspace": str(ws.root.resolve()), "created": not existed, "migrations_applied": applied,
          "schema_version": ws.schema_version(), "repair": repaired}, human)


@cli.command("doctor")
@json_option
def doctor_command() -> None:
    """Check the workspace and repair what a killed command left: index directories the catalog lacks, drop rows
    whose directory is gone, remove staging directories and temp files no live process owns. Exit 1 if something
    needs a person (an unreadable record, a directory that is not what its folder holds)."""
    from msm.errors import BadInput
    from msm.workspace import Workspace, default_workspace_path

    ws = Workspace(state().workspace_path or default_workspace_path())
    if not ws.exists():
        raise BadInput(f"workspace {ws.root}: not initialised (run `msm init` or pass --workspace DIR)")
    ws.migrate(repair=True)
    report = ws.last_repair
    data = {"workspace": str(ws.root.resolve()), **report.as_dict()}

    def human(d: dict) -> None:
        _echo_repair(d)
        verdict = "needs attention" if d["problems"] else "catalog and files agree"
        click.echo(f"workspace {d['workspace']}: {verdict}")

    emit(data, human)
    if report.problems:
        click.get_current_context().exit(1)


def _debug_requested(argv: list[str]) -> bool:
    return "--debug" in argv or os.environ.get("MSM_DEBUG") == "1"


def _report_interrupt(exc: KeyboardInterrupt) -> None:
    # a run says what it kept and that a rerun resumes (lmrun.worklog.RunInterrupted)
    click.echo(f"msm: {exc}" if str(exc) else "msm: interrupted", err=True)
    _exit_now_if_threads_linger(130)


def _exit_now_if_threads_linger(code: int) -> None:
    """After Ctrl-C, worker threads may sit in an HTTP call for its whole request timeout (or a model's generate),
    and Python's exit would join them: stop within a second instead. Every record msm writes is append-only and
    torn tails are repaired on the next read, so nothing finished is lost."""
    import threading

    lingering = [t for t in threading.enumerate() if t is not threading.main_thread() and not t.daemon and t.is_alive()]
    if not lingering:
        return
    for thread in lingering:
        thread.join(timeout=0.5 / len(lingering))
    if any(t.is_alive() for t in lingering):
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def main(argv: list[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        result = cli.main(args=argv, prog_name="msm", standalone_mode=False)
        code = result if isinstance(result, int) else 0
    except click.exceptions.Exit as exc:
        code = exc.exit_code
    except click.exceptions.Abort as exc:
        if isinstance(exc.__cause__, KeyboardInterrupt):  # click turns Ctrl-C into Abort
            _report_interrupt(exc.__cause__)
            code = 130
        else:
            click.echo("msm: aborted", err=True)
            code = 1
    except click.UsageError as exc:
        where = f" (see `{exc.ctx.command_path} --help`)" if exc.ctx else ""
        click.echo(one_line(f"msm: usage error: {exc.format_message()}{where}"), err=True)
        code = 2
    except click.ClickException as exc:
        click.echo(one_line(f"msm: error: {exc.format_message()}"), err=True)
        code = exc.exit_code
    except MsmError as exc:
        if _debug_requested(argv):
            traceback.print_exc()
        click.echo(one_line(f"msm: error: {exc}"), err=True)
        code = exc.exit_code
    except KeyboardInterrupt as exc:
        _report_interrupt(exc)
        code = 130
    except Exception as exc:  # a bug or an unexpected runtime failure: still one line by default
        if _debug_requested(argv):
            traceback.print_exc()
        if isinstance(exc, OSError) and exc.errno == errno.ENAMETOOLONG:
            # a path the user typed that no filesystem accepts: bad input, wherever it was first looked at
            click.echo(one_line(f"msm: error: {exc.filename or 'a path'}: file name too long"), err=True)
            code = 2
        else:
            click.echo(one_line(f"msm: error: {type(exc).__name__}: {first_line(exc)} "
                                "(rerun with --debug for the traceback)"), err=True)
            code = 1
    sys.exit(code)


if __name__ == "__main__":
    main()
