"""`msm corpus import`: outside documents (JSONL or Parquet) into a new run, all or nothing.

Each record needs a non-empty string `text`. `id` (string or integer) is kept as `source_id` and must be
unique in the file; the provenance fields a DocumentRecord has (`clause_id`, `domain`, `doc_type`, `idea`,
`persona`, `lm`, `finish_reason`, `spec_id`) are taken over when they are strings; every other field goes to
`metadata`. Records are validated and written in batches into the run directory, which is built in a temporary
sibling and renamed into place only after the last record passed, then indexed in the catalog — a bad record or a
kill leaves no run behind. Streaming keeps memory flat: only one batch of records (IMPORT_BATCH) and the set of
ids seen so far are held, never the whole file (a list of a million records peaked at 3.8 GB).
"""

from __future__ import annotations

import json
from pathlib import Path
from itertools import islice
from typing import Any, Iterator

from msm.atomic import atomic_directory, write_json_atomic
from msm.corpus.records import DocumentRecord, stable_id
from msm.corpus.run_store import RunStore
from msm.errors import BadInput
from msm.input_files import MAX_DEPTH, check_input_path, deeper_than, non_finite
from msm.workspace import Workspace, check_name, utc_now

MAX_TEXT_BYTES = 1_000_000         # one document; far above any generated document, guards against blobs
MAX_LINE_BYTES = 4 * MAX_TEXT_BYTES
IMPORT_BATCH = 2000              # records validated, then appended (and fsynced) together
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
                value = json.loads(line)
            except json.JSONDecodeError as exc:
                raise BadInput(f"{where}: (line): not valid JSON: {exc.msg} at column {exc.colno}") from None
            except RecursionError:
                raise BadInput(f"{where}: (line): nested deeper than {MAX_DEPTH} levels") from None
            except ValueError as exc:   # an integer with more digits than Python converts
                raise BadInput(f"{where}: (line): not usable JSON: {str(exc).splitlines()[0][:100]}") from None
            if deeper_than(value, MAX_DEPTH):
                raise BadInput(f"{where}: (line): nested deeper than {MAX_DEPTH} levels")
            yield where, value


def _parquet_records(path: Path) -> Iterator[tuple[str, Any]]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        parquet = pq.ParquetFile(path)
    except (pa.ArrowException, OSError) as exc:
        raise BadInput(f"{path}: (file): not a readable Parquet file: {str(exc).splitlines()[0]}") from None
    from collections import Counter

    counts = Counter(parquet.schema_arrow.names)
    repeated = sorted(name for name, n in counts.items() if n > 1)
    if repeated:    # to_pylist keeps one of them, silently: which `text` is the document would be a guess
        raise BadInput(f"{path}: (file): column {repeated[0]!r} appears {counts[repeated[0]]} times")
    row = 0
    try:
        for batch in parquet.iter_batches(batch_size=2048):
            for record in batch.to_pylist():
                row += 1
                yield f"{path}:row {row}", record
    except (pa.ArrowException, OSError) as exc:
        raise BadInput(f"{path}:row {row + 1}: (row): unreadable: {str(exc).splitlines()[0]}") from None


def read_documents(path: Path, run: str, spec_id: str | None, spec_hash: str | None) -> Iterator[DocumentRecord]:
    """Each record of `path` validated into a DocumentRecord, in file order; BadInput names file:line:field at
    the first problem (and when the file has no record at all)."""
    check_input_path(path, what="corpus", max_bytes=1 << 62)   # a FIFO or directory is named as what it is
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".json", ".ndjson"):
        records = _jsonl_records(path)
    elif suffix == ".parquet":
        records = _parquet_records(path)
    else:
        raise BadInput(f"{path}: unsupported file type {suffix or '(none)'!r}: use .jsonl or .parquet")
    n_documents = 0
    seen_ids: dict[str, str] = {}      # id -> where it was first used: the one per-record state import keeps
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
        if (problem := non_finite(metadata)) is not None:    # NaN/Infinity would turn into null on the way out
            raise BadInput(f"{where}: {problem}")
        try:
            json.dumps(metadata, allow_nan=False)
        except (TypeError, ValueError):
            metadata = json.loads(json.dumps(metadata, default=str))
        doc_spec_id = provenance.pop("spec_id") or spec_id
        n_documents += 1
        yield DocumentRecord(
            doc_id=stable_id(run, "import", source_id if source_id is not None else f"#{index}"),
            run=run, text=text, created_at=now, stage="import", spec_id=doc_spec_id,
            spec_hash=spec_hash if doc_spec_id == spec_id else None, source_id=source_id, metadata=metadata,
            **provenance)
    if not n_documents:
        raise BadInput(f"{path}: no documents (the file is empty)")


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
    n_documents = 0
    with atomic_directory(store.dir) as staging:
        staged = RunStore(ws, run)
        staged.dir = staging
        # A bad record raises out of this loop: atomic_directory removes the staging directory, no run is made.
        while batch := list(islice(documents, IMPORT_BATCH)):
            staged.append(batch)
            n_documents += len(batch)
        config = {"source": str(Path(path).resolve()), "spec": spec, "n_documents": n_documents}
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
    return {"run": run, "documents": n_documents, "spec_id": spec_id, "source": str(path)}
