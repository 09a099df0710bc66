"""Shared by the real-browser tests: a `msm review` server on loopback and a headless Chromium page."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import pytest

from msm.workspace import Workspace

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def serve_review(ws: Workspace, log_path: Path, port: int | None = None) -> Iterator[str]:
    """`msm review` as a user starts it; yields the base URL once Streamlit answers its health check."""
    port = port or free_port()
    with log_path.open("w") as log:
        proc = subprocess.Popen([sys.executable, "-m", "msm", "review", "--port", str(port)], stdout=log,
                                stderr=subprocess.STDOUT, env={**os.environ, "MSM_WORKSPACE": str(ws.root)})
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"{url}/_stcore/health", timeout=2)
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    proc.kill()
                    pytest.fail(f"streamlit did not come up: {log_path.read_text()[-2000:]}")
                time.sleep(0.3)
        try:
            yield url
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()


@contextmanager
def browser_page():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        tab = browser.new_page(viewport={"width": 1400, "height": 1000})
        tab.set_default_timeout(20_000)
        try:
            yield tab
        finally:
            browser.close()
