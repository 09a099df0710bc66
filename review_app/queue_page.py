"""Queue: one document at a time with the guidelines panel beside it, and the review actions. A chat (runs of
`msm aft generate`) is shown turn by turn, its reasoning folded away, and an edit replaces its assistant reply."""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping

import streamlit as st

from msm.corpus.chats import reply_of, with_reply
from msm.corpus.records import DocumentRecord
from msm.corpus import decisions
from msm.review_app.accounts import ReviewUser
from msm.corpus.decisions import Decision
from msm.review_app.session import choose_run, recheck_user, require_user, run_curation, run_documents, run_spec, workspace

_MARKDOWN_SPECIALS = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~$])")


def escape_markdown(text: str) -> str:
    """Documents are untrusted text: show them literally (no links, images or HTML rendered)."""
    return _MARKDOWN_SPECIALS.sub(r"\\\1", text).replace("\n", "  \n")


def assigned_docs(run: str, reviewer: str) -> list[str] | None:
    with workspace().catalog(read_only=True) as con:
        rows = con.execute("SELECT DISTINCT doc_id FROM review_assignments WHERE run = ? AND reviewer = ?",
                           [run, reviewer]).fetchall()
    return [r[0] for r in rows] or None


def queue_order(run: str, user: ReviewUser, docs: Mapping[str, DocumentRecord]) -> tuple[list[str], int]:
    """This reviewer's remaining documents (never-seen first, skipped last) and how many they have done."""
    scope = assigned_docs(run, user.name)
    candidates = list(docs) if scope is None else [d for d in scope if d in docs]
    latest = decisions.latest_actions(workspace(), user.name, run)
    fresh = [d for d in candidates if d not in latest]
    skipped = [d for d in candidates if latest.get(d) == "skip"]
    done = sum(1 for d in candidates if latest.get(d) in decisions.VERDICT_ACTIONS)
    return fresh + skipped, done


def guidelines_panel(run: str, doc: DocumentRecord) -> None:
    spec, warning = run_spec(run)
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
    if doc.messages:
        judge = doc.metadata.get("judge") or {}
        rows = {"run": run, "chat id": doc.doc_id, "question type": doc.doc_type, "domain": doc.domain,
                "style": doc.metadata.get("style"), "judge": f"{judge.get('verdict')}: {judge.get('reason')}",
                "LM": doc.lm, "spec": doc.spec_id}
    else:
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


def cluster_panel(run: str, doc: DocumentRecord, docs: Mapping[str, DocumentRecord]) -> None:
    """Near-duplicate cluster members side by side with a line diff, full width under the document."""
    marks = run_curation(run)
    mark = marks.get(doc.doc_id) if marks else None
    if mark is None or not mark.cluster_id:
        return
    members = [m for m in marks.cluster_members(mark.cluster_id) if m != doc.doc_id]
    with st.expander(f"Near-duplicate cluster {mark.cluster_id}: {len(members)} other member(s)", expanded=True):
        for member in members[:5]:
            other = docs.get(member)
            if other is None:
                continue
            left, right = st.columns(2)
            left.caption(f"this document ({doc.doc_id})")
            left.text(doc.text)
            right.caption(f"member {member}" + (" · kept as the representative" if marks.get(member).kept else ""))
            right.text(other.text)
            diff = difflib.unified_diff(doc.text.splitlines(), other.text.splitlines(), doc.doc_id, member,
                                        lineterm="")
            st.code("\n".join(diff) or "(identical)", language="diff")


# Actions are on_click callbacks: Streamlit runs them before the script, so one rerun records the decision and
# renders the next document (a handler in the script body would need a second, full rerun via st.rerun()).
def _decide(action: str, base: dict) -> None:
    if recheck_user() is None:      # removed or disabled since the page was drawn: nothing is recorded
        return
    _record(Decision(action=action, **base))     # made at click time: its created_at is when it was decided


def _record(decision: Decision) -> None:
    decisions.record(workspace(), decision)
    _moved_on(f"{decision.action} recorded for {decision.doc_id}")


def _moved_on(message: str) -> None:
    """After a verdict: say so on the next render and leave a document opened from Browse."""
    st.session_state["flash"] = message
    st.session_state.pop("focus_doc", None)


def _reject(base: dict) -> None:
    if recheck_user() is None:      # removed or disabled since the page was drawn: nothing is recorded
        return
    note = (st.session_state.get("reject_note") or "").strip()
    _record(Decision(action="reject", reason=st.session_state["reject_reason"], note=note or None, **base))


