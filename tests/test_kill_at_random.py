"""The kill-at-random-instants check (scripts/kill_at_random.py), one kill per command: the script itself keeps
working, and a kill anywhere leaves files and catalog in agreement. The full run (20 kills each) is on demand."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).parents[1] / "scripts" / "kill_at_random.py"


@pytest.mark.timeout(1800)    # a hang guard: ~30 msm processes, slow on a loaded machine
def test_one_random_kill_per_command_is_survived(tmp_path: Path) -> None:
    out = tmp_path / "kills.json"
    proc = subprocess.run([sys.executable, str(SCRIPT), "--kills", "1", "--seed", "7", "--json", str(out)],
                          capture_output=True, text=True, timeout=1750)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    table = json.loads(out.read_text())
    assert set(table) == {"import", "curate", "snapshot", "generate"}
    assert all(row["kills"] == row["survived"] == 1 and not row["failures"] for row in table.values()), table
