"""A run's own files read back strictly: a torn last line is what a kill leaves and is skipped; a damaged line
anywhere else, a corrupted run.json or a CURRENT pointer that is not a curation id is a one-line error naming
the file (exit 2) — never a silent drop, a traceback or a path followed out of the run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from msm.atomic import JsonlRecords, read_jsonl
from msm.input_files import InputFileError

DOC = ("The farmer carried the cheese to the market before the rain began. The bakers followed with bread, and "
       "the town gathered in the square to trade what each of them had made that week.")


def import_run(tmp_path: Path, msm, run: str = "r", n: int = 6) -> Path:
    src = tmp_path / f"{run}.jsonl"
    src.write_text("".join(json.dumps({"id": f"d{i}", "text": f"{DOC} Day {i}."}) + "\n" for i in range(n)))
    assert msm("corpus", "import", str(src), "--run", run).code == 0
    return tmp_path


def damage_line(path: Path, number: int, replacement: str) -> None:
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    lines[number - 1] = replacement
    path.write_text("".join(lines), encoding="utf-8")


@pytest.mark.parametrize("damage", ['{"doc_id": "cut short\n', "not json at all\n", '{"doc_id": 5}\n', "[1, 2]\n"])
def test_a_damaged_middle_line_stops_show_export_curate_and_review_with_file_and_line(
        tmp_path: Path, msm, isolated_workspace: Path, damage: str) -> None:
    import_run(tmp_path, msm)
    documents = isolated_workspace / "runs" / "r" / "documents.jsonl"
    damage_line(documents, 3, damage)
    for args in (("runs", "show", "r"), ("runs", "export", "r", "--out", str(tmp_path / "o.jsonl")),
                 ("curate", "--run", "r")):
        result = msm(*args)
        assert result.code == 2, (args, result.err)
        assert f"{documents}:3: " in result.err and "Traceback" not in result.err, result.err
        assert len(result.err.strip().splitlines()) == 1, result.err
    assert not (tmp_path / "o.jsonl").exists()
    from msm.corpus.run_index import open_documents
    from msm.corpus.run_store import RunStore
    from msm.workspace import Workspace

    with pytest.raises(InputFileError, match=r"documents\.jsonl:3: "):   # what the review app reads through
        open_documents(RunStore(Workspace(isolated_workspace), "r"))


def test_only_a_torn_last_line_is_skipped(tmp_path: Path, msm, isolated_workspace: Path) -> None:
    import_run(tmp_path, msm)
    documents = isolated_workspace / "runs" / "r" / "documents.jsonl"
    with open(documents, "a", encoding="utf-8") as handle:
        handle.write('{"doc_id": "torn", "text": "a write cut by a ki')     # no newline: a kill mid-append
    # an imported run was complete when committed: its torn tail is damage, refused naming the line
    refused = msm("runs", "show", "r")
    assert refused.code == 2 and f"{documents}:7: the last line" in refused.err, refused.err
    # a generated run is appended to as documents finish: a torn tail is what a kill leaves, skipped
    record_path = isolated_workspace / "runs" / "r" / "run.json"
    record = json.loads(record_path.read_text())
    record_path.write_text(json.dumps({**record, "kind": "generated"}))
    shown = msm("runs", "show", "r", "--json")
    assert shown.code == 0, shown.err
    assert json.loads(shown.out)["documents"] == 6
    out = tmp_path / "o.jsonl"
    assert msm("runs", "export", "r", "--out", str(out)).code == 0
    assert len(out.read_text().splitlines()) == 6
    assert msm("curate", "--run", "r").code == 0


def test_one_reader_rule_for_every_jsonl_record_file(tmp_path: Path) -> None:
    path = tmp_path / "calls.jsonl"
    path.write_text('{"a": 1}\n\n{"a": 2}\n{"a": 3, "tor')
    assert [r["a"] for r in read_jsonl(path)] == [1, 2]
    records = JsonlRecords(path, json.loads)
    assert [offset for offset, _length, _record in records] == [0, 10]
    assert records.end == len('{"a": 1}\n\n{"a": 2}\n')                     # where an incremental reader resumes
    path.write_text('{"a": 1}\n{"a": oops}\n{"a": 3}\n')
    with pytest.raises(InputFileError, match=r"calls\.jsonl:2: not valid JSON"):
        list(read_jsonl(path))


def test_corrupted_run_json_names_the_file(tmp_path: Path, msm, isolated_workspace: Path) -> None:
    import_run(tmp_path, msm)
    record = isolated_workspace / "runs" / "r" / "run.json"
    record.write_text('{"name": "r", "kind": ')
    for args in (("runs", "show", "r"), ("runs", "export", "r", "--out", str(tmp_path / "o.jsonl")),
                 ("curate", "--run", "r")):
        result = msm(*args)
        assert result.code == 2, (args, result.err)
        assert f"{record}: " in result.err and "JSONDecodeError" not in result.err, result.err
        assert len(result.err.strip().splitlines()) == 1


def test_current_pointer_is_an_id_never_a_path(tmp_path: Path, msm, isolated_workspace: Path) -> None:
    import_run(tmp_path, msm, "a")
    import_run(tmp_path, msm, "b")
    assert msm("curate", "--run", "a").code == 0
    pointer = isolated_workspace / "runs" / "a" / "curation" / "CURRENT"
    for bad in ("../../b", "/etc", "..", "20261129T000000000000-0000000/../x"):
        pointer.write_text(bad + "\n")
        for args in (("runs", "export", "a", "--out", str(tmp_path / "o.jsonl")),
                     ("snapshot", "create", "s", "--from", "a"), ("curate", "report", "--run", "a")):
            result = msm(*args)
            assert result.code == 2, (bad, args, result.err)
            assert f"{pointer}: " in result.err and "is not a curation id" in result.err, result.err
    assert not (isolated_workspace / "snapshots" / "s").exists()


def test_runs_export_refuses_to_overwrite_without_force(tmp_path: Path, msm, isolated_workspace: Path) -> None:
    import_run(tmp_path, msm)
    out = tmp_path / "o.jsonl"
    out.write_text("precious\n")
    refused = msm("runs", "export", "r", "--out", str(out))
    assert refused.code == 2 and "--force" in refused.err and len(refused.err.strip().splitlines()) == 1
    assert out.read_text() == "precious\n"
    forced = msm("runs", "export", "r", "--out", str(out), "--force")
    assert forced.code == 0, forced.err
    assert len(out.read_text().splitlines()) == 6
