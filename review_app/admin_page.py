"""Admin-only pages: agreement with adjudication, work assignment, export, document history, audit log."""

from __future__ import annotations

import json

import streamlit as st

from msm.corpus import decisions
from msm.review_app import agreement
from msm.review_app.accounts import ReviewUser, list_users
from msm.corpus.decisions import Decision
from msm.review_app.session import choose_run, require_user, run_documents, workspace
from msm.workspace import utc_now


def require_admin() -> ReviewUser:
    user = require_user()
    if user.role != "admin":
        st.error("Admins only.")
        st.stop()
    return user


def run_ratings(run: str) -> dict[str, dict[str, str]]:
    ratings: dict[str, dict[str, str]] = {}
    for v in decisions.latest_verdicts(workspace(), run):
        ratings.setdefault(v.doc_id, {})[v.reviewer] = "reject" if v.action == "reject" else "accept"
    return ratings


def render_agreement() -> None:
    admin = require_admin()
    run = choose_run()
    if run is None:
        return
    st.title("Agreement")
    report = agreement.agreement_report(run_ratings(run))
    c1, c2 = st.columns(2)
    c1.metric("Documents judged by ≥ 2 reviewers", report.n_docs_multi)
    c2.metric("Krippendorff's alpha (nominal)", "—" if report.alpha is None else f"{report.alpha:.3f}")
    if report.pairs:
        st.subheader("Cohen's kappa per reviewer pair")
        st.dataframe([{"reviewer A": p.a, "reviewer B": p.b, "shared docs": p.n_docs,
                       "observed agreement": round(p.observed, 3),
                       "kappa": None if p.kappa is None else round(p.kappa, 3)} for p in report.pairs], hide_index=True)
    states = decisions.document_states(workspace(), run)
    open_conflicts = [d for d in report.disagreements if states[d].status == "conflict"]
    st.subheader(f"Disagreements to adjudicate ({len(open_conflicts)} open of {len(report.disagreements)})")
    docs = run_documents(run)
    for doc_id in open_conflicts[:20]:
        state = states[doc_id]
        with st.expander(f"{doc_id}: " + ", ".join(f"{r}={v}" for r, v in sorted(state.verdicts.items()))):
            doc = docs.get(doc_id)
            st.text(decisions.document_text(workspace(), run, doc_id, state.text_version, doc.text if doc else ""))
            a, b = st.columns(2)
            for column, verdict in ((a, "accept"), (b, "reject")):
                if column.button(f"Adjudicate: {verdict}", key=f"adj-{verdict}-{doc_id}"):
                    decisions.record(workspace(), Decision(run=run, doc_id=doc_id, doc_version=state.text_version,
                                                           reviewer=admin.name, action="adjudicate", reason=verdict))
                    st.rerun()


def assign(run: str, doc_ids: list[str], reviewers: list[str], per_reviewer: int, overlap: int, admin: str) -> int:
    """The first `overlap` unassigned documents go to every chosen reviewer (the agreement sample); then each
    reviewer gets `per_reviewer` more of their own, round-robin. Returns the number of rows appended."""
    with workspace().catalog(read_only=True) as con:
        taken = {r[0] for r in con.execute("SELECT DISTINCT doc_id FROM review_assignments WHERE run = ?", [run]).fetchall()}
    free = [d for d in doc_ids if d not in taken]
    now = utc_now()
    rows = [(run, d, r, admin, True, now) for d in free[:overlap] for r in reviewers]
    rest = free[overlap:overlap + per_reviewer * len(reviewers)]
    rows += [(run, d, reviewers[i % len(reviewers)], admin, False, now) for i, d in enumerate(rest)]
    if rows:
        with workspace().catalog() as con:
            con.executemany("INSERT INTO review_assignments (run, doc_id, reviewer, assigned_by, overlap, created_at) "
                            "VALUES (?, ?, ?, ?, ?, ?)", rows)
        decisions.audit(workspace(), admin, "assign", {"run": run, "reviewers": reviewers, "rows": len(rows),
                                                       "overlap": overlap, "per_reviewer": per_reviewer})
    return len(rows)


def render_admin() -> None:
    admin = require_admin()
    run = choose_run()
    if run is None:
        return
    st.title("Admin")
    docs = run_documents(run)

    st.subheader("Assign work")
    with st.form("assign"):
        names = [u.name for u in list_users(workspace())]
        reviewers = st.multiselect("Reviewers", names)
        per_reviewer = st.number_input("Documents per reviewer", min_value=0, max_value=100_000, value=50)
        overlap = st.number_input("Overlap sample (documents given to every chosen reviewer)", min_value=0,
                                  max_value=100_000, value=10)
        if st.form_submit_button("Assign"):
            if not reviewers:
                st.error("Choose at least one reviewer.")
            else:
                n = assign(run, list(docs), reviewers, int(per_reviewer), int(overlap), admin.name)
                st.success(f"{n} assignments added.")

    st.subheader("Export decisions")
    events = decisions.all_decisions(workspace(), run)
    payload = "\n".join(json.dumps(e.model_dump(mode="json"), ensure_ascii=False) for e in events) + "\n"
    if st.download_button(f"Download {len(events)} decision events (JSONL)", payload,
                          file_name=f"{run}-review-decisions.jsonl", mime="application/jsonl"):
        decisions.audit(workspace(), admin.name, "export", {"run": run, "events": len(events)})

    st.subheader("Document history")
    doc_id = st.text_input("Document id")
    if doc_id.strip():
        events = decisions.history(workspace(), run, doc_id.strip())
        st.dataframe([e.model_dump(exclude={"schema_version", "run", "doc_id"}) for e in events], hide_index=True)

    st.subheader("Audit log (latest 200)")
    st.dataframe(decisions.audit_log(workspace(), limit=200), hide_index=True)
