"""Streamlit AppTest: login gate, queue actions persisting as decisions, browse, progress and admin pages."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from msm.corpus import decisions
from msm.review_app import accounts
from msm.corpus.decisions import Decision

APP = str(Path(__file__).resolve().parents[2] / "review_app" / "app.py")


@pytest.fixture
def users(review_ws):
    accounts.add_user(review_ws, "alice", "alice-pass-1", "admin")
    accounts.add_user(review_ws, "bob", "bob-pass-12", "reviewer")
    return review_ws


def _app() -> AppTest:
    return AppTest.from_file(APP, default_timeout=30).run()


def _login(at: AppTest, name: str, password: str) -> AppTest:
    at.text_input[0].input(name)
    at.text_input[1].input(password)
    at.button[0].click().run()
    return at


def _all_text(at: AppTest) -> str:
    parts = [m.value for m in at.markdown] + [e.value for e in at.error] + [t.value for t in at.title]
    return "\n".join(str(p) for p in parts)


def test_nothing_is_shown_without_login(users):
    at = _app()
    assert not at.exception
    assert [t.value for t in at.title] == ["msm review — sign in"]
    assert "cheddar" not in _all_text(at).lower()
    _login(at, "alice", "wrong-password")
    assert [e.value for e in at.error] == ["Wrong user name or password."]
    assert "cheddar" not in _all_text(at).lower() and "Queue" not in _all_text(at)


def test_queue_actions_persist(users):
    at = _login(_app(), "bob", "bob-pass-12")
    assert not at.exception
    assert "Queue" in [t.value for t in at.title]
    assert "doc0" in _all_text(at)
    accept = next(b for b in at.button if b.label == "Accept")
    accept.click().run()
    assert "doc1" in _all_text(at)
    reason = next(s for s in at.selectbox if s.label == "Reject reason")
    reason.select("unnatural")
    next(t for t in at.text_area if t.label == "Reject note").input("template-like")
    next(b for b in at.button if b.label == "Reject").click().run()
    assert "doc2" in _all_text(at)
    next(b for b in at.button if b.label == "Skip").click().run()
    assert "doc3" in _all_text(at)
    next(t for t in at.text_area if t.label == "Text").input("An edited text about honesty.")
    next(b for b in at.button if b.label == "Save edit and accept").click().run()
    assert not at.exception

    events = decisions.all_decisions(users, "demo")
    assert [(e.doc_id, e.action, e.reason, e.note, e.doc_version, e.reviewer) for e in events] == [
        ("doc0", "accept", None, None, 0, "bob"),
        ("doc1", "reject", "unnatural", "template-like", 0, "bob"),
        ("doc2", "skip", None, None, 0, "bob"),
        ("doc3", "edit", None, None, 1, "bob"),
    ]
    assert decisions.document_text(users, "demo", "doc3", 1, "") == "An edited text about honesty."


def test_a_damaged_documents_line_is_one_error_naming_the_file(users):
    documents = users.run_dir("demo") / "documents.jsonl"
    lines = documents.read_text().splitlines(keepends=True)
    lines[1] = "{broken\n"
    documents.write_text("".join(lines))
    at = _login(_app(), "bob", "bob-pass-12")
    assert not at.exception
    assert any(f"{documents}:2: not valid JSON" in e.value for e in at.error), [e.value for e in at.error]


def _page_script() -> None:
    import importlib
    import os

    module, function = os.environ["REVIEW_TEST_PAGE"].split(":")
    getattr(importlib.import_module(f"msm.review_app.{module}"), function)()


def _page(monkeypatch, page: str, user: str | None, role: str = "admin") -> AppTest:
    """One page function on its own, as the signed-in `user` (login itself is tested through the real app)."""
    monkeypatch.setenv("REVIEW_TEST_PAGE", page)
    at = AppTest.from_function(_page_script, default_timeout=30)
    if user is not None:
        at.session_state["user"] = accounts.ReviewUser(name=user, role=role)
    return at.run()


@pytest.mark.parametrize("page", ["queue_page:render", "browse_page:render", "progress_page:render",
                                  "admin_page:render_agreement", "admin_page:render_admin"])
def test_every_page_refuses_an_anonymous_session(users, monkeypatch, page):
    at = _page(monkeypatch, page, None)
    assert [e.value for e in at.error] == ["Sign in first."]
    assert not at.dataframe and not at.title


def test_browse_search_and_filters(users, monkeypatch):
    decisions.record(users, Decision(run="demo", doc_id="doc0", reviewer="alice", action="accept"))
    at = _page(monkeypatch, "browse_page:render", "bob", "reviewer")
    assert not at.exception
    assert len(at.dataframe[0].value) == 6
    next(t for t in at.text_input if t.label.startswith("Search")).input("'; DROP TABLE docs; --").run()
    assert len(at.dataframe[0].value) == 0
    next(t for t in at.text_input if t.label.startswith("Search")).input("").run()
    next(s for s in at.selectbox if s.label == "Decision state").select("accepted").run()
    assert at.dataframe[0].value["doc_id"].tolist() == ["doc0"]


def test_progress_shows_own_numbers_to_a_reviewer_and_all_to_an_admin(users, monkeypatch):
    decisions.record(users, Decision(run="demo", doc_id="doc0", reviewer="alice", action="accept"))
    decisions.record(users, Decision(run="demo", doc_id="doc1", reviewer="bob", action="reject", reason="off_spec"))
    decisions.record(users, Decision(run="demo", doc_id="doc2", reviewer="bob", action="accept"))
    reviewer = _page(monkeypatch, "progress_page:render", "bob", "reviewer")
    assert {m.label: m.value for m in reviewer.metric}["Reviewed by you"] == "2"
    admin = _page(monkeypatch, "progress_page:render", "alice")
    metrics = {m.label: m.value for m in admin.metric}
    assert (metrics["Reviewed (any reviewer)"], metrics["Accepted verdicts"], metrics["Rejected verdicts"]) == ("3", "2", "1")
    assert not admin.exception


def test_agreement_page_and_adjudication(users, monkeypatch):
    for doc, bob_action in (("doc0", "accept"), ("doc1", "reject"), ("doc2", "accept")):
        decisions.record(users, Decision(run="demo", doc_id=doc, reviewer="alice", action="accept"))
        decisions.record(users, Decision(run="demo", doc_id=doc, reviewer="bob", action=bob_action,
                                         reason="off_spec" if bob_action == "reject" else None))
    at = _page(monkeypatch, "admin_page:render_agreement", "alice")
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Documents judged by ≥ 2 reviewers"] == "3"
    next(b for b in at.button if b.label == "Adjudicate: accept").click().run()
    assert decisions.document_states(users, "demo")["doc1"].status == "accepted"
    assert not at.exception


def test_admin_pages_are_admin_only(users, monkeypatch):
    for page in ("admin_page:render_agreement", "admin_page:render_admin"):
        at = _page(monkeypatch, page, "bob", "reviewer")
        assert [e.value for e in at.error] == ["Admins only."]


def test_admin_assigns_an_overlap_sample(users, monkeypatch):
    at = _page(monkeypatch, "admin_page:render_admin", "alice")
    next(m for m in at.multiselect if m.label == "Reviewers").set_value(["alice", "bob"])
    next(n for n in at.number_input if n.label.startswith("Documents per")).set_value(1)
    next(n for n in at.number_input if n.label.startswith("Overlap")).set_value(2)
    next(b for b in at.button if b.label == "Assign").click().run()
    assert not at.exception
    with users.catalog(read_only=True) as con:
        rows = con.execute("SELECT doc_id, reviewer, overlap FROM review_assignments ORDER BY doc_id, reviewer").fetchall()
    assert rows == [("doc0", "alice", True), ("doc0", "bob", True), ("doc1", "alice", True), ("doc1", "bob", True),
                    ("doc2", "alice", False), ("doc3", "bob", False)]
    queue = _page(monkeypatch, "queue_page:render", "bob", "reviewer")
    assert queue.get("progress")[0].proto.text == "0 reviewed · 3 left in run demo"


def test_not_curated_run_says_so(users, monkeypatch):
    queue = _page(monkeypatch, "queue_page:render", "bob", "reviewer")
    assert any("Not curated yet" in i.value for i in queue.info)


def test_curation_panel_and_filters(users, curated, monkeypatch):
    focus = _page(monkeypatch, "queue_page:render", "bob", "reviewer")
    focus.session_state["focus_doc"] = "doc2"
    focus.run()
    text = _all_text(focus)
    assert "**dropped** by curation" in text and "`near_duplicate`" in text
    assert any("Near-duplicate cluster doc2: 1 other member" in e.label for e in focus.expander)
    assert any("+++ doc4" in c.value for c in focus.code)          # the diff against the other member
    browse = _page(monkeypatch, "browse_page:render", "bob", "reviewer")
    next(s for s in browse.selectbox if s.label == "Rule fired").select("few_key_terms").run()
    assert browse.dataframe[0].value["doc_id"].tolist() == ["doc5"]
