"""`msm corpus import`: JSONL and Parquet in, every bad record refused with file:line:field, nothing half-written."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from msm.corpus.run_store import RunStore
from msm.workspace import Workspace

DOC = "The farmer carried the cheese to the market before the rain began, and the bakers followed."


def jsonl(path: Path, records: list) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def test_import_jsonl_keeps_id_provenance_and_metadata(tmp_path: Path, msm, isolated_workspace: Path) -> None:
    src = jsonl(tmp_path / "docs.jsonl", [
        {"id": 17, "text": DOC, "clause_id": "pref.cream_cheese_over_brie", "author": "ann", "tags": ["a"]},
        {"text": DOC + " Again."}])
    result = msm("corpus", "import", str(src), "--run", "imp", "--spec", "cheese_america_broad")
    assert result.code == 0, result.err
    docs = list(RunStore(Workspace(isolated_workspace), "imp").documents())
    assert [d.source_id for d in docs] == ["17", None]
    assert docs[0].metadata == {"author": "ann", "tags": ["a"]} and docs[0].clause_id == "pref.cream_cheese_over_brie"
    assert docs[0].spec_id == "cheese_america_broad" and docs[0].spec_hash and docs[0].stage == "import"
    listed = json.loads(msm("runs", "list", "--json").out)
    assert [r["name"] for r in listed] == ["imp"] and listed[0]["kind"] == "imported"


def test_import_parquet(tmp_path: Path, msm, isolated_workspace: Path) -> None:
    src = tmp_path / "docs.parquet"
    pq.write_table(pa.table({"text": [DOC, DOC + " B"], "id": ["a", "b"], "score": [0.5, 0.7]}), src)
    assert msm("corpus", "import", str(src), "--run", "pq").code == 0
    docs = list(RunStore(Workspace(isolated_workspace), "pq").documents())
    assert [d.metadata["score"] for d in docs] == [0.5, 0.7]


@pytest.mark.parametrize("content, expected", [
    (b'{"text": "ok fine text"}\n{"text": "unterminated\n', ":2: (line): not valid JSON"),
    (b'{"text": "ok fine text"}\n{"id": 3}\n', ":2: text: missing"),
    (b'{"text": 42}\n', ":1: text: expected a string"),
    (b'{"text": "   "}\n', ":1: text: empty"),
    (b'{"text": "caf\xe9"}\n', ":1: (line): not UTF-8"),
    (b'{"text": "a", "id": "x"}\n{"text": "b", "id": "x"}\n', ":2: id: 'x' already used"),
    (b'{"text": "a", "clause_id": 5}\n', ":1: clause_id: expected a string"),
    (b'{"text": "\\ud800 lone"}\n', ":1: text: not valid Unicode"),
    (b'[1, 2]\n', ":1: (record): expected an object"),
    (b'', "no documents"),
])
def test_bad_input_exits_2_naming_file_line_field_and_creates_nothing(tmp_path: Path, msm, isolated_workspace: Path,
                                                                     content: bytes, expected: str) -> None:
    src = tmp_path / "bad.jsonl"
    src.write_bytes(content)
    result = msm("corpus", "import", str(src), "--run", "bad")
    assert result.code == 2 and expected in result.err and str(src) in result.err, result.err
    assert len(result.err.strip().splitlines()) == 1
    assert not (isolated_workspace / "runs" / "bad").exists()
    assert [p.name for p in (isolated_workspace / "runs").iterdir()] == []   # no temp leftovers either


def test_oversized_document_and_other_refusals(tmp_path: Path, msm, isolated_workspace: Path) -> None:
    big = jsonl(tmp_path / "big.jsonl", [{"text": DOC}, {"text": "x" * 1_000_001}])
    result = msm("corpus", "import", str(big), "--run", "big")
    assert result.code == 2 and ":2: text:" in result.err and "limit" in result.err
    good = jsonl(tmp_path / "good.jsonl", [{"text": DOC}])
    assert msm("corpus", "import", str(good), "--run", "../escape").code == 2
    assert msm("corpus", "import", str(tmp_path / "missing.jsonl"), "--run", "m").code == 2
    txt = tmp_path / "docs.txt"
    txt.write_text(DOC)
    assert msm("corpus", "import", str(txt), "--run", "t").code == 2
    assert msm("corpus", "import", str(good), "--run", "once").code == 0
    again = msm("corpus", "import", str(good), "--run", "once")
    assert again.code == 2 and "already exists" in again.err
