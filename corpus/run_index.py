"""A columnar sidecar of a run's documents: where each document's line is in documents.jsonl, plus the few
fields list views need, so a process can open a 100k-document run without parsing its 200 MB of JSON.

    runs/<name>/documents.index.parquet   one row per document (first write wins), in file order:
                                          doc_id, offset, length, clause_id, doc_type; in the file's
                                          metadata: `covered` (bytes of documents.jsonl indexed), `head`
                                          (sha256 of its first 4 KiB) and the index's schema version

documents.jsonl is append-only, so the index is extended, not rebuilt: `refresh` reads only the bytes after
`covered`. A file that no longer starts as the indexed one did (replaced, not appended to) is indexed anew.
Lines are taken by RunStore.documents' rules: a torn last line is left for later, a damaged line is an error
naming file:line, a doc_id seen before is skipped (first write wins), and every line is validated as a DocumentRecord —
the record handed out is always parsed from its line in documents.jsonl, the index only says where it is. The
index is a cache, written atomically: deleting it loses nothing.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Iterator, Mapping
from functools import lru_cache
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from msm.atomic import JsonlRecords, write_bytes_atomic
from msm.corpus.records import DocumentRecord
from msm.corpus.run_store import RunStore, reused_id_error, same_content

INDEX_SCHEMA_VERSION = "1"
INDEX_NAME = "documents.index.parquet"
_HEAD_BYTES = 4096
SCHEMA = pa.schema([("doc_id", pa.string()), ("offset", pa.int64()), ("length", pa.int64()),
                    ("clause_id", pa.string()), ("doc_type", pa.string())])


def index_path(store: RunStore) -> Path:
    return store.dir / INDEX_NAME


def _head(path: Path) -> str:
    with open(path, "rb") as handle:
        return hashlib.sha256(handle.read(_HEAD_BYTES)).hexdigest()


def _read_index(path: Path, documents: Path) -> tuple[pa.Table, int] | None:
    """(rows, covered bytes) of an index that still describes a prefix of `documents`, else None."""
    if not path.exists():
        return None
    try:
        table = pq.ParquetFile(path).read()   # not read_table: that imports pyarrow.dataset and pandas (~1 s)
    except (OSError, pa.ArrowException):
        return None                                    # a damaged cache is rebuilt
    meta = table.schema.metadata or {}
    if meta.get(b"schema_version") != INDEX_SCHEMA_VERSION.encode() or table.schema.remove_metadata() != SCHEMA:
        return None
    covered = int(meta.get(b"covered", b"0"))
    size = documents.stat().st_size if documents.exists() else 0
    if covered > size or (covered and meta.get(b"head", b"").decode() != _head(documents)):
        return None
    return table.replace_schema_metadata(None), covered


def _line_at(path: Path, offset: int) -> bytes:
    with open(path, "rb") as handle:
        handle.seek(offset)
        return handle.readline()


def refresh(store: RunStore) -> pa.Table:
    """The index of `store`'s documents, extended to the end of documents.jsonl (and rewritten) if it grew."""
    documents = store.documents_path
    path = index_path(store)
    found = _read_index(path, documents)
    table, covered = found if found is not None else (SCHEMA.empty_table(), 0)
    size = documents.stat().st_size if documents.exists() else 0
    if found is not None and covered == size:
        return table
    seen = set(table.column("doc_id").to_pylist())
    rows: dict[str, list] = {name: [] for name in SCHEMA.names}
    # RunStore.documents' reader: a torn tail is left for later (indexed once it is complete or cut), a damaged
    # line raises naming file:line
    lines = JsonlRecords(documents, DocumentRecord.model_validate_json, start=covered)
    first_offsets: dict[str, int] | None = None
    for offset, length, doc in lines:
        if doc.doc_id in seen:
            # an exact repeat is skipped; the same id with other content is refused, as by RunStore.documents
            if first_offsets is None:
                first_offsets = dict(zip(table.column("doc_id").to_pylist(), table.column("offset").to_pylist()))
                first_offsets.update(zip(rows["doc_id"], rows["offset"]))
            first = first_offsets.get(doc.doc_id)
            if first is not None:
                earlier = DocumentRecord.model_validate_json(_line_at(documents, first))
                if not same_content(earlier, doc):
                    raise reused_id_error(documents, doc.doc_id, first, offset)
            continue
        seen.add(doc.doc_id)
        if first_offsets is not None:
            first_offsets[doc.doc_id] = offset
        for name, value in (("doc_id", doc.doc_id), ("offset", offset), ("length", length),
                            ("clause_id", doc.clause_id), ("doc_type", doc.doc_type)):
            rows[name].append(value)
    position = lines.end
    if rows["doc_id"]:
        table = pa.concat_tables([table, pa.table(rows, schema=SCHEMA)])
    head = _head(documents) if documents.exists() else ""
    buffer = io.BytesIO()
    pq.write_table(table.replace_schema_metadata({"schema_version": INDEX_SCHEMA_VERSION, "covered": str(position),
                                                   "head": head}), buffer)
    if store.dir.exists():
        write_bytes_atomic(path, buffer.getvalue())
    return table


class RunDocuments(Mapping[str, DocumentRecord]):
    """A run's documents by doc_id, in file order, read through the index: keys, membership and the indexed
    columns come from the index; a record is parsed from its own line when asked for."""

    def __init__(self, store: RunStore, table: pa.Table):
        self.path = store.documents_path
        self._ids: list[str] = table.column("doc_id").to_pylist()
        self._row = {doc_id: i for i, doc_id in enumerate(self._ids)}
        self._offsets = table.column("offset").to_numpy()
        self._lengths = table.column("length").to_numpy()
        self._table = table
        self._record = lru_cache(maxsize=256)(self._parse)

    def _parse(self, row: int) -> DocumentRecord:
        with open(self.path, "rb") as handle:
            handle.seek(int(self._offsets[row]))
            return DocumentRecord.model_validate_json(handle.read(int(self._lengths[row])))

    def __getitem__(self, doc_id: str) -> DocumentRecord:
        return self._record(self._row[doc_id])

    def __contains__(self, doc_id: object) -> bool:
        return doc_id in self._row

    def __iter__(self) -> Iterator[str]:
        return iter(self._ids)

    def __len__(self) -> int:
        return len(self._ids)

    def column(self, name: str) -> list:
        """An indexed column (doc_id, clause_id, doc_type) in file order, without parsing any record."""
        return self._table.column(name).to_pylist()

    def records(self) -> Iterator[DocumentRecord]:
        """Every record, in file order, read sequentially (for views that need them all)."""
        with open(self.path, "rb") as handle:
            for offset, length in zip(self._offsets.tolist(), self._lengths.tolist()):
                if handle.tell() != offset:
                    handle.seek(offset)
                yield DocumentRecord.model_validate_json(handle.read(length))

    def values(self) -> Iterator[DocumentRecord]:  # type: ignore[override]
        return self.records()


def open_documents(store: RunStore) -> RunDocuments:
    """The run's documents through its index, brought up to date first."""
    return RunDocuments(store, refresh(store))
