"""Attacks against a live `msm review` (real Streamlit on loopback, headless Chromium through Playwright):
guessing until the right password, parallel guessing sessions, a removed account's open session, and anonymous
requests for /_stcore/metrics."""

from __future__ import annotations

import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

from msm.corpus import decisions
from msm.review_app import access, accounts

from tests.review_app.browser_support import CHROMIUM, CHROMIUM_ARGS, browser_page, free_port, serve_review

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM.exists(),
                       reason="needs Debian chromium at /usr/bin/chromium (apt-get install -y chromium chromium-driver)"),
]


def _sign_in(page, url: str | None, name: str, password: str) -> None:
    if url is not None:
        page.goto(url)
    page.get_by_label("User name").fill(name)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_role("button", name="Sign in").click()


def _alert(page) -> str:
    """The text of the sign-in answer once the rerun that produced it has finished."""
    page.locator('[data-testid="stAlert"]').first.wait_for()
    page.wait_for_function("document.querySelectorAll('[data-stale=\"true\"]').length === 0")
    return page.locator('[data-testid="stAlert"]').first.inner_text()


def _outcomes(ws, name: str | None = None) -> list[str]:
    with ws.catalog(read_only=True) as con:
        sql = "SELECT outcome FROM review_sign_ins WHERE outcome <> 'reset'" + (" AND name = ?" if name else "")
        return [o for (o,) in con.execute(sql + " ORDER BY seq", [name] if name else []).fetchall()]


@pytest.mark.timeout(240)
def test_guessing_then_the_right_password_is_refused_during_lockout(review_ws, tmp_path):
    accounts.add_user(review_ws, "carol", "carol-pass-1", "reviewer")
    port = free_port()
    with serve_review(review_ws, tmp_path / "streamlit.log", port=port) as url, browser_page() as page:
        # anonymous: the metrics endpoint is not served, the app and its health check are
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(f"{url}/_stcore/metrics", timeout=10)
        assert refused.value.code == 404
        assert urllib.request.urlopen(f"{url}/_stcore/health", timeout=10).status == 200

        page.goto(url)
        deadline = time.monotonic() + 120
        answer = ""
        guesses = 0
        while "locked" not in answer:            # guess as fast as the app answers, backoff included
            assert time.monotonic() < deadline, f"never locked after {guesses} guesses: {answer!r}"
            _sign_in(page, None, "carol", f"guess-{guesses}-xyz")
            answer = _alert(page)
            guesses += 1
            if "try again in" in answer:
                time.sleep(0.5)
        assert _outcomes(review_ws, "carol").count("failed") == access.LOCKOUT_AFTER
        _sign_in(page, None, "carol", "carol-pass-1")
        answer = _alert(page)
        assert "locked" in answer and "Queue" not in page.inner_text("body")
    # A restart does not lift the lock.
    with serve_review(review_ws, tmp_path / "streamlit2.log", port=free_port()) as url, browser_page() as page:
        _sign_in(page, url, "carol", "carol-pass-1")
        assert "locked" in _alert(page)
        unlocked = subprocess.run([sys.executable, "-m", "msm", "review", "unlock-user", "carol"],
                                  capture_output=True, text=True, timeout=120)
        assert unlocked.returncode == 0, unlocked.stderr
        _sign_in(page, url, "carol", "carol-pass-1")
        page.get_by_text("Signed in as").wait_for()
    assert _outcomes(review_ws, "carol")[-1] == "ok"


@pytest.mark.timeout(240)
def test_parallel_guessing_sessions_are_throttled(review_ws, tmp_path):
    """8 browser sessions guess (each its own name, so only the per-client budget holds them) for 15 s: the
    passwords actually checked stay near CLIENT_DELAY_AFTER plus the doubling backoff, not one per click."""
    from playwright.sync_api import sync_playwright

    accounts.add_user(review_ws, "carol", "carol-pass-1", "reviewer")
    with serve_review(review_ws, tmp_path / "streamlit.log") as url, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            pages = [browser.new_context().new_page() for _ in range(8)]
            for page in pages:
                page.set_default_timeout(30_000)
                page.goto(url)
                page.get_by_label("User name").wait_for()
            started = time.monotonic()
            clicks = 0
            while time.monotonic() - started < 15:
                for i, page in enumerate(pages):       # submit on every session without waiting for answers
                    page.get_by_label("User name").fill(f"target{i}")
                    page.get_by_label("Password", exact=True).fill(f"guess-{clicks}-xyz")
                    page.get_by_role("button", name="Sign in").click()
                    clicks += 1
                time.sleep(0.3)
            time.sleep(2)                               # let the last submissions land
        finally:
            browser.close()
    outcomes = _outcomes(review_ws)
    checked = outcomes.count("failed")
    # Unthrottled, the audit showed 40 checked guesses in 15 s from 8 sessions. With the per-client budget:
    # CLIENT_DELAY_AFTER free, then one per 1, 2, 4, 8 s.
    assert outcomes.count("throttled") > 0, (clicks, outcomes)
    assert checked <= access.CLIENT_DELAY_AFTER + 5, (clicks, checked, outcomes)


@pytest.mark.timeout(240)
def test_removed_account_session_loses_access(review_ws, tmp_path):
    accounts.add_user(review_ws, "carol", "carol-pass-1", "reviewer")
    with serve_review(review_ws, tmp_path / "streamlit.log") as url, browser_page() as page:
        _sign_in(page, url, "carol", "carol-pass-1")
        page.get_by_text("Document doc0", exact=False).first.wait_for(timeout=90_000)
        removed = subprocess.run([sys.executable, "-m", "msm", "review", "remove-user", "carol"],
                                 capture_output=True, text=True, timeout=120)
        assert removed.returncode == 0, removed.stderr
        page.get_by_role("button", name="Accept").click()      # the open session's next interaction
        page.get_by_text("was removed or disabled").wait_for(timeout=90_000)
        body = page.inner_text("body")
        assert "Document doc0" not in body and "Sign in" in body
        assert decisions.all_decisions(review_ws) == []          # the click recorded nothing
        page.reload()                                            # and a reload does not bring the session back
        page.get_by_label("User name").wait_for(timeout=90_000)
        assert "Document doc" not in page.inner_text("body")
