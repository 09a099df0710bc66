"""Browse search: bound parameters only, so SQL and LIKE metacharacters are plain text."""

from __future__ import annotations

from msm.corpus import decisions
from msm.review_app import review_data
import pyarrow as pa

from msm.review_app.curation_view import CurationMarks
from msm.corpus.decisions import Decision


def _search(ws, **filters):
    frame = review_data.documents_frame(review_data.load_documents(ws, "demo"))
    states = review_data.states_frame(decisions.document_states(ws, "demo"))
    return review_data.search_documents(frame, states, **filters)["doc_id"].tolist()


def test_sql_metacharacters_are_text(review_ws):
    assert _search(review_ws, text="'; DROP TABLE docs; --") == []
    assert _search(review_ws, text="' OR '1'='1") == []
    assert _search(review_ws, text="100%") == ["doc3"]      # literal %, not a wildcard
    assert _search(review_ws, text="%") == ["doc3"]
    assert _search(review_ws, text="_") == []                # literal _, no document has one
    assert _search(review_ws, text="CHEDDAR") == ["doc0", "doc1", "doc4"]


def test_filters_combine(review_ws):
    decisions.record(review_ws, Decision(run="demo", doc_id="doc0", reviewer="alice", action="accept"))
    decisions.record(review_ws, Decision(run="demo", doc_id="doc1", reviewer="bob", action="reject", reason="other"))
    assert _search(review_ws, clause="honesty.plain") == ["doc1", "doc3", "doc5"]
    assert _search(review_ws, status="accepted") == ["doc0"]
    assert _search(review_ws, status="unreviewed", clause="cheese.cheddar") == ["doc2", "doc4"]
    assert _search(review_ws, reviewer="bob") == ["doc1"]
    assert _search(review_ws, reviewer="bo") == []
    marks = CurationMarks(pa.table({"doc_id": ["doc2", "doc4"], "kept": [False, True],
                                    "dropped_by": [["too_short", "meta"], []], "flagged_by": [[], []],
                                    "cluster_id": ["c1", "c1"], "duplicate_of": [None, None]}), None)
    frame = review_data.documents_frame(review_data.load_documents(review_ws, "demo"))
    states = review_data.states_frame(decisions.document_states(review_ws, "demo"))
    hits = review_data.search_documents(frame, states, rule="meta", curation=marks.frame())
    assert hits["doc_id"].tolist() == ["doc2"]
    hits = review_data.search_documents(frame, states, cluster="c1", curation=marks.frame())
    assert hits["doc_id"].tolist() == ["doc2", "doc4"]
