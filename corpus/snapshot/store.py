"""Immutable snapshots: the only thing training reads.

    snapshots/<name>/documents.parquet   one row per document: doc_id, text, and its provenance columns
    snapshots/<name>/manifest.json       SnapshotManifest: counts, sha256 of every file and of the whole

A snapshot is written into a temporary sibling directory and renamed into place only when complete, so
a kill mid-write leaves no snapshot; an existing name is never overwritten. The sha256 of manifest.json itself is
recorded in the catalog (`snapshots.manifest_sha256`) when the snapshot is created, so an edited manifest — its
counts, provenance or the file hashes it lists — is caught too. `verify_snapshot` checks that digest and re-hashes
every file against the manifest; `open_verified_snapshot` is how downstream stages read one.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from pydantic import BaseModel, ConfigDict, Field

from msm.atomic import atomic_directory, sha256_file, write_json_atomic
from msm.errors import BadInput, MsmError, first_line
from msm.input_files import load_json_record
from msm.workspace import Workspace, utc_now

SNAPSHOT_SCHEMA_VERSION = 1
DOCUMENTS_FILE = "documents.parquet"
MANIFEST_FILE = "manifest.json"


class SnapshotManifest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    schema_version: int = SNAPSHOT_SCHEMA_VERSION
    name: str
    created_at: datetime
    n_documents: int
    n_tokens: int = Field(description="Whitespace tokens unless a tokenizer was named in `token_counter`.")
    token_counter: str = "whitespace"
    files: dict[str, str] = Field(description="file name -> sha256")
    content_hash: str = Field(description="sha256 over the sorted (file name, file sha256) pairs")
    specs: list[dict[str, str]] = Field(default_factory=list, description="[{spec_id, spec_hash}]")
    spec_versions: list[dict[str, Any]] = Field(
        default_factory=list, description="per spec version the documents were written from: {spec_id, spec_hash, "
                                          "documents, reused} (`reused`: copied in by `msm generate --reuse-from`)")
    runs: list[str] = Field(default_factory=list)
    program_hashes: list[str] = Field(default_factory=list)
    curation: dict[str, Any] = Field(default_factory=dict, description="curation config and its hash")
    review: dict[str, Any] = Field(default_factory=dict, description="review policy and statistics")
    scaffold: dict[str, Any] = Field(
        default_factory=dict, description="how much of the text is generator template (weak-model scaffold anchors "
                                          "and openings) rather than LM-written: documents, characters, share")


def combined_hash(files: dict[str, str]) -> str:
    digest = hashlib.sha256()
    for name in sorted(files):
        digest.update(f"{name}\0{files[name]}\n".encode())
    return digest.hexdigest()


def write_snapshot(ws: Workspace, name: str, table: pa.Table, **manifest_fields: Any) -> SnapshotManifest:
    """Freeze `table` (must have `doc_id` and `text` columns) as snapshot `name`; atomic, never overwrites."""
    final = ws.snapshot_dir(name)
    if final.exists():
        raise BadInput(f"snapshot {name!r} already exists; snapshots are immutable — choose a new name")
    for column in ("doc_id", "text"):
        if column not in table.column_names:
            raise MsmError(f"snapshot {name!r}: documents table lacks required column {column!r}")
    if table.num_rows == 0:
        raise BadInput(f"snapshot {name!r}: no documents to freeze (nothing kept or accepted)")
    n_tokens = sum(len(str(t).split()) for t in table.column("text").to_pylist())
    with atomic_directory(final) as staging:
        pq.write_table(table, staging / DOCUMENTS_FILE, compression="zstd")
        files = {DOCUMENTS_FILE: sha256_file(staging / DOCUMENTS_FILE)}
        manifest = SnapshotManifest(name=name, created_at=utc_now(), n_documents=table.num_rows, n_tokens=n_tokens,
                                    files=files, content_hash=combined_hash(files), **manifest_fields)
        write_json_atomic(staging / MANIFEST_FILE, manifest.model_dump(mode="json"))
        manifest_sha256 = sha256_file(staging / MANIFEST_FILE)
    with ws.catalog() as con:
        con.execute("INSERT OR REPLACE INTO snapshots (name, content_hash, n_documents, created_at, manifest_path, "
                    "manifest_sha256) VALUES (?, ?, ?, ?, ?, ?)",
                    [name, manifest.content_hash, manifest.n_documents, manifest.created_at,
                     str(final / MANIFEST_FILE), manifest_sha256])
    return manifest


def read_manifest(ws: Workspace, name: str) -> SnapshotManifest:
    path = ws.snapshot_dir(name) / MANIFEST_FILE
    if not path.exists():
        raise BadInput(f"snapshot {name!r}: no such snapshot in {ws.root} (see `msm snapshot list`)")
    try:
        return load_json_record(path, SnapshotManifest, what="snapshot manifest")
    except BadInput as exc:     # a manifest msm wrote that no longer reads is damage, not bad input: exit 1
        raise MsmError(f"snapshot {name!r}: manifest unreadable: {first_line(exc)}") from None


def recorded_manifest_digest(ws: Workspace, name: str) -> str | None:
    """The sha256 of manifest.json recorded in the catalog when snapshot `name` was created (None for snapshots
    made before msm recorded it)."""
    with ws.catalog(read_only=True) as con:
        row = con.execute("SELECT manifest_sha256 FROM snapshots WHERE name = ?", [name]).fetchone()
    return row[0] if row else None


def verify_snapshot(ws: Workspace, name: str) -> list[str]:
    """Check manifest.json against the digest recorded at creation, then re-hash every file against the manifest;
    return the problems found (empty list = intact)."""
    root = ws.snapshot_dir(name)
    problems = []
    recorded = recorded_manifest_digest(ws, name)
    manifest_path = root / MANIFEST_FILE
    if recorded is not None and manifest_path.is_file() and (got := sha256_file(manifest_path)) != recorded:
        problems.append(f"{MANIFEST_FILE}: sha256 {got[:12]}… differs from the {recorded[:12]}… recorded when the "
                        "snapshot was created (the manifest was edited)")
    manifest = read_manifest(ws, name)
    present = {p.name for p in root.iterdir() if p.is_file()} - {MANIFEST_FILE}
    for extra in sorted(present - set(manifest.files)):
        problems.append(f"{extra}: file not in manifest")
    for file_name, expected in sorted(manifest.files.items()):
        path = root / file_name
        if not path.exists():
            problems.append(f"{file_name}: missing")
        elif (got := sha256_file(path)) != expected:
            problems.append(f"{file_name}: sha256 {got[:12]}… differs from manifest {expected[:12]}…")
    if combined_hash(manifest.files) != manifest.content_hash:
        problems.append("manifest: content_hash does not match its file hashes")
    return problems


def open_verified_snapshot(ws: Workspace, name: str) -> tuple[SnapshotManifest, Path]:
    """(manifest, path of documents.parquet) — after re-hashing; MsmError (exit 1) on any mismatch."""
    problems = verify_snapshot(ws, name)
    if problems:
        raise MsmError(f"snapshot {name!r} failed verification, refusing to read it: {'; '.join(problems)}")
    return read_manifest(ws, name), ws.snapshot_dir(name) / DOCUMENTS_FILE


def list_snapshots(ws: Workspace) -> list[dict[str, Any]]:
    with ws.catalog(read_only=True) as con:
        rows = con.execute(
            "SELECT name, content_hash, n_documents, created_at FROM snapshots ORDER BY created_at").fetchall()
    return [{"name": n, "content_hash": h, "n_documents": d, "created_at": c} for n, h, d, c in rows]
