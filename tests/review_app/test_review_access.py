"""Review app access: sign-in backoff and lockout (persisted), remove/disable/enable/unlock-user, weak passwords.

The fast tests call the account functions and the CLI; the attacks against a live `msm review` (real Streamlit,
real Chromium) are in test_review_access_live.py."""

from __future__ import annotations

import io
import time

import pytest

from msm.errors import BadInput
from msm.review_app import access, accounts
from msm.workspace import Workspace


@pytest.fixture
def ws(isolated_workspace) -> Workspace:
    ws = Workspace.open(isolated_workspace, create=True)
    accounts.add_user(ws, "alice", "alice-pass-1", "admin")
    return ws


def _outcomes(ws: Workspace, name: str) -> list[str]:
    with ws.catalog(read_only=True) as con:
        return [o for (o,) in con.execute("SELECT outcome FROM review_sign_ins WHERE name = ? ORDER BY seq",
                                          [name]).fetchall()]


@pytest.mark.parametrize("password, message", [
    ("        ", "only whitespace"),          # 8 spaces
    (" \t  \t  \t ", "only whitespace"),
    ("aaaaaaaaaaaa", "too weak"),
    ("12121212", "too weak"),
])
def test_weak_password_exits_2_with_one_line(msm, monkeypatch, isolated_workspace, password, message):
    monkeypatch.setattr("sys.stdin", io.StringIO(password + "\n"))
    result = msm("review", "add-user", "bob", "--password-stdin")
    assert result.code == 2, result.err
    assert message in result.err and len(result.err.strip().splitlines()) == 1
    assert accounts.list_users(Workspace.open(isolated_workspace)) == []


def test_backoff_refuses_without_checking_the_password(ws):
    for _ in range(access.ACCOUNT_DELAY_AFTER):
        assert accounts.sign_in(ws, "alice", "wrong-guess-1").user is None
    refused = accounts.sign_in(ws, "alice", "alice-pass-1")      # the right password, too soon after
    assert refused.user is None and "try again in" in refused.message
    assert _outcomes(ws, "alice")[-1] == "throttled"                # refused before scrypt, not a failure
    time.sleep(2 ** 0 + 0.2)                                        # the first delay is 1 s
    assert accounts.sign_in(ws, "alice", "alice-pass-1").user is not None
    assert _outcomes(ws, "alice")[-1] == "ok"


def test_lockout_refuses_the_right_password_until_an_admin_unlocks(ws, msm, monkeypatch):
    monkeypatch.setattr(access, "ACCOUNT_DELAY_AFTER", 100)       # no waiting between guesses in this test
    monkeypatch.setattr(access, "CLIENT_DELAY_AFTER", 100)
    for i in range(access.LOCKOUT_AFTER):
        assert accounts.sign_in(ws, "alice", f"guess-{i}-xyz").user is None
    locked = accounts.sign_in(ws, "alice", "alice-pass-1")
    assert locked.user is None and "locked" in locked.message and "unlock-user alice" in locked.message
    # Persisted: a new Workspace object (as after a server restart) sees the same lock.
    again = accounts.sign_in(Workspace.open(ws.root), "alice", "alice-pass-1")
    assert again.user is None and "locked" in again.message
    users = {r["name"]: r for r in accounts.account_status(ws)}
    assert users["alice"]["locked"] and users["alice"]["failed_sign_ins"] == access.LOCKOUT_AFTER
    result = msm("review", "unlock-user", "alice")
    assert result.code == 0, result.err
    assert accounts.sign_in(ws, "alice", "alice-pass-1").user is not None
    assert _outcomes(ws, "alice").count("failed") == access.LOCKOUT_AFTER      # append-only: history kept


def test_unknown_names_lock_the_same_way(ws, monkeypatch):
    """The lockout message must not tell an account from a name without one."""
    monkeypatch.setattr(access, "ACCOUNT_DELAY_AFTER", 100)
    monkeypatch.setattr(access, "CLIENT_DELAY_AFTER", 100)
    for i in range(access.LOCKOUT_AFTER):
        accounts.sign_in(ws, "nobody", f"guess-{i}-xyz")
    assert "locked" in accounts.sign_in(ws, "nobody", "anything-1").message


def test_client_backoff_spans_account_names(ws):
    for i in range(access.CLIENT_DELAY_AFTER):
        assert accounts.sign_in(ws, f"name{i}", "wrong-guess-1", client="10.0.0.9").user is None
    refused = accounts.sign_in(ws, "alice", "alice-pass-1", client="10.0.0.9")
    assert refused.user is None and "try again" in refused.message
    # another client is not held up by this one's guesses
    assert accounts.sign_in(ws, "alice", "alice-pass-1", client="10.0.0.10").user is not None


def test_remove_disable_enable(ws, msm):
    accounts.add_user(ws, "carol", "carol-pass-1", "reviewer")
    assert accounts.current_account(ws, "carol").role == "reviewer"
    assert msm("review", "disable-user", "carol").code == 0
    assert accounts.current_account(ws, "carol") is None
    disabled = accounts.sign_in(ws, "carol", "carol-pass-1")
    assert disabled.user is None and "disabled" in disabled.message
    assert msm("review", "enable-user", "carol").code == 0
    assert accounts.sign_in(ws, "carol", "carol-pass-1").user is not None
    assert msm("review", "remove-user", "carol").code == 0
    assert accounts.current_account(ws, "carol") is None
    assert [u.name for u in accounts.list_users(ws)] == ["alice"]
    assert accounts.sign_in(ws, "carol", "carol-pass-1").user is None
    result = msm("review", "remove-user", "carol")
    assert result.code == 2 and "no such review account" in result.err
    assert msm("review", "disable-user", "../x").code == 2
    assert msm("review", "enable-user", "carol").code == 2          # removal is final
    # the name is not given to someone else: the review history keeps naming the removed account
    with pytest.raises(BadInput, match="names are not reused"):
        accounts.add_user(ws, "carol", "carol-pass-2", "reviewer")
    with ws.catalog(read_only=True) as con:
        events = [e for (e,) in con.execute("SELECT event FROM review_audit WHERE actor = 'cli' ORDER BY seq").fetchall()]
    assert events[-3:] == ["disable-user", "enable-user", "remove-user"]
