"""The run's document index: the same documents as RunStore.documents, extended as the run grows, rebuilt when
the file is replaced or the index damaged; records are parsed from their own lines."""

from __future__ import annotations

from pathlib import Path

import pytest

from msm.corpus.records import DocumentRecord
from msm.corpus.run_index import index_path, open_documents, refresh
from msm.corpus.run_store import RunStore
from msm.input_files import InputFileError
from msm.workspace import Workspace, utc_now


def doc(i: int, text: str | None = None) -> DocumentRecord:
    return DocumentRecord(doc_id=f"d{i}", run="r", text=text or f"Document number {i}.\nSecond line, café.",
                          created_at=utc_now(), stage="import", clause_id=f"c{i % 3}", doc_type="memo")


def make_store(root: Path) -> RunStore:
    ws = Workspace.open(root, create=True)
    store = RunStore(ws, "r")
    store.create(kind="imported", config={})
    return store


def test_index_matches_the_run_store_and_grows_with_it(tmp_path: Path) -> None:
    store = make_store(tmp_path / "ws")
    store.append([doc(i) for i in range(5)])
    docs = open_documents(store)
    assert list(docs) == [d.doc_id for d in store.documents()]
    assert docs["d3"] == next(d for d in store.documents() if d.doc_id == "d3")
    assert docs.column("clause_id") == ["c0", "c1", "c2", "c0", "c1"]
    assert [d.doc_id for d in docs.values()] == list(docs)
    covered = int(__import__("pyarrow.parquet", fromlist=["x"]).read_schema(index_path(store)).metadata[b"covered"])
    assert covered == store.documents_path.stat().st_size

    # appended documents (one repeating a document exactly: skipped)
    store.append([doc(5), doc(1)])
    store.append([doc(6)])
    docs = open_documents(store)
    assert list(docs) == [d.doc_id for d in store.documents()] == [f"d{i}" for i in range(7)]
    assert docs["d1"].text.startswith("Document number 1")
    # an id reused with other content is refused by the index as by the store, naming both lines
    original = store.documents_path.read_bytes()
    store.append([doc(1, "a different d1")])
    with pytest.raises(InputFileError, match=r"documents\.jsonl:9: doc_id 'd1' is used again .*first at line 2"):
        open_documents(store)
    with pytest.raises(InputFileError, match=r"documents\.jsonl:9: doc_id 'd1' is used again"):
        list(store.documents())
    store.documents_path.write_bytes(original)
    index_path(store).unlink()

    # a damaged line inside the file (not a torn tail) is an error naming file:line, for the index as for the store
    with open(store.documents_path, "ab") as handle:
        handle.write(b"{not json\n")
    store.append([doc(7)])
    with pytest.raises(InputFileError, match=r"documents\.jsonl:9: not valid JSON"):
        open_documents(store)
    with pytest.raises(InputFileError, match=r"documents\.jsonl:9: not valid JSON"):
        list(store.documents())


def test_torn_tail_waits_and_a_replaced_file_or_damaged_index_is_rebuilt(tmp_path: Path) -> None:
    store = make_store(tmp_path / "ws")
    store.append([doc(0), doc(1)])
    refresh(store)
    whole = doc(2).model_dump_json().encode()
    with open(store.documents_path, "ab") as handle:
        handle.write(whole[:20])                     # a write cut by a kill
    assert list(open_documents(store)) == ["d0", "d1"]
    with open(store.documents_path, "ab") as handle:
        handle.write(whole[20:] + b"\n")             # (a writer that finished it)
    assert list(open_documents(store)) == ["d0", "d1", "d2"]

    store.documents_path.unlink()                    # replaced, not appended to: indexed anew
    store.append([doc(7), doc(8)])
    assert list(open_documents(store)) == ["d7", "d8"]

    index_path(store).write_bytes(b"not parquet")
    assert list(open_documents(store)) == ["d7", "d8"]
    assert "d0" not in open_documents(store) and len(open_documents(store)) == 2
