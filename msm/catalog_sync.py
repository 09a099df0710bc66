"""Keeping the catalog in agreement with the files: what is on disk is the truth, the catalog its index.

Every command that creates something commits in the same order: build it in a staging directory, rename it into
place (the commit point), then write its catalog row. A kill can therefore leave three kinds of disagreement, and
`reconcile` — run when a workspace is opened, by `msm init` and by `msm doctor` — repairs each:

- a committed directory without its row (killed after the rename): the row is rebuilt from the directory's own
  record (`run.json`, `manifest.json`, `curation.json`), so the run, snapshot, model or curation is listed and its
  name is never stuck — except a snapshot's manifest digest, which comes from the anchor ledger (`msm.anchors`),
  never from the manifest it protects;
- a row whose directory is gone (killed while removing it, or removed by hand): the row of a run, snapshot or
  model is dropped (curation rows are history and stay);
- a staging directory or temp file a kill abandoned: removed, but only when no live process owns it
  (`msm.atomic.remove_abandoned`); a run directory a kill left before its `run.json` (empty, or holding only
  a lock nobody holds) is removed too, so its name can be used again.

What it cannot repair (an unreadable record, a directory that is not what its folder holds) it reports as a
problem for `msm doctor`, and touches nothing.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import duckdb

from msm.anchors import anchored_digest
from msm.atomic import owner_of, remove_abandoned
from msm.errors import MsmError
from msm.input_files import MAX_RECORD_BYTES, load_json_object

RUN_RECORD = "run.json"
MANIFEST = "manifest.json"
CURATION_RECORD = "curation.json"
CURRENT_POINTER = "CURRENT"
# `msm curate` names curations <UTC timestamp>-<config hash prefix>; an id is checked as a name, not as that format
# (workspaces and tools may hold others): one path component of letters, digits, '_', '.', '-', never '..'
CURATION_ID = re.compile(r"^(?!.*\.\.)[A-Za-z0-9][A-Za-z0-9_.-]{0,127}\Z")


@dataclass
class RepairReport:
    """What one reconcile pass found and did (all paths relative to the workspace)."""

    indexed: list[str] = field(default_factory=list)        # rows rebuilt from disk: "runs/NAME"
    unindexed: list[str] = field(default_factory=list)      # rows dropped, their directory gone
    removed: list[str] = field(default_factory=list)        # abandoned staging directories / temp files
    in_use: list[str] = field(default_factory=list)         # staging owned by a live process: "path (pid N)"
    problems: list[str] = field(default_factory=list)       # what it could not repair

    @property
    def changed(self) -> bool:
        return bool(self.indexed or self.unindexed or self.removed)

    def as_dict(self) -> dict[str, list[str]]:
        return {"indexed": self.indexed, "unindexed": self.unindexed, "removed": self.removed,
                "in_use": self.in_use, "problems": self.problems}


def read_curation_pointer(curation_root: Path) -> str | None:
    """The curation id `CURRENT` names, or None when there is none. The file holds an id, never a path:
    anything that is not an id is refused (a `..` must not lead out of the run)."""
    pointer = curation_root / CURRENT_POINTER
    if not pointer.exists() and not pointer.is_symlink():
        return None
    from msm.input_files import read_text

    text = read_text(pointer, what="curation pointer", max_bytes=1024).strip()
    if not CURATION_ID.match(text):
        from msm.input_files import InputFileError

        raise InputFileError(pointer, f"{text[:60]!r} is not a curation id", scope="document")
    return text


def _entries(folder: Path) -> list[os.DirEntry]:
    try:
        return [e for e in os.scandir(folder) if not e.name.startswith(".") and e.is_dir(follow_symlinks=False)]
    except OSError:
        return []


def _record(path: Path, report: RepairReport, root: Path) -> dict[str, Any] | None:
    try:
        return load_json_object(path, what=path.name, max_bytes=MAX_RECORD_BYTES)
    except MsmError as exc:
        report.problems.append(f"{_rel(path, root)}: unreadable, not indexed ({str(exc).split(': ', 1)[-1]})")
        return None


def _rel(path: Path, root: Path) -> str:
    try:
        return str(Path(path).relative_to(root))
    except ValueError:
        return str(path)


def _only_unheld_locks(directory: Path) -> bool:
    """Whether `directory` holds nothing but `*.lock` files no live process holds (what a kill before the run's
    record leaves, e.g. `msm generate`'s run lock)."""
    try:
        entries = list(os.scandir(directory))
    except OSError:
        return False
    for entry in entries:
        if not (entry.name.endswith(".lock") and entry.is_file(follow_symlinks=False)):
            return False
        fd = os.open(entry.path, os.O_RDONLY | os.O_CLOEXEC)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        finally:
            os.close(fd)
    return True


def _clean_staging(folder: Path, root: Path, report: RepairReport) -> None:
    removed, live = remove_abandoned(folder)
    report.removed += [_rel(p, root) for p in removed]
    for path in live:
        owner = owner_of(path) or {}
        report.in_use.append(f"{_rel(path, root)} (pid {owner.get('pid', '?')} on {owner.get('host', '?')})")


def _runs(ws, con: duckdb.DuckDBPyConnection, report: RepairReport) -> list[str]:
    root = ws.root
    folder = root / "runs"
    _clean_staging(folder, root, report)
    catalog = {row[0] for row in con.execute("SELECT name FROM runs").fetchall()}
    committed = []
    for entry in _entries(folder):
        directory = Path(entry.path)
        record_path = directory / RUN_RECORD
        if not record_path.exists():
            if _only_unheld_locks(directory):
                shutil.rmtree(directory, ignore_errors=True)
                report.removed.append(_rel(directory, root))
            else:
                report.problems.append(f"{_rel(directory, root)}: has no {RUN_RECORD}; not a run (move it away to "
                                       f"use the name)")
            continue
        committed.append(entry.name)
        _clean_staging(directory, root, report)
        if entry.name in catalog:
            continue
        record = _record(record_path, report, root)
        if record is None:
            continue
        if record.get("name") != entry.name:
            report.problems.append(f"{_rel(record_path, root)}: names run {record.get('name')!r}, not {entry.name!r}")
            continue
        con.execute("INSERT OR IGNORE INTO runs VALUES (?, ?, ?, ?, ?, ?)",
                    [entry.name, record.get("kind") or "unknown", record.get("spec_id"), record.get("spec_hash"),
                     record.get("created_at"), json.dumps(record.get("config", {}), sort_keys=True)])
        report.indexed.append(f"runs/{entry.name}")
    for name in sorted(catalog - set(committed)):
        con.execute("DELETE FROM runs WHERE name = ?", [name])
        report.unindexed.append(f"runs/{name}")
    return committed


def _curations(ws, con: duckdb.DuckDBPyConnection, runs: list[str], report: RepairReport) -> None:
    root = ws.root
    known = {row[0] for row in con.execute("SELECT curation_id FROM curations").fetchall()}
    for run in runs:
        folder = root / "runs" / run / "curation"
        if not folder.is_dir():
            continue
        # `msm curate` stages in `.ID.<token>.tmp` with a flocked owner file, like every other writer
        _clean_staging(folder, root, report)
        try:
            read_curation_pointer(folder)
        except MsmError as exc:
            report.problems.append(f"{_rel(folder / CURRENT_POINTER, root)}: {str(exc).split(': ', 1)[-1]}")
        for entry in _entries(folder):
            if entry.name in known or not CURATION_ID.match(entry.name):
                continue
            record_path = Path(entry.path) / CURATION_RECORD
            if not record_path.exists():
                continue
            record = _record(record_path, report, root)
            if record is None:
                continue
            config = record.get("config", {})
            con.execute("INSERT OR IGNORE INTO curations VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        [entry.name, run, record.get("config_hash"),
                         json.dumps(config, sort_keys=True, separators=(",", ":")),
                         ",".join(record.get("steps", [])), record.get("created_at"), record.get("n_documents", 0),
                         record.get("n_kept", 0), record.get("n_dropped", 0), entry.path])
            report.indexed.append(f"curations/{entry.name} (run {run})")


