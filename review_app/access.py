"""Who may try a password now: per-account and per-client backoff, lockout, and disabled accounts.

Derived from the append-only `review_sign_ins` and `review_account_states` tables (migration 0012), so a
restart of `msm review` lifts nothing:

- An account name with ACCOUNT_DELAY_AFTER or more consecutive failed sign-ins (since its last success or unlock)
  waits 2^(n - ACCOUNT_DELAY_AFTER) s after its last failure (capped at MAX_DELAY_S) before the next password is
  even checked; at LOCKOUT_AFTER it is locked until an admin runs `msm review unlock-user NAME`. A locked account
  is refused even with the right password — the point of a lockout is that guessing until it fits stops working.
- A client address with CLIENT_DELAY_AFTER or more failures in the last CLIENT_WINDOW (any names) waits the same
  way: parallel sessions, or one guesser cycling through names, share their client's budget.
- Attempts refused by either never reach scrypt and are recorded as 'throttled' or 'locked', not as failures.

The same rules hold for names without an account, so the answers do not tell which names exist. One sign-in is
checked at a time per server process (`SIGN_IN_LOCK`): parallel sessions cannot all pass the gate before any of
their failures is recorded.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime, timedelta

LOCKOUT_AFTER = 5
ACCOUNT_DELAY_AFTER = 2
CLIENT_DELAY_AFTER = 5
CLIENT_WINDOW = timedelta(minutes=15)
MAX_DELAY_S = 300.0
SIGN_IN_LOCK = threading.Lock()


@dataclass(frozen=True)
class Gate:
    """Why a sign-in attempt is refused before its password is checked: 'locked' or 'throttled' (wait_s)."""
    outcome: str
    message: str
    wait_s: float = 0.0


def _delay(failures: int, free: int) -> float:
    return 0.0 if failures < free else min(MAX_DELAY_S, 2.0 ** (failures - free))


def account_failures(con, name: str) -> tuple[int, datetime | None]:
    """(consecutive failed sign-ins of `name` since its last success or reset, time of the last one)."""
    row = con.execute("""
        SELECT count(*), max(occurred_at) FROM review_sign_ins
        WHERE name = $name AND outcome = 'failed' AND seq > coalesce(
            (SELECT max(seq) FROM review_sign_ins WHERE name = $name AND outcome IN ('ok', 'reset')), 0)""",
                      {"name": name}).fetchone()
    return int(row[0]), row[1]


def client_failures(con, client: str, now: datetime) -> tuple[int, datetime | None]:
    row = con.execute("SELECT count(*), max(occurred_at) FROM review_sign_ins WHERE client = ? AND outcome = 'failed' "
                      "AND occurred_at > ?", [client, now - CLIENT_WINDOW]).fetchone()
    return int(row[0]), row[1]


def gate(con, name: str, client: str, now: datetime) -> Gate | None:
    """None when the attempt may check its password now, else why not."""
    failures, last = account_failures(con, name)
    if failures >= LOCKOUT_AFTER:
        return Gate("locked", f"This account is locked after {failures} failed sign-ins: an admin can lift the "
                              f"lock with `msm review unlock-user {name}`.")
    waits = []
    if last is not None:
        waits.append((last - now).total_seconds() + _delay(failures, ACCOUNT_DELAY_AFTER))
    failures, last = client_failures(con, client, now)
    if last is not None:
        waits.append((last - now).total_seconds() + _delay(failures, CLIENT_DELAY_AFTER))
    wait = max(waits, default=0.0)
    if wait > 0:
        return Gate("throttled", f"Too many failed sign-ins: try again in {max(1, round(wait + 0.5))} s.", wait)
    return None


def record(con, name: str, client: str, outcome: str, now: datetime) -> None:
    con.execute("INSERT INTO review_sign_ins (occurred_at, name, client, outcome) VALUES (?, ?, ?, ?)",
                [now, name[:64], client[:128], outcome])


# Names whose latest state row is 'removed' (a removed account never comes back: add-user refuses the name).
REMOVED_NAMES_SQL = ("SELECT name FROM review_account_states WHERE state = 'removed'")


def _state(con, name: str) -> str:
    row = con.execute("SELECT state FROM review_account_states WHERE name = ? ORDER BY seq DESC LIMIT 1",
                      [name]).fetchone()
    return row[0] if row else "enabled"


def is_enabled(con, name: str) -> bool:
    """Neither disabled nor removed."""
    return _state(con, name) == "enabled"


def is_removed(con, name: str) -> bool:
    return con.execute("SELECT 1 FROM review_account_states WHERE name = ? AND state = 'removed' LIMIT 1",
                       [name]).fetchone() is not None


def set_state(con, name: str, state: str, actor: str, now: datetime) -> None:
    con.execute("INSERT INTO review_account_states (occurred_at, name, state, actor) VALUES (?, ?, ?, ?)",
                [now, name, state, actor])
