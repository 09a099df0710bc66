"""Streamlit entry script of the review app (`msm review` runs `streamlit run` on this file).

Nothing is read or written before a successful login: the sign-in page (a password form, and an SSO button
when the workspace's review.toml configures OIDC) is the only thing an anonymous session can render. The catalog
is never held across reruns (a write connects for its statements, a page's reads share one connection for that
render), so the CLI and other app processes can write between two clicks.
"""

from __future__ import annotations

import os

import streamlit as st

from msm.errors import BadInput, MsmError
from msm.review_app import accounts
from msm.review_app.accounts import ReviewUser
from msm.review_app.session import current_user, recheck_user, workspace
from msm.review_app.sign_in_config import SignInConfig, identity_of, load_sign_in_config


def login_form() -> None:
    with st.form("login"):
        name = st.text_input("User name")
        password = st.text_input("Password", type="password")
        submitted = st.form_submit_button("Sign in", type="primary")
    if submitted:
        result = accounts.sign_in(workspace(), name.strip(), password, client=client_address())
        if result.user is None:
            st.error(result.message)
        else:
            st.session_state["user"] = result.user
            st.rerun()


def client_address() -> str:
    """The address the request came from, for the per-client throttle ('?' when Streamlit cannot tell)."""
    try:
        address = st.context.ip_address
    except Exception:   # noqa: BLE001 - an older Streamlit without st.context.ip_address: one shared budget
        return "?"
    return address if isinstance(address, str) and address else "?"   # (a stand-in object under AppTest)


def oidc_sign_in(config: SignInConfig) -> None:
    """The SSO button, or, back from the provider, the msm account its identity token names."""
    if st.user.is_logged_in:
        claims = st.user.to_dict()
        identity = identity_of(claims, config)
        # Audit once per browser session, not on every rerun of the denial message.
        if "oidc_checked" not in st.session_state or st.session_state["oidc_checked"] != identity:
            st.session_state["oidc_checked"] = identity
            user = accounts.authenticate_oidc(workspace(), identity, claims.get("provider"))
            if user is not None:
                st.session_state["user"] = user
                st.rerun()
        shown = identity or f"an identity without a verified {config.identity_claim}"
        st.error(f"You signed in as {shown}, which has no review account in this workspace. "
                 f"An admin can add it with `msm review add-user {identity or 'NAME'} --oidc`.")
        if st.button("Sign out", key="oidc-denied-sign-out"):
            st.session_state.clear()
            st.logout()
            st.stop()
        return
    for provider in config.providers:
        label = config.provider_label if provider is None else f"{config.provider_label} ({provider})"
        if st.button(f"Sign in with {label}", type="primary", key=f"oidc-{provider}"):
            st.login(provider)


def sign_in_page(config: SignInConfig) -> None:
    st.title("msm review — sign in")
    if config.oidc:
        oidc_sign_in(config)
    if config.local_accounts:
        if config.oidc:
            st.caption("or with a local account")
        login_form()


def sign_out(user: ReviewUser) -> None:
    st.session_state.clear()
    if user.sign_in == "oidc":
        # Clears Streamlit's identity cookie (otherwise the next visit signs straight back in) by sending the
        # browser to /auth/logout; stop rather than rerun so that redirect is delivered.
        st.logout()
        st.stop()
    st.rerun()


def main() -> None:
    st.set_page_config(page_title="msm review", layout="wide")
    if not os.environ.get("MSM_WORKSPACE"):
        st.error("MSM_WORKSPACE is not set: start the app with `msm review`.")
        st.stop()
    try:
        config = load_sign_in_config(workspace())
    except BadInput as exc:
        st.error(str(exc))
        st.stop()
    user = current_user()
    if user is not None and user.sign_in == "oidc" and not st.user.is_logged_in:
        # Signed out of the identity provider in another tab, or its cookie expired: the session ends too.
        st.session_state.clear()
        user = None
    if user is not None:
        user = recheck_user()
    if user is None:
        reason = st.session_state.pop("signed_out_reason", None)
        if reason:
            st.warning(reason)
        sign_in_page(config)
        st.stop()

    from msm.review_app.app_pages import pages_for

    with st.sidebar:
        st.caption(f"Signed in as **{user.name}** ({user.role})")
        if st.button("Sign out"):
            sign_out(user)
    try:
        st.navigation(pages_for(user.role)).run()
    except MsmError as exc:
        # a damaged workspace record (a run's documents.jsonl with a broken line, a corrupted run.json): the
        # same one-line message the CLI gives, naming the file, instead of a traceback
        st.error(str(exc))


main()
