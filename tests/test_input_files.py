"""The safe loaders: every hostile file is one `file: problem` BadInput, never a hang, a RecursionError or a
minutes-long validation. (The timeout marks are there to turn a regression into a failure instead of a stuck run;
nothing here measures speed.)"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from msm.errors import BadInput
from msm.input_files import (InputFileError, YamlLimits, iter_json_lines, load_json, load_toml, load_yaml,
                             open_parquet, parse_yaml, read_bytes)

pytestmark = pytest.mark.timeout(60)
LIMIT = 1024 * 1024


def _yaml(path: Path) -> object:
    return load_yaml(path, max_bytes=LIMIT)


def _json(path: Path) -> object:
    return load_json(path, max_bytes=LIMIT)


def _toml(path: Path) -> object:
    return load_toml(path, max_bytes=LIMIT)


def _jsonl(path: Path) -> object:
    return list(iter_json_lines(path, max_bytes=LIMIT, max_line_bytes=LIMIT))


LOADERS = {"yaml": _yaml, "json": _json, "toml": _toml, "jsonl": _jsonl}


def _refused(loader, path: Path) -> str:
    with pytest.raises(InputFileError) as info:
        loader(path)
    message = str(info.value)
    assert "\n" not in message and message.startswith(str(path)), message
    return message


@pytest.mark.parametrize("fmt", sorted(LOADERS))
def test_a_fifo_is_named_not_read(tmp_path: Path, fmt: str):
    path = tmp_path / f"pipe.{fmt}"
    os.mkfifo(path)      # nobody writes to it: a plain open() would block forever
    assert "named pipe (FIFO)" in _refused(LOADERS[fmt], path)


@pytest.mark.parametrize("fmt", sorted(LOADERS))
def test_a_link_to_dev_zero_is_a_character_device(tmp_path: Path, fmt: str):
    path = tmp_path / f"zero.{fmt}"
    path.symlink_to("/dev/zero")
    message = _refused(LOADERS[fmt], path)
    assert "character device" in message and "/dev/zero" in message


@pytest.mark.parametrize("fmt", sorted(LOADERS))
def test_a_directory_a_broken_link_and_a_link_loop_say_what_they_are(tmp_path: Path, fmt: str):
    directory = tmp_path / f"d.{fmt}"
    directory.mkdir()
    assert "is a directory" in _refused(LOADERS[fmt], directory)
    broken = tmp_path / f"broken.{fmt}"
    broken.symlink_to(tmp_path / "nowhere")
    assert "which does not exist" in _refused(LOADERS[fmt], broken)
    loop_a, loop_b = tmp_path / f"a.{fmt}", tmp_path / f"b.{fmt}"
    loop_a.symlink_to(loop_b)
    loop_b.symlink_to(loop_a)
    assert "symbolic link loop" in _refused(LOADERS[fmt], loop_a)
    assert "no such" in _refused(LOADERS[fmt], tmp_path / f"missing.{fmt}")


@pytest.mark.parametrize("fmt", sorted(LOADERS))
def test_a_huge_file_is_refused_by_its_size(tmp_path: Path, fmt: str):
    path = tmp_path / f"huge.{fmt}"
    with open(path, "wb") as handle:
        handle.truncate(8 * LIMIT)     # sparse: costs no disk, and must cost no reading either
    assert "larger than" in _refused(LOADERS[fmt], path)


def test_a_file_that_is_longer_than_its_size_says_is_still_bounded():
    # /proc files report size 0 and hold more; the bound is on the bytes actually read
    with pytest.raises(InputFileError, match="grew while read"):
        read_bytes("/proc/self/maps", max_bytes=16)


NESTING_BOMBS = {
    "yaml": ["k: " + "[" * 100_000 + "]" * 100_000, "k: " + "{a: " * 50_000 + "1" + "}" * 50_000,
             "".join("  " * i + "a:\n" for i in range(200)) + "  " * 200 + "b: 1\n"],
    "json": ["[" * 100_000 + "]" * 100_000, '{"a":' * 100_000 + "1" + "}" * 100_000, "[" * 200 + "]" * 200],
    "toml": ["a = " + "[" * 100_000 + "]" * 100_000, "a = " + "{b = " * 50_000 + "1" + "}" * 50_000,
             "a = " + "[" * 200 + "]" * 200],
    "jsonl": ['{"ok": 1}\n{"m": ' + "[" * 100_000 + "]" * 100_000 + "}\n", '{"m": ' + "[" * 200 + "]" * 200 + "}\n"],
}


@pytest.mark.parametrize("fmt, index", [(f, i) for f, bombs in NESTING_BOMBS.items() for i in range(len(bombs))])
def test_nesting_bombs_are_refused_with_the_depth_limit(tmp_path: Path, fmt: str, index: int):
    path = tmp_path / f"bomb.{fmt}"
    path.write_text(NESTING_BOMBS[fmt][index])
    message = _refused(LOADERS[fmt], path)
    assert "nested deeper than" in message or "maximum nesting depth" in message    # the latter: libyaml's own
    if fmt == "jsonl":
        assert f"{path}:{1 if index else 2}:" in message     # names the line


def _billion_laughs(field: str) -> str:
    lines = ["l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    lines += [f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 9)}]" for i in range(1, 9)]
    return "\n".join(lines) + f"\n{field}: *l8\n"


@pytest.mark.parametrize("text, problem", [
    (_billion_laughs("clauses"), "aliases expand it by more than"),
    ("a: &a [*a]\n", "recursive structure"),
    ("s: &s " + "x" * 100_000 + "\nlist: [" + ", ".join(["*s"] * 200) + "]\n", "characters"),
    ("a: &a {k: v}\nb: [" + ", ".join(["*a"] * 20_000) + "]\n", "aliases"),   # too many alias references
])
def test_yaml_alias_bombs_are_refused_before_anything_expands(tmp_path: Path, text: str, problem: str):
    path = tmp_path / "bomb.yaml"
    path.write_text(text)
    assert problem in _refused(_yaml, path)


def test_ordinary_anchors_aliases_and_merge_keys_still_load(tmp_path: Path):
    path = tmp_path / "ok.yaml"
    path.write_text("base: &base {lr: 0.1, epochs: 2}\nrun:\n  <<: *base\n  epochs: 3\nagain: *base\n")
    assert _yaml(path) == {"base": {"lr": 0.1, "epochs": 2}, "run": {"lr": 0.1, "epochs": 3},
                           "again": {"lr": 0.1, "epochs": 2}}


def test_a_yaml_file_of_too_many_nodes_stops_at_the_limit(tmp_path: Path):
    # composing YAML is Python code; the node limit is what bounds the time a 4 MiB file can take
    path = tmp_path / "flat.yaml"
    path.write_text("clauses: [" + ",".join(["1"] * 300_000) + "]\n")
    assert "more than 200000 nodes" in _refused(_yaml, path)


def test_alias_limits_can_be_tightened():
    with pytest.raises(InputFileError, match="more than 2 aliases"):
        parse_yaml("a: &a 1\nb: [*a, *a, *a]\n", "x.yaml", limits=YamlLimits(max_aliases=2))


@pytest.mark.parametrize("fmt, text, problem", [
    ("yaml", "n: " + "9" * 6000 + "\n", "too many digits"),
    ("yaml", "t: !!timestamp 2001-13-45\n", "bad timestamp value"),
    ("yaml", "!!python/object/apply:os.system ['true']\n", "not valid YAML"),
    ("yaml", "? [a, b]\n: c\n", "not valid YAML"),
    ("json", '{"n": ' + "9" * 6000 + "}", "too many digits"),
    ("json", '{"name": "\\ud800"}', "name: not valid Unicode"),
    ("toml", "n = " + "9" * 6000 + "\n", "too many digits"),
    ("toml", "[auth\n", "not valid TOML"),
    ("jsonl", '{"a": 1}\n{"text": "\\udfff x"}\n', ":2: text: not valid Unicode"),
    ("jsonl", '{"a": 1}\n{"a": 2\n{"a": 3}\n', ":2: not valid JSON"),
    ("jsonl", b'{"a": "caf\xe9"}\n', ":1: not UTF-8"),
])
def test_values_python_cannot_take_are_refused_with_the_line(tmp_path: Path, fmt: str, text, problem: str):
    path = tmp_path / f"bad.{fmt}"
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    assert problem in _refused(LOADERS[fmt], path)


def test_surrogate_pairs_are_fine(tmp_path: Path):
    path = tmp_path / "ok.json"
    path.write_text('{"emoji": "\\ud83d\\ude00"}')
    assert _json(path) == {"emoji": "\U0001F600"}


def test_one_endless_line_costs_at_most_the_line_limit(tmp_path: Path):
    path = tmp_path / "zeros.jsonl"
    with open(path, "wb") as handle:
        handle.truncate(64 * 1024 * 1024)        # 64 MiB of NULs, no newline
    with pytest.raises(InputFileError, match=r"zeros.jsonl:1: line longer than 1000 bytes"):
        list(iter_json_lines(path, max_bytes=128 * 1024 * 1024, max_line_bytes=1000))


def test_json_lines_keep_their_numbers_and_skip_blank_lines(tmp_path: Path):
    path = tmp_path / "ok.jsonl"
    path.write_text('{"a": 1}\n\n{"a": 2}')       # no newline after the last line: a user's file may end so
    assert list(iter_json_lines(path, max_bytes=LIMIT, max_line_bytes=LIMIT)) == [(1, {"a": 1}), (3, {"a": 2})]


# ---- Parquet -----------------------------------------------------------------------------------------------
def _parquet(path: Path, table: pa.Table) -> Path:
    pq.write_table(table, path)
    return path


def test_parquet_checks_read_only_the_footer(tmp_path: Path):
    good = _parquet(tmp_path / "ok.parquet", pa.table({"text": ["a", "b"]}))
    assert open_parquet(good, max_bytes=LIMIT, max_rows=10).metadata.num_rows == 2
    with pytest.raises(InputFileError, match="3 rows is more than the 2 allowed"):
        open_parquet(_parquet(tmp_path / "rows.parquet", pa.table({"text": ["a", "b", "c"]})), max_bytes=LIMIT,
                     max_rows=2)
    with pytest.raises(InputFileError, match="columns is more than"):
        open_parquet(_parquet(tmp_path / "cols.parquet", pa.table({f"c{i}": [i] for i in range(20)})),
                     max_bytes=LIMIT, max_rows=10, max_columns=10)
    value: object = 1
    for _ in range(80):
        value = {"a": value}
    with pytest.raises(InputFileError, match="nested deeper than 64"):
        open_parquet(_parquet(tmp_path / "deep.parquet", pa.table({"text": ["a"], "meta": [value]})),
                     max_bytes=LIMIT, max_rows=10)


@pytest.mark.parametrize("damage", ["garbage", "truncated", "footer_length"])
def test_damaged_parquet_is_one_line(tmp_path: Path, damage: str):
    path = _parquet(tmp_path / "d.parquet", pa.table({"text": ["some text"] * 100}))
    data = bytearray(path.read_bytes())
    if damage == "garbage":
        data = bytearray(b"PAR1" + os.urandom(500) + b"PAR1")
    elif damage == "truncated":
        data = data[: len(data) // 2]
    else:
        data[-8:-4] = (2**31 - 1).to_bytes(4, "little")
    path.write_bytes(bytes(data))
    with pytest.raises(BadInput, match="not a readable Parquet file"):
        open_parquet(path, max_bytes=LIMIT, max_rows=1000)


def test_parquet_special_files(tmp_path: Path):
    fifo = tmp_path / "p.parquet"
    os.mkfifo(fifo)
    with pytest.raises(InputFileError, match="named pipe"):
        open_parquet(fifo, max_bytes=LIMIT, max_rows=10)


def test_records_from_msm_itself_still_load(tmp_path: Path):
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps({"name": "x", "files": {"a": "b" * 64}, "nested": {"a": [1, 2, {"b": None}]}}))
    assert _json(path)["nested"]["a"][2] == {"b": None}


def test_a_file_name_with_a_line_break_stays_one_line(tmp_path: Path, msm):
    path = tmp_path / "two\nlines\r.yaml"
    os.mkfifo(path)
    result = msm("spec", "validate", str(path))
    assert result.code == 2 and len(result.err.strip().splitlines()) == 1, result.err
    assert "two\\nlines\\r.yaml" in result.err and "named pipe" in result.err


@pytest.mark.parametrize("argv", [("spec", "validate"), ("report",), ("experiment", "validate")])
def test_a_name_longer_than_any_filesystem_takes_is_bad_input(msm, argv):
    msm("init")
    result = msm(*argv, "x" * 300)
    assert result.code == 2 and len(result.err.strip().splitlines()) == 1, result.err
