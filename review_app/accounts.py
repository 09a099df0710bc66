"""Review accounts in the catalog's `review_users` table.

A local account stores a salted scrypt hash, never the password. An OIDC account stores the marker `oidc` in
place of a hash: it can only be entered through the identity provider (`st.login`), never with a password.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from typing import Literal

from pydantic import BaseModel

from msm.errors import BadInput
from msm.corpus.decisions import audit, insert_audit
from msm.review_app import access
from msm.workspace import Workspace, utc_now

Role = Literal["reviewer", "admin"]
ROLES: tuple[str, ...] = ("reviewer", "admin")

# scrypt with n=2**15, r=8 costs ~32 MiB and ~0.1 s per check on this machine: cheap for one login, slow
# for an attacker guessing against a copied catalog.
_SCRYPT_N, _SCRYPT_R, _SCRYPT_P = 2**15, 8, 1
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$")
MIN_PASSWORD_LENGTH = 8
MIN_DISTINCT_CHARACTERS = 4   # "aaaaaaaa" and "12121212" are the first guesses, whatever their length


OIDC_MARKER = "oidc"


class ReviewUser(BaseModel):
    name: str
    role: Role
    sign_in: Literal["password", "oidc"] = "password"


def hash_password(password: str, *, n: int = _SCRYPT_N, r: int = _SCRYPT_R, p: int = _SCRYPT_P) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode("utf-8"), salt=salt, n=n, r=r, p=p, maxmem=128 * 1024 * 1024, dklen=32)
    return f"scrypt${n}${r}${p}${salt.hex()}${digest.hex()}"


def verify_password(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt_hex, digest_hex = stored.split("$")
        if scheme != "scrypt":
            return False
        digest = hashlib.scrypt(password.encode("utf-8"), salt=bytes.fromhex(salt_hex), n=int(n), r=int(r),
                                p=int(p), maxmem=128 * 1024 * 1024, dklen=len(digest_hex) // 2)
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(digest.hex(), digest_hex)


def check_user_name(name: str) -> str:
    if not _NAME_RE.match(name or ""):
        raise BadInput(f"user name {name!r} is not allowed: use 1-64 letters, digits, '_', '-', '.', '@'")
    return name


def add_user(ws: Workspace, name: str, password: str | None, role: str = "reviewer", *,
             oidc: bool = False) -> ReviewUser:
    """Create an account: with a password (local), or with `oidc=True` and no password (the name is the
    identity the provider vouches for, e.g. the verified e-mail address)."""
    check_user_name(name)
    if role not in ROLES:
        raise BadInput(f"role {role!r} is not allowed: use one of {', '.join(ROLES)}")
    if oidc:
        if password is not None:
            raise BadInput(f"user {name!r}: an OIDC account has no password (drop the password or --oidc)")
        stored = OIDC_MARKER
    else:
        check_password(name, password)
        stored = hash_password(password)
    with ws.catalog() as con:
        if con.execute("SELECT 1 FROM review_users WHERE name = ?", [name]).fetchone():
            if access.is_removed(con, name):
                raise BadInput(f"user {name!r} was removed from {ws.catalog_path}; names are not reused (the "
                               f"review history names it): choose another name")
            raise BadInput(f"user {name!r} already exists in {ws.catalog_path}")
        now = utc_now()
        con.execute("INSERT INTO review_users VALUES (?, ?, ?, ?)", [name, role, stored, now])
        # A new account starts unlocked, whatever guesses at the name before it existed left behind.
        access.record(con, name, "cli", "reset", now)
        insert_audit(con, "cli", "add-user", {"name": name, "role": role, "sign_in": "oidc" if oidc else "password"})
    return ReviewUser(name=name, role=role, sign_in="oidc" if oidc else "password")  # type: ignore[arg-type]



def check_password(name: str, password: str | None) -> str:
    """BadInput unless `password` is long and varied enough (8 spaces is neither)."""
    if password is None or len(password) < MIN_PASSWORD_LENGTH:
        raise BadInput(f"password for {name!r}: shorter than {MIN_PASSWORD_LENGTH} characters")
    if not password.strip():
        raise BadInput(f"password for {name!r}: only whitespace")
    if len(set(password)) < MIN_DISTINCT_CHARACTERS:
        raise BadInput(f"password for {name!r}: too weak (fewer than {MIN_DISTINCT_CHARACTERS} different characters)")
    return password


class SignIn(BaseModel):
    """What a password sign-in attempt came to: the user, or the one-line message to show instead."""
    user: ReviewUser | None = None
    message: str = "Wrong user name or password."


def sign_in(ws: Workspace, name: str, password: str, client: str = "?") -> SignIn:
    """Check a password sign-in against the throttle and lockout (`access`), then the password. Every attempt
    is recorded in `review_sign_ins` and audited (never the password)."""
    name = name[:64]
    with access.SIGN_IN_LOCK:
        with ws.catalog() as con:
            refused = access.gate(con, name, client, utc_now())
            if refused is not None:
                access.record(con, name, client, refused.outcome, utc_now())
                insert_audit(con, name, f"login-{refused.outcome}", {"client": client})
                return SignIn(message=refused.message)
            row = con.execute("SELECT role, password_hash FROM review_users WHERE name = ?", [name]).fetchone()
            if row is not None and access.is_removed(con, name):
                row = None                          # a removed account answers like a name that never existed
        # Hash even for an unknown name so timing does not tell which names exist.
        # An OIDC account has no password: hash against the dummy so it fails in the same time as any other.
        local = row is not None and row[1] != OIDC_MARKER
        ok = verify_password(password, row[1]) if local else (verify_password(password, _DUMMY_HASH) and False)
        with ws.catalog() as con:
            access.record(con, name, client, "ok" if ok else "failed", utc_now())
            enabled = ok and access.is_enabled(con, name)
            insert_audit(con, name, ("login" if enabled else "login-disabled") if ok else "login-failed",
                         {"client": client})
    if ok and not enabled:
        return SignIn(message="This account is disabled: ask an admin (`msm review enable-user`).")
    return SignIn(user=ReviewUser(name=name, role=row[0])) if ok and row else SignIn()


def authenticate(ws: Workspace, name: str, password: str, client: str = "?") -> ReviewUser | None:
    """The user if the sign-in succeeds (`sign_in`), else None."""
    return sign_in(ws, name, password, client).user


def current_account(ws: Workspace, name: str) -> ReviewUser | None:
    """The account `name` as the catalog has it now, or None when it was removed or disabled: what every
    request of a signed-in session re-checks (a role change applies at the next click too)."""
    with ws.catalog(read_only=True) as con:
        row = con.execute("SELECT role, password_hash = ? FROM review_users WHERE name = ?",
                          [OIDC_MARKER, name]).fetchone()
        if row is None or not access.is_enabled(con, name):
            return None
    return ReviewUser(name=name, role=row[0], sign_in="oidc" if row[1] else "password")  # type: ignore[arg-type]


def _existing(con, ws: Workspace, name: str) -> None:
    if not con.execute("SELECT 1 FROM review_users WHERE name = ?", [name]).fetchone() or access.is_removed(con, name):
        raise BadInput(f"user {name!r}: no such review account in {ws.catalog_path} (see `msm review users`)")


def remove_user(ws: Workspace, name: str) -> None:
    """Remove the account: it can no longer sign in, is not listed, and its open sessions end at their next click.

    Review tables are append-only, so this is a 'removed' state row, not a DELETE: the account's decisions keep
    naming it, and the name is never given to someone else (`add-user` refuses it), so the history stays
    unambiguous about who decided what."""
    check_user_name(name)
    with ws.catalog() as con:
        _existing(con, ws, name)
        access.set_state(con, name, "removed", "cli", utc_now())
        insert_audit(con, "cli", "remove-user", {"name": name})


def set_enabled(ws: Workspace, name: str, enabled: bool) -> None:
    """Disable (sign-in refused, open sessions end at their next click) or enable again."""
    check_user_name(name)
    state = "enabled" if enabled else "disabled"
    with ws.catalog() as con:
        _existing(con, ws, name)
        access.set_state(con, name, state, "cli", utc_now())
        insert_audit(con, "cli", "enable-user" if enabled else "disable-user", {"name": name})


def unlock_user(ws: Workspace, name: str) -> int:
    """Lift a lockout (and the backoff) of `name`; the number of consecutive failures it clears. Works for a
    name without an account too (its failures throttle like anyone's)."""
    check_user_name(name)
    with ws.catalog() as con:
        failures, _ = access.account_failures(con, name)
        access.record(con, name, "cli", "reset", utc_now())
        insert_audit(con, "cli", "unlock-user", {"name": name, "failures": failures})
    return failures


def authenticate_oidc(ws: Workspace, identity: str | None, provider: str | None) -> ReviewUser | None:
    """The OIDC account named by a verified identity, or None (audited either way).

    Only accounts created with `--oidc` match: a local account's name is not an identity the provider owns.
    """
    row = None
    if identity:
        with ws.catalog(read_only=True) as con:
            row = con.execute("SELECT role FROM review_users WHERE name = ? AND password_hash = ?",
                              [identity, OIDC_MARKER]).fetchone()
            if row is not None and not access.is_enabled(con, identity):
                row = None                          # disabled or removed: the provider's word is not enough
    audit(ws, identity or "?", "login-oidc" if row else "login-oidc-denied", {"provider": provider or "default"})
    return ReviewUser(name=identity, role=row[0], sign_in="oidc") if row and identity else None  # type: ignore[arg-type]


def list_users(ws: Workspace) -> list[ReviewUser]:
    """The accounts that exist (removed ones are not listed)."""
    with ws.catalog(read_only=True) as con:
        rows = con.execute(f"SELECT name, role, password_hash = ? FROM review_users WHERE name NOT IN "
                           f"({access.REMOVED_NAMES_SQL}) ORDER BY name", [OIDC_MARKER]).fetchall()
    return [ReviewUser(name=n, role=r, sign_in="oidc" if oidc else "password") for n, r, oidc in rows]


def account_status(ws: Workspace) -> list[dict]:
    """Per account: name, role, sign_in, enabled, and consecutive failed sign-ins / locked (for `review users`)."""
    users = list_users(ws)
    with ws.catalog(read_only=True) as con:
        rows = []
        for user in users:
            failures, _ = access.account_failures(con, user.name)
            rows.append({**user.model_dump(), "enabled": access.is_enabled(con, user.name),
                         "failed_sign_ins": failures, "locked": failures >= access.LOCKOUT_AFTER})
    return rows


_DUMMY_HASH = hash_password("not-a-real-password", n=_SCRYPT_N)
