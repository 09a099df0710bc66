"""A run's curations on disk and in the catalog: where they live, which one is current, and reading them back.

    runs/<run>/curation/<curation_id>/signals.parquet   doc_id + every column of signals.SIGNAL_COLUMNS
    runs/<run>/curation/<curation_id>/marks.parquet     one row per document (MARK_COLUMNS)
    runs/<run>/curation/<curation_id>/curation.json     CurationSummary: config + hash, steps, per-step
                                                        counters (`dropped_<rule>`)
    runs/<run>/curation/CURRENT                         the curation_id in force

marks.parquet is what the review app and `msm snapshot create` read: `kept`; `rules` (comma-joined names of
the rules that dropped it, '' when kept — `exact_duplicate` / `near_duplicate` for dedup); `dropped_by` and
`flagged_by` (lists); `cluster_id` (the smallest doc_id of its duplicate cluster, NULL when unique);
`is_representative`; `duplicate_of` (the representative's doc_id); `exact_key`.

A curation is committed by building its directory aside, renaming it into place, then pointing `CURRENT` at it
(an atomic write) and adding its row to the catalog's `curations` table: a kill leaves the previous curation in force.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
from pydantic import BaseModel, ConfigDict, Field

from msm.atomic import sha256_file, write_json_atomic, write_text_atomic
from msm.corpus.run_store import RunStore
from msm.catalog_sync import read_curation_pointer
from msm.errors import BadInput
from msm.input_files import load_json_record
from msm.workspace import Workspace

CURATION_SUMMARY_SCHEMA_VERSION = 1
MARKS_FILE = "marks.parquet"
SIGNALS_FILE = "signals.parquet"
MARK_COLUMNS = ("doc_id", "kept", "rules", "dropped_by", "flagged_by", "cluster_id", "is_representative",
                "duplicate_of", "exact_key")


class CurationSummary(BaseModel):
    model_config = ConfigDict(extra="forbid")

    schema_version: int = CURATION_SUMMARY_SCHEMA_VERSION
    curation_id: str
    run: str
    created_at: datetime
    steps: list[str]
    config: dict[str, Any]
    config_hash: str
    config_source: str
    n_documents: int
    n_kept: int
    n_dropped: int
    step_stats: dict[str, dict[str, Any]] = Field(description="per step: counters such as dropped_<rule>")
    rule_counts: dict[str, int] = Field(description="rule -> documents it fired on (drop and flag rules)")
    diversity: dict[str, Any] = Field(default_factory=dict, description=(
        "empty: the diversity report is computed on demand (kept_diversity); curations of older msm versions "
        "stored it here"))
    seconds: dict[str, float]
    files: dict[str, str] = Field(default_factory=dict, description=(
        "file name -> sha256 of the curation's outputs (marks.parquet, signals.parquet), recorded at commit and "
        "checked by `msm snapshot create`; empty for curations of msm versions before it"))


def curation_root(ws: Workspace, run: str) -> Path:
    return ws.run_dir(run) / "curation"


def current_curation_dir(ws: Workspace, run: str) -> Path | None:
    """The directory of the curation in force, or None. CURRENT holds an id, never a path: anything else (a `..`,
    a `/`) is refused naming the file, so a damaged pointer never leads out of the run."""
    curation_id = read_curation_pointer(curation_root(ws, run))
    return None if curation_id is None else curation_root(ws, run) / curation_id


def commit_curation(ws: Workspace, summary: CurationSummary, staging: Path, config_json: str) -> Path:
    """Move a finished staging directory into place, make it current and record it in the catalog."""
    directory = curation_root(ws, summary.run) / summary.curation_id
    # hashed before the commit, so an edited marks.parquet is caught when a snapshot is made from it
    summary.files = {name: sha256_file(staging / name) for name in (MARKS_FILE, SIGNALS_FILE)
                     if (staging / name).is_file()}
    write_json_atomic(staging / "curation.json", summary.model_dump(mode="json"))
    staging.rename(directory)
    write_text_atomic(curation_root(ws, summary.run) / "CURRENT", summary.curation_id + "\n")
    with ws.catalog() as catalog:
        catalog.execute("INSERT INTO curations VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        [summary.curation_id, summary.run, summary.config_hash, config_json, ",".join(summary.steps),
                         summary.created_at, summary.n_documents, summary.n_kept, summary.n_dropped, str(directory)])
    return directory


def read_summary(ws: Workspace, run: str) -> CurationSummary:
    RunStore(ws, run).config()
    directory = current_curation_dir(ws, run)
    if directory is None:
        raise BadInput(f"run {run!r} has not been curated yet (run `msm curate --run {run}`)")
    return summary_in(directory)


def summary_in(directory: Path) -> CurationSummary:
    """The summary of the curation in `directory` (one resolved curation, not whatever CURRENT says now)."""
    return load_json_record(directory / "curation.json", CurationSummary, what="curation summary")


def verified_marks(directory: Path, summary: CurationSummary) -> pa.Table:
    """marks.parquet of the curation in `directory`, read once and checked against what its commit recorded: the
    sha256 (when recorded), the row count and the kept count. MsmError (exit 1) on any difference — damage, or an
    edit, to a file msm wrote."""
    import hashlib

    import pyarrow.parquet as pq

    from msm.errors import MsmError

    path = directory / MARKS_FILE
    if not path.is_file():
        raise MsmError(f"{path}: missing; the curation is incomplete (run `msm curate` again)")
    data = path.read_bytes()
    expected = summary.files.get(MARKS_FILE)
    if expected is not None and (got := hashlib.sha256(data).hexdigest()) != expected:
        raise MsmError(f"{path}: sha256 {got[:12]}… differs from the {expected[:12]}… recorded when curation "
                       f"{summary.curation_id} was committed (the marks were edited); run `msm curate` again")
    table = pq.read_table(pa.BufferReader(data))
    kept = sum(1 for k in table.column("kept").to_pylist() if k)
    if table.num_rows != summary.n_documents or kept != summary.n_kept:
        raise MsmError(f"{path}: {table.num_rows} marks with {kept} kept, but curation {summary.curation_id} recorded "
                       f"{summary.n_documents} documents with {summary.n_kept} kept; run `msm curate` again")
    return table


def read_marks(ws: Workspace, run: str) -> pa.Table:
    """The current marks of `run` (BadInput if it was never curated)."""
    import pyarrow.parquet as pq

    RunStore(ws, run).config()
    directory = current_curation_dir(ws, run)
    if directory is None:
        raise BadInput(f"run {run!r} has not been curated yet (run `msm curate --run {run}`)")
    return pq.read_table(directory / "marks.parquet")


def curation_files(ws: Workspace, run: str) -> tuple[Path, Path] | None:
    """(marks.parquet, signals.parquet) of the current curation, or None."""
    directory = current_curation_dir(ws, run)
    if directory is None:
        return None
    return directory / "marks.parquet", directory / "signals.parquet"


def report(ws: Workspace, run: str, examples_per_rule: int = 3) -> dict[str, Any]:
    """Per-rule drop counts with examples (doc_id + opening of the text) and the diversity report."""
    summary = read_summary(ws, run)
    marks, signals = curation_files(ws, run)  # type: ignore[misc]
    con = duckdb.connect()
    try:
        rows = con.execute("""
            SELECT rule, count(*) AS n, list(doc_id ORDER BY doc_id)[1:?] AS examples, any_value(action) AS action FROM (
                SELECT doc_id, unnest(dropped_by) AS rule, 'drop' AS action FROM read_parquet(?)
                UNION ALL SELECT doc_id, unnest(flagged_by), 'flag' FROM read_parquet(?))
            GROUP BY rule ORDER BY n DESC, rule""", [examples_per_rule, str(marks), str(marks)]).fetchall()
    finally:
        con.close()
    wanted = {doc_id for _, _, examples, _ in rows for doc_id in examples}
    openings = {d.doc_id: " ".join(d.text.split())[:160] for d in RunStore(ws, run).documents() if d.doc_id in wanted}
    rules = [{"rule": rule, "action": action, "documents": n,
              "share": round(n / summary.n_documents, 4),
              "examples": [{"doc_id": e, "opening": openings.get(e, "")} for e in examples]}
             for rule, n, examples, action in rows]
    return {"run": run, "curation_id": summary.curation_id, "config_hash": summary.config_hash,
            "steps": summary.steps, "n_documents": summary.n_documents, "n_kept": summary.n_kept,
            "n_dropped": summary.n_dropped, "rules": rules, "dedup": summary.step_stats.get("dedup"),
            "diversity": summary.diversity or kept_diversity(ws, run)}


def kept_diversity(ws: Workspace, run: str) -> dict[str, Any]:
    """The diversity report (diversity.diversity_report) of the documents the current curation keeps. Computed
    when asked, not by every curation: on 50k documents it costs seconds that `msm curate` need not spend."""
    from msm.corpus.curate.diversity import diversity_report

    marks, _ = curation_files(ws, run)  # type: ignore[misc]
    columns = {"doc_idx": [], "doc_id": [], "text": [], "clause_id": [], "doc_type": []}
    for index, doc in enumerate(RunStore(ws, run).documents()):
        for name, values in columns.items():
            values.append(index if name == "doc_idx" else getattr(doc, name))
    con = duckdb.connect()
    try:
        con.register("doc_rows", pa.table(columns, schema=pa.schema([
            ("doc_idx", pa.int64()), ("doc_id", pa.string()), ("text", pa.string()), ("clause_id", pa.string()),
            ("doc_type", pa.string())])))
        con.execute("CREATE TABLE docs AS SELECT * FROM doc_rows")
        con.execute("CREATE TABLE marks AS SELECT doc_id, kept FROM read_parquet(?)", [str(marks)])
        return diversity_report(con)
    finally:
        con.close()
