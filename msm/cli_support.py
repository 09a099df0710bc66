"""What every command module shares: the global options' state, output in human or --json form,
progress bars that switch off when not on a TTY, the 'not built yet' convention, and the one-line
error for a feature whose optional dependencies (an "extra") are not installed."""

from __future__ import annotations

import importlib.util
import json
import sys
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import click

from msm.errors import BadInput
from msm.option_types import MAX_OPTION_INT, BoundedInt, FiniteFloat, bounded_int_list  # noqa: F401 (re-exported)
from msm.workspace import Workspace


# The name msm is installed under (`msm` on PyPI is another project); install hints use it.
DISTRIBUTION = "msm-midtrain"


def install_hint(extra: str) -> str:
    return f"pip install '{DISTRIBUTION}[{extra}]'"


def require_extra(extra: str, feature: str, *modules: str) -> None:
    """BadInput (exit 2, one line) unless every module in `modules` can be imported.

    Checked with find_spec rather than by importing: the check costs nothing when the module is there,
    and an ImportError raised *inside* an installed package is a real bug that must not be reported
    as a missing extra.
    """
    missing = [name for name in modules if not module_available(name)]
    if missing:
        raise BadInput(f"{feature} needs the `{extra}` extra ({', '.join(missing)} not installed): {install_hint(extra)}")


def module_available(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a missing parent package, or a half-installed one
        return False


@dataclass
class AppState:
    workspace_path: Path | None = None
    json: bool = False
    debug: bool = False
    quiet: bool = False
    _workspace: Workspace | None = field(default=None, repr=False)

    def workspace(self, *, create: bool = False) -> Workspace:
        if self._workspace is None or (create and not self._workspace.exists()):
            self._workspace = Workspace.open(self.workspace_path, create=create)
        return self._workspace

    @property
    def show_progress(self) -> bool:
        return not self.quiet and not self.json and sys.stderr.isatty()


def state() -> AppState:
    ctx = click.get_current_context()
    root = ctx.find_root()
    if root.obj is None:
        root.obj = AppState()
    return root.obj


def _set_json(ctx: click.Context, _param: click.Parameter, value: bool) -> bool:
    if value:
        state().json = True
    return value


def json_option(func: Callable) -> Callable:
    """`--json` on a read command (the global `msm --json` works too)."""
    return click.option("--json", "json_flag", is_flag=True, expose_value=False, callback=_set_json,
                        is_eager=True, help="Print machine-readable JSON instead of text.")(func)


def emit(data: Any, human: Callable[[Any], None] | None = None) -> None:
    """Print `data` as JSON under --json, else through `human` (or as indented JSON if none given)."""
    if state().json or human is None:
        click.echo(json.dumps(data, indent=2, ensure_ascii=False, default=str))
    else:
        human(data)


def info(message: str) -> None:
    """Progress/status text: stderr, so stdout stays clean for --json; silenced by --quiet."""
    if not state().quiet:
        click.echo(message, err=True)


@contextmanager
def progress(description: str, total: int | None = None) -> Iterator[Callable[..., None]]:
    """A rich progress bar on a TTY; a no-op elsewhere. Yields `advance(n=1, **fields)`; `advance(0,
    total=T, completed=C)` sets the total (so the bar shows N/T and an ETA) and restarts the speed estimate
    at C (a resumed job must not count the steps it skipped as done in no time). A `stage` field names what the
    job is doing now (`write`, `ideas 3/12`) beside the description; the other fields are counts."""
    import os

    if os.environ.get(PROGRESS_FILE_ENV):
        yield file_progress(Path(os.environ[PROGRESS_FILE_ENV]), description, total)
        return
    if not state().show_progress:
        yield lambda n=1, **_fields: None
        return
    with progress_bar(description, total) as advance:
        yield advance


# a parent process (the experiment runner) that runs msm commands without a terminal reads their progress here
PROGRESS_FILE_ENV = "MSM_PROGRESS_FILE"


def file_progress(path: Path, description: str, total: int | None) -> Callable[..., None]:
    """An `advance` that keeps `path` holding the latest {description, stage, completed, total, status} as JSON,
    rewritten atomically at most once a second."""
    import time

    from msm.atomic import write_json_atomic

    now = {"description": description, "stage": "", "completed": 0, "total": total, "status": ""}
    last = [0.0]

    def advance(n: int = 1, *, total: int | None = None, completed: int | None = None, **fields: Any) -> None:
        if total is not None or completed is not None:
            now.update(total=total if total is not None else now["total"], completed=completed or 0)
        now["completed"] += n
        stage = fields.pop("stage", None)
        if stage is not None:
            now["stage"] = stage
        now["status"] = " ".join(f"{k}={v}" for k, v in fields.items())
        if time.monotonic() - last[0] >= 1.0 or (now["total"] and now["completed"] >= now["total"]):
            last[0] = time.monotonic()
            try:
                write_json_atomic(path, now)
            except OSError:
                pass  # progress is a courtesy; it never fails the command

    advance(0)
    return advance


def progress_line(path: Path) -> str | None:
    """What a command's progress file says, as one line (`write 3/8 ok=3 fail=0 ...`), or None."""
    try:
        now = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    count = f"{now.get('completed', 0)}/{now['total']}" if now.get("total") else str(now.get("completed", 0))
    return " ".join(part for part in (now.get("stage") or now.get("description", ""), count, now.get("status", ""))
                    if part)


@contextmanager
def progress_bar(description: str, total: int | None = None, console: Any = None) -> Iterator[Callable[..., None]]:
    """The bar behind `progress`, on `console` (rich's stderr console by default; tests pass a narrow one). The
    counts go on a line of their own under the bar, wrapped at the terminal's width instead of cut."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
    from rich.table import Column
    from rich.text import Text

    class StatusProgress(Progress):
        def get_renderables(self):
            yield self.make_tasks_table(self.tasks)
            for task in self.tasks:
                if task.fields.get("status"):
                    yield Text("  " + task.fields["status"], overflow="fold")

    with StatusProgress(TextColumn("{task.description}", table_column=Column(overflow="fold")),
                        BarColumn(bar_width=20), MofNCompleteColumn(), TimeElapsedColumn(), TimeRemainingColumn(),
                        transient=False, console=console) as bar:
        task = bar.add_task(description, total=total, status="")

        def advance(n: int = 1, *, total: int | None = None, completed: int | None = None, **fields: Any) -> None:
            if total is not None or completed is not None:
                bar.reset(task, total=total, completed=completed or 0, status="")
            stage = fields.pop("stage", None)
            status = " ".join(f"{k}={v}" for k, v in fields.items())
            if stage is not None:
                bar.update(task, description=f"{description} · {stage}" if stage else description)
            bar.update(task, advance=n, status=status)

        yield advance


def table(rows: list[dict], columns: list[str]) -> None:
    """A plain aligned text table (rich would wrap badly in narrow CI logs)."""
    if not rows:
        click.echo("(none)")
        return
    widths = {c: max(len(c), *(len(str(r.get(c, ""))) for r in rows)) for c in columns}
    click.echo("  ".join(c.upper().ljust(widths[c]) for c in columns).rstrip())
    for row in rows:
        click.echo("  ".join(str(row.get(c, "")).ljust(widths[c]) for c in columns).rstrip())


