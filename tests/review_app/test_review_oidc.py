"""OIDC sign-in through `st.login`: review.toml validation, account mapping, and a real-browser round trip
through a loopback OpenID Connect provider (tests/review_app/oidc_test_provider.py)."""

from __future__ import annotations

import json
import secrets
import subprocess
import sys
import time

import pytest

from msm.errors import BadInput
from msm.corpus import decisions
from msm.review_app import accounts
from msm.review_app.sign_in_config import SignInConfig, identity_of, load_sign_in_config

from tests.review_app.browser_support import CHROMIUM, browser_page, free_port, serve_review
from tests.review_app.oidc_test_provider import OidcTestProvider

COOKIE_SECRET = "c" * 32


def _auth_toml(redirect_uri: str, metadata_url: str, client_secret: str = "s3cret", extra: str = "") -> str:
    return f"""{extra}
[auth]
redirect_uri = "{redirect_uri}"
cookie_secret = "{COOKIE_SECRET}"
client_id = "msm-review"
client_secret = "{client_secret}"
server_metadata_url = "{metadata_url}"
"""


def test_no_review_toml_means_local_accounts_only(review_ws):
    config = load_sign_in_config(review_ws)
    assert config.local_accounts and not config.oidc


def test_a_valid_review_toml_turns_on_oidc(review_ws):
    (review_ws.root / "review.toml").write_text(_auth_toml(
        "http://localhost:8501/oauth2callback", "https://idp.example.org/.well-known/openid-configuration",
        extra='[review]\nlocal_accounts = false\nprovider_label = "Lab SSO"\n'))
    config = load_sign_in_config(review_ws)
    assert config.oidc and config.providers == [None]
    assert not config.local_accounts and config.provider_label == "Lab SSO"


def test_named_providers_are_listed(review_ws):
    (review_ws.root / "review.toml").write_text(f"""
[auth]
redirect_uri = "http://localhost:8501/oauth2callback"
cookie_secret = "{COOKIE_SECRET}"
[auth.google]
client_id = "a"
client_secret = "b"
server_metadata_url = "https://accounts.google.com/.well-known/openid-configuration"
[auth.okta]
client_id = "c"
client_secret = "d"
server_metadata_url = "https://example.okta.com/.well-known/openid-configuration"
""")
    assert load_sign_in_config(review_ws).providers == ["google", "okta"]


@pytest.mark.parametrize("text, field", [
    ("[auth\n", "not valid TOML"),
    ('[review]\nlocal_accounts = "yes"\n', "review.local_accounts"),
    ('[review]\nlocal_account = true\n', "review.local_account"),
    ('[review]\nlocal_accounts = false\n', "nobody could sign in"),
    (_auth_toml("http://localhost:8501/", "https://idp/.well-known/openid-configuration"), "auth.redirect_uri"),
    (_auth_toml("localhost:8501/oauth2callback", "https://idp/x"), "auth.redirect_uri"),
    (_auth_toml("http://localhost:8501/oauth2callback", "idp/x"), "auth.server_metadata_url"),
    (_auth_toml("http://localhost:8501/oauth2callback", "https://idp/x", client_secret=""), "auth.client_secret"),
    (_auth_toml("http://localhost:8501/oauth2callback", "https://idp/x").replace("c" * 32, "short"),
     "auth.cookie_secret"),
    ('[auth]\nredirect_uri = "http://h/oauth2callback"\ncookie_secret = "' + "c" * 32 + '"\n', "has no provider"),
    ('[auth]\nredirect_uri = "http://h/oauth2callback"\ncookie_secret = "' + "c" * 32
     + '"\n[auth.my_idp]\nclient_id = "a"\nclient_secret = "b"\nserver_metadata_url = "https://i/x"\n', "auth.my_idp"),
])
def test_a_bad_review_toml_names_the_field(review_ws, text, field):
    (review_ws.root / "review.toml").write_text(text)
    with pytest.raises(BadInput, match=field) as info:
        load_sign_in_config(review_ws)
    assert "review.toml" in str(info.value) and "\n" not in str(info.value)


