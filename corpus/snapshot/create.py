"""`msm snapshot create` and `msm snapshot export`: what goes into a snapshot, and how it leaves.

create: the kept documents (current curation marks) of one or more runs; with `--require-review` only those the
review app settled as accepted, with the reviewer's edited text where there is one (`review_doc_versions`; for a
chat, the edited assistant reply). Chats (runs of `msm aft generate`) keep their turns in `messages` (JSON), which
`msm train sft --data snapshot:NAME` trains on.
The manifest records specs + hashes, runs, program hashes, each run's curation (id, config, config hash) and
review statistics; `store.write_snapshot` does the atomic, never-overwrite write and the hashing.

export: after re-verifying the hashes, DIR/dataset (Hugging Face `datasets.save_to_disk`, read back with
`datasets.load_from_disk`), DIR/documents.parquet (for `load_dataset("parquet", data_files=...)`) and
DIR/manifest.json — built in a temporary sibling directory and renamed into place.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from msm.atomic import atomic_directory
from msm.corpus.chats import messages_from_json, messages_json, render_chat, with_reply
from msm.corpus.curate.engine import curate_run
from msm.corpus.curate.store import current_curation_dir, read_summary
from msm.corpus.exporter import load_full_documents, review_states
from msm.corpus.run_store import RunStore
from msm.corpus.snapshot.store import MANIFEST_FILE, SnapshotManifest, open_verified_snapshot, write_snapshot
from msm.errors import BadInput
from msm.workspace import Workspace, check_name

SNAPSHOT_COLUMNS = ("doc_id", "run", "text", "spec_id", "spec_hash", "clause_id", "domain", "doc_type", "idea",
                    "persona", "lm", "program_hash", "source_id", "finish_reason", "created_at", "cluster_id",
                    "text_version", "metadata", "messages")


def _edited_texts(ws: Workspace, run: str) -> pa.Table:
    schema = pa.schema([("doc_id", pa.string()), ("version", pa.int64()), ("text", pa.string())])
    with ws.catalog(read_only=True) as con:
        if not con.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = 'review_doc_versions'").fetchall()[0][0]:
            return schema.empty_table()
        return con.sql("SELECT doc_id, CAST(version AS BIGINT) AS version, text FROM review_doc_versions WHERE run = $run",
                       params={"run": run}).to_arrow_table()


def with_edited_replies(table: pa.Table) -> pa.Table:
    """Chats a reviewer edited: the review app stores an edited chat's new assistant reply as the version's text, so
    the snapshot row gets messages with that reply and `text` rendered from them (documents pass unchanged)."""
    rows = table.to_pylist()
    changed = False
    for row in rows:
        if row["messages"] is not None and row["text_version"]:
            messages = with_reply(messages_from_json(row["messages"]), row["text"])
            row["messages"], row["text"] = messages_json(messages), render_chat(messages)
            changed = True
    return pa.Table.from_pylist(rows, schema=table.schema) if changed else table


def create_snapshot(ws: Workspace, name: str, runs: list[str], require_review: bool = False,
                    config_path: str | None = None, progress=None) -> SnapshotManifest:
    check_name("snapshot", name)
    if ws.snapshot_dir(name).exists():
        raise BadInput(f"snapshot {name!r} already exists; snapshots are immutable — choose a new name")
    if not runs:
        raise BadInput("--from: name at least one run")
    if len(set(runs)) != len(runs):
        raise BadInput(f"--from: run listed twice in {','.join(runs)}")
    for run in runs:
        RunStore(ws, run).config()
        if config_path is None and current_curation_dir(ws, run) is None:
            raise BadInput(f"run {run!r} has not been curated (run `msm curate --run {run}` or pass --config FILE)")
    if config_path is not None:
        for run in runs:
            curate_run(ws, run, config_path, progress=progress)
    tables, curation, review = [], {}, {"required": require_review}
    con = duckdb.connect()
    try:
        for run in runs:
            summary = read_summary(ws, run)
            curation[run] = {"curation_id": summary.curation_id, "config_hash": summary.config_hash,
                             "steps": summary.steps, "config": summary.config, "n_kept": summary.n_kept,
                             "n_documents": summary.n_documents, "rule_counts": summary.rule_counts}
            con.execute("DROP TABLE IF EXISTS documents")
            load_full_documents(con, RunStore(ws, run))
            marks = current_curation_dir(ws, run) / "marks.parquet"   # type: ignore[operator]
            con.register("review_rows", review_states(ws, run))
            con.register("edited_rows", _edited_texts(ws, run))
            where = "m.kept"
            if require_review:
                counts = dict(con.execute(f"""SELECT coalesce(r.review_status, 'unreviewed'), count(*) FROM documents d
                    JOIN read_parquet(?) m USING (doc_id) LEFT JOIN review_rows r USING (doc_id) WHERE m.kept GROUP BY 1""",
                    [str(marks)]).fetchall())
                counts["edited"] = con.execute("""SELECT count(*) FROM review_rows WHERE review_status = 'accepted'
                                                  AND review_text_version > 0""").fetchall()[0][0]
                review[run] = counts
                where += " AND r.review_status = 'accepted'"
            table = con.sql(f"""
                SELECT d.doc_id, d.run, coalesce(e.text, d.text) AS text, d.spec_id, d.spec_hash, d.clause_id, d.domain,
                       d.doc_type, d.idea, d.persona, d.lm, d.program_hash, d.source_id, d.finish_reason, d.created_at,
                       m.cluster_id, coalesce(r.review_text_version, 0) AS text_version, d.metadata,
                       d.messages
                FROM documents d JOIN read_parquet($marks) m USING (doc_id)
                LEFT JOIN review_rows r USING (doc_id)
                LEFT JOIN edited_rows e ON e.doc_id = d.doc_id AND e.version = r.review_text_version
                WHERE {where} ORDER BY d.doc_id""", params={"marks": str(marks)}).to_arrow_table()
            tables.append(with_edited_replies(table))
            con.unregister("review_rows")
            con.unregister("edited_rows")
    finally:
        con.close()
    documents = pa.concat_tables([t.cast(tables[0].schema) for t in tables])
    specs = sorted({(s, h) for s, h in zip(documents.column("spec_id").to_pylist(), documents.column("spec_hash").to_pylist())
                    if s is not None}, key=lambda p: (p[0], p[1] or ""))
    program_hashes = sorted({p for p in documents.column("program_hash").to_pylist() if p})
    return write_snapshot(ws, name, documents, specs=[{"spec_id": s, "spec_hash": h or ""} for s, h in specs],
                          runs=runs, program_hashes=program_hashes, curation=curation, review=review,
                          scaffold=template_share(documents), spec_versions=spec_versions(documents))


def spec_versions(documents: pa.Table) -> list[dict[str, Any]]:
    """Documents per (spec id, spec hash) they were written from, and how many of them a run reused from an earlier
    run: a snapshot of a `--reuse-from` run mixes two spec versions, and says so."""
    import json

    counts: dict[tuple[str, str], list[int]] = {}
    for spec_id, spec_hash, metadata in zip(documents.column("spec_id").to_pylist(),
                                            documents.column("spec_hash").to_pylist(),
                                            documents.column("metadata").to_pylist()):
        if spec_id is None:
            continue
        meta = json.loads(metadata) if isinstance(metadata, str) else (metadata or {})
        entry = counts.setdefault((spec_id, spec_hash or ""), [0, 0])
        entry[0] += 1
        entry[1] += bool(meta.get("reused_from"))
    return [{"spec_id": s, "spec_hash": h, "documents": n, "reused": r} for (s, h), (n, r) in sorted(counts.items())]


def template_share(documents: pa.Table) -> dict[str, Any]:
    """Characters of declared generator template (scaffold anchors, openings) over all characters."""
    import json

    templated = template_chars = chars = 0
    for text, metadata in zip(documents.column("text").to_pylist(), documents.column("metadata").to_pylist()):
        meta = json.loads(metadata) if isinstance(metadata, str) else (metadata or {})
        declared = int(meta.get("scaffold_chars") or meta.get("opening_chars") or 0)
        chars += len(text or "")
        if declared:
            templated += 1
            template_chars += min(declared, len(text or ""))
    return {"documents": documents.num_rows, "templated_documents": templated, "template_chars": template_chars,
            "chars": chars, "share": round(template_chars / chars, 4) if chars else 0.0}


def export_snapshot(ws: Workspace, name: str, to_dir: Path) -> dict[str, Any]:
    import datasets

    datasets.disable_progress_bars()   # msm's own output stays one line; the copy is quick
    manifest, parquet = open_verified_snapshot(ws, name)
    to_dir = Path(to_dir)
    if to_dir.exists() and (not to_dir.is_dir() or any(to_dir.iterdir())):
        raise BadInput(f"--to {to_dir}: exists and is not an empty directory")
    if to_dir.exists():
        to_dir.rmdir()
    with atomic_directory(to_dir) as staging:
        shutil.copyfile(parquet, staging / "documents.parquet")
        shutil.copyfile(ws.snapshot_dir(name) / MANIFEST_FILE, staging / MANIFEST_FILE)
        dataset = datasets.Dataset(pq.read_table(staging / "documents.parquet"))
        dataset.save_to_disk(str(staging / "dataset"))
    return {"snapshot": name, "to": str(to_dir), "documents": manifest.n_documents,
            "dataset": str(to_dir / "dataset"), "parquet": str(to_dir / "documents.parquet")}
