"""Two writer processes × 200 decisions, interleaved with CLI writes: every decision lands exactly once.
DuckDB lets one process hold the catalog for writing; Workspace.catalog() connects per statement and
retries on the lock, which is what this exercises."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from msm.corpus import decisions

WRITER = """
import sys
from pathlib import Path
from msm.corpus import decisions
from msm.corpus.decisions import Decision
from msm.workspace import Workspace

ws = Workspace(Path(sys.argv[1]))
reviewer = sys.argv[2]
for i in range(int(sys.argv[3])):
    decisions.record(ws, Decision(run="demo", doc_id=f"doc{i % 6}", reviewer=reviewer,
                                  action="accept" if i % 3 else "reject", reason=None if i % 3 else "other",
                                  note=f"{reviewer}-{i}"))
"""


@pytest.mark.slow
@pytest.mark.timeout(110)
def test_two_writers_and_a_cli_lose_nothing(review_ws, msm_process):
    env = {**os.environ, "MSM_WORKSPACE": str(review_ws.root)}
    writers = [subprocess.Popen([sys.executable, "-c", WRITER, str(review_ws.root), name, "200"], env=env,
                                stderr=subprocess.PIPE, text=True) for name in ("alice", "bob")]
    for k in range(3):
        result = msm_process("review", "add-user", f"cli{k}", "--password-stdin", input="cli-password\n",
                             env={"MSM_WORKSPACE": str(review_ws.root)})
        assert result.code == 0, result.err
    for proc in writers:
        _, err = proc.communicate(timeout=100)
        assert proc.returncode == 0, err
        assert "lock" not in err.lower()
    events = decisions.all_decisions(review_ws, "demo")
    notes = [e.note for e in events]
    assert len(events) == 400 and len(set(notes)) == 400
    assert {n for n in notes if n.startswith("alice")} == {f"alice-{i}" for i in range(200)}
    assert len({e.seq for e in events}) == 400
