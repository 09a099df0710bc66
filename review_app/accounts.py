"""Local review accounts: salted scrypt hashes in the catalog's `review_users` table, never the password."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
from typing import Literal

from pydantic import BaseModel

from msm.errors import BadInput
from msm.workspace import Workspace, utc_now

Role = Literal["reviewer", "admin"]
ROLES: tuple[str, ...] = ("reviewer", "admin")

# scrypt with n=2**15, r=8 costs ~32 MiB and ~0.1 s per check on this machine: cheap for one login, slow
# for an attacker guessing against a copied catalog.
_SCRYPT_N, _SCRYPT_R, _SCRYPT_P = 2**15, 8, 1
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$")
MIN_PASSWORD_LENGTH = 8


class ReviewUser(BaseModel):
    name: str
    role: Role


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


def add_user(ws: Workspace, name: str, password: str, role: str = "reviewer") -> ReviewUser:
    check_user_name(name)
    if role not in ROLES:
        raise BadInput(f"role {role!r} is not allowed: use one of {', '.join(ROLES)}")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise BadInput(f"password for {name!r}: shorter than {MIN_PASSWORD_LENGTH} characters")
    stored = hash_password(password)
    with ws.catalog() as con:
        if con.execute("SELECT 1 FROM review_users WHERE name = ?", [name]).fetchone():
            raise BadInput(f"user {name!r} already exists in {ws.catalog_path}")
        con.execute("INSERT INTO review_users VALUES (?, ?, ?, ?)", [name, role, stored, utc_now()])
        con.execute("INSERT INTO review_audit (occurred_at, actor, event, detail_json) VALUES (?, ?, ?, ?)",
                    [utc_now(), "cli", "add-user", json.dumps({"name": name, "role": role})])
    return ReviewUser(name=name, role=role)  # type: ignore[arg-type]


def authenticate(ws: Workspace, name: str, password: str) -> ReviewUser | None:
    """The user if the password matches, else None. Every attempt is audited (never the password)."""
    with ws.catalog(read_only=True) as con:
        row = con.execute("SELECT role, password_hash FROM review_users WHERE name = ?", [name]).fetchone()
    # Hash even for an unknown name so timing does not tell which names exist.
    ok = verify_password(password, row[1]) if row else (verify_password(password, _DUMMY_HASH) and False)
    with ws.catalog() as con:
        con.execute("INSERT INTO review_audit (occurred_at, actor, event, detail_json) VALUES (?, ?, ?, ?)",
                    [utc_now(), name[:64], "login" if ok else "login-failed", "{}"])
    return ReviewUser(name=name, role=row[0]) if ok and row else None


def list_users(ws: Workspace) -> list[ReviewUser]:
    with ws.catalog(read_only=True) as con:
        rows = con.execute("SELECT name, role FROM review_users ORDER BY name").fetchall()
    return [ReviewUser(name=n, role=r) for n, r in rows]


_DUMMY_HASH = hash_password("not-a-real-password", n=_SCRYPT_N)