def test_msm_review_refuses_a_bad_review_toml_with_exit_2(review_ws):
    accounts.add_user(review_ws, "carol", "carol-pass-1")
    (review_ws.root / "review.toml").write_text('[review]\nlocal_accounts = 3\n')
    done = subprocess.run([sys.executable, "-m", "msm", "--workspace", str(review_ws.root), "review"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "review.local_accounts" in done.stderr and done.stderr.count("\n") == 1


def test_identity_needs_a_verified_email():
    config = SignInConfig(providers=[None])
    assert identity_of({"email": "a@x.org", "email_verified": True}, config) == "a@x.org"
    assert identity_of({"email": "a@x.org"}, config) == "a@x.org"         # providers that omit the claim
    assert identity_of({"email": "a@x.org", "email_verified": False}, config) is None
    assert identity_of({"sub": "123"}, config) is None
    assert identity_of({"preferred_username": "ann"}, SignInConfig(identity_claim="preferred_username")) == "ann"


def test_oidc_accounts_have_no_password_and_local_names_are_not_identities(review_ws):
    accounts.add_user(review_ws, "dana@example.org", None, "admin", oidc=True)
    accounts.add_user(review_ws, "carol", "carol-pass-1")
    # No password opens an OIDC account, not even an empty one or the marker itself.
    for guess in ("", "oidc", "anything-long-enough"):
        assert accounts.authenticate(review_ws, "dana@example.org", guess) is None
    assert accounts.authenticate_oidc(review_ws, "dana@example.org", None).role == "admin"
    # A provider vouching for the name "carol" does not open carol's local account.
    assert accounts.authenticate_oidc(review_ws, "carol", None) is None
    assert accounts.authenticate_oidc(review_ws, None, None) is None
    with pytest.raises(BadInput, match="no password"):
        accounts.add_user(review_ws, "erin@example.org", "some-password", oidc=True)
    assert {(u.name, u.sign_in) for u in accounts.list_users(review_ws)} == {
        ("carol", "password"), ("dana@example.org", "oidc")}
    with review_ws.catalog(read_only=True) as con:
        events = [r[0] for r in con.execute("SELECT event FROM review_audit ORDER BY occurred_at").fetchall()]
    assert events.count("login-oidc") == 1 and events.count("login-oidc-denied") == 2


def test_add_user_oidc_from_the_cli(review_ws):
    done = subprocess.run([sys.executable, "-m", "msm", "--workspace", str(review_ws.root), "--json", "review",
                           "add-user", "dana@example.org", "--oidc", "--role", "admin"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["sign_in"] == "oidc"
    both = subprocess.run([sys.executable, "-m", "msm", "--workspace", str(review_ws.root), "review", "add-user",
                           "x@example.org", "--oidc", "--password-stdin"], input="pw-pw-pw-pw\n",
                          capture_output=True, text=True, timeout=60)
    assert both.returncode == 2 and "--oidc" in both.stderr


@pytest.mark.slow
@pytest.mark.timeout(150)
@pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian chromium at /usr/bin/chromium")
def test_sign_in_through_an_oidc_provider_in_a_real_browser(review_ws, tmp_path):
    pytest.importorskip("authlib")
    accounts.add_user(review_ws, "dana@example.org", None, "reviewer", oidc=True)
    accounts.add_user(review_ws, "erin@example.org", None, "reviewer", oidc=True)
    port = free_port()
    with OidcTestProvider(client_secret=secrets.token_hex(8)) as idp:
        idp.unverified.add("erin@example.org")
        (review_ws.root / "review.toml").write_text(_auth_toml(
            f"http://127.0.0.1:{port}/oauth2callback", idp.metadata_url, idp.client_secret,
            extra='[review]\nlocal_accounts = false\nprovider_label = "Test SSO"\n'))
        with serve_review(review_ws, tmp_path / "streamlit.log", port=port) as url, browser_page() as page:

            def sign_out() -> None:
                page.get_by_role("button", name="Sign out").click()
                page.get_by_role("button", name="Sign in with Test SSO").wait_for()
                # The identity cookie goes once the browser has followed Streamlit's /auth/logout redirect.
                deadline = time.monotonic() + 20
                while any(c["name"].startswith("_streamlit_user") for c in page.context.cookies()):
                    assert time.monotonic() < deadline, "sign-out left the identity cookie in the browser"
                    time.sleep(0.2)

            def sign_in_as(email: str) -> None:
                page.goto(url)
                page.get_by_role("button", name="Sign in with Test SSO").click()
                page.get_by_label("E-mail").fill(email)        # the provider's own page
                page.get_by_role("button", name="Continue").click()

            page.goto(url)
            page.get_by_role("button", name="Sign in with Test SSO").wait_for()
            assert page.get_by_label("Password").count() == 0        # local_accounts = false
            assert "cheddar" not in page.content().lower()

            # An identity the provider knows but the workspace does not: nothing readable.
            sign_in_as("mallory@example.org")
            page.get_by_text("mallory@example.org, which has no review account").wait_for()
            assert "cheddar" not in page.content().lower()
            sign_out()

            # An account whose e-mail the provider says is unverified is not entered.
            sign_in_as("erin@example.org")
            page.get_by_text("without a verified email").wait_for()
            sign_out()

            sign_in_as("dana@example.org")
            page.get_by_text("Signed in as dana@example.org (reviewer)").wait_for()
            page.get_by_text("Document doc0").wait_for()
            page.wait_for_function("document.querySelectorAll('[data-stale=\"true\"]').length === 0")
            page.get_by_role("button", name="Accept").click()
            page.get_by_text("Document doc1").wait_for()

            # Signing out ends the provider session too: the next visit shows the sign-in page again.
            sign_out()
            page.goto(url)
            page.get_by_role("button", name="Sign in with Test SSO").wait_for()
            assert "cheddar" not in page.content().lower()

    events = decisions.all_decisions(review_ws, "demo")
    assert [(e.doc_id, e.action, e.reviewer) for e in events] == [("doc0", "accept", "dana@example.org")]
    with review_ws.catalog(read_only=True) as con:
        audit = con.execute("SELECT actor, event FROM review_audit WHERE event LIKE 'login-oidc%' "
                            "ORDER BY occurred_at").fetchall()
    assert audit == [("mallory@example.org", "login-oidc-denied"), ("?", "login-oidc-denied"),
                     ("dana@example.org", "login-oidc")]
