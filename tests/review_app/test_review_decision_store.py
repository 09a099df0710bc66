"""The decision store: append-only events, latest verdict wins, edits keep the original, conflicts."""

from __future__ import annotations

from pathlib import Path

import pytest

from msm.errors import BadInput
from msm.corpus import decisions
from msm.corpus.decisions import Decision


def _decide(ws, doc_id: str, reviewer: str, action: str, **kw) -> Decision:
    return decisions.record(ws, Decision(run="demo", doc_id=doc_id, reviewer=reviewer, action=action, **kw))


def _row_count(ws) -> int:
    with ws.catalog(read_only=True) as con:
        return con.execute("SELECT count(*) FROM review_decisions").fetchone()[0]


def test_changing_a_verdict_appends_and_latest_wins(review_ws):
    _decide(review_ws, "doc0", "alice", "accept")
    _decide(review_ws, "doc0", "alice", "reject", reason="unnatural", note="reads like a template")
    events = decisions.history(review_ws, "demo", "doc0")
    assert [e.action for e in events] == ["accept", "reject"]
    assert events[0].seq < events[1].seq
    (latest,) = decisions.latest_verdicts(review_ws, "demo")
    assert (latest.action, latest.reason, latest.note) == ("reject", "unnatural", "reads like a template")
    assert decisions.document_states(review_ws, "demo")["doc0"].status == "rejected"


def test_retried_event_is_not_duplicated(review_ws):
    event = _decide(review_ws, "doc1", "alice", "accept")
    decisions.record(review_ws, event)
    assert _row_count(review_ws) == 1


def test_skip_and_tag_are_events_but_not_verdicts(review_ws):
    _decide(review_ws, "doc2", "bob", "skip")
    _decide(review_ws, "doc2", "bob", "tag", tags=["funny", "short"])
    assert decisions.latest_verdicts(review_ws, "demo") == []
    assert decisions.latest_actions(review_ws, "bob", "demo") == {"doc2": "skip"}
    assert decisions.history(review_ws, "demo", "doc2")[1].tags == ["funny", "short"]


def test_reject_needs_a_known_reason_code(review_ws):
    with pytest.raises(BadInput, match="reject reason"):
        _decide(review_ws, "doc0", "alice", "reject", reason="because")
    with pytest.raises(BadInput, match="reject reason"):
        _decide(review_ws, "doc0", "alice", "reject")
    assert _row_count(review_ws) == 0


def test_edit_adds_a_version_and_keeps_the_original(review_ws):
    documents_file = Path(review_ws.run_dir("demo")) / "documents.jsonl"
    before = documents_file.read_bytes()
    from msm.corpus.run_store import RunStore

    original = next(d for d in RunStore(review_ws, "demo").documents() if d.doc_id == "doc3").text
    first = decisions.save_edit(review_ws, run="demo", doc_id="doc3", base_version=0, text="Edited once.",
                                reviewer="alice")
    second = decisions.save_edit(review_ws, run="demo", doc_id="doc3", base_version=1, text="Edited twice.",
                                 reviewer="bob")
    assert (first.doc_version, second.doc_version) == (1, 2)
    assert documents_file.read_bytes() == before
    assert decisions.document_text(review_ws, "demo", "doc3", 0, original) == original
    assert decisions.document_text(review_ws, "demo", "doc3", 1, original) == "Edited once."
    assert decisions.latest_version(review_ws, "demo", "doc3") == 2
    state = decisions.document_states(review_ws, "demo")["doc3"]
    assert (state.status, state.text_version) == ("accepted", 2)
    with pytest.raises(BadInput, match="empty"):
        decisions.save_edit(review_ws, run="demo", doc_id="doc3", base_version=2, text="  ", reviewer="bob")


def test_disagreement_is_a_conflict_until_adjudicated(review_ws):
    _decide(review_ws, "doc4", "alice", "accept")
    _decide(review_ws, "doc4", "bob", "reject", reason="off_spec")
    state = decisions.document_states(review_ws, "demo")["doc4"]
    assert state.status == "conflict" and state.verdicts == {"alice": "accept", "bob": "reject"}
    _decide(review_ws, "doc4", "carol", "adjudicate", reason="reject")
    state = decisions.document_states(review_ws, "demo")["doc4"]
    assert (state.status, state.adjudicated) == ("rejected", True)
    # A verdict given after the adjudication reopens the question rather than being silently overruled.
    _decide(review_ws, "doc4", "alice", "accept")
    assert decisions.document_states(review_ws, "demo")["doc4"].status == "conflict"


def test_review_code_never_updates_or_deletes_rows():
    """The store is append-only by construction: no statement in the app may rewrite history."""
    import re

    import msm.review_app

    # the review app's modules and the decision store, which lives in corpus/ (the exporter reads it too)
    modules = [*Path(msm.review_app.__file__).parent.glob("*.py"), Path(decisions.__file__)]
    for module in modules:
        text = module.read_text(encoding="utf-8")
        assert not re.search(r"\b(UPDATE\s+review_|DELETE\s+FROM|TRUNCATE\s|DROP\s+TABLE)", text), module.name
