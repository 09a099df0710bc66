"""`msm snapshot create | verify | export`: kept documents frozen, immutable, atomic, verifiable, readable by datasets."""

from __future__ import annotations

import importlib.util
import json
import os
import random
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from msm.workspace import Workspace

_spec = importlib.util.spec_from_file_location("planted", Path(__file__).parents[2] / "benchmarks" / "planted.py")
planted = importlib.util.module_from_spec(_spec)
sys.modules["planted"] = planted
_spec.loader.exec_module(planted)


def make_run(tmp_path: Path, msm, run: str = "r", extra: list[dict] | None = None) -> None:
    # Eight unrelated prose documents (a different seed per run name), then a duplicate and a meta-commentary one.
    rng = random.Random(run)
    rows = [{"id": f"d{i}", "text": "\n\n".join(planted.document(rng))} for i in range(8)]
    rows.append({"id": "dup", "text": rows[0]["text"].upper()})            # exact duplicate of d0
    rows.append({"id": "meta", "text": "As an AI, I hope this helps. " + rows[1]["text"][::-1]})
    rows += extra or []
    src = tmp_path / f"{run}.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert msm("corpus", "import", str(src), "--run", run).code == 0
    assert msm("curate", "--run", run).code == 0


def test_create_verify_show_list_and_immutability(tmp_path: Path, msm, isolated_workspace: Path) -> None:
    make_run(tmp_path, msm, "a")
    make_run(tmp_path, msm, "b")
    result = msm("snapshot", "create", "s1", "--from", "a,b", "--json")
    assert result.code == 0, result.err
    manifest = json.loads(result.out)
    assert manifest["n_documents"] == 16 and manifest["runs"] == ["a", "b"]       # 8 kept per run
    assert set(manifest["curation"]) == {"a", "b"} and manifest["curation"]["a"]["config_hash"]
    assert manifest["review"] == {"required": False}
    table = pq.read_table(isolated_workspace / "snapshots" / "s1" / "documents.parquet")
    ids = table.column("source_id").to_pylist()
    assert ids.count("dup") + ids.count("d0") == 2 and "meta" not in ids    # one of each exact pair per run
    assert msm("snapshot", "verify", "s1").code == 0
    assert json.loads(msm("snapshot", "show", "s1", "--json").out)["content_hash"] == manifest["content_hash"]
    assert [s["name"] for s in json.loads(msm("snapshot", "list", "--json").out)] == ["s1"]
    again = msm("snapshot", "create", "s1", "--from", "a")
    assert again.code == 2 and "immutable" in again.err
    assert msm("snapshot", "create", "../x", "--from", "a").code == 2
    uncurated = tmp_path / "u.jsonl"
    uncurated.write_text(json.dumps({"text": "one small document"}) + "\n")
    msm("corpus", "import", str(uncurated), "--run", "u")
    refused = msm("snapshot", "create", "s2", "--from", "u")
    assert refused.code == 2 and "not been curated" in refused.err


def test_verify_catches_a_one_byte_change(tmp_path: Path, msm, isolated_workspace: Path) -> None:
    make_run(tmp_path, msm)
    assert msm("snapshot", "create", "s", "--from", "r").code == 0
    path = isolated_workspace / "snapshots" / "s" / "documents.parquet"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    result = msm("snapshot", "verify", "s")
    assert result.code == 1 and "documents.parquet" in result.err and "ok" not in result.out


def _catalog(root: Path, sql: str, params: list | None = None) -> list[tuple]:
    import duckdb

    con = duckdb.connect(str(root / "catalog.duckdb"))
    try:
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()


def test_verify_and_every_reader_catch_an_edited_manifest(tmp_path: Path, msm, isolated_workspace: Path) -> None:
    make_run(tmp_path, msm)
    assert msm("snapshot", "create", "s", "--from", "r").code == 0
    manifest = isolated_workspace / "snapshots" / "s" / "manifest.json"
    from msm.atomic import sha256_file

    assert _catalog(isolated_workspace, "SELECT manifest_sha256 FROM snapshots") == [(sha256_file(manifest),)]
    data = json.loads(manifest.read_text())
    data["n_documents"] += 1                      # the data files and their hashes untouched
    manifest.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    result = msm("snapshot", "verify", "s")
    assert result.code == 1 and result.out == ""
    assert "manifest.json: sha256" in result.err and "recorded when the snapshot was created" in result.err
    exported = msm("snapshot", "export", "s", "--to", str(tmp_path / "out"))     # a reader: open_verified_snapshot
    assert exported.code == 1 and "failed verification" in exported.err and "manifest.json" in exported.err


