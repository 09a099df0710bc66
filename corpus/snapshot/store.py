"""Immutable snapshots: the only thing training reads.

    snapshots/<name>/documents.parquet   one row per document: doc_id, text, and its provenance columns
    snapshots/<name>/manifest.json       SnapshotManifest: counts, sha256 of every file and of the whole

A snapshot is written into a temporary sibling directory and renamed into place only when complete, so
a kill mid-write leaves no snapshot; an existing name is never overwritten. The sha256 of manifest.json itself is
recorded in the catalog (`snapshots.manifest_sha256`) when the snapshot is created, so an edited manifest — its
counts, provenance or the file hashes it lists — is caught too. The same digest is appended to the workspace's anchor ledger (`msm.anchors`), so a lost catalog row is rebuilt
from it rather than from the manifest it protects. `verify_snapshot` checks that digest and re-hashes every file
against the manifest; `load_verified_snapshot` is how downstream stages read one: the files are read into memory
once and hashed from those bytes, so what is trained on is what was verified.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from pydantic import BaseModel, ConfigDict, Field

from msm.anchors import anchor_snapshot
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
    specs: list[dict[str, str]] = Field(
        default_factory=list, description="[{spec_id, spec_hash, spec_file?}]; spec_file: the frozen copy of the spec "
                                          "in the snapshot directory (hashed in `files`)")
    spec_versions: list[dict[str, Any]] = Field(
        default_factory=list, description="per spec version the documents were written from: {spec_id, spec_hash, "
                                          "documents, reused} (`reused`: copied in by `msm generate --reuse-from`)")
    runs: list[str] = Field(default_factory=list)
    run_specs: dict[str, dict[str, str]] = Field(
        default_factory=dict, description="run -> {spec_id, spec_hash, spec_file} of the spec each source run carries")
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


def write_snapshot(ws: Workspace, name: str, table: pa.Table, extra_files: dict[str, bytes] | None = None,
                   **manifest_fields: Any) -> SnapshotManifest:
    """Freeze `table` (must have `doc_id` and `text` columns) as snapshot `name`, with `extra_files` (name -> bytes,
    e.g. the frozen spec copies) beside it and hashed like it; atomic, never overwrites."""
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
        for file_name, data in (extra_files or {}).items():
            (staging / file_name).write_bytes(data)
            files[file_name] = sha256_file(staging / file_name)
        manifest = SnapshotManifest(name=name, created_at=utc_now(), n_documents=table.num_rows, n_tokens=n_tokens,
                                    files=files, content_hash=combined_hash(files), **manifest_fields)
        write_json_atomic(staging / MANIFEST_FILE, manifest.model_dump(mode="json"))
        manifest_sha256 = sha256_file(staging / MANIFEST_FILE)
        # anchored before the rename: a kill after it leaves a committed snapshot whose digest reconcile finds here
        anchor_snapshot(ws.root, name, manifest_sha256, manifest.content_hash, how="created",
                        at=manifest.created_at.isoformat())
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
    """The sha256 of manifest.json recorded in the catalog when snapshot `name` was created (or accepted); None when
    there is none: a snapshot reconcile re-adopted without an anchored digest (`msm.anchors`), or one made before msm
    recorded digests — such a snapshot is unverified until `msm snapshot accept NAME`."""
    with ws.catalog(read_only=True) as con:
        row = con.execute("SELECT manifest_sha256 FROM snapshots WHERE name = ?", [name]).fetchone()
    return row[0] if row else None


def unverified_problem(name: str) -> str:
    return (f"unverified: no digest of its manifest was anchored when it was created (its catalog row was lost and "
            f"the anchor ledger has no line for it, or it predates digests); inspect it, then run "
            f"`msm snapshot accept {name}` to trust what is on disk now")


@dataclass(frozen=True)
class VerifiedSnapshot:
    """A snapshot read once into memory and checked there: `documents` are the bytes of documents.parquet whose
    sha256 matched the manifest, so whatever reads `table()` reads exactly the verified data — a file swapped on
    disk after the check cannot reach training (the check-then-use gap of re-opening the path)."""

    name: str
    manifest: SnapshotManifest
    manifest_bytes: bytes
    documents: bytes

    def table(self, columns: list[str] | None = None) -> pa.Table:
        return pq.read_table(pa.BufferReader(self.documents), columns=columns)

    def schema(self) -> pa.Schema:
        return pq.read_schema(pa.BufferReader(self.documents))


def _check(ws: Workspace, name: str) -> tuple[list[str], bytes | None, dict[str, bytes]]:
    """(problems, manifest bytes, {file name: bytes}) — every file read exactly once, hashed from those bytes."""
    root = ws.snapshot_dir(name)
    manifest_path = root / MANIFEST_FILE
    if not manifest_path.is_file():
        raise BadInput(f"snapshot {name!r}: no such snapshot in {ws.root} (see `msm snapshot list`)")
    problems = []
    manifest_bytes = manifest_path.read_bytes()
    recorded = recorded_manifest_digest(ws, name)
    if recorded is None:
        problems.append(unverified_problem(name))
    elif (got := hashlib.sha256(manifest_bytes).hexdigest()) != recorded:
        problems.append(f"{MANIFEST_FILE}: sha256 {got[:12]}… differs from the {recorded[:12]}… recorded when the "
                        "snapshot was created (the manifest was edited)")
    manifest = _parse_manifest(name, manifest_path, manifest_bytes)
    present = {p.name for p in root.iterdir() if p.is_file()} - {MANIFEST_FILE}
    for extra in sorted(present - set(manifest.files)):
        problems.append(f"{extra}: file not in manifest")
    contents: dict[str, bytes] = {}
    for file_name, expected in sorted(manifest.files.items()):
        path = root / file_name
        if not path.is_file():
            problems.append(f"{file_name}: missing")
            continue
        data = path.read_bytes()
        if (got := hashlib.sha256(data).hexdigest()) != expected:
            problems.append(f"{file_name}: sha256 {got[:12]}… differs from manifest {expected[:12]}…")
        contents[file_name] = data
    if combined_hash(manifest.files) != manifest.content_hash:
        problems.append("manifest: content_hash does not match its file hashes")
    return problems, manifest_bytes, contents


def _parse_manifest(name: str, path: Path, data: bytes) -> SnapshotManifest:
    from pydantic import ValidationError

    from msm.input_files import decode_utf8, parse_json

    try:
        return SnapshotManifest.model_validate(parse_json(decode_utf8(data, path), path))
    except (BadInput, ValidationError, ValueError) as exc:   # damage to a file msm wrote: exit 1, not bad input
        raise MsmError(f"snapshot {name!r}: manifest unreadable: {first_line(exc)}") from None


def verify_snapshot(ws: Workspace, name: str) -> list[str]:
    """Check manifest.json against the digest recorded at creation, then re-hash every file against the manifest;
    return the problems found (empty list = intact)."""
    return _check(ws, name)[0]


def load_verified_snapshot(ws: Workspace, name: str) -> VerifiedSnapshot:
    """Snapshot `name` read into memory and verified there; MsmError (exit 1) on any mismatch or when it is
    unverified. How every downstream stage reads a snapshot: never re-open the files by path after this."""
    problems, manifest_bytes, contents = _check(ws, name)
    if problems:
        raise MsmError(f"snapshot {name!r} failed verification, refusing to read it: {'; '.join(problems)}")
    assert manifest_bytes is not None
    manifest = _parse_manifest(name, ws.snapshot_dir(name) / MANIFEST_FILE, manifest_bytes)
    return VerifiedSnapshot(name=name, manifest=manifest, manifest_bytes=manifest_bytes,
                            documents=contents[DOCUMENTS_FILE])


def accept_snapshot(ws: Workspace, name: str) -> dict[str, Any]:
    """Anchor what is on disk now for snapshot `name` — a person's decision after inspecting it: its data must
    match its manifest; the manifest's digest goes into the catalog row and the anchor ledger."""
    problems = [p for p in verify_snapshot(ws, name) if not p.startswith("unverified:")
                and not p.startswith(f"{MANIFEST_FILE}: sha256")]
    if problems:
        raise MsmError(f"snapshot {name!r}: its files do not match its manifest, not accepting: {'; '.join(problems)}")
    data = (ws.snapshot_dir(name) / MANIFEST_FILE).read_bytes()
    manifest = _parse_manifest(name, ws.snapshot_dir(name) / MANIFEST_FILE, data)
    digest = hashlib.sha256(data).hexdigest()
    previous = recorded_manifest_digest(ws, name)
    anchor_snapshot(ws.root, name, digest, manifest.content_hash, how="accepted", at=utc_now().isoformat())
    with ws.catalog() as con:
        con.execute("UPDATE snapshots SET manifest_sha256 = ? WHERE name = ?", [digest, name])
    return {"name": name, "manifest_sha256": digest, "previous": previous, "content_hash": manifest.content_hash}


def list_snapshots(ws: Workspace) -> list[dict[str, Any]]:
    with ws.catalog(read_only=True) as con:
        rows = con.execute(
            "SELECT name, content_hash, n_documents, created_at FROM snapshots ORDER BY created_at").fetchall()
    return [{"name": n, "content_hash": h, "n_documents": d, "created_at": c} for n, h, d, c in rows]
