"""`msm review` — launch the Streamlit review app; manage its accounts (add/remove/disable/enable/unlock-user)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from msm.cli_support import BoundedInt, emit, info, json_option, require_extra, state, table
from msm.errors import BadInput

APP_SCRIPT = Path(__file__).with_name("app.py")
# What `streamlit run` is given: an ASGI `App` around APP_SCRIPT that does not serve /_stcore/metrics (server.py).
SERVER_SCRIPT = Path(__file__).with_name("server.py")


def streamlit_command(port: int, host: str, secrets_file: Path | None = None) -> list[str]:
    command = [sys.executable, "-m", "streamlit", "run", str(SERVER_SCRIPT), "--server.port", str(port),
               "--server.address", host, "--server.headless", "true", "--browser.gatherUsageStats", "false",
               "--server.fileWatcherType", "none", "--client.toolbarMode", "minimal"]
    if secrets_file is not None:
        # The workspace's review.toml is Streamlit's secrets file, and the only one: a stray
        # ~/.streamlit/secrets.toml must not change who can sign in.
        command += ["--secrets.files", str(secrets_file.resolve())]
    return command


def _require_authlib(path: Path | None) -> None:
    require_extra("review", f"{path}: OIDC sign-in", "authlib")  # st.login needs it


@click.group("review", invoke_without_command=True)
@click.option("--port", type=BoundedInt(1, 65535), default=8501, show_default=True, help="Port to serve on.")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to bind (0.0.0.0 to serve other machines; put TLS in front of it).")
@click.pass_context
def review_group(ctx: click.Context, port: int, host: str) -> None:
    """Start the Streamlit review app against the workspace (create accounts first with `add-user`)."""
    if ctx.invoked_subcommand is not None:
        return
    require_extra("review", "`msm review`", "streamlit")
    from msm.review_app.accounts import list_users
    from msm.review_app.sign_in_config import load_sign_in_config

    ws = state().workspace()
    config = load_sign_in_config(ws)
    if not list_users(ws):
        raise BadInput(f"workspace {ws.root}: no review accounts yet (run `msm review add-user NAME --role admin`)")
    if config.oidc:
        _require_authlib(config.path)
    _check_port_free(host, port)   # before the URL is printed: a taken port must not look like a running app
    info(f"Review app for {ws.root.resolve()} at http://{host}:{port} (Ctrl-C stops it)")
    if config.oidc:
        info(f"Sign-in: {config.provider_label} (OIDC, {config.path})"
             + (" or local accounts" if config.local_accounts else " only"))
    # Bring every run's document index up to date before the first visitor: the app then opens a run from its
    # index instead of parsing the run's JSONL (seconds at 100k documents). Already up to date: milliseconds.
    from msm.corpus.run_index import refresh
    from msm.corpus.run_store import RunStore, list_runs

    for row in list_runs(ws):
        store = RunStore(ws, row["name"])
        if store.documents_path.exists():
            refresh(store)
    env = {**os.environ, "MSM_WORKSPACE": str(ws.root.resolve())}
    # Become the Streamlit server (exec, not a child process) so Ctrl-C and SIGTERM reach it directly and
    # no orphaned server is left behind when a supervisor stops `msm review`.
    command = streamlit_command(port, host, secrets_file=config.path if config.oidc else None)
    os.execve(command[0], command, env)


def _check_port_free(host: str, port: int) -> None:
    import socket

    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM) as probe:
        # as the server will (tornado sets it): a port left in TIME_WAIT is free, one with a listener is not
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise BadInput(f"--port {port}: {host}:{port} is not free ({exc.strerror or exc}); stop what uses it or "
                           f"pick another port with `msm review --port N`") from None


@review_group.command("add-user")
@click.argument("name")
@click.option("--role", type=click.Choice(["reviewer", "admin"]), default="reviewer", show_default=True,
              help="Admins assign work, see all progress and export; reviewers see their queue.")
@click.option("--password-stdin", is_flag=True, help="Read the password from one line of stdin (for scripts).")
@click.option("--oidc", is_flag=True,
              help="An account entered through the identity provider in review.toml (NAME is the identity, "
                   "e.g. the e-mail address); it has no password.")
def add_user_command(name: str, role: str, password_stdin: bool, oidc: bool) -> None:
    """Create a review account: local (salted scrypt hash; the password itself is never stored) or --oidc."""
    from msm.review_app.accounts import add_user, check_user_name

    check_user_name(name)
    if oidc and password_stdin:
        raise BadInput("--oidc and --password-stdin: an OIDC account has no password")
    ws = state().workspace(create=True)
    if oidc:
        password = None
    elif password_stdin:
        # bytes, decoded here: a non-UTF-8 password is refused in one line (a text stream without bytes, as in
        # tests, is already decoded)
        buffer = getattr(sys.stdin, "buffer", None)
        raw = buffer.readline(4097) if buffer is not None else sys.stdin.readline(4097)
        try:
            line = raw.decode("utf-8") if isinstance(raw, bytes) else raw
        except UnicodeDecodeError as exc:
            raise BadInput(f"--password-stdin: not UTF-8 (byte 0x{raw[exc.start]:02x} at position {exc.start + 1})") from None
        password = line.rstrip("\r\n")
        if not line:
            raise BadInput("--password-stdin: stdin is empty (expected one line with the password)")
    else:
        password = click.prompt(f"Password for {name}", hide_input=True, confirmation_prompt=True)
    user = add_user(ws, name, password, role, oidc=oidc)
    emit({"name": user.name, "role": user.role, "sign_in": user.sign_in, "workspace": str(ws.root)},
         lambda d: click.echo(f"Added {d['role']} {d['name']} ({d['sign_in']} sign-in) to {d['workspace']}"))


@review_group.command("users")
@json_option
def users_command() -> None:
    """List review accounts: role, sign-in, whether enabled, consecutive failed sign-ins and lockout."""
    from msm.review_app.accounts import account_status

    rows = account_status(state().workspace())
    emit(rows, lambda r: table(r, ["name", "role", "sign_in", "enabled", "failed_sign_ins", "locked"]))


def _account_command(name: str, done: str) -> None:
    emit({"name": name, "workspace": str(state().workspace().root), "done": done},
         lambda d: click.echo(f"{d['done']} {d['name']} in {d['workspace']}"))


@review_group.command("remove-user")
@click.argument("name")
def remove_user_command(name: str) -> None:
    """Remove account NAME for good: its decisions stay, the name is not reused, open sessions end at the next click."""
    from msm.review_app.accounts import remove_user

    remove_user(state().workspace(), name)
    _account_command(name, "Removed")


@review_group.command("disable-user")
@click.argument("name")
def disable_user_command(name: str) -> None:
    """Refuse sign-in for account NAME and sign out its open sessions at their next click (`enable-user` undoes)."""
    from msm.review_app.accounts import set_enabled

    set_enabled(state().workspace(), name, False)
    _account_command(name, "Disabled")


@review_group.command("enable-user")
@click.argument("name")
def enable_user_command(name: str) -> None:
    """Allow account NAME to sign in again after `disable-user`."""
    from msm.review_app.accounts import set_enabled

    set_enabled(state().workspace(), name, True)
    _account_command(name, "Enabled")


@review_group.command("unlock-user")
@click.argument("name")
def unlock_user_command(name: str) -> None:
    """Lift the lockout (and backoff) of NAME after repeated failed sign-ins; the lock survives restarts until then."""
    from msm.review_app.accounts import unlock_user

    failures = unlock_user(state().workspace(), name)
    _account_command(name, f"Unlocked ({failures} failed sign-ins cleared)")
