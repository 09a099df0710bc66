"""`msm review` — launch the Streamlit review app; `msm review add-user` (issue #6)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from msm.cli_support import emit, info, json_option, state, table
from msm.errors import BadInput

APP_SCRIPT = Path(__file__).with_name("app.py")


def streamlit_command(port: int, host: str) -> list[str]:
    return [sys.executable, "-m", "streamlit", "run", str(APP_SCRIPT), "--server.port", str(port),
            "--server.address", host, "--server.headless", "true", "--browser.gatherUsageStats", "false",
            "--server.fileWatcherType", "none", "--client.toolbarMode", "minimal"]


@click.group("review", invoke_without_command=True)
@click.option("--port", type=click.IntRange(1, 65535), default=8501, show_default=True, help="Port to serve on.")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to bind (0.0.0.0 to serve other machines; put TLS in front of it).")
@click.pass_context
def review_group(ctx: click.Context, port: int, host: str) -> None:
    """Start the Streamlit review app against the workspace (create accounts first with `add-user`)."""
    if ctx.invoked_subcommand is not None:
        return
    from msm.review_app.accounts import list_users

    ws = state().workspace()
    if not list_users(ws):
        raise BadInput(f"workspace {ws.root}: no review accounts yet (run `msm review add-user NAME --role admin`)")
    info(f"Review app for {ws.root.resolve()} at http://{host}:{port} (Ctrl-C stops it)")
    env = {**os.environ, "MSM_WORKSPACE": str(ws.root.resolve())}
    # Become the Streamlit server (exec, not a child process) so Ctrl-C and SIGTERM reach it directly and
    # no orphaned server is left behind when a supervisor stops `msm review`.
    command = streamlit_command(port, host)
    os.execve(command[0], command, env)


@review_group.command("add-user")
@click.argument("name")
@click.option("--role", type=click.Choice(["reviewer", "admin"]), default="reviewer", show_default=True,
              help="Admins assign work, see all progress and export; reviewers see their queue.")
@click.option("--password-stdin", is_flag=True, help="Read the password from one line of stdin (for scripts).")
def add_user_command(name: str, role: str, password_stdin: bool) -> None:
    """Create a local review account (salted scrypt hash; the password itself is never stored)."""
    from msm.review_app.accounts import add_user, check_user_name

    check_user_name(name)
    ws = state().workspace(create=True)
    if password_stdin:
        line = sys.stdin.readline()
        password = line.rstrip("\r\n")
        if not line:
            raise BadInput("--password-stdin: stdin is empty (expected one line with the password)")
    else:
        password = click.prompt(f"Password for {name}", hide_input=True, confirmation_prompt=True)
    user = add_user(ws, name, password, role)
    emit({"name": user.name, "role": user.role, "workspace": str(ws.root)},
         lambda d: click.echo(f"Added {d['role']} {d['name']} to {d['workspace']}"))


@review_group.command("users")
@json_option
def users_command() -> None:
    """List review accounts and their roles."""
    from msm.review_app.accounts import list_users

    rows = [u.model_dump() for u in list_users(state().workspace())]
    emit(rows, lambda r: table(r, ["name", "role"]))
