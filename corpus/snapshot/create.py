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

from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from msm.atomic import atomic_directory
from msm.corpus.chats import messages_from_json, messages_json, render_chat, with_reply
from msm.corpus.curate.engine import curate_run
from msm.corpus.curate.store import curation_root, current_curation_dir, summary_in, verified_marks
from msm.corpus.exporter import load_full_documents, review_states
from msm.corpus.run_store import RunStore
from msm.corpus.snapshot.store import (DOCUMENTS_FILE, MANIFEST_FILE, SnapshotManifest, load_verified_snapshot,
                                       write_snapshot)
from msm.errors import BadInput, MsmError
from msm.export_temps import register_export_temp
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


def _check_kept_present(con: duckdb.DuckDBPyConnection, run: str, curation_id: str) -> None:
    """Every document the curation kept must still be in the run: lines lost from documents.jsonl (cut at a line
    boundary, so nothing looks torn) would otherwise shrink the snapshot silently under a manifest that says the
    curation covered them all."""
    missing = con.execute("""SELECT count(*), min(m.doc_id) FROM marks m ANTI JOIN documents d USING (doc_id)
                             WHERE m.kept""").fetchall()[0]
    if missing[0]:
        raise MsmError(f"run {run!r}: {missing[0]} document(s) curation {curation_id} kept are missing from "
                       f"{run}/documents.jsonl (e.g. {missing[1]}): the run lost lines since it was curated; restore "
                       f"it, or run `msm curate --run {run}` again to curate what is there now")


