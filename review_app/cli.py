"""`msm review` — launch the Streamlit review app; `msm review add-user` (issue #6)."""

from __future__ import annotations

import click

from msm.cli_support import not_built


@click.group("review", invoke_without_command=True)
@click.option("--port", type=click.IntRange(1, 65535), default=8501, show_default=True, help="Port to serve on.")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind.")
@click.pass_context
def review_group(ctx: click.Context, port: int, host: str) -> None:
    """Start the Streamlit review app against the workspace."""
    if ctx.invoked_subcommand is None:
        not_built("review", 6)()


@review_group.command("add-user")
@click.argument("name")
@click.option("--role", type=click.Choice(["reviewer", "admin"]), default="reviewer", show_default=True,
              help="Admins assign work, see all progress and export; reviewers see their queue.")
@click.option("--password-stdin", is_flag=True, help="Read the password from one line of stdin.")
def add_user_command(name: str, role: str, password_stdin: bool) -> None:
    """Create a local review account (salted slow hash; the password itself is never stored)."""
    not_built("review add-user", 6)()
