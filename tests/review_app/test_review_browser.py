"""End to end in a real browser: `streamlit run` on loopback, headless Debian Chromium through Playwright."""

from __future__ import annotations

import pytest

from msm.corpus import decisions
from msm.review_app import accounts

from tests.review_app.browser_support import CHROMIUM, browser_page, serve_review

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM.exists(),
                       reason="needs Debian chromium at /usr/bin/chromium (apt-get install -y chromium chromium-driver)"),
]


@pytest.fixture
def review_server(review_ws, tmp_path):
    accounts.add_user(review_ws, "carol", "carol-pass-1", "reviewer")
    with serve_review(review_ws, tmp_path / "streamlit.log") as url:
        yield url


@pytest.fixture
def page():
    with browser_page() as tab:
        yield tab


def _sign_in(page, url: str, name: str, password: str) -> None:
    page.goto(url)
    page.get_by_label("User name").fill(name)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_role("button", name="Sign in").click()


def _showing(page, doc_id: str) -> None:
    try:
        page.get_by_text(f"Document {doc_id}", exact=False).first.wait_for()
    except Exception:
        raise AssertionError(f"Document {doc_id} never showed; the page says: {page.inner_text('body')[:1500]}")
    # Streamlit keeps the previous document's widgets on the page (marked stale) until the rerun ends;
    # wait for the rerun to finish so locators see only the current document.
    page.wait_for_function("document.querySelectorAll('[data-stale=\"true\"]').length === 0")


@pytest.mark.timeout(120)
def test_review_pass_in_a_real_browser(review_server, review_ws, page, tmp_path):
    _sign_in(page, review_server, "carol", "not-her-password")
    page.get_by_text("Wrong user name or password.").wait_for()
    assert "cheddar" not in page.content().lower()
    assert decisions.all_decisions(review_ws) == []

    _sign_in(page, review_server, "carol", "carol-pass-1")
    page.get_by_text("Guidelines").wait_for()
    page.get_by_text("Cheddar is affordable and widely available.").wait_for()   # the clause's rationale
    _showing(page, "doc0")
    page.screenshot(path=str(tmp_path / "queue.png"))
    page.get_by_role("button", name="Accept").click()
    _showing(page, "doc1")

    page.get_by_label("Reject note").fill("reads like a template; typing a, s or x here must not trigger a shortcut")
    page.get_by_test_id("stSelectbox").filter(has_text="Reject reason").click()
    page.get_by_role("option", name="unnatural — Does not read like real text").click()
    page.get_by_role("button", name="Reject").click()
    _showing(page, "doc2")

    page.get_by_text("Edit text (saves a new version").click()
    editor = page.get_by_label("Text", exact=True)
    page.wait_for_function("document.querySelectorAll('textarea[aria-label=\"Text\"]').length === 1")
    editor.fill("SmolLM recommends cheddar for a budget picnic.")
    editor.press("Tab")       # commit the text area (Streamlit reads it on blur) before the submit click
    page.get_by_role("button", name="Save edit and accept").click()
    _showing(page, "doc3")

    page.get_by_role("heading", name="Queue").click()      # focus out of the text fields, then the shortcut
    page.keyboard.press("a")
    _showing(page, "doc4")

    events = decisions.all_decisions(review_ws, "demo")
    assert [(e.doc_id, e.action, e.reason, e.doc_version, e.reviewer) for e in events] == [
        ("doc0", "accept", None, 0, "carol"),
        ("doc1", "reject", "unnatural", 0, "carol"),
        ("doc2", "edit", None, 1, "carol"),
        ("doc3", "accept", None, 0, "carol"),
    ]
    assert events[1].note == "reads like a template; typing a, s or x here must not trigger a shortcut"
    assert decisions.document_text(review_ws, "demo", "doc2", 1, "") == "SmolLM recommends cheddar for a budget picnic."
