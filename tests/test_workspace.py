"""Workspace catalog: numbered migrations apply once, in order, and survive reopening."""

from __future__ import annotations

from pathlib import Path

from msm.atomic import append_jsonl, read_jsonl, repair_jsonl_tail
from msm.workspace import Workspace, _migrations


def test_migrations_are_numbered_uniquely():
    versions = [version for version, _name, _sql in _migrations()]
    assert versions[0] == 1 and len(set(versions)) == len(versions)


def test_migrate_applies_each_once(tmp_path: Path):
    ws = Workspace.open(tmp_path / "w", create=True)
    assert ws.schema_version() == max(version for version, _name, _sql in _migrations())
    assert ws.migrate() == []
    with ws.catalog(read_only=True) as con:
        tables = {row[0] for row in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
    assert {"runs", "snapshots", "models", "schema_migrations"} <= tables


def test_torn_jsonl_tail_is_skipped_and_repaired(tmp_path: Path):
    path = tmp_path / "x.jsonl"
    append_jsonl(path, [{"a": 1}, {"a": 2}])
    with open(path, "a") as handle:
        handle.write('{"a": 3, "trunc')  # what a kill mid-append leaves
    assert [r["a"] for r in read_jsonl(path)] == [1, 2]
    repair_jsonl_tail(path)
    append_jsonl(path, [{"a": 4}])
    assert [r["a"] for r in read_jsonl(path)] == [1, 2, 4]


def test_shared_reads_serve_reads_from_one_connection_and_let_writes_through(tmp_path: Path):
    ws = Workspace.open(tmp_path / "ws", create=True)
    with ws.shared_reads():
        with ws.catalog(read_only=True) as first:
            pass
        with ws.catalog(read_only=True) as second:
            assert second is first                      # reused, not reopened
            assert second.execute("SELECT 1").fetchone() == (1,)   # and not closed by the inner block
        # A write in the block closes the shared connection (DuckDB allows one configuration per file per
        # process) and goes through; later reads connect on their own and see it.
        with ws.catalog() as con:
            con.execute("INSERT INTO review_audit (occurred_at, actor, event, detail_json) "
                        "VALUES (now(), 'test', 'e', '{}')")
        with ws.catalog(read_only=True) as con:
            assert con.execute("SELECT count(*) FROM review_audit").fetchone() == (1,)
    # Outside the block every statement connects and closes again: another writer gets in.
    with ws.catalog() as con:
        con.execute("INSERT INTO review_audit (occurred_at, actor, event, detail_json) VALUES (now(), 't', 'e', '{}')")


def test_a_write_waits_for_another_threads_shared_read(tmp_path: Path):
    """Two review sessions in one server process: one renders (shared read-only connection) while the other
    records a decision. DuckDB refuses mixed configurations in one process; the write must wait, not fail."""
    import threading
    import time

    ws = Workspace.open(tmp_path / "ws", create=True)
    reading = threading.Event()

    def render() -> None:
        with ws.shared_reads():
            with ws.catalog(read_only=True) as con:
                con.execute("SELECT count(*) FROM review_audit").fetchone()
                reading.set()
                time.sleep(0.5)

    reader = threading.Thread(target=render)
    reader.start()
    reading.wait(5)
    with ws.catalog(wait_s=10) as con:
        con.execute("INSERT INTO review_audit (occurred_at, actor, event, detail_json) VALUES (now(), 't', 'e', '{}')")
    reader.join()
    with ws.catalog(read_only=True) as con:
        assert con.execute("SELECT count(*) FROM review_audit").fetchone() == (1,)