def create_snapshot(ws: Workspace, name: str, runs: list[str], require_review: bool = False,
                    config_path: str | None = None, progress=None) -> SnapshotManifest:
    check_name("snapshot", name)
    if ws.snapshot_dir(name).exists():
        raise BadInput(f"snapshot {name!r} already exists; snapshots are immutable — choose a new name")
    if not runs:
        raise BadInput("--from: name at least one run")
    if len(set(runs)) != len(runs):
        raise BadInput(f"--from: run listed twice in {','.join(runs)}")
    chosen: dict[str, Path] = {}
    for run in runs:
        RunStore(ws, run).config()
        if config_path is None:
            # CURRENT is resolved once, here: everything below reads this curation's directory, so a curation
            # committed meanwhile cannot slip its documents under this one's record
            directory = current_curation_dir(ws, run)
            if directory is None:
                raise BadInput(f"run {run!r} has not been curated (run `msm curate --run {run}` or pass --config FILE)")
            chosen[run] = directory
    if config_path is not None:
        for run in runs:
            chosen[run] = curation_root(ws, run) / curate_run(ws, run, config_path, progress=progress).curation_id
    tables, curation, review = [], {}, {"required": require_review}
    spec_files, run_specs = carried_specs(ws, runs)
    con = duckdb.connect()
    try:
        for run in runs:
            summary = summary_in(chosen[run])
            curation[run] = {"curation_id": summary.curation_id, "config_hash": summary.config_hash,
                             "steps": summary.steps, "config": summary.config, "n_kept": summary.n_kept,
                             "n_documents": summary.n_documents, "rule_counts": summary.rule_counts}
            con.execute("DROP TABLE IF EXISTS documents")
            if not load_full_documents(con, RunStore(ws, run)):
                raise MsmError(f"run {run!r}: documents.jsonl holds no documents, but curation {summary.curation_id} "
                               f"covered {summary.n_documents}")
            con.register("marks", verified_marks(chosen[run], summary))
            _check_kept_present(con, run, summary.curation_id)
            con.register("review_rows", review_states(ws, run))
            con.register("edited_rows", _edited_texts(ws, run))
            where = "m.kept"
            if require_review:
                counts = dict(con.execute("""SELECT coalesce(r.review_status, 'unreviewed'), count(*) FROM documents d
                    JOIN marks m USING (doc_id) LEFT JOIN review_rows r USING (doc_id) WHERE m.kept GROUP BY 1"""
                                          ).fetchall())
                counts["edited"] = con.execute("""SELECT count(*) FROM review_rows WHERE review_status = 'accepted'
                                                  AND review_text_version > 0""").fetchall()[0][0]
                review[run] = counts
                where += " AND r.review_status = 'accepted'"
            table = con.sql(f"""
                SELECT d.doc_id, d.run, coalesce(e.text, d.text) AS text, d.spec_id, d.spec_hash, d.clause_id, d.domain,
                       d.doc_type, d.idea, d.persona, d.lm, d.program_hash, d.source_id, d.finish_reason, d.created_at,
                       m.cluster_id, coalesce(r.review_text_version, 0) AS text_version, d.metadata,
                       d.messages
                FROM documents d JOIN marks m USING (doc_id)
                LEFT JOIN review_rows r USING (doc_id)
                LEFT JOIN edited_rows e ON e.doc_id = d.doc_id AND e.version = r.review_text_version
                WHERE {where} ORDER BY d.doc_id""").to_arrow_table()
            if not require_review and table.num_rows != summary.n_kept:   # the join above lost or doubled a row
                raise MsmError(f"run {run!r}: {table.num_rows} documents to freeze, but curation "
                               f"{summary.curation_id} kept {summary.n_kept}; refusing a snapshot that differs")
            tables.append(with_edited_replies(table))
            for view in ("marks", "review_rows", "edited_rows"):
                con.unregister(view)
    finally:
        con.close()
    documents = pa.concat_tables([t.cast(tables[0].schema) for t in tables])
    specs = sorted({(s, h) for s, h in zip(documents.column("spec_id").to_pylist(), documents.column("spec_hash").to_pylist())
                    if s is not None}, key=lambda p: (p[0], p[1] or ""))
    program_hashes = sorted({p for p in documents.column("program_hash").to_pylist() if p})
    by_hash = {(e["spec_id"], e["spec_hash"]): e["spec_file"] for e in run_specs.values()}
    spec_entries = [{"spec_id": s, "spec_hash": h or "", **({"spec_file": by_hash[(s, h)]} if (s, h) in by_hash else {})}
                    for s, h in specs]
    return write_snapshot(ws, name, documents, extra_files=spec_files, specs=spec_entries, run_specs=run_specs,
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


def carried_specs(ws: Workspace, runs: list[str]) -> tuple[dict[str, bytes], dict[str, dict[str, str]]]:
    """({file name: bytes}, {run: {spec_id, spec_hash, spec_file}}) of the spec copies the runs carry: one file per
    distinct spec (`spec-<id>-<hash12>.yaml`), so a model trained on the snapshot finds its spec from there."""
    from msm.frozen_spec import FrozenSpec

    files: dict[str, bytes] = {}
    per_run: dict[str, dict[str, str]] = {}
    for run in runs:
        store = RunStore(ws, run)
        record = store.config().get("spec_file")
        if not record:
            continue
        spec = store.spec()   # verifies the copy's hash
        frozen = FrozenSpec.model_validate(record)
        file_name = f"spec-{spec.id}-{spec.content_hash[:12]}.yaml"
        files.setdefault(file_name, (store.dir / frozen.file).read_bytes())
        per_run[run] = {"spec_id": spec.id, "spec_hash": spec.content_hash, "spec_file": file_name}
    return files, per_run


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
    verified = load_verified_snapshot(ws, name)   # the bytes written below are the ones that were hashed
    manifest = verified.manifest
    to_dir = Path(to_dir)
    if to_dir.exists() and (not to_dir.is_dir() or any(to_dir.iterdir())):
        raise BadInput(f"--to {to_dir}: exists and is not an empty directory")
    if to_dir.exists():
        to_dir.rmdir()
    with atomic_directory(to_dir) as staging:
        register_export_temp(ws.root, staging)     # a kill leaves it to `msm doctor`, not to the user's folder
        (staging / DOCUMENTS_FILE).write_bytes(verified.documents)
        (staging / MANIFEST_FILE).write_bytes(verified.manifest_bytes)
        dataset = datasets.Dataset(verified.table())
        dataset.save_to_disk(str(staging / "dataset"))
    return {"snapshot": name, "to": str(to_dir), "documents": manifest.n_documents,
            "dataset": str(to_dir / "dataset"), "parquet": str(to_dir / "documents.parquet")}
