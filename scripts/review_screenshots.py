"""Screenshots of every review app page for docs/review.md (docs/review_*.png), taken in headless Chromium.

    .venv/bin/python scripts/review_screenshots.py DOCUMENTS.jsonl [--spec cheese_america] [--out docs]

Builds a throwaway workspace from DOCUMENTS (e.g. a generated run's documents.jsonl), curates it, adds an admin
and two reviewers who review an overlapping sample (with some disagreements, so Progress and Agreement have
something to show), serves `msm review` on loopback and photographs each page as the admin.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from msm.corpus import decisions  # noqa: E402
from msm.review_app import accounts
from msm.corpus.decisions import Decision  # noqa: E402
from msm.workspace import Workspace  # noqa: E402
from tests.review_app.browser_support import browser_page, serve_review  # noqa: E402

RUN = "shots"


def msm(ws: Path, *args: str) -> None:
    subprocess.run([sys.executable, "-m", "msm", "--workspace", str(ws), "--quiet", *args], check=True)


def build(ws_root: Path, documents: Path, spec: str) -> Workspace:
    msm(ws_root, "init")
    msm(ws_root, "corpus", "import", str(documents), "--run", RUN, "--spec", spec)
    msm(ws_root, "curate", "--run", RUN)
    ws = Workspace.open(ws_root)
    accounts.add_user(ws, "alice", "alice-password", "admin")
    accounts.add_user(ws, "bob", "bob-password", "reviewer")
    accounts.add_user(ws, "carol", "carol-password", "reviewer")
    from msm.review_app.review_data import load_documents

    ids = list(load_documents(ws, RUN))
    for i, doc_id in enumerate(ids[:12]):            # both reviewers judge the first 12: the overlap sample
        decisions.record(ws, Decision(run=RUN, doc_id=doc_id, reviewer="bob",
                                      action="reject" if i % 4 == 0 else "accept",
                                      reason="off_spec" if i % 4 == 0 else None))
        carol_rejects = i % 4 == 0 or i % 5 == 0
        decisions.record(ws, Decision(run=RUN, doc_id=doc_id, reviewer="carol",
                                      action="reject" if carol_rejects else "accept",
                                      reason="unnatural" if carol_rejects else None))
    for doc_id in ids[12:20]:
        decisions.record(ws, Decision(run=RUN, doc_id=doc_id, reviewer="bob", action="accept"))
    return ws


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("documents", type=Path)
    parser.add_argument("--spec", default="cheese_america")
    parser.add_argument("--out", type=Path, default=ROOT / "docs")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        ws = build(Path(tmp) / "ws", args.documents, args.spec)
        os.environ["MSM_WORKSPACE"] = str(ws.root)
        with serve_review(ws, Path(tmp) / "streamlit.log") as url, browser_page() as page:
            page.set_viewport_size({"width": 1500, "height": 1100})
            page.goto(url)
            page.get_by_role("button", name="Sign in").wait_for()
            page.screenshot(path=str(args.out / "review_sign_in.png"))
            page.get_by_label("User name").fill("alice")
            page.get_by_label("Password", exact=True).fill("alice-password")
            page.get_by_role("button", name="Sign in").click()
            for title, path in [("Queue", "queue"), ("Browse", "browse"), ("Progress", "progress"),
                                ("Agreement", "agreement"), ("Admin", "admin")]:
                if path != "queue":
                    page.get_by_role("link", name=title).click()
                page.get_by_role("heading", name=title).first.wait_for()
                page.wait_for_function("document.querySelectorAll('[data-stale=\"true\"]').length === 0")
                page.wait_for_timeout(1500)          # charts and tables finish drawing
                page.screenshot(path=str(args.out / f"review_{path}.png"), full_page=True)
                print(f"wrote {args.out / f'review_{path}.png'}")


if __name__ == "__main__":
    main()
