"""Browse: search and filter a run's documents; open any of them in the queue view."""

from __future__ import annotations

import streamlit as st

from msm.corpus import decisions
from msm.review_app import review_data
from msm.review_app.session import choose_run, require_user, run_curation, run_frame, workspace

STATUSES = ["", "unreviewed", "accepted", "rejected", "conflict"]


def render() -> None:
    user = require_user()
    run = choose_run()
    if run is None:
        return
    st.title("Browse")
    frame = run_frame(run)
    states = review_data.states_frame(decisions.document_states(workspace(), run))
    marks = run_curation(run)
    curation = marks.frame() if marks is not None else None

    text = st.text_input("Search text, idea or id (case-insensitive substring)")
    c1, c2, c3, c4 = st.columns(4)
    clause = c1.selectbox("Clause", [""] + sorted(frame["clause_id"].dropna().unique().tolist()))
    doc_type = c2.selectbox("Doc type", [""] + sorted(frame["doc_type"].dropna().unique().tolist()))
    status = c3.selectbox("Decision state", STATUSES)
    reviewer = c4.text_input("Reviewer") if user.role == "admin" else ""
    rule = cluster = ""
    if curation is not None:
        c5, c6 = st.columns(2)
        all_rules = marks.rules_fired()
        rule = c5.selectbox("Rule fired", [""] + all_rules)
        cluster = c6.text_input("Cluster id")
    else:
        st.caption("Run not curated: no rule or cluster filters.")

    rows = review_data.search_documents(frame, states, text=text, clause=clause or None, doc_type=doc_type or None,
                                        status=status or None, reviewer=reviewer.strip() or None,
                                        rule=rule or None, cluster=cluster.strip() or None, curation=curation)
    st.caption(f"{len(rows)} shown (at most 500) of {len(frame)} documents in {run}")
    if curation is None:
        rows = rows.drop(columns=["kept", "rules", "cluster_id"])
    picked = st.dataframe(rows, hide_index=True, on_select="rerun", selection_mode="single-row", key="browse_table")
    selected = picked.selection.rows if picked is not None else []
    if selected:
        doc_id = rows.iloc[selected[0]]["doc_id"]
        if st.button(f"Open {doc_id} in the queue view", type="primary"):
            st.session_state["focus_doc"] = doc_id
            from msm.review_app import queue_page

            st.switch_page(queue_page.page())
