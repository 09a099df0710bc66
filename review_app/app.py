"""Streamlit entry script of the review app (`msm review` runs `streamlit run` on this file).

Nothing is read or written before a successful login: the login form is the only thing an anonymous
session can render. The catalog is opened per statement (Workspace.catalog), never held across reruns,
so the CLI and other app processes can write between two clicks.
"""

from __future__ import annotations

import os

import streamlit as st

from msm.review_app import accounts
from msm.review_app.session import current_user, workspace


def login_form() -> None:
    st.title("msm review — sign in")
    with st.form("login"):
        name = st.text_input("User name")
        password = st.text_input("Password", type="password")
        submitted = st.form_submit_button("Sign in", type="primary")
    if submitted:
        user = accounts.authenticate(workspace(), name.strip(), password)
        if user is None:
            st.error("Wrong user name or password.")
        else:
            st.session_state["user"] = user
            st.rerun()


def main() -> None:
    st.set_page_config(page_title="msm review", layout="wide")
    if not os.environ.get("MSM_WORKSPACE"):
        st.error("MSM_WORKSPACE is not set: start the app with `msm review`.")
        st.stop()
    user = current_user()
    if user is None:
        login_form()
        st.stop()

    from msm.review_app.app_pages import pages_for

    with st.sidebar:
        st.caption(f"Signed in as **{user.name}** ({user.role})")
        if st.button("Sign out"):
            st.session_state.clear()
            st.rerun()
    st.navigation(pages_for(user.role)).run()


main()
