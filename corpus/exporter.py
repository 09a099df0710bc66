"""`msm runs export`: every document of a run with its provenance, signals, cluster id and decisions.

One row per document: all DocumentRecord fields (metadata and a chat's messages as JSON strings), the current curation's marks
(`kept`, `rules`, `dropped_by`, `flagged_by`, `cluster_id`, `is_representative`, `duplicate_of`), every signal
column, and the review status (`review_status`, `review_text_version`) where the review app has decisions.
Columns a run does not have yet (never curated, never reviewed) are NULL. Written to a temporary file and
renamed, so FILE is either the old file or the complete new one.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Iterator

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from msm.corpus.chats import messages_json
from msm.corpus.curate.store import curation_files
from msm.corpus.records import DocumentRecord
from msm.corpus.run_store import RunStore
from msm.errors import BadInput
from msm.export_temps import export_temp
from msm.workspace import Workspace

_BATCH = 5000
FORMATS = {".jsonl": "json", ".parquet": "parquet"}


def document_batches(docs: Iterator[DocumentRecord]) -> Iterator[pa.Table]:
    rows: list[dict[str, Any]] = []
    for doc in docs:
        row = doc.model_dump(mode="python")
        row["metadata"] = json.dumps(row["metadata"], ensure_ascii=False, sort_keys=True, default=str)
        row["messages"] = messages_json(doc.messages)  # a JSON string, as metadata: see corpus.chats
        rows.append(row)
        if len(rows) == _BATCH:
            yield _table(rows)
            rows = []
    if rows:
        yield _table(rows)


def _table(rows: list[dict[str, Any]]) -> pa.Table:
    table = pa.Table.from_pylist(rows)
    # typed even when every row is a document (all NULL), so tables of document and chat runs concatenate
    index = table.schema.get_field_index("messages")
    return table.set_column(index, "messages", table.column(index).cast(pa.string()))


def load_full_documents(con: duckdb.DuckDBPyConnection, store: RunStore, table: str = "documents") -> int:
    first = True
    for batch in document_batches(store.documents()):
        con.register("batch_rows", batch)
        if first:
            con.execute(f"CREATE TEMP TABLE {table} AS SELECT * FROM batch_rows")
            first = False
        else:
            con.execute(f"INSERT INTO {table} BY NAME SELECT * FROM batch_rows")
        con.unregister("batch_rows")
    if first:
        return 0
    return con.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0]


def review_states(ws: Workspace, run: str) -> pa.Table:
    """doc_id, review_status, review_text_version from the review app's decision store (empty if none)."""
    schema = pa.schema([("doc_id", pa.string()), ("review_status", pa.string()), ("review_text_version", pa.int64())])
    try:
        from msm.corpus.decisions import document_states
    except ImportError:
        return schema.empty_table()
    with ws.catalog(read_only=True) as con:
        has_table = con.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = 'review_decisions'").fetchall()[0][0]
    if not has_table:
        return schema.empty_table()
    states = document_states(ws, run)
    return pa.Table.from_pylist([{"doc_id": s.doc_id, "review_status": s.status, "review_text_version": s.text_version}
                                 for s in states.values()], schema=schema)


def check_output_file(out: Path, *, force: bool) -> None:
    """An export's --out: never a directory, and an existing file is replaced only with --force (a mistyped path
    must not silently overwrite someone's data)."""
    if out.is_dir():
        raise BadInput(f"--out {out}: is a directory")
    if (out.exists() or out.is_symlink()) and not force:
        raise BadInput(f"--out {out}: file exists; choose a new path or pass --force to replace it")


def export_run(ws: Workspace, run: str, out: Path, *, force: bool = False) -> dict[str, Any]:
    store = RunStore(ws, run)
    store.config()
    out = Path(out)
    fmt = FORMATS.get(out.suffix.lower())
    if fmt is None:
        raise BadInput(f"--out {out}: unsupported extension {out.suffix or '(none)'!r}: use .jsonl or .parquet")
    check_output_file(out, force=force)
    con = duckdb.connect()
    try:
        n = load_full_documents(con, store)
        if n == 0:
            raise BadInput(f"run {run!r} has no documents to export")
        selects, joins = ["d.*"], []
        files = curation_files(ws, run)
        if files is not None:
            marks, signals = files
            con.register("marks", pq.read_table(marks))
            selects.append("m.* EXCLUDE (doc_id)")
            joins.append("LEFT JOIN marks m USING (doc_id)")
            if signals.exists():    # a curation without the filters step (`--steps dedup`) computes no signals
                con.register("signals", pq.read_table(signals))
                selects.append("s.* EXCLUDE (doc_id)")
                joins.append("LEFT JOIN signals s USING (doc_id)")
        con.register("review_rows", review_states(ws, run))
        selects.append("r.review_status, r.review_text_version")
        joins.append("LEFT JOIN review_rows r USING (doc_id)")
        out.parent.mkdir(parents=True, exist_ok=True)
        # the temp file is listed in the workspace, so a kill here leaves nothing `msm doctor` cannot remove
        with export_temp(ws.root, out) as temp:
            tmp = str(temp)
            con.execute(f"COPY (SELECT {', '.join(selects)} FROM documents d {' '.join(joins)} ORDER BY d.doc_id) "
                        f"TO '{tmp.replace(chr(39), chr(39) * 2)}' (FORMAT {fmt})")
            os.replace(tmp, out)
    finally:
        con.close()
    return {"run": run, "documents": n, "out": str(out), "curated": files is not None}
