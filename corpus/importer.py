"""`msm corpus import`: outside documents (JSONL or Parquet) into a new run, all or nothing.

Each record needs a non-empty string `text`. `id` (string or integer) is kept as `source_id` and must be
unique in the file; the provenance fields a DocumentRecord has (`clause_id`, `domain`, `doc_type`, `idea`,
`persona`, `lm`, `finish_reason`, `spec_id`) are taken over when they are strings; every other field goes to
`metadata`. Every record is validated before anything is written; the run directory is built in a temporary
sibling and renamed into place, then indexed in the catalog — a bad record or a kill leaves no run behind.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterator

from msm.atomic import atomic_directory, write_json_atomic
from msm.corpus.records import DocumentRecord, stable_id
from msm.corpus.run_store import RunStore
from msm.errors import BadInput
from msm.workspace import Workspace, check_name, utc_now

MAX_TEXT_BYTES = 1_000_000         # one document; far above any generated document, guards against blobs
MAX_LINE_BYTES = 4 * MAX_TEXT_BYTES
PROVENANCE_FIELDS = ("clause_id", "domain", "doc_type", "idea", "persona", "lm", "finish_reason", "spec_id")


def _jsonl_records(path: Path) -> Iterator[tuple[str, Any]]:
    with open(path, "rb") as handle:
        for number, raw in enumerate(handle, start=1):
            where = f"{path}:{number}"
            if len(raw) > MAX_LINE_BYTES:
                raise BadInput(f"{where}: text: line of {len(raw)} bytes exceeds the {MAX_LINE_BYTES}-byte limit")
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise BadInput(f"{where}: (line): not UTF-8 (byte 0x{raw[exc.start]:02x} at column {exc.start + 1})") from None
            if not line.strip():
                continue
            try:
                yield where, json.loads(line)
            except json.JSONDecodeError as exc:
                raise BadInput(f"{where}: (line): not valid JSON: {exc.msg} at column {exc.colno}") from None


def _parquet_records(path: Path) -> Iterator[tuple[str, Any]]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        parquet = pq.ParquetFile(path)
    except (pa.ArrowException, OSError) as exc:
        raise BadInput(f"{path}: (file): not a readable Parquet file: {str(exc).splitlines()[0]}") from None
    row = 0
    try:
        for batch in parquet.iter_batches(batch_size=2048):
            for record in batch.to_pylist():
                row += 1
                yield f"{path}:row {row}", record
    except (pa.ArrowException, OSError) as exc:
        raise BadInput(f"{path}:row {row + 1}: (row): unreadable: {str(exc).splitlines()[0]}") from None


def read_documents(path: Path, run: str, spec_id: str | None, spec_hash: str | None) -> list[DocumentRecord]:
    """Validate every record of `path` into DocumentRecords; BadInput names file:line:field at the first problem."""
    if not path.is_file():
        raise BadInput(f"{path}: no such file")
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".json", ".ndjson"):
        records = _jsonl_records(path)
    elif suffix == ".parquet":
        records = _parquet_records(path)
    else:
        raise BadInput(f"{path}: unsupported file type {suffix or '(none)'!r}: use .jsonl or .parquet")
    documents: list[DocumentRecord] = []
    seen_ids: dict[str, str] = {}
    now = utc_now()
    for index, (where, record) in enumerate(records):
        if not isinstance(record, dict):
            raise BadInput(f"{where}: (record): expected an object with a `text` field, got {type(record).__name__}")
        text = record.get("text")
        if text is None:
            raise BadInput(f"{where}: text: missing")
        if not isinstance(text, str):
            raise BadInput(f"{where}: text: expected a string, got {type(text).__name__}")
        if not text.strip():
            raise BadInput(f"{where}: text: empty")
        try:
            size = len(text.encode("utf-8"))
        except UnicodeEncodeError as exc:
            raise BadInput(f"{where}: text: not valid Unicode (unpaired surrogate at character {exc.start})") from None
        if size > MAX_TEXT_BYTES:
            raise BadInput(f"{where}: text: {size} bytes exceeds the {MAX_TEXT_BYTES}-byte limit per document")
        if "\x00" in text:
            raise BadInput(f"{where}: text: contains a NUL character")
        source_id = record.get("id")
        if source_id is not None:
            if isinstance(source_id, bool) or not isinstance(source_id, (str, int)):
                raise BadInput(f"{where}: id: expected a string or integer, got {type(source_id).__name__}")
            source_id = str(source_id)
            if source_id in seen_ids:
                raise BadInput(f"{where}: id: {source_id!r} already used at {seen_ids[source_id]}")
            seen_ids[source_id] = where
        provenance = {}
        for name in PROVENANCE_FIELDS:
            value = record.get(name)
            if value is not None and not isinstance(value, str):
                raise BadInput(f"{where}: {name}: expected a string, got {type(value).__name__}")
            provenance[name] = value
        metadata = {k: v for k, v in record.items() if k not in ("text", "id", *PROVENANCE_FIELDS)}
        try:
            json.dumps(metadata, allow_nan=False)
        except (TypeError, ValueError):
            metadata = json.loads(json.dumps(metadata, default=str))
        doc_spec_id = provenance.pop("spec_id") or spec_id
        documents.append(DocumentRecord(
            doc_id=stable_id(run, "import", source_id if source_id is not None else f"#{index}"),
            run=run, text=text, created_at=now, stage="import", spec_id=doc_spec_id,
            spec_hash=spec_hash if doc_spec_id == spec_id else None, source_id=source_id, metadata=metadata,
            **provenance))
    if not documents:
        raise BadInput(f"{path}: no documents (the file is empty)")
    return documents


def import_documents(ws: Workspace, path: Path, run: str, spec: str | None = None) -> dict[str, Any]:
    """Create run `run` from `path`. Refuses an existing run name."""
    check_name("run", run)
    store = RunStore(ws, run)
    if store.dir.exists():
        raise BadInput(f"run {run!r} already exists in {ws.root}; import into a new run name")
    spec_id = spec_hash = loaded = spec_path = None
    if spec:
        from msm.spec import load_spec, resolve_spec_path

        spec_path = resolve_spec_path(spec)
        loaded = load_spec(spec_path)
        spec_id, spec_hash = loaded.id, loaded.content_hash
    documents = read_documents(Path(path), run, spec_id, spec_hash)
    config = {"source": str(Path(path).resolve()), "spec": spec, "n_documents": len(documents)}
    with atomic_directory(store.dir) as staging:
        staged = RunStore(ws, run)
        staged.dir = staging
        staged.append(documents)
        record = {"name": run, "kind": "imported", "spec_id": spec_id, "spec_hash": spec_hash,
                  "created_at": utc_now().isoformat(), "config": config}
        if loaded is not None:
            from msm.frozen_spec import freeze_spec

            # the run carries its spec: later stages read this copy, not the file the user may move
            record["spec_file"] = freeze_spec(staging, loaded, spec_path).model_dump(mode="json")
        write_json_atomic(staging / "run.json", record)
    with ws.catalog() as con:
        con.execute("INSERT OR REPLACE INTO runs VALUES (?, ?, ?, ?, ?, ?)",
                    [run, "imported", spec_id, spec_hash, utc_now(), json.dumps(config, sort_keys=True)])
    return {"run": run, "documents": len(documents), "spec_id": spec_id, "source": str(path)}
