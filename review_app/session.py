"""Per-session helpers shared by the pages: the workspace, the signed-in user, the chosen run, cached reads."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import streamlit as st

from msm.corpus.records import DocumentRecord
from msm.corpus.curate.store import current_curation_dir
from msm.review_app import curation_view, review_data
from msm.review_app import accounts
from msm.review_app.accounts import ReviewUser
from msm.workspace import Workspace


@st.cache_resource
def _workspace(root: str) -> Workspace:
    return Workspace.open(Path(root))


def workspace() -> Workspace:
    return _workspace(os.environ["MSM_WORKSPACE"])


def current_user() -> ReviewUser | None:
    return st.session_state.get("user")


def recheck_user() -> ReviewUser | None:
    """The signed-in user as the catalog has the account now. Called on every rerun (app.main) and by every
    callback that writes (callbacks run before the script): a removed or disabled account's session is signed
    out at its next interaction, and a role change applies at once."""
    user = current_user()
    if user is None:
        return None
    fresh = accounts.current_account(workspace(), user.name)
    if fresh is None or fresh.sign_in != user.sign_in:
        st.session_state.clear()
        st.session_state["signed_out_reason"] = f"The account {user.name!r} was removed or disabled: you are signed out."
        return None
    if fresh.role != user.role:
        st.session_state["user"] = fresh
    return fresh


def require_user() -> ReviewUser:
    """Pages call this first; an anonymous session never gets past it."""
    user = current_user()
    if user is None:
        st.error("Sign in first.")
        st.stop()
    return user


# Documents are immutable once appended; keyed on the file's size and mtime so new ones show up.
# cache_resource (not cache_data): the mapping reads records from the run's JSONL on demand, never copied.
@st.cache_resource(max_entries=8)
def _documents(root: str, run: str, fingerprint: tuple) -> Mapping[str, DocumentRecord]:
    return review_data.load_documents(Workspace(Path(root)), run)


# The browse table is a separate cache: the queue page does not pay for building it (~1.4 s at 100k docs).
@st.cache_resource(max_entries=8)
def _documents_frame(root: str, run: str, fingerprint: tuple):
    return review_data.documents_frame(_documents(root, run, fingerprint))


def run_documents(run: str) -> Mapping[str, DocumentRecord]:
    ws = workspace()
    return _documents(str(ws.root), run, review_data.documents_fingerprint(ws, run))


def run_frame(run: str):
    ws = workspace()
    return _documents_frame(str(ws.root), run, review_data.documents_fingerprint(ws, run))


# Keyed on the curation in force: a re-curation writes a new directory and moves CURRENT.
@st.cache_resource(max_entries=8)
def _curation(root: str, run: str, curation_dir: str | None) -> curation_view.CurationMarks | None:
    return curation_view.load_curation(Workspace(Path(root)), run)


def run_curation(run: str) -> curation_view.CurationMarks | None:
    ws = workspace()
    directory = current_curation_dir(ws, run)
    return _curation(str(ws.root), run, str(directory) if directory else None)


# Parsing the spec's YAML costs ~80 ms, too much for every click; a changed spec shows within a minute.
@st.cache_resource(max_entries=16, ttl=60)
def _run_spec(root: str, run: str):
    return review_data.load_run_spec(Workspace(Path(root)), run)


def run_spec(run: str):
    """The run's spec and a warning when it is missing or changed since generation (review_data.load_run_spec)."""
    return _run_spec(str(workspace().root), run)


# New runs are rare; a catalog connection per click is not (~10-30 ms). A new run appears within 10 s.
@st.cache_data(ttl=10, show_spinner=False)
def _run_names(root: str) -> list[str]:
    return review_data.run_names(Workspace(Path(root)))


def choose_run() -> str | None:
    """The run under review, chosen in the sidebar and shared by all pages."""
    runs = _run_names(str(workspace().root))
    if not runs:
        st.info("No runs in this workspace yet: generate or import one (`msm generate`, `msm corpus import`).")
        return None
    current = st.session_state.get("run")
    index = runs.index(current) if current in runs else len(runs) - 1
    run = st.sidebar.selectbox("Run", runs, index=index)
    st.session_state["run"] = run
    return run