def _save_edit(base: dict, text: str, key: str) -> None:
    if recheck_user() is None:      # removed or disabled since the page was drawn: nothing is recorded
        return
    edited = st.session_state.get(f"{key}-text", text)
    if edited == text:
        st.session_state["flash_warning"] = "The text is unchanged: use Accept instead."
        return
    note = (st.session_state.get(f"{key}-note") or "").strip()
    decisions.save_edit(workspace(), run=base["run"], doc_id=base["doc_id"], base_version=base["doc_version"],
                        text=edited, reviewer=base["reviewer"], note=note or None)
    _moved_on(f"edit saved for {base['doc_id']}")


def _tag(base: dict) -> None:
    if recheck_user() is None:      # removed or disabled since the page was drawn: nothing is recorded
        return
    parsed = [t.strip() for t in (st.session_state.get("tags_input") or "").split(",") if t.strip()]
    if parsed:
        decisions.record(workspace(), Decision(action="tag", tags=parsed, **base))
        st.session_state["flash"] = f"tagged {base['doc_id']}: {', '.join(parsed)}"


def chat_view(doc: DocumentRecord, reply: str) -> None:
    """A chat turn by turn (the current version's assistant reply), each turn's reasoning folded away."""
    for message in with_reply(doc.messages, reply):
        with st.chat_message(message.role):
            if message.reasoning:
                with st.expander("Reasoning (<think>)"):
                    st.markdown(escape_markdown(message.reasoning))
            st.markdown(escape_markdown(message.content))


def actions_panel(run: str, doc: DocumentRecord, user: ReviewUser, version: int, text: str) -> None:
    base = {"run": run, "doc_id": doc.doc_id, "doc_version": version, "reviewer": user.name}
    accept_col, skip_col = st.columns(2)
    accept_col.button("Accept", type="primary", shortcut="A", use_container_width=True, on_click=_decide,
                      args=("accept", base))
    skip_col.button("Skip", shortcut="S", use_container_width=True, on_click=_decide,
                    args=("skip", base))
    with st.form("reject", clear_on_submit=True, border=True):
        st.selectbox("Reject reason", list(decisions.REJECT_REASONS), key="reject_reason",
                     format_func=lambda r: f"{r} — {decisions.REJECT_REASONS[r]}")
        st.text_area("Reject note", height=68, key="reject_note")
        st.form_submit_button("Reject", shortcut="X", on_click=_reject, args=(base,))
    # Keyed on the document and version, so the editor starts from this document's text.
    key = f"edit-{doc.doc_id}-{version}"
    label = "Edit the assistant's reply" if doc.messages else "Edit text"
    with st.expander(f"{label} (saves a new version; the original is kept)"):
        with st.form("edit"):
            st.text_area("Text", value=text, height=300, key=f"{key}-text")
            st.text_input("Edit note", key=f"{key}-note")
            st.form_submit_button("Save edit and accept", on_click=_save_edit, args=(base, text, key))
    with st.form("tag", clear_on_submit=True, border=False):
        st.text_input("Tags (comma-separated)", key="tags_input")
        st.form_submit_button("Add tags", on_click=_tag, args=(base,))


def page() -> st.Page:
    """The queue as an `st.navigation` page; here, not in app_pages, so other pages can switch to it without a circle."""
    return st.Page(render, title="Queue", url_path="queue", default=True)


def render() -> None:
    user = require_user()
    run = choose_run()
    if run is None:
        return
    docs = run_documents(run)     # outside the shared read: a cold load of a large run takes seconds
    if flash := st.session_state.pop("flash", None):
        st.toast(flash)
    if warning := st.session_state.pop("flash_warning", None):
        st.warning(warning)
    # One catalog connection for the page's queries (queue, version, text, history).
    with workspace().shared_reads():
        render_document(run, user, docs)


def render_document(run: str, user: ReviewUser, docs: Mapping[str, DocumentRecord]) -> None:
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
    # a chat's versions are its assistant reply; a document's are its text
    text = decisions.document_text(workspace(), run, doc_id, version, reply_of(doc.messages) if doc.messages
                                   else doc.text)
    main, side = st.columns([3, 2], gap="large")
    with main:
        label = f"{'Chat' if doc.messages else 'Document'} `{doc_id}`" + (f" · edited version {version}" if version else "")
        st.markdown(label + (" · opened from Browse" if focus == doc_id else ""))
        # Long documents scroll inside a fixed box so the actions stay in view.
        with st.container(border=True, height=480 if len(text) > 1800 else "content"):
            if doc.messages:
                chat_view(doc, text)
            else:
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
