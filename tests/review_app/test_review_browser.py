"""End to end in a real browser: `streamlit run` on loopback, headless Debian Chromium through Playwright."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from msm.review_app import accounts, decisions

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run"]

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM.exists(),
                       reason="needs Debian chromium at /usr/bin/chromium (apt-get install -y chromium chromium-driver)"),
]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def review_server(review_ws, tmp_path):
    accounts.add_user(review_ws, "carol", "carol-pass-1", "reviewer")
    port = _free_port()
    log = (tmp_path / "streamlit.log").open("w")
    proc = subprocess.Popen([sys.executable, "-m", "msm", "review", "--port", str(port)], stdout=log,
                            stderr=subprocess.STDOUT, env={**os.environ, "MSM_WORKSPACE": str(review_ws.root)})
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            urllib.request.urlopen(f"{url}/_stcore/health", timeout=2)
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                pytest.fail(f"streamlit did not come up: {(tmp_path / 'streamlit.log').read_text()[-2000:]}")
            time.sleep(0.3)
    yield url
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()


@pytest.fixture
def page():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        tab = browser.new_page(viewport={"width": 1400, "height": 1000})
        tab.set_default_timeout(20_000)
        yield tab
        browser.close()


def _sign_in(page, url: str, name: str, password: str) -> None:
    page.goto(url)
    page.get_by_label("User name").fill(name)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_role("button", name="Sign in").click()


def _showing(page, doc_id: str) -> None:
    page.get_by_text(f"Document {doc_id}", exact=False).first.wait_for()
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
