"""Queue: one document at a time with the guidelines panel beside it, and the review actions."""

from __future__ import annotations

import difflib
import re

import streamlit as st

from msm.corpus.records import DocumentRecord
from msm.review_app import decisions, review_data
from msm.review_app.accounts import ReviewUser
from msm.review_app.decisions import Decision
from msm.review_app.session import choose_run, require_user, run_curation, run_documents, workspace

_MARKDOWN_SPECIALS = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~$])")


def escape_markdown(text: str) -> str:
    """Documents are untrusted text: show them literally (no links, images or HTML rendered)."""
    return _MARKDOWN_SPECIALS.sub(r"\\\1", text).replace("\n", "  \n")


def assigned_docs(run: str, reviewer: str) -> list[str] | None:
    with workspace().catalog(read_only=True) as con:
        rows = con.execute("SELECT DISTINCT doc_id FROM review_assignments WHERE run = ? AND reviewer = ?",
                           [run, reviewer]).fetchall()
    return [r[0] for r in rows] or None


def queue_order(run: str, user: ReviewUser, docs: dict[str, DocumentRecord]) -> tuple[list[str], int]:
    """This reviewer's remaining documents (never-seen first, skipped last) and how many they have done."""
    scope = assigned_docs(run, user.name)
    candidates = [d for d in (scope if scope is not None else docs) if d in docs]
    latest = decisions.latest_actions(workspace(), user.name, run)
    fresh = [d for d in candidates if d not in latest]
    skipped = [d for d in candidates if latest.get(d) == "skip"]
    done = sum(1 for d in candidates if latest.get(d) in decisions.VERDICT_ACTIONS)
    return fresh + skipped, done


def guidelines_panel(run: str, doc: DocumentRecord) -> None:
    spec, warning = review_data.load_run_spec(workspace(), run)
    st.subheader("Guidelines")
    if warning:
        st.warning(warning)
    if spec is None:
        return
    st.caption(f"{spec.title} — version {spec.version}")
    try:
        clause = spec.clause(doc.clause_id) if doc.clause_id else None
    except Exception:
        clause = None
    if clause is None:
        st.info(f"Clause {doc.clause_id!r} is not in this spec.")
        return
    st.markdown(f"**Clause `{clause.id}`**")
    st.markdown(escape_markdown(spec.render(clause.rule)))
    if clause.rationale:
        st.markdown("**Why**")
        st.markdown(escape_markdown(spec.render(clause.rationale)))
    if clause.examples:
        with st.expander("Examples"):
            for example in clause.examples:
                st.markdown("- " + escape_markdown(spec.render(example)))


def provenance_panel(run: str, doc: DocumentRecord) -> None:
    st.subheader("Provenance")
    rows = {"run": run, "doc id": doc.doc_id, "type": doc.doc_type, "idea": doc.idea, "persona": doc.persona,
            "LM": doc.lm, "stage": doc.stage, "spec": doc.spec_id}
    st.table({"field": list(rows), "value": [str(v) if v is not None else "—" for v in rows.values()]})


def curation_panel(run: str, doc: DocumentRecord) -> None:
    st.subheader("Curation")
    marks = run_curation(run)
    if marks is None:
        st.info("Not curated yet (run `msm curate --run %s`)." % run)
        return
    mark = marks.get(doc.doc_id)
    if mark is None:
        st.info("No curation marks for this document.")
        return
    st.markdown(f"**{'kept' if mark.kept else 'dropped'}** by curation")
    if mark.rules:
        st.markdown("Dropped by: " + ", ".join(f"`{r}`" for r in mark.rules))
    if mark.flagged:
        st.markdown("Flagged by: " + ", ".join(f"`{r}`" for r in mark.flagged))
    if not mark.rules and not mark.flagged:
        st.markdown("No rule fired.")
    if mark.duplicate_of:
        st.markdown(f"Near-duplicate of `{mark.duplicate_of}`")
    if mark.signals:
        st.dataframe({"signal": list(mark.signals), "value": [str(v) for v in mark.signals.values()]},
                     hide_index=True)


def cluster_panel(run: str, doc: DocumentRecord, docs: dict[str, DocumentRecord]) -> None:
    """Near-duplicate cluster members side by side with a line diff, full width under the document."""
    marks = run_curation(run)
    mark = marks.get(doc.doc_id) if marks else None
    if mark is None or not mark.cluster_id:
        return
    members = [m for m, other in marks.items() if other.cluster_id == mark.cluster_id and m != doc.doc_id]
    with st.expander(f"Near-duplicate cluster {mark.cluster_id}: {len(members)} other member(s)", expanded=True):
        for member in members[:5]:
            other = docs.get(member)
            if other is None:
                continue
            left, right = st.columns(2)
            left.caption(f"this document ({doc.doc_id})")
            left.text(doc.text)
            right.caption(f"member {member}" + (" · kept as the representative" if marks[member].kept else ""))
            right.text(other.text)
            diff = difflib.unified_diff(doc.text.splitlines(), other.text.splitlines(), doc.doc_id, member,
                                        lineterm="")
            st.code("\n".join(diff) or "(identical)", language="diff")