def _manifest_folder(ws, con: duckdb.DuckDBPyConnection, report: RepairReport, *, table: str, what: str,
                     insert: str, row: Callable[[Path, Path, dict], list]) -> None:
    """Reconcile one folder of manifest-bearing directories (snapshots/, models/) with its catalog table: index
    committed directories the table lacks (`row(directory, manifest path, manifest)` gives the values for `insert`),
    drop rows whose directory is gone, report directories without a manifest."""
    root = ws.root
    folder = root / table
    _clean_staging(folder, root, report)
    catalog = {r[0] for r in con.execute(f"SELECT name FROM {table}").fetchall()}
    committed = set()
    for entry in _entries(folder):
        manifest_path = Path(entry.path) / MANIFEST
        if not manifest_path.exists():
            report.problems.append(f"{_rel(Path(entry.path), root)}: has no {MANIFEST}; not {what}")
            continue
        committed.add(entry.name)
        if entry.name in catalog:
            continue
        manifest = _record(manifest_path, report, root)
        if manifest is None:
            continue
        con.execute(insert, [entry.name, *row(Path(entry.path), manifest_path, manifest)])
        report.indexed.append(f"{table}/{entry.name}")
    for name in sorted(catalog - committed):
        con.execute(f"DELETE FROM {table} WHERE name = ?", [name])
        report.unindexed.append(f"{table}/{name}")


def _snapshots(ws, con: duckdb.DuckDBPyConnection, report: RepairReport) -> None:
    # The integrity root is never re-derived from the data it protects: the digest comes from the anchor ledger
    # `snapshot create` appended to before its commit (`msm.anchors`); with no line there the row gets NULL and
    # the snapshot stays unverified — every reader refuses it — until `msm snapshot accept NAME`.
    _manifest_folder(ws, con, report, table="snapshots", what="a snapshot",
                     insert="INSERT OR IGNORE INTO snapshots (name, content_hash, n_documents, created_at, "
                            "manifest_path, manifest_sha256) VALUES (?, ?, ?, ?, ?, ?)",
                     row=lambda directory, path, m: [m.get("content_hash") or "", m.get("n_documents") or 0,
                                                m.get("created_at"), str(path),
                                                anchored_digest(ws.root, directory.name)])


def _models(ws, con: duckdb.DuckDBPyConnection, report: RepairReport) -> None:
    _manifest_folder(ws, con, report, table="models", what="a model msm trained",
                     insert="INSERT OR IGNORE INTO models VALUES (?, ?, ?, ?, ?)",
                     row=lambda directory, _path, m: [m.get("stage") or "unknown", str(directory.resolve()),
                                                      m.get("created_at"), json.dumps(m, sort_keys=True)])


def reconcile(ws, con: duckdb.DuckDBPyConnection) -> RepairReport:
    """One pass over the workspace on an open read-write catalog connection; see the module docstring."""
    report = RepairReport()
    con.execute("BEGIN TRANSACTION")
    try:
        runs = _runs(ws, con, report)
        _curations(ws, con, runs, report)
        _snapshots(ws, con, report)
        _models(ws, con, report)
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    for cache in (ws.cache_dir / "models",):
        _clean_staging(cache, ws.root, report)
    from msm.export_temps import clean_abandoned_exports

    report.removed += clean_abandoned_exports(ws.root)
    return report
