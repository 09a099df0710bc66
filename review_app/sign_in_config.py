"""How reviewers sign in: the workspace's `review.toml` (optional) turns on OIDC through Streamlit's `st.login`.

Without the file only local accounts exist. With it, the `[auth]` table is Streamlit's own OIDC configuration
(passed to `streamlit run` as its secrets file, so Streamlit's documentation for `st.login` applies unchanged) and
the `[review]` table holds msm's settings:

    [review]
    local_accounts = true        # keep the password form next to the SSO button (default true)
    identity_claim = "email"     # which claim of the ID token names the msm account (default "email")
    provider_label = "Company SSO"

An OIDC identity alone grants nothing: it must match an account created with `msm review add-user NAME --oidc`,
so that anyone the identity provider knows cannot read documents just by signing in.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

from pydantic import BaseModel

from msm.errors import BadInput
from msm.input_files import load_toml
from msm.workspace import Workspace

CONFIG_NAME = "review.toml"
# Settings Streamlit needs for an unnamed provider (see `st.login`'s documentation).
_SHARED_KEYS = ("redirect_uri", "cookie_secret")
_PROVIDER_KEYS = ("client_id", "client_secret", "server_metadata_url")
_REVIEW_KEYS = {"local_accounts", "identity_claim", "provider_label"}
MIN_COOKIE_SECRET = 16
MAX_CONFIG_BYTES = 1024 * 1024


class SignInConfig(BaseModel):
    """What the login page offers. `providers` lists the `st.login` provider names (None = the unnamed one)."""

    path: Path | None = None
    local_accounts: bool = True
    identity_claim: str = "email"
    provider_label: str = "single sign-on"
    providers: list[str | None] = []

    @property
    def oidc(self) -> bool:
        return bool(self.providers)


def config_path(ws: Workspace) -> Path:
    return ws.root / CONFIG_NAME


def load_sign_in_config(ws: Workspace) -> SignInConfig:
    """Parse and check `review.toml`; a bad file is a one-line BadInput naming the file and the field."""
    path = config_path(ws)
    if not path.exists() and not path.is_symlink():   # a dangling link is a broken config, not an absent one
        return SignInConfig()
    data = load_toml(path, what="review.toml", max_bytes=MAX_CONFIG_BYTES)
    review = data.get("review", {})
    if not isinstance(review, dict):
        raise BadInput(f"{path}: [review] must be a table")
    unknown = sorted(set(review) - _REVIEW_KEYS)
    if unknown:
        raise BadInput(f"{path}: review.{unknown[0]} is not a setting (known: {', '.join(sorted(_REVIEW_KEYS))})")
    local = review.get("local_accounts", True)
    if not isinstance(local, bool):
        raise BadInput(f"{path}: review.local_accounts must be true or false, not {local!r}")
    claim = review.get("identity_claim", "email")
    if not isinstance(claim, str) or not claim:
        raise BadInput(f"{path}: review.identity_claim must be a claim name such as \"email\", not {claim!r}")
    label = review.get("provider_label", "single sign-on")
    if not isinstance(label, str) or not label.strip():
        raise BadInput(f"{path}: review.provider_label must be a non-empty string")

    auth = data.get("auth")
    providers = _check_auth(path, auth) if auth is not None else []
    if not providers and not local:
        raise BadInput(f"{path}: review.local_accounts is false but there is no [auth] table: nobody could sign in")
    return SignInConfig(path=path, local_accounts=local, identity_claim=claim, provider_label=label.strip(),
                        providers=providers)


def _check_auth(path: Path, auth: Any) -> list[str | None]:
    if not isinstance(auth, dict):
        raise BadInput(f"{path}: [auth] must be a table")
    for key in _SHARED_KEYS:
        _require_string(path, f"auth.{key}", auth.get(key))
    _require_url(path, "auth.redirect_uri", auth["redirect_uri"])
    if not auth["redirect_uri"].rstrip("/").endswith("/oauth2callback"):
        raise BadInput(f"{path}: auth.redirect_uri must end in /oauth2callback (Streamlit's callback), "
                       f"not {auth['redirect_uri']!r}")
    if len(auth["cookie_secret"]) < MIN_COOKIE_SECRET:
        raise BadInput(f"{path}: auth.cookie_secret is shorter than {MIN_COOKIE_SECRET} characters "
                       "(use e.g. `python -c 'import secrets; print(secrets.token_hex(32))'`)")
    named = {k: v for k, v in auth.items() if isinstance(v, dict)}
    providers: list[str | None] = []
    if any(k in auth for k in _PROVIDER_KEYS):
        _check_provider(path, "auth", auth)
        providers.append(None)
    for name, section in named.items():
        if "_" in name:
            # Streamlit cannot route a provider name with an underscore (documented in `st.login`).
            raise BadInput(f"{path}: provider name auth.{name} must not contain '_' (Streamlit limitation)")
        _check_provider(path, f"auth.{name}", section)
        providers.append(name)
    if not providers:
        raise BadInput(f"{path}: [auth] has no provider: set client_id, client_secret and server_metadata_url")
    return providers


def _check_provider(path: Path, where: str, section: dict) -> None:
    for key in _PROVIDER_KEYS:
        _require_string(path, f"{where}.{key}", section.get(key))
    _require_url(path, f"{where}.server_metadata_url", section["server_metadata_url"])


def _require_string(path: Path, field: str, value: Any) -> None:
    if not isinstance(value, str) or not value.strip():
        raise BadInput(f"{path}: {field} is missing or empty")


def _require_url(path: Path, field: str, value: str) -> None:
    if not value.startswith(("http://", "https://")):
        raise BadInput(f"{path}: {field} must be an absolute http(s) URL, not {value!r}")


def identity_of(claims: Mapping[str, Any], config: SignInConfig) -> str | None:
    """The account name an ID token's claims stand for, or None when the token cannot be trusted for it.

    A provider that says the e-mail address is unverified does not get to claim an account by that address.
    """
    value = claims.get(config.identity_claim)
    if not isinstance(value, str) or not value:
        return None
    if config.identity_claim == "email" and claims.get("email_verified") is False:
        return None
    return value.strip()