def _record(decision: Decision) -> None:
    decisions.record(workspace(), decision)
    st.session_state["flash"] = f"{decision.action} recorded for {decision.doc_id}"
    st.session_state.pop("focus_doc", None)


def actions_panel(run: str, doc: DocumentRecord, user: ReviewUser, version: int, text: str) -> None:
    base = {"run": run, "doc_id": doc.doc_id, "doc_version": version, "reviewer": user.name}
    accept_col, skip_col = st.columns(2)
    if accept_col.button("Accept", type="primary", shortcut="A", use_container_width=True):
        _record(Decision(action="accept", **base))
        st.rerun()
    if skip_col.button("Skip", shortcut="S", use_container_width=True):
        _record(Decision(action="skip", **base))
        st.rerun()
    with st.form("reject", clear_on_submit=True, border=True):
        reason = st.selectbox("Reject reason", list(decisions.REJECT_REASONS),
                              format_func=lambda r: f"{r} — {decisions.REJECT_REASONS[r]}")
        note = st.text_area("Reject note", height=68)
        if st.form_submit_button("Reject", shortcut="X"):
            _record(Decision(action="reject", reason=reason, note=note.strip() or None, **base))
            st.rerun()
    with st.expander("Edit text (saves a new version; the original is kept)"):
        with st.form("edit"):
            edited = st.text_area("Text", value=text, height=300)
            edit_note = st.text_input("Edit note")
            if st.form_submit_button("Save edit and accept"):
                if edited == text:
                    st.warning("The text is unchanged: use Accept instead.")
                else:
                    decisions.save_edit(workspace(), run=run, doc_id=doc.doc_id, base_version=version, text=edited,
                                        reviewer=user.name, note=edit_note.strip() or None)
                    st.session_state["flash"] = f"edit saved for {doc.doc_id}"
                    st.session_state.pop("focus_doc", None)
                    st.rerun()
    with st.form("tag", clear_on_submit=True, border=False):
        tags = st.text_input("Tags (comma-separated)")
        if st.form_submit_button("Add tags"):
            parsed = [t.strip() for t in tags.split(",") if t.strip()]
            if parsed:
                decisions.record(workspace(), Decision(action="tag", tags=parsed, **base))
                st.session_state["flash"] = f"tagged {doc.doc_id}: {', '.join(parsed)}"
                st.rerun()


def render() -> None:
    user = require_user()
    run = choose_run()
    if run is None:
        return
    docs = run_documents(run)
    if flash := st.session_state.pop("flash", None):
        st.toast(flash)
    remaining, done = queue_order(run, user, docs)
    focus = st.session_state.get("focus_doc")
    doc_id = focus if focus in docs else (remaining[0] if remaining else None)
    st.title("Queue")
    st.progress(done / max(done + len(remaining), 1), text=f"{done} reviewed · {len(remaining)} left in run {run}")
    if doc_id is None:
        st.success("Nothing left in your queue for this run.")
        return
    doc = docs[doc_id]
    version = decisions.latest_version(workspace(), run, doc_id)
    text = decisions.document_text(workspace(), run, doc_id, version, doc.text)
    main, side = st.columns([3, 2], gap="large")
    with main:
        label = f"Document `{doc_id}`" + (f" · edited version {version}" if version else "")
        st.markdown(label + (" · opened from Browse" if focus == doc_id else ""))
        # Long documents scroll inside a fixed box so the actions stay in view.
        with st.container(border=True, height=480 if len(text) > 1800 else "content"):
            st.markdown(escape_markdown(text))
        actions_panel(run, doc, user, version, text)
        with st.expander("History of this document"):
            events = decisions.history(workspace(), run, doc_id)
            visible = events if user.role == "admin" else [e for e in events if e.reviewer == user.name]
            st.dataframe([{"when": e.created_at, "reviewer": e.reviewer, "action": e.action, "reason": e.reason,
                           "version": e.doc_version, "note": e.note, "tags": ", ".join(e.tags)} for e in visible],
                         hide_index=True)
    with side:
        guidelines_panel(run, doc)
        provenance_panel(run, doc)
        curation_panel(run, doc)
    cluster_panel(run, doc, docs)
