"""Password hashing, `msm review add-user`, and `msm review` refusing to start without accounts."""

from __future__ import annotations

import pytest

from msm.review_app import accounts
from msm.workspace import Workspace


def test_hash_is_salted_slow_and_never_the_password():
    first, second = accounts.hash_password("correct horse"), accounts.hash_password("correct horse")
    assert first != second                      # salted
    assert "correct horse" not in first
    scheme, n, r, p, salt, digest = first.split("$")
    assert scheme == "scrypt" and int(n) >= 2**14 and len(bytes.fromhex(salt)) >= 16
    assert accounts.verify_password("correct horse", first)
    assert not accounts.verify_password("correct horsf", first)
    assert not accounts.verify_password("correct horse", "garbage")


def test_add_user_from_stdin_then_login(msm_process, isolated_workspace):
    result = msm_process("review", "add-user", "alice", "--role", "admin", "--password-stdin",
                         input="s3cret-pass\n")
    assert result.code == 0, result.err
    ws = Workspace.open(isolated_workspace)
    with ws.catalog(read_only=True) as con:
        rows = con.execute("SELECT name, role, password_hash FROM review_users").fetchall()
    assert [(n, r) for n, r, _ in rows] == [("alice", "admin")]
    assert "s3cret-pass" not in rows[0][2]
    assert accounts.authenticate(ws, "alice", "s3cret-pass").role == "admin"
    assert accounts.authenticate(ws, "alice", "wrong-pass!") is None
    assert accounts.authenticate(ws, "nobody", "s3cret-pass") is None
    with ws.catalog(read_only=True) as con:
        events = [e for (e,) in con.execute("SELECT event FROM review_audit ORDER BY seq").fetchall()]
    assert events == ["add-user", "login", "login-failed", "login-failed"]


@pytest.mark.parametrize(
    "args, stdin, message",
    [
        (["alice", "--password-stdin"], "another-pass\n", "already exists"),
        (["bob", "--role", "owner", "--password-stdin"], "s3cret-pass\n", "--role"),
        (["bob", "--password-stdin"], "short\n", "shorter than 8"),
        (["bob", "--password-stdin"], "", "stdin is empty"),
        (["../bob", "--password-stdin"], "s3cret-pass\n", "user name '../bob'"),
    ],
)
def test_add_user_bad_input_exits_2(msm, monkeypatch, args, stdin, message):
    import io

    monkeypatch.setattr("sys.stdin", io.StringIO("s3cret-pass\n"))
    assert msm("review", "add-user", "alice", "--password-stdin").code == 0
    monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    result = msm("review", "add-user", *args)
    assert result.code == 2, result.err
    assert message in result.err and len(result.err.strip().splitlines()) == 1
    assert [u.name for u in accounts.list_users(Workspace.open())] == ["alice"]


def test_review_refuses_to_start_without_accounts(msm):
    assert msm("init").code == 0
    result = msm("review", "--port", "8599")
    assert result.code == 2 and "add-user" in result.err
