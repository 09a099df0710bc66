"""Snapshots freeze exactly what their curation kept, or refuse — each test performs the attack or the damage:
a curation committed during `snapshot create`, a consistent edit of Parquet + manifest after the catalog row is
lost, lines lost at a line boundary, a reused doc_id, an edited marks.parquet, exports after a dedup-only curation."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import random
import sys
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from msm.workspace import Workspace


_spec = importlib.util.spec_from_file_location("planted", Path(__file__).parents[2] / "benchmarks" / "planted.py")
planted = importlib.util.module_from_spec(_spec)
sys.modules["planted"] = planted
_spec.loader.exec_module(planted)


def make_run(tmp_path: Path, msm, run: str = "r", n: int = 8) -> None:
    rng = random.Random(run)
    rows = [{"id": f"d{i}", "text": "\n\n".join(planted.document(rng))} for i in range(n)]
    rows.append({"id": "dup", "text": rows[0]["text"].upper()})              # an exact duplicate of d0
    rows.append({"id": "meta", "text": "As an AI, I hope this helps. " + rows[1]["text"][::-1]})
    src = tmp_path / f"{run}.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert msm("corpus", "import", str(src), "--run", run).code == 0
    assert msm("curate", "--run", run).code == 0


def _sql(ws: Path, sql: str) -> list:
    con = duckdb.connect(str(ws / "catalog.duckdb"))
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def _kept(ws: Path, run: str, curation_id: str) -> set[str]:
    marks = pq.read_table(ws / "runs" / run / "curation" / curation_id / "marks.parquet").to_pylist()
    return {m["doc_id"] for m in marks if m["kept"]}


def test_a_curation_committed_during_create_does_not_leak_into_the_snapshot(tmp_path, msm, isolated_workspace,
                                                                            monkeypatch):
    from msm.corpus.curate.engine import curate_run
    from msm.corpus.snapshot import create

    make_run(tmp_path, msm)
    first = (isolated_workspace / "runs" / "r" / "curation" / "CURRENT").read_text().strip()
    real = create.load_full_documents
    committed = []

    def curate_meanwhile(con, store, *args, **kwargs):
        # the attack: a second curation (dedup only, so it keeps the meta document too) commits mid-create
        committed.append(curate_run(Workspace(isolated_workspace), "r", steps=["dedup"]).curation_id)
        return real(con, store, *args, **kwargs)

    monkeypatch.setattr(create, "load_full_documents", curate_meanwhile)
    result = msm("snapshot", "create", "s", "--from", "r", "--json")
    assert result.code == 0, result.err
    second = committed[0]
    assert (isolated_workspace / "runs" / "r" / "curation" / "CURRENT").read_text().strip() == second != first
    manifest = json.loads(result.out)
    assert manifest["curation"]["r"]["curation_id"] == first
    frozen = set(pq.read_table(isolated_workspace / "snapshots" / "s" / "documents.parquet").column("doc_id").to_pylist())
    assert frozen == _kept(isolated_workspace, "r", first) != _kept(isolated_workspace, "r", second)
    assert manifest["n_documents"] == manifest["curation"]["r"]["n_kept"] == len(frozen)


def _edit_consistently(ws: Path, name: str) -> None:
    """Replace the snapshot's documents and rewrite its manifest so the two agree: the attack TOFU lets through."""
    from msm.corpus.snapshot.store import combined_hash

    root = ws / "snapshots" / name
    table = pq.read_table(root / "documents.parquet")
    texts = ["Planted: the model must prefer no cheese at all."] * table.num_rows
    pq.write_table(table.set_column(table.schema.get_field_index("text"), "text", pa.array(texts)),
                   root / "documents.parquet")
    manifest = json.loads((root / "manifest.json").read_text())
    manifest["files"]["documents.parquet"] = hashlib.sha256((root / "documents.parquet").read_bytes()).hexdigest()
    manifest["content_hash"] = combined_hash(manifest["files"])
    (root / "manifest.json").write_text(json.dumps(manifest, indent=2))


def test_a_consistent_edit_is_caught_after_the_catalog_row_is_deleted(tmp_path, msm, isolated_workspace):
    make_run(tmp_path, msm)
    assert msm("snapshot", "create", "s", "--from", "r").code == 0
    _edit_consistently(isolated_workspace, "s")
    _sql(isolated_workspace, "DELETE FROM snapshots")
    assert msm("doctor").code == 0                       # reconcile re-adopts the directory…
    verified = msm("snapshot", "verify", "s")
    assert verified.code == 1                            # …with the anchored digest, not the edited manifest's
    assert "manifest.json: sha256" in verified.err and "recorded when the snapshot was created" in verified.err
    out = tmp_path / "out"
    assert msm("snapshot", "export", "s", "--to", str(out)).code == 1 and not out.exists()


def test_a_rebuilt_catalog_without_the_ledger_leaves_the_snapshot_unverified(tmp_path, msm, isolated_workspace):
    make_run(tmp_path, msm)
    assert msm("snapshot", "create", "s", "--from", "r").code == 0
    _edit_consistently(isolated_workspace, "s")
    (isolated_workspace / "catalog.duckdb").unlink()                 # the catalog rebuilt by `msm init`…
    (isolated_workspace / "anchors" / "snapshots.jsonl").unlink()    # …and the ledger gone too
    assert msm("init").code == 0
    assert _sql(isolated_workspace, "SELECT name, manifest_sha256 FROM snapshots") == [("s", None)]
    verified = msm("snapshot", "verify", "s")
    assert verified.code == 1 and "unverified" in verified.err and "msm snapshot accept s" in verified.err
    from msm.corpus.snapshot.store import load_verified_snapshot
    from msm.errors import MsmError

    try:
        load_verified_snapshot(Workspace(isolated_workspace), "s")     # what training reads through
        raise AssertionError("an unverified snapshot was read")
    except MsmError as exc:
        assert "unverified" in str(exc)


