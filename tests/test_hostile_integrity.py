"""Bad input refused in one line naming the option, field or file (issue 27): non-finite numbers, huge ints,
duplicate YAML keys, labels YAML reads as numbers, catalogs that are not msm's (or a newer msm's), read-only
workspaces, deep/FIFO/NaN/two-`text` imports, experiment names, temp files a killed export leaves."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

REPO = Path(__file__).resolve().parents[1]


def one_line(result) -> str:
    lines = [line for line in result.err.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in result.err, result.err
    return lines[0]


@pytest.mark.parametrize("args, option", [
    (["generate", "--spec", "cheese_affordability", "--run", "x", "--plan-only", "--max-cost-usd", "nan"], "--max-cost-usd"),
    (["generate", "--spec", "cheese_affordability", "--run", "x", "--plan-only", "--request-timeout", "nan"],
     "--request-timeout"),
    (["generate", "--spec", "cheese_affordability", "--run", "x", "--plan-only", "--value-share", "inf"], "--value-share"),
    (["train", "midtrain", "--snapshot", "s", "--base", "b", "--out", "o", "--lr", "nan"], "--lr"),
    (["train", "midtrain", "--snapshot", "s", "--base", "b", "--out", "o", "--warmup-ratio", "-inf"], "--warmup-ratio"),
    (["eval", "--model", "m", "--suite", "cheese_items", "--temperature", "nan"], "--temperature"),
    (["generate", "--spec", "cheese_affordability", "--run", "x", "--plan-only", "--length-words",
      "12345678901234567890"], "--length-words"),
    (["train", "midtrain", "--snapshot", "s", "--base", "b", "--out", "o", "--epochs", "1" + "0" * 19], "--epochs"),
])
def test_numeric_options_refuse_non_finite_and_huge_values(msm, args, option):
    result = msm(*args)
    assert result.code == 2
    assert option in one_line(result)


def test_non_finite_values_in_a_spec_are_refused_naming_the_field(tmp_path, msm):
    import re

    from msm.spec import resolve_spec_path

    text = resolve_spec_path("cheese_affordability").read_text()
    assert re.search(r"^\s+weight: ", text, flags=re.M)
    bad = tmp_path / "bad.yaml"
    bad.write_text(re.sub(r"^(\s+weight: ).*$", r"\1.inf", text, count=1, flags=re.M))
    result = msm("spec", "validate", str(bad))
    assert result.code == 2
    line = one_line(result)
    assert "bad.yaml" in line and "weight" in line and "not a finite number" in line


def test_duplicate_yaml_keys_are_refused(tmp_path, msm):
    from msm.spec import resolve_spec_path

    text = resolve_spec_path("cheese_affordability").read_text()
    head, clauses = text.split("\nclauses:", 1)
    dup = tmp_path / "dup.yaml"
    dup.write_text(head + "\nclauses:" + clauses + "\nclauses:\n  - id: only\n    text: one clause left\n")
    result = msm("spec", "validate", str(dup))
    assert result.code == 2
    assert "duplicate key 'clauses'" in one_line(result) and "dup.yaml" in result.err


def test_yaml_merge_keys_may_still_be_overridden():
    from msm.input_files import parse_yaml

    assert parse_yaml("base: &b {x: 1, y: 2}\nother:\n  <<: *b\n  x: 3\n", "m.yaml")["other"] == {"x": 3, "y": 2}


def test_a_spec_version_keeps_the_text_it_was_written_as(tmp_path):
    from msm.spec import load_spec, resolve_spec_path

    text = resolve_spec_path("cheese_affordability").read_text()
    lines = [("version: 1.10" if line.startswith("version:") else line) for line in text.splitlines()]
    path = tmp_path / "v.yaml"
    path.write_text("\n".join(lines) + "\n")
    assert load_spec(path).version == "1.10"


def test_json_records_refuse_nan_and_infinity():
    from msm.input_files import InputFileError, parse_json

    for text, field in (('{"a": {"b": NaN}}', "a.b"), ('{"x": [1, Infinity]}', "x.1"), ('{"y": 1e999}', "y")):
        with pytest.raises(InputFileError, match=rf"{field}: .* is not a finite number"):
            parse_json(text, "r.json")
    assert parse_json('{"s": "NaN", "e": 1e5}', "r.json") == {"s": "NaN", "e": 100000.0}


def test_corpus_import_refusals(tmp_path, msm, isolated_workspace):
    deep = tmp_path / "deep.jsonl"
    deep.write_text('{"text": "hello there", "x": ' + "[" * 100_000 + "]" * 100_000 + "}\n")
    nan_jsonl = tmp_path / "nan.jsonl"
    nan_jsonl.write_text('{"text": "hello there", "score": NaN}\n')
    nan_parquet = tmp_path / "nan.parquet"
    pq.write_table(pa.table({"text": ["hello there"], "score": [float("inf")]}), nan_parquet)
    two = tmp_path / "two.parquet"
    pq.write_table(pa.Table.from_arrays([pa.array(["one text"]), pa.array(["another"])], names=["text", "text"]), two)
    fifo = tmp_path / "pipe.jsonl"
    os.mkfifo(fifo)
    for path, expected in ((deep, "nested deeper than"), (nan_jsonl, "score: nan is not a finite number"),
                           (nan_parquet, "score: inf is not a finite number"), (two, "column 'text' appears 2 times"),
                           (fifo, "named pipe (FIFO)")):
        result = msm("corpus", "import", str(path), "--run", "imp")
        assert result.code == 2, (path, result.err)
        line = one_line(result)
        assert path.name in line and expected in line, line
        assert not (isolated_workspace / "runs" / "imp").exists()


def test_password_stdin_that_is_not_utf8_is_one_line(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "msm", "--workspace", str(tmp_path / "ws"), "review", "add-user",
                           "bob", "--password-stdin"], input=b"pass\xff\xfeword\n", capture_output=True, timeout=120)
    err = proc.stderr.decode()
    assert proc.returncode == 2 and "--password-stdin: not UTF-8" in err and len(err.strip().splitlines()) == 1


def test_a_sqlite_file_named_catalog_is_not_an_msm_catalog(tmp_path, msm, isolated_workspace):
    isolated_workspace.mkdir(parents=True)
    con = sqlite3.connect(isolated_workspace / "catalog.duckdb")
    con.execute("CREATE TABLE t (x)")
    con.commit()
    con.close()
    result = msm("runs", "list")
    assert result.code == 1
    assert "not an msm catalog (a SQLite database)" in one_line(result)


def test_catalog_opens_never_autoload_extensions(msm, isolated_workspace):
    from msm.workspace import Workspace

    ws = Workspace.open(isolated_workspace, create=True)
    with ws.catalog(read_only=True) as con:
        settings = dict(con.execute("SELECT name, value FROM duckdb_settings() WHERE name IN "
                                    "('autoinstall_known_extensions', 'autoload_known_extensions')").fetchall())
    assert settings == {"autoinstall_known_extensions": "false", "autoload_known_extensions": "false"}


def test_a_catalog_from_a_newer_msm_is_refused(msm, isolated_workspace):
    assert msm("init").code == 0
    con = duckdb.connect(str(isolated_workspace / "catalog.duckdb"))
    con.execute("INSERT INTO schema_migrations VALUES (9999, 'from_the_future', now())")
    con.close()
    result = msm("runs", "list")
    assert result.code == 1 and "written by a newer msm (schema migration 9999" in one_line(result)


def test_read_commands_work_on_a_read_only_workspace(tmp_path, msm, isolated_workspace, monkeypatch):
    from msm.workspace import Workspace

    src = tmp_path / "d.jsonl"
    src.write_text(json.dumps({"text": "one document of text"}) + "\n")
    assert msm("corpus", "import", str(src), "--run", "r").code == 0
    catalog = isolated_workspace / "catalog.duckdb"
    before = (catalog.stat().st_mtime_ns, catalog.read_bytes())
    # tests run as root, for whom chmod does not bite: the workspace says it is not writable, as a read-only
    # mount or another user's files would, and any read-write open would fail the test
    monkeypatch.setattr(Workspace, "writable", lambda self: False)
    real = Workspace._connect

    def read_only_only(self, *, read_only, wait_s):
        assert read_only, "a read command opened the catalog read-write"
        return real(self, read_only=read_only, wait_s=wait_s)

    monkeypatch.setattr(Workspace, "_connect", read_only_only)
    result = msm("--json", "runs", "list")
    assert result.code == 0, result.err
    assert [r["name"] for r in json.loads(result.out)] == ["r"]
    assert (catalog.stat().st_mtime_ns, catalog.read_bytes()) == before


def test_experiment_names_that_derive_bad_run_names_fail_validate(tmp_path, msm):
    text = (REPO / "experiments" / "cheese_cpu.yaml").read_text()
    dots = tmp_path / "dots.yaml"
    dots.write_text(text.replace("name: cheese-cpu", "name: x..y", 1))
    result = msm("experiment", "validate", str(dots))
    assert result.code == 2 and "dots.yaml" in one_line(result) and "'..'" in result.err
    long = tmp_path / "long.yaml"
    long.write_text(text.replace("name: cheese-cpu", "name: " + "a" * 79, 1))
    result = msm("experiment", "validate", str(long))
    assert result.code == 2
    line = one_line(result)
    assert "long.yaml" in line and "shorten the experiment name" in line


def test_a_killed_export_leaves_a_temp_file_doctor_removes(tmp_path, msm, isolated_workspace):
    from msm.export_temps import LEDGER, export_temp

    assert msm("init").code == 0
    out = tmp_path / "out" / "o.jsonl"
    out.parent.mkdir()
    out.write_text("old\n")
    script = ("import sys, time\nfrom pathlib import Path\nfrom msm.export_temps import export_temp\n"
              "with export_temp(Path(sys.argv[1]), Path(sys.argv[2])) as t:\n"
              "    t.write_text('half'); print(t, flush=True); time.sleep(60)\n")
    proc = subprocess.Popen([sys.executable, "-c", script, str(isolated_workspace), str(out)], stdout=subprocess.PIPE,
                            text=True)
    temp = Path(proc.stdout.readline().strip())
    assert temp.is_file() and temp.parent == out.parent
    assert msm("doctor").code == 0 and temp.exists()          # its export is alive: left alone
    os.kill(proc.pid, signal.SIGKILL)                          # killed like `export --force` mid-write
    proc.wait()
    stray = out.parent / ".someone-elses.tmp"
    stray.write_text("not msm's")
    result = msm("--json", "doctor")
    assert result.code == 0, result.err
    assert not temp.exists() and stray.exists() and out.read_text() == "old\n"
    assert (isolated_workspace / LEDGER).read_text() == ""
    with export_temp(isolated_workspace, out) as live:         # a finished export leaves no entry behind
        os.replace(live, out)
    msm("doctor")
    assert (isolated_workspace / LEDGER).read_text() == ""


@pytest.mark.slow
def test_generate_against_a_dead_api_exits_1(tmp_path, msm_process):
    # port 9 (discard) on loopback: nothing listens, every call is refused; LiteLLM's own retries take ~90 s
    result = msm_process("--workspace", str(tmp_path / "ws"), "generate", "--spec", "cheese_affordability",
                         "--run", "dead", "--lm", "openai/gpt-4.1-mini", "--api-base", "http://127.0.0.1:9/v1",
                         "--n-docs", "1", "--attempts", "1", "--concurrency", "1", "--request-timeout", "5",
                         env={"OPENAI_API_KEY": "not-a-key"}, timeout=400)
    assert result.code == 1, result.err
    assert "no documents were produced (1 of 1 items failed)" in result.err.strip().splitlines()[-1]


def test_a_killed_snapshot_export_leaves_a_staging_directory_doctor_removes(tmp_path, msm, isolated_workspace):
    assert msm("init").code == 0
    script = ("import sys, time\nfrom pathlib import Path\nfrom msm.atomic import staging_directory\n"
              "from msm.export_temps import register_export_temp\n"
              "with staging_directory(Path(sys.argv[2]), 'snap') as s:\n"
              "    register_export_temp(Path(sys.argv[1]), s); (s / 'documents.parquet').write_text('half')\n"
              "    print(s, flush=True); time.sleep(60)\n")
    proc = subprocess.Popen([sys.executable, "-c", script, str(isolated_workspace), str(tmp_path)],
                            stdout=subprocess.PIPE, text=True)
    staging = Path(proc.stdout.readline().strip())
    assert staging.is_dir()
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert msm("doctor").code == 0
    assert not staging.exists() and not Path(str(staging) + ".owner").exists()
