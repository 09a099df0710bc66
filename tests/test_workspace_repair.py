"""Catalog and files in agreement: each state a SIGKILL can leave between committing files and writing the catalog
row is reproduced (the row deleted after a real command, a staging directory left by a killed writer) and must be
set right by the next command that opens the workspace, by `msm init` or by `msm doctor`."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import duckdb
import pytest

from msm.atomic import remove_abandoned, staging_directory, write_bytes_atomic
from msm.workspace import Workspace

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import planted  # noqa: E402  (benchmarks/ is not a package)


def _import(tmp_path: Path, msm, run: str, n: int = 6) -> None:
    rng = random.Random(run)
    src = tmp_path / f"{run}.jsonl"
    src.write_text("".join(json.dumps({"text": "\n\n".join(planted.document(rng))}) + "\n" for _ in range(n)))
    result = msm("corpus", "import", str(src), "--run", run)
    assert result.code == 0, result.err


def _sql(ws_root: Path, sql: str) -> list[tuple]:
    con = duckdb.connect(str(ws_root / "catalog.duckdb"))
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def test_a_run_committed_without_its_row_is_listed_again(tmp_path: Path, msm, isolated_workspace: Path):
    _import(tmp_path, msm, "r")
    _sql(isolated_workspace, "DELETE FROM runs WHERE name = 'r'")      # killed after the rename, before the row
    listed = json.loads(msm("runs", "list", "--json").out)
    assert [r["name"] for r in listed] == ["r"] and listed[0]["kind"] == "imported"
    row = _sql(isolated_workspace, "SELECT config_json FROM runs WHERE name = 'r'")[0][0]
    assert json.loads(row)["n_documents"] == 6


def test_snapshot_curation_and_model_rows_are_rebuilt_from_their_records(tmp_path: Path, msm, isolated_workspace: Path):
    _import(tmp_path, msm, "r")
    assert msm("curate", "--run", "r").code == 0
    assert msm("snapshot", "create", "s", "--from", "r").code == 0
    model = isolated_workspace / "models" / "m"
    model.mkdir(parents=True)
    (model / "manifest.json").write_text(json.dumps({"name": "m", "stage": "sft", "created_at": "2026-01-01T00:00:00"}))
    before = {t: _sql(isolated_workspace, f"SELECT * FROM {t}") for t in ("snapshots", "curations")}
    _sql(isolated_workspace, "DELETE FROM snapshots")
    _sql(isolated_workspace, "DELETE FROM curations")

    result = msm("doctor", "--json")
    assert result.code == 0, result.err
    report = json.loads(result.out)
    current = (isolated_workspace / "runs" / "r" / "curation" / "CURRENT").read_text().strip()
    assert set(report["indexed"]) == {"snapshots/s", f"curations/{current} (run r)", "models/m"}
    assert _sql(isolated_workspace, "SELECT name, content_hash, n_documents FROM snapshots") == \
        [row[:3] for row in before["snapshots"]]
    rebuilt = _sql(isolated_workspace, "SELECT curation_id, run, config_hash, config_json, steps, n_kept FROM curations")
    assert rebuilt == [(r[0], r[1], r[2], r[3], r[4], r[7]) for r in before["curations"]]
    assert _sql(isolated_workspace, "SELECT stage FROM models WHERE name = 'm'") == [("sft",)]
    again = json.loads(msm("doctor", "--json").out)
    assert not any(again[k] for k in ("indexed", "unindexed", "removed", "problems"))


def test_rows_whose_directory_is_gone_are_dropped(tmp_path: Path, msm, isolated_workspace: Path):
    _import(tmp_path, msm, "gone")
    import shutil

    shutil.rmtree(isolated_workspace / "runs" / "gone")
    assert json.loads(msm("runs", "list", "--json").out) == []
    _import(tmp_path, msm, "gone")               # and the name can be used again


def test_a_run_directory_killed_before_its_record_frees_its_name(tmp_path: Path, msm, isolated_workspace: Path):
    msm("init")
    stuck = isolated_workspace / "runs" / "e"
    stuck.mkdir()
    (stuck / ".generate.lock").write_text("")      # `msm generate` takes its lock before writing run.json
    _import(tmp_path, msm, "e")
    assert [r["name"] for r in json.loads(msm("runs", "list", "--json").out)] == ["e"]


def test_a_directory_that_is_not_a_run_is_reported_not_deleted(tmp_path: Path, msm, isolated_workspace: Path):
    msm("init")
    odd = isolated_workspace / "runs" / "notes"
    odd.mkdir()
    (odd / "mine.txt").write_text("keep me")
    result = msm("doctor")
    assert result.code == 1 and "PROBLEM: runs/notes: has no run.json" in result.out
    assert (odd / "mine.txt").read_text() == "keep me"


def test_current_holding_a_path_is_a_problem_not_followed(tmp_path: Path, msm, isolated_workspace: Path):
    _import(tmp_path, msm, "r")
    curation = isolated_workspace / "runs" / "r" / "curation"
    curation.mkdir()
    (curation / "CURRENT").write_text("../../../../etc\n")
    result = msm("doctor", "--json")
    assert result.code == 1
    assert any("is not a curation id" in p for p in json.loads(result.out)["problems"])


def test_abandoned_staging_is_removed_and_owned_staging_is_kept(tmp_path: Path):
    ws = Workspace.open(tmp_path / "ws", create=True)
    snapshots = ws.root / "snapshots"
    legacy = snapshots / ".s.abc123.tmp"             # no owner file: its writer is gone
    (legacy / "part").mkdir(parents=True)
    orphan_tmp = ws.root / "runs" / ".run.json.x1y2.tmp"
    orphan_tmp.write_text("{half")
    with staging_directory(snapshots, "live") as live:   # owned by this (live) process
        (live / "documents.parquet").write_bytes(b"...")
        report = ws.repair()
        assert live.is_dir()
        assert any(entry.startswith(f"snapshots/{live.name}") for entry in report.in_use)
    assert not legacy.exists() and not orphan_tmp.exists()
    assert {"snapshots/.s.abc123.tmp", "runs/.run.json.x1y2.tmp"} <= set(report.removed)
    assert not any(snapshots.iterdir())             # the live one cleaned up after itself


@pytest.mark.timeout(120)
def test_a_curation_killed_while_staging_is_cleared_and_the_current_one_kept(tmp_path: Path, msm,
                                                                             isolated_workspace: Path):
    _import(tmp_path, msm, "r")
    assert msm("curate", "--run", "r").code == 0
    folder = isolated_workspace / "runs" / "r" / "curation"
    current = (folder / "CURRENT").read_text()
    # a real SIGKILL once the staging directory holds the marks, before the commit renames it into place
    script = ("import os, signal, msm.corpus.curate.engine as e\n"
              "e.commit_curation = lambda *a, **k: os.kill(os.getpid(), signal.SIGKILL)\n"
              "from msm.cli import main\n"
              "main(['curate', '--run', 'r'])\n")
    proc = subprocess.run([sys.executable, "-c", script], env=dict(os.environ), capture_output=True, timeout=100)
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-2000:]
    [staging] = [p for p in folder.iterdir() if p.is_dir() and p.name.startswith(".")]
    assert (staging / "marks.parquet").exists()
    report = json.loads(msm("doctor", "--json").out)
    assert f"runs/r/curation/{staging.name}" in report["removed"] and not report["problems"]
    assert not [name for name in os.listdir(folder) if name.startswith(".")]      # nor its owner file
    assert (folder / "CURRENT").read_text() == current
    assert len(_sql(isolated_workspace, "SELECT * FROM curations")) == 1


_HOLDER = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from msm.atomic import staging_directory
    with staging_directory(Path(sys.argv[1]), "held") as staging:
        (staging / "half.parquet").write_bytes(b"x" * 1000)
        print(staging, flush=True)
        time.sleep(600)
""")