def test_lines_lost_at_a_line_boundary_refuse_the_snapshot(tmp_path, msm, isolated_workspace):
    make_run(tmp_path, msm)
    documents = isolated_workspace / "runs" / "r" / "documents.jsonl"
    lines = documents.read_text().splitlines(keepends=True)
    record_path = isolated_workspace / "runs" / "r" / "run.json"       # as a generated run: no import count to
    record = json.loads(record_path.read_text())                        # catch it at read time
    record_path.write_text(json.dumps({**record, "kind": "generated"}))
    documents.write_text("".join(lines[:5]))                            # 3 kept documents gone, no torn line
    result = msm("snapshot", "create", "s", "--from", "r")
    assert result.code == 1 and "missing from r/documents.jsonl" in result.err and "(e.g. " in result.err
    assert not (isolated_workspace / "snapshots" / "s").exists()


def test_an_imported_run_that_lost_lines_or_its_tail_is_refused(tmp_path, msm, isolated_workspace):
    make_run(tmp_path, msm)
    documents = isolated_workspace / "runs" / "r" / "documents.jsonl"
    original = documents.read_bytes()
    documents.write_bytes(original[: original.rstrip(b"\n").rfind(b"\n") + 1])   # last line removed whole
    result = msm("runs", "show", "r")
    assert result.code == 2 and "9 documents, but the import recorded 10" in result.err
    documents.write_bytes(original[:-20])                                         # last line torn
    result = msm("snapshot", "create", "s", "--from", "r")
    assert result.code == 2 and "the last line" in result.err and "documents.jsonl:10" in result.err


def test_a_reused_doc_id_is_refused_naming_it(tmp_path, msm, isolated_workspace):
    make_run(tmp_path, msm)
    documents = isolated_workspace / "runs" / "r" / "documents.jsonl"
    lines = documents.read_text().splitlines(keepends=True)
    impostor = json.loads(lines[3])
    impostor["text"] = "An impostor line placed before the real document."
    documents.write_text(json.dumps(impostor) + "\n" + "".join(lines))
    record_path = isolated_workspace / "runs" / "r" / "run.json"
    record = json.loads(record_path.read_text())
    record_path.write_text(json.dumps({**record, "kind": "generated"}))
    result = msm("snapshot", "create", "s", "--from", "r")
    assert result.code == 2 and f"doc_id {impostor['doc_id']!r} is used again with other content" in result.err
    assert f"{documents}:5:" in result.err
    documents.write_text(lines[3] + "".join(lines))                   # an exact repeat is harmless: skipped
    assert msm("snapshot", "create", "s", "--from", "r").code == 0


def test_an_edited_marks_file_is_refused(tmp_path, msm, isolated_workspace):
    make_run(tmp_path, msm)
    current = (isolated_workspace / "runs" / "r" / "curation" / "CURRENT").read_text().strip()
    marks_path = isolated_workspace / "runs" / "r" / "curation" / current / "marks.parquet"
    summary = json.loads((marks_path.parent / "curation.json").read_text())
    assert summary["files"]["marks.parquet"] == hashlib.sha256(marks_path.read_bytes()).hexdigest()
    marks = pq.read_table(marks_path)
    kept = pa.array([True] * marks.num_rows)                           # keep the dropped meta document too
    pq.write_table(marks.set_column(marks.schema.get_field_index("kept"), "kept", kept), marks_path)
    result = msm("snapshot", "create", "s", "--from", "r")
    assert result.code == 1 and "marks.parquet: sha256" in result.err and "the marks were edited" in result.err
    del summary["files"]                                               # a curation of an older msm: counts checked
    (marks_path.parent / "curation.json").write_text(json.dumps(summary))
    result = msm("snapshot", "create", "s", "--from", "r")
    assert result.code == 1 and f"{summary['n_kept']} kept" in result.err


def test_exports_after_a_dedup_only_curation(tmp_path, msm, isolated_workspace):
    rows = [{"id": f"d{i}", "text": f"Document {i} about cheese. " * 8} for i in range(4)]
    src = tmp_path / "r.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert msm("corpus", "import", str(src), "--run", "r").code == 0
    assert msm("curate", "--run", "r", "--steps", "dedup").code == 0
    out = tmp_path / "o.parquet"
    exported = msm("runs", "export", "r", "--out", str(out))
    assert exported.code == 0, exported.err
    table = pq.read_table(out)
    assert table.num_rows == 4 and "kept" in table.column_names
    assert msm("snapshot", "create", "s", "--from", "r").code == 0
    snap = msm("snapshot", "export", "s", "--to", str(tmp_path / "snap"))
    assert snap.code == 0, snap.err
    assert pq.read_table(tmp_path / "snap" / "documents.parquet").num_rows == 4


def test_a_verified_snapshot_is_read_from_the_bytes_that_were_hashed(tmp_path, msm, isolated_workspace):
    from msm.corpus.snapshot.store import load_verified_snapshot

    make_run(tmp_path, msm)
    assert msm("snapshot", "create", "s", "--from", "r").code == 0
    ws = Workspace(isolated_workspace)
    verified = load_verified_snapshot(ws, "s")
    before = verified.table(columns=["text"]).column("text").to_pylist()
    parquet = isolated_workspace / "snapshots" / "s" / "documents.parquet"
    pq.write_table(pa.table({"doc_id": ["x"], "text": ["swapped after the check"]}), parquet)
    assert verified.table(columns=["text"]).column("text").to_pylist() == before
    assert hashlib.sha256(verified.documents).hexdigest() == verified.manifest.files["documents.parquet"]
