"""Progress: reviewed / accepted / rejected (by reason) per reviewer and per clause, as charts.
Reviewers see their own numbers; admins see everyone's."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from msm.corpus import decisions
from msm.review_app.session import choose_run, require_user, run_documents, workspace


def verdict_frame(run: str, clause_of: dict[str, str | None]) -> pd.DataFrame:
    """One row per (document, reviewer) current verdict, with the clause and reject reason."""
    rows = [{"reviewer": v.reviewer, "doc_id": v.doc_id, "clause": clause_of.get(v.doc_id) or "(none)",
             "verdict": "rejected" if v.action == "reject" else ("edited" if v.action == "edit" else "accepted"),
             "reason": v.reason if v.action == "reject" else None}
            for v in decisions.latest_verdicts(workspace(), run)]
    return pd.DataFrame(rows, columns=["reviewer", "doc_id", "clause", "verdict", "reason"])


def render() -> None:
    user = require_user()
    run = choose_run()
    if run is None:
        return
    st.title("Progress")
    docs = run_documents(run)
    frame = verdict_frame(run, {d.doc_id: d.clause_id for d in docs.values()})
    if user.role != "admin":
        frame = frame[frame["reviewer"] == user.name]
        st.caption("Your own progress (admins see everyone's).")
    reviewed_docs = frame["doc_id"].nunique()
    c1, c2, c3, c4 = st.columns(4)
    c1.metric("Documents in run", len(docs))
    c2.metric("Reviewed (any reviewer)" if user.role == "admin" else "Reviewed by you", reviewed_docs)
    c3.metric("Accepted verdicts", int((frame["verdict"] != "rejected").sum()))
    c4.metric("Rejected verdicts", int((frame["verdict"] == "rejected").sum()))
    if frame.empty:
        st.info("No decisions on this run yet.")
        return
    st.subheader("Per reviewer")
    st.bar_chart(pd.crosstab(frame["reviewer"], frame["verdict"]), horizontal=True)
    st.subheader("Per clause")
    st.bar_chart(pd.crosstab(frame["clause"], frame["verdict"]), horizontal=True)
    rejected = frame[frame["verdict"] == "rejected"]
    if not rejected.empty:
        st.subheader("Rejections by reason")
        st.bar_chart(pd.crosstab(rejected["reason"], rejected["reviewer"]), horizontal=True)