def test_a_snapshot_without_a_recorded_digest_is_unverified_until_accepted(tmp_path: Path, msm,
                                                                          isolated_workspace: Path) -> None:
    make_run(tmp_path, msm)
    assert msm("snapshot", "create", "s", "--from", "r").code == 0
    _catalog(isolated_workspace, "UPDATE snapshots SET manifest_sha256 = NULL")   # as made by an older msm
    result = msm("snapshot", "verify", "s", "--json")
    assert result.code == 1
    assert json.loads(result.out)["problems"][0].startswith("unverified:")
    assert "msm snapshot accept s" in result.err
    exported = msm("snapshot", "export", "s", "--to", str(tmp_path / "out"))
    assert exported.code == 1 and "unverified" in exported.err
    accepted = msm("snapshot", "accept", "s", "--json")
    assert accepted.code == 0, accepted.err
    assert msm("snapshot", "verify", "s").code == 0
    parquet = isolated_workspace / "snapshots" / "s" / "documents.parquet"
    data = bytearray(parquet.read_bytes())
    data[len(data) // 2] ^= 0x01
    parquet.write_bytes(bytes(data))
    assert msm("snapshot", "verify", "s").code == 1
    again = msm("snapshot", "accept", "s")           # accept anchors a manifest, never data that contradicts it
    assert again.code == 1 and "do not match its manifest" in again.err


def test_a_snapshot_indexed_after_a_kill_gets_its_digest(tmp_path: Path, msm, isolated_workspace: Path) -> None:
    make_run(tmp_path, msm)
    assert msm("snapshot", "create", "s", "--from", "r").code == 0
    _catalog(isolated_workspace, "DELETE FROM snapshots")        # killed between the rename and the catalog row
    assert msm("doctor").code == 0
    from msm.atomic import sha256_file

    manifest = isolated_workspace / "snapshots" / "s" / "manifest.json"
    assert _catalog(isolated_workspace, "SELECT manifest_sha256 FROM snapshots") == [(sha256_file(manifest),)]
    assert msm("snapshot", "verify", "s").code == 0


@pytest.mark.timeout(120)
def test_a_kill_mid_write_leaves_no_snapshot(tmp_path: Path, msm, isolated_workspace: Path) -> None:
    make_run(tmp_path, msm)
    # A real SIGKILL of the process at the moment the manifest is being written (the parquet is already there).
    script = (
        "import os, signal, msm.corpus.snapshot.store as s\n"
        "s.write_json_atomic = lambda *a, **k: os.kill(os.getpid(), signal.SIGKILL)\n"
        "from msm.cli import main\n"
        "main(['snapshot', 'create', 'killed', '--from', 'r'])\n")
    proc = subprocess.run([sys.executable, "-c", script], env=dict(os.environ), capture_output=True, timeout=100)
    assert proc.returncode == -9
    assert not (isolated_workspace / "snapshots" / "killed").exists()
    assert json.loads(msm("snapshot", "list", "--json").out) == []
    assert msm("snapshot", "create", "killed", "--from", "r").code == 0   # the name is still free


def test_require_review_uses_accepted_documents_and_edited_text(tmp_path: Path, msm, isolated_workspace: Path) -> None:
    from msm.corpus.decisions import Decision, record, save_edit

    make_run(tmp_path, msm)
    from msm.corpus.run_store import RunStore

    ws = Workspace(isolated_workspace)
    docs = {d.source_id: d.doc_id for d in RunStore(ws, "r").documents()}
    record(ws, Decision(run="r", doc_id=docs["d3"], reviewer="ann", action="accept"))
    record(ws, Decision(run="r", doc_id=docs["d1"], reviewer="ann", action="reject", reason="off_spec"))
    save_edit(ws, run="r", doc_id=docs["d2"], base_version=0, text="An edited document about cheese.", reviewer="ann")
    record(ws, Decision(run="r", doc_id=docs["meta"], reviewer="ann", action="accept"))   # dropped by curation anyway
    result = msm("snapshot", "create", "rev", "--from", "r", "--require-review", "--json")
    assert result.code == 0, result.err
    manifest = json.loads(result.out)
    assert manifest["n_documents"] == 2
    assert manifest["review"]["required"] is True
    assert manifest["review"]["r"]["accepted"] == 2 and manifest["review"]["r"]["rejected"] == 1
    assert manifest["review"]["r"]["edited"] == 1
    table = pq.read_table(isolated_workspace / "snapshots" / "rev" / "documents.parquet").to_pylist()
    texts = {row["source_id"]: row["text"] for row in table}
    assert texts["d2"] == "An edited document about cheese." and set(texts) == {"d3", "d2"}


def test_export_is_readable_by_datasets(tmp_path: Path, msm) -> None:
    import datasets

    make_run(tmp_path, msm)
    assert msm("snapshot", "create", "s", "--from", "r").code == 0
    out = tmp_path / "exported"
    result = msm("snapshot", "export", "s", "--to", str(out))
    assert result.code == 0, result.err
    dataset = datasets.load_from_disk(str(out / "dataset"))
    assert dataset.num_rows == 8 and "text" in dataset.column_names
    parquet = datasets.load_dataset("parquet", data_files=str(out / "documents.parquet"), split="train",
                                    cache_dir=str(tmp_path / "hf-cache"))
    assert parquet.num_rows == 8
    assert json.loads((out / "manifest.json").read_text())["name"] == "s"
    assert msm("snapshot", "export", "s", "--to", str(out)).code == 2   # never writes into a non-empty directory