def test_a_staging_directory_is_removed_only_after_its_owner_is_killed(tmp_path: Path):
    parent = tmp_path / "snapshots"
    parent.mkdir()
    holder = subprocess.Popen([sys.executable, "-c", _HOLDER, str(parent)], stdout=subprocess.PIPE, text=True)
    try:
        staging = Path(holder.stdout.readline().strip())
        assert staging.is_dir()
        removed, live = remove_abandoned(parent)
        assert removed == [] and live == [staging] and staging.is_dir()
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait(timeout=30)
        removed, live = remove_abandoned(parent)
        assert staging in removed and live == []
        assert list(parent.iterdir()) == []
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait()


def test_a_temp_file_being_written_is_not_taken_for_abandoned(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    target = tmp_path / "record.json"
    seen = {}
    real_replace = os.replace

    def replace_after_a_cleaner_looked(src, dst):
        seen["result"] = remove_abandoned(tmp_path)     # a cleaner running while the write is in flight
        seen["src_exists"] = Path(src).exists()
        return real_replace(src, dst)

    monkeypatch.setattr(os, "replace", replace_after_a_cleaner_looked)
    write_bytes_atomic(target, b"{}")
    assert seen["result"] == ([], []) and seen["src_exists"]
    assert target.read_bytes() == b"{}"


def test_report_refuses_a_path_like_experiment_name(tmp_path: Path, msm, isolated_workspace: Path):
    msm("init")
    outside = isolated_workspace.parent / "elsewhere"
    outside.mkdir()
    (outside / "plan.json").write_text(json.dumps({"conditions": {}, "stages": {}}))
    result = msm("report", "../../elsewhere")
    assert result.code == 2 and "not allowed" in result.err
    assert not (outside / "report.html").exists()


def test_opening_a_consistent_workspace_changes_nothing(tmp_path: Path, msm, isolated_workspace: Path):
    _import(tmp_path, msm, "r")
    ws = Workspace.open(isolated_workspace)
    assert ws.last_repair is not None and not ws.last_repair.changed and not ws.last_repair.problems
