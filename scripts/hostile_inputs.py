"""Feed msm the inputs a careless or hostile user would, through the real CLI, and count how many it handles cleanly.

    python scripts/hostile_inputs.py [--msm PATH] [--only PREFIX] [--json OUT]

Each probe builds one input (a nesting or alias bomb, a FIFO, a /dev/zero link, a huge sparse file, a malformed
line, a path-like name, a catalog/disk disagreement left by a kill ...) in a scratch directory and runs one `msm`
command on it in a subprocess. A probe is handled cleanly when the command

  - exits 0 or 2 (2 for anything refused), using at most SLOW_CPU_S seconds of CPU (msm's start-up included) and
    finishing within TIMEOUT_S seconds of wall time,
  - prints no traceback and, when it fails, exactly one line on stderr,
  - names the file it refuses (its path or file name appears in the message), and
  - for something that is not a regular file, says so instead of "no such file" / "not found".

Catalog probes reproduce the state a SIGKILL leaves between moving a directory into place and writing its catalog
row (by deleting the row afterwards) and check that the workspace is back in agreement after the next command.
Record probes damage msm's own files in a workspace (a line inside documents.jsonl, run.json, curation/CURRENT,
a snapshot manifest) or aim an export at an existing file: each must be refused in one line naming the file
(`snapshot verify` with exit 1, its reasons on stderr), never skipped or overwritten silently.
Integrity probes (issue 27) check data that would pass its checks while being wrong and bad input that used to
get through: NaN/infinite/20-digit option values, `.inf` and duplicate keys in a spec, `version: 1.10`, NaN in
imported records, two `text` columns, a SQLite file or a newer msm's catalog, experiment names whose derived names
msm refuses, a snapshot edited consistently after its catalog row was lost, lines lost / a doc_id reused / marks
edited under a curation, exports after a dedup-only curation, and the temp file a killed export left.
The script prints one line per probe and the totals; it changes nothing outside its scratch directory.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import resource
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import pyarrow as pa
import pyarrow.parquet as pq

SLOW_CPU_S = 5.0    # CPU seconds (user + system) of the command: msm itself needs ~1 s to start, a refusal should
                    # add little. CPU time, not wall time, so a machine busy with other work does not count as slow.
TIMEOUT_S = 60.0    # wall seconds: a probe still running then is counted as a hang and killed
SPARSE_BYTES = 600 * 1024 * 1024   # above every per-file limit msm has; sparse, so it costs no disk
DOC = "The farmer carried the cheese to the market before the rain began, and the bakers followed."


def distinct_doc(i: int) -> str:
    """Prose documents far apart in MinHash terms that pass the default quality rules, so curation keeps them."""
    import random

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    import planted

    return "\n\n".join(planted.document(random.Random(i)))


@dataclass
class Outcome:
    probe: str
    clean: bool
    code: int | None
    seconds: float
    why: str
    stderr: str = ""


@dataclass
class Probe:
    name: str
    build: Callable[[Path], list[str]]          # scratch dir -> msm argv (after --workspace)
    names_file: str | None = None               # substring the message must contain when refused
    special: bool = False                        # not a regular file: the message must say what it is
    check: Callable[[Path, "subprocess.CompletedProcess"], str | None] | None = None   # extra check -> problem
    accept_zero: bool = True
    tags: list[str] = field(default_factory=list)


# ---- hostile file contents ------------------------------------------------------------------------
def nest(open_: str, close: str, depth: int, inner: str = "1") -> str:
    return open_ * depth + inner + close * depth


def yaml_alias_bomb(field: str, levels: int = 9, width: int = 9) -> str:
    lines = ['l0: &l0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for level in range(1, levels):
        refs = ", ".join(f"*l{level - 1}" for _ in range(width))
        lines.append(f"l{level}: &l{level} [{refs}]")
    lines.append(f"{field}: *l{levels - 1}")
    return "\n".join(lines) + "\n"


def yaml_string_bomb(field: str, copies: int = 20000, size: int = 100_000) -> str:
    refs = ", ".join("*s" for _ in range(copies))
    return f"big: &s \"{'x' * size}\"\n{field}: [{refs}]\n"


def spec_with(extra: str) -> str:
    return ("id: fuzz\ntitle: T\nversion: '1'\ndescription: D\nmodel_name: M\nprovider_name: P\n" + extra)


YAML_CONTENTS: dict[str, str | bytes] = {
    "nest_flow_list": "clauses: " + nest("[", "]", 100_000),
    "nest_flow_map": "clauses: " + nest("{a: ", "}", 50_000),
    "nest_block": "".join("  " * i + "a:\n" for i in range(1500)) + "  " * 1500 + "b: 1\n",
    "nest_moderate_900": "clauses: " + nest("[", "]", 900),
    "alias_bomb_list": spec_with("") + yaml_alias_bomb("clauses"),
    "alias_bomb_nested": yaml_alias_bomb("conditions"),
    "alias_recursive": spec_with("clauses: &a [*a]\n"),
    "alias_string_bomb": spec_with("") + yaml_string_bomb("clauses"),
    "bigint": spec_with("clauses: []\nschema_version: " + "9" * 6000 + "\n"),
    "bad_timestamp": spec_with("clauses: []\nweight: !!timestamp 2001-13-45\n"),
    "python_tag": "!!python/object/apply:os.system ['echo pwned']\n",
    "unhashable_key": "? [a, b]\n: c\n",
    "binary_garbage": bytes(range(256)) * 8,
    "not_utf8": b"id: caf\xe9\n",
    "empty": "",
    "top_level_list": "- a\n- b\n",
}
JSON_CONTENTS: dict[str, str | bytes] = {
    "nest_list": nest("[", "]", 100_000),
    "nest_object": nest('{"a":', "}", 100_000),
    "nest_3000": nest("[", "]", 3000),
    "bigint": '{"schema_version": ' + "9" * 6000 + "}",
    "lone_surrogate": '{"schema_version": 1, "run_id": "\\ud800"}',
    "garbage": bytes(range(256)) * 8,
    "not_utf8": b'{"run_id": "caf\xe9"}',
    "empty": "",
    "top_level_list": "[1, 2, 3]",
}
JSONL_LINES: dict[str, str | bytes] = {
    "nest_in_line": '{"text": "a", "m": ' + nest("[", "]", 100_000) + "}\n",
    "nest_3000_in_line": '{"text": "a", "m": ' + nest("[", "]", 3000) + "}\n",
    "bigint_in_line": '{"text": "a", "n": ' + "9" * 6000 + "}\n",
    "malformed_middle": '{"text": "one"}\n{"text": "two"\n{"text": "three"}\n',
    "garbage": bytes(range(256)) * 8,
    "not_utf8": b'{"text": "caf\xe9"}\n',
    "nul_line": b'\x00' * 5000 + b"\n",
    "array_line": "[1, 2]\n",
    "empty": "",
}
TOML_CONTENTS: dict[str, str | bytes] = {
    "nest_array": "a = " + nest("[", "]", 100_000) + "\n",
    "nest_inline_table": "a = " + nest("{b = ", "}", 50_000) + "\n",
    "bigint": "a = " + "9" * 6000 + "\n",
    "garbage": bytes(range(256)) * 8,
    "not_utf8": b"a = 'caf\xe9'\n",
    "review_not_table": "review = 5\n",
}


def write(path: Path, content: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, str):
        content = content.encode("utf-8")
    path.write_bytes(content)
    return path


def special(kind: str, path: Path) -> Path:
    """A FIFO, a link to /dev/zero, a directory, a huge sparse file, a dangling link or a symlink loop at `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "devzero":
        path.symlink_to("/dev/zero")
    elif kind == "directory":
        path.mkdir()
    elif kind == "sparse_huge":
        with open(path, "wb") as handle:
            handle.truncate(SPARSE_BYTES)
    elif kind == "dangling":
        path.symlink_to(path.parent / "nowhere-at-all")
    elif kind == "loop":
        other = path.with_name(path.name + ".other")
        path.symlink_to(other)
        other.symlink_to(path)
    return path


SPECIALS = ("fifo", "devzero", "directory", "sparse_huge", "dangling", "loop")


# ---- the consumers -----------------------------------------------------------------------------------
@dataclass
class Consumer:
    name: str
    suffix: str
    argv: Callable[[Path, Path], list[str]]      # (scratch, input file) -> argv
    contents: dict[str, str | bytes]
    setup: Callable[[Path], None] | None = None
    file_in_workspace: str | None = None         # the consumer reads a fixed file inside the workspace


def _imported_run(scratch: Path) -> None:
    if (scratch / "ws" / "runs" / "base").exists():
        return
    src = write(scratch / "base.jsonl", "".join(json.dumps({"text": distinct_doc(i)}) + "\n" for i in range(6)))
    run_msm(scratch, ["corpus", "import", str(src), "--run", "base"], check=True)


def _model_dir(scratch: Path) -> None:
    write(scratch / "model" / "config.json", "{}")


CONSUMERS = [
    Consumer("spec", ".yaml", lambda s, f: ["spec", "validate", str(f)], YAML_CONTENTS),
    Consumer("experiment", ".yaml", lambda s, f: ["experiment", "validate", str(f)], YAML_CONTENTS),
    Consumer("curation_config", ".yaml", lambda s, f: ["curate", "--run", "base", "--config", str(f)], YAML_CONTENTS,
             setup=_imported_run),
    Consumer("review_toml", ".toml", lambda s, f: ["review"], TOML_CONTENTS, file_in_workspace="review.toml"),
    Consumer("import_jsonl", ".jsonl", lambda s, f: ["corpus", "import", str(f), "--run", "imp"], JSONL_LINES),
    Consumer("eval_items", ".jsonl",
             lambda s, f: ["eval", "--model", str(s / "model"), "--suite", "cheese_values", "--items", str(f)],
             JSONL_LINES, setup=_model_dir),
    Consumer("sft_data", ".jsonl", lambda s, f: ["train", "sft", "--model", "local:smollm2-135m", "--data", str(f),
                                                 "--out", "m"], JSONL_LINES),
    Consumer("eval_compare", ".json", lambda s, f: ["eval", "compare", str(f)], JSON_CONTENTS),
]


def parquet_probes() -> list[tuple[str, Callable[[Path], Path]]]:
    def garbage(p: Path) -> Path:
        return write(p, b"PAR1" + bytes(range(256)) * 16 + b"PAR1")

    def truncated(p: Path) -> Path:
        pq.write_table(pa.table({"text": [DOC] * 1000}), p)
        data = p.read_bytes()
        p.write_bytes(data[: len(data) // 2])
        return p

    def footer_lies(p: Path) -> Path:
        pq.write_table(pa.table({"text": [DOC] * 10}), p)
        data = bytearray(p.read_bytes())
        data[-8:-4] = (2**31 - 1).to_bytes(4, "little")   # footer length far beyond the file
        p.write_bytes(bytes(data))
        return p

    def no_text(p: Path) -> Path:
        pq.write_table(pa.table({"body": [DOC]}), p)
        return p

    def deep_struct(p: Path) -> Path:
        value: object = 1
        for _ in range(400):
            value = {"a": value}
        pq.write_table(pa.table({"text": [DOC], "meta": [value]}), p)
        return p

    def many_columns(p: Path) -> Path:
        pq.write_table(pa.table({"text": [DOC], **{f"c{i}": [i] for i in range(20000)}}), p)
        return p

    return [("garbage", garbage), ("truncated", truncated), ("footer_lies", footer_lies), ("no_text", no_text),
            ("deep_struct", deep_struct), ("many_columns", many_columns)]


def run_msm(scratch: Path, argv: list[str], *, check: bool = False, timeout: float = TIMEOUT_S,
            ws: Path | None = None, stdin: bytes | None = None) -> subprocess.CompletedProcess:
    command = [MSM, "--workspace", str(ws or scratch / "ws"), *argv]
    env = {**os.environ, "MSM_CACHE": str(scratch / "cache"), "HF_HUB_OFFLINE": "1"}
    env.pop("MSM_DEBUG", None)
    if stdin is not None:
        raw = subprocess.run(command, capture_output=True, timeout=timeout, env=env, input=stdin)
        return subprocess.CompletedProcess(raw.args, raw.returncode, raw.stdout.decode(errors="replace"),
                                           raw.stderr.decode(errors="replace"))
    proc = subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=env, stdin=subprocess.DEVNULL)
    if check and proc.returncode != 0:
        raise RuntimeError(f"setup failed: msm {' '.join(argv)}: {proc.stderr.strip()}")
    return proc


def judge(probe: str, argv: list[str], scratch: Path, *, names: str | None, is_special: bool,
          ws: Path | None = None, extra: Callable | None = None, exits: tuple[int, ...] = (0, 2),
          stdin: bytes | None = None) -> Outcome:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    try:
        proc = run_msm(scratch, argv, ws=ws, stdin=stdin)
    except subprocess.TimeoutExpired:
        return Outcome(probe, False, None, TIMEOUT_S, f"hang: still running after {TIMEOUT_S:.0f} s (killed)")
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    seconds = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    err = proc.stderr.strip()
    lines = [line for line in err.splitlines() if line.strip()]
    why = ""
    if proc.returncode not in exits:
        why = f"exit {proc.returncode}"
    elif "Traceback" in err:
        why = "traceback"
    elif proc.returncode in (1, 2) and len(lines) != 1:
        why = f"{len(lines)} stderr lines"
    elif seconds > SLOW_CPU_S:
        why = f"slow: {seconds:.1f} CPU s"
    elif proc.returncode in (1, 2) and names and names not in err:
        why = "message does not name the file"
    elif is_special and proc.returncode == 2 and any(s in err.lower() for s in ("no such", "not found")):
        why = "not-a-regular-file reported as missing"
    elif is_special and proc.returncode == 0:
        why = "accepted a special file"
    if not why and extra is not None:
        why = extra(proc) or ""
    return Outcome(probe, not why, proc.returncode, round(seconds, 2), why, lines[-1][:200] if lines else "")


def file_probes(scratch: Path, only: str | None) -> list[Outcome]:
    outcomes = []
    for consumer in CONSUMERS:
        cases = [(name, content, None) for name, content in consumer.contents.items()]
        cases += [(kind, None, kind) for kind in SPECIALS]
        for case, content, kind in cases:
            probe = f"{consumer.name}/{case}"
            if only and not probe.startswith(only):
                continue
            root = scratch / consumer.name / case
            root.mkdir(parents=True, exist_ok=True)
            if consumer.setup:
                consumer.setup(scratch)
            ws = scratch / "ws"
            run_msm(scratch, ["init"], check=True)
            if consumer.file_in_workspace:
                target = ws / consumer.file_in_workspace
                if target.is_symlink() or target.exists():
                    shutil.rmtree(target) if target.is_dir() and not target.is_symlink() else target.unlink()
            else:
                target = root / f"input{consumer.suffix}"
            if kind:
                special(kind, target)
            else:
                write(target, content)  # type: ignore[arg-type]
            names = consumer.file_in_workspace or target.name
            outcomes.append(judge(probe, consumer.argv(scratch, target), scratch, names=names,
                                  is_special=kind in {"fifo", "devzero", "directory"}))
            if consumer.file_in_workspace:
                other = target.with_name(target.name + ".other")
                for leftover in (target, other):
                    if leftover.is_symlink() or leftover.is_file() or leftover.exists() and not leftover.is_dir():
                        leftover.unlink()
                    elif leftover.is_dir():
                        shutil.rmtree(leftover)
            shutil.rmtree(ws / "runs" / "imp", ignore_errors=True)
    for case, build in parquet_probes():
        probe = f"import_parquet/{case}"
        if only and not probe.startswith(only):
            continue
        target = build((scratch / "parquet" / case).mkdir(parents=True, exist_ok=True) or
                       scratch / "parquet" / case / "input.parquet")
        outcomes.append(judge(probe, ["corpus", "import", str(target), "--run", "impq"], scratch,
                              names=target.name, is_special=False))
        shutil.rmtree(scratch / "ws" / "runs" / "impq", ignore_errors=True)
    for kind in ("fifo", "devzero", "directory", "sparse_huge"):
        probe = f"import_parquet/{kind}"
        if only and not probe.startswith(only):
            continue
        target = special(kind, scratch / "parquet" / kind / "input.parquet")
        outcomes.append(judge(probe, ["corpus", "import", str(target), "--run", "impq"], scratch,
                              names=target.name, is_special=kind != "sparse_huge"))
    return outcomes


def _outside(scratch: Path) -> Callable[[subprocess.CompletedProcess], str | None]:
    def check(_proc: subprocess.CompletedProcess) -> str | None:
        leaked = [p for p in (scratch / "escape-a", Path("/tmp/escape-b"), scratch / "ws" / "a")
                  if p.exists() or p.is_symlink()]
        return f"wrote outside its folder: {leaked[0]}" if leaked else None
    return check


def name_probes(scratch: Path, only: str | None) -> list[Outcome]:
    run_msm(scratch, ["init"], check=True)
    _imported_run(scratch)
    src = write(scratch / "names" / "docs.jsonl", json.dumps({"text": DOC}) + "\n")
    # a plan an attacker (or a careless path) points `msm report` at, outside the workspace
    write(scratch / "escape-plan" / "plan.json", json.dumps({"conditions": {}, "stages": {}, "name": "x"}))
    bad_names = ["../escape-a", "..", "a/b", ".hidden", "/tmp/escape-b", "x" * 300, "a\nb", ""]
    outcomes = []
    for index, bad in enumerate(bad_names):
        commands = {
            "import_run": ["corpus", "import", str(src), "--run", bad],
            "snapshot_name": ["snapshot", "create", bad, "--from", "base"],
            "report_name": ["report", bad],
            "sft_out": ["train", "sft", "--model", "local:smollm2-135m", "--data", "cheese", "--out", bad],
            "runs_show": ["runs", "show", bad],
        }
        for what, argv in commands.items():
            probe = f"names/{what}/{index}"
            if only and not probe.startswith(only):
                continue
            outcomes.append(judge(probe, argv, scratch, names=None, is_special=False, extra=_outside(scratch)))
    probe = "names/report_escape_to_existing_plan"
    if not only or probe.startswith(only):
        rel = os.path.relpath(scratch / "escape-plan", scratch / "ws" / "reports")
        outcomes.append(judge(probe, ["report", rel], scratch, names=None, is_special=False,
                              extra=lambda _p: "report written outside the workspace"
                              if (scratch / "escape-plan" / "report.html").exists() else None))
    return outcomes


# ---- catalog and disk ----------------------------------------------------------------------------------
def _query(ws: Path, sql: str) -> list[tuple]:
    import duckdb

    con = duckdb.connect(str(ws / "catalog.duckdb"), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def _delete(ws: Path, sql: str) -> None:
    import duckdb

    con = duckdb.connect(str(ws / "catalog.duckdb"))
    try:
        con.execute(sql)
    finally:
        con.close()


def catalog_probes(scratch: Path, only: str | None) -> list[Outcome]:
    outcomes = []

    def fresh(name: str) -> Path:
        ws = scratch / "catalog" / name
        run_msm(scratch, ["init"], ws=ws, check=True)
        return ws

    def imported(ws: Path, run: str) -> None:
        src = write(ws.parent / f"{ws.name}-{run}.jsonl",
                    "".join(json.dumps({"text": distinct_doc(i) + " " + run}) + "\n" for i in range(6)))
        run_msm(scratch, ["corpus", "import", str(src), "--run", run], ws=ws, check=True)

    def case(name: str, prepare: Callable[[Path], None], argv: list[str], verdict: Callable[[Path, subprocess.CompletedProcess], str | None]) -> None:
        probe = f"catalog/{name}"
        if only and not probe.startswith(only):
            return
        ws = fresh(name)
        try:
            prepare(ws)
        except RuntimeError as exc:
            outcomes.append(Outcome(probe, False, None, 0.0, str(exc)[:200]))
            return
        outcomes.append(judge(probe, argv, scratch, names=None, is_special=False, ws=ws,
                              extra=lambda proc: verdict(ws, proc)))

    # killed between renaming runs/.r.*.tmp into place and inserting the catalog row
    def run_without_row(ws: Path) -> None:
        imported(ws, "r")
        _delete(ws, "DELETE FROM runs WHERE name = 'r'")

    def run_listed(ws: Path, proc: subprocess.CompletedProcess) -> str | None:
        names = [r["name"] for r in json.loads(proc.stdout or "[]")] if proc.returncode == 0 else []
        return None if "r" in names else "run on disk missing from `runs list`"

    case("run_dir_without_row", run_without_row, ["runs", "list", "--json"], run_listed)

    def snapshot_without_row(ws: Path) -> None:
        imported(ws, "r")
        run_msm(scratch, ["curate", "--run", "r"], ws=ws, check=True)
        run_msm(scratch, ["snapshot", "create", "s", "--from", "r"], ws=ws, check=True)
        _delete(ws, "DELETE FROM snapshots WHERE name = 's'")

    def snapshot_listed(ws: Path, proc: subprocess.CompletedProcess) -> str | None:
        names = [r["name"] for r in json.loads(proc.stdout or "[]")] if proc.returncode == 0 else []
        return None if "s" in names else "snapshot on disk missing from `snapshot list`"

    case("snapshot_dir_without_row", snapshot_without_row, ["snapshot", "list", "--json"], snapshot_listed)

    def curation_without_row(ws: Path) -> None:
        imported(ws, "r")
        run_msm(scratch, ["curate", "--run", "r"], ws=ws, check=True)
        _delete(ws, "DELETE FROM curations")

    def curation_indexed(ws: Path, proc: subprocess.CompletedProcess) -> str | None:
        current = (ws / "runs" / "r" / "curation" / "CURRENT").read_text().strip()
        rows = _query(ws, f"SELECT count(*) FROM curations WHERE curation_id = '{current}'")
        return None if rows[0][0] == 1 else "CURRENT curation missing from the curations table"

    case("current_curation_without_row", curation_without_row, ["init"], curation_indexed)

    def row_without_run(ws: Path) -> None:
        imported(ws, "gone")
        shutil.rmtree(ws / "runs" / "gone")

    def gone_not_listed(ws: Path, proc: subprocess.CompletedProcess) -> str | None:
        names = [r["name"] for r in json.loads(proc.stdout or "[]")] if proc.returncode == 0 else ["?"]
        return "catalog lists a run that has no directory" if "gone" in names else None

    case("row_without_run_dir", row_without_run, ["runs", "list", "--json"], gone_not_listed)

    def stale_staging(ws: Path) -> None:
        for path in (ws / "snapshots" / ".s.abc123.tmp", ws / "runs" / ".r.def456.tmp", ws / "models" / ".m.0a1b2c.tmp"):
            write(path / "documents.parquet", b"half-written")

    def staging_gone(ws: Path, proc: subprocess.CompletedProcess) -> str | None:
        left = [p for p in (ws / "snapshots" / ".s.abc123.tmp", ws / "runs" / ".r.def456.tmp",
                            ws / "models" / ".m.0a1b2c.tmp") if p.exists()]
        return f"abandoned staging left: {left[0].relative_to(ws)}" if left else None

    case("abandoned_staging_dirs", stale_staging, ["init"], staging_gone)

    def empty_run_dir(ws: Path) -> None:
        (ws / "runs" / "e").mkdir(parents=True)   # killed after mkdir, before run.json

    def name_reusable(ws: Path, proc: subprocess.CompletedProcess) -> str | None:
        src = write(ws.parent / "reuse.jsonl", json.dumps({"text": DOC}) + "\n")
        again = run_msm(scratch, ["corpus", "import", str(src), "--run", "e"], ws=ws)
        return None if again.returncode == 0 else f"name stuck: {again.stderr.strip()[:120]}"

    case("empty_run_dir_name_stuck", empty_run_dir, ["init"], name_reusable)
    return outcomes


def record_probes(scratch: Path, only: str | None) -> list[Outcome]:
    """msm's own records damaged in the workspace (by a disk, a hand or another tool): a damaged line inside a run's
    documents.jsonl, a corrupted run.json, a CURRENT pointer that is a path, an edited snapshot manifest, and an
    export over an existing file. Each must be refused in one line naming the file — never skipped silently."""
    outcomes = []
    ws = scratch / "records" / "ws"
    run_msm(scratch, ["init"], ws=ws, check=True)
    src = write(scratch / "records" / "docs.jsonl",
                "".join(json.dumps({"text": distinct_doc(i)}) + "\n" for i in range(6)))

    def fresh_run(run: str) -> Path:
        run_msm(scratch, ["corpus", "import", str(src), "--run", run], ws=ws, check=True)
        return ws / "runs" / run

    def probe(name: str, argv: list[str], names: str | None, *, exits: tuple[int, ...] = (0, 2),
              verdict: Callable[[subprocess.CompletedProcess], str | None] | None = None) -> None:
        if only and not f"record/{name}".startswith(only):
            return
        outcomes.append(judge(f"record/{name}", argv, scratch, names=names, is_special=False, ws=ws, extra=verdict,
                              exits=exits))

    def refused(proc: subprocess.CompletedProcess) -> str | None:
        return None if proc.returncode != 0 else "accepted a damaged record"

    run_dir = fresh_run("middle")
    documents = run_dir / "documents.jsonl"
    lines = documents.read_text().splitlines(keepends=True)
    lines[2] = '{"doc_id": "cut sh\n'
    documents.write_text("".join(lines))
    for command, argv in (("show", ["runs", "show", "middle"]),
                          ("export", ["runs", "export", "middle", "--out", str(scratch / "records" / "m.jsonl")]),
                          ("curate", ["curate", "--run", "middle"])):
        probe(f"documents_damaged_middle_line/{command}", argv, "documents.jsonl:3", verdict=refused)

    run_dir = fresh_run("torn")
    with open(run_dir / "documents.jsonl", "a") as handle:
        handle.write('{"doc_id": "torn", "text": "a kill mid-app')
    # an imported run was complete when committed: a torn tail there is damage (issue 27), refused naming the line
    probe("documents_torn_last_line/imported_show", ["runs", "show", "torn"], "documents.jsonl:7", verdict=refused)
    record = json.loads((run_dir / "run.json").read_text())
    (run_dir / "run.json").write_text(json.dumps({**record, "kind": "generated"}))   # as `msm generate` leaves it
    probe("documents_torn_last_line/show", ["--json", "runs", "show", "torn"], None,
          verdict=lambda proc: None if proc.returncode == 0 and json.loads(proc.stdout)["documents"] == 6
          else "a torn last line was not skipped")

    run_dir = fresh_run("badjson")
    (run_dir / "run.json").write_text('{"name": "badjson", "kind": ')
    probe("run_json_corrupted/show", ["runs", "show", "badjson"], "run.json", verdict=refused)

    run_dir = fresh_run("pointer")
    run_msm(scratch, ["curate", "--run", "pointer"], ws=ws, check=True)
    (run_dir / "curation" / "CURRENT").write_text("../../middle\n")
    probe("current_pointer_is_a_path/export",
          ["runs", "export", "pointer", "--out", str(scratch / "records" / "p.jsonl")], "CURRENT", verdict=refused)

    planted_src = write(scratch / "records" / "kept.jsonl",
                        "".join(json.dumps({"text": distinct_doc(i) + " kept"}) + "\n" for i in range(8)))
    run_msm(scratch, ["corpus", "import", str(planted_src), "--run", "kept"], ws=ws, check=True)
    run_msm(scratch, ["curate", "--run", "kept"], ws=ws, check=True)
    made = run_msm(scratch, ["snapshot", "create", "s", "--from", "kept"], ws=ws)
    if made.returncode == 0:
        manifest = ws / "snapshots" / "s" / "manifest.json"
        manifest.write_text(manifest.read_text().replace('"n_documents": ', '"n_documents": 9', 1))
        probe("snapshot_manifest_edited/verify", ["snapshot", "verify", "s"], "manifest.json", exits=(1,),
              verdict=lambda proc: None if not proc.stdout.strip() else "verify printed its verdict on stdout")
    else:
        outcomes.append(Outcome("record/snapshot_manifest_edited/verify", False, made.returncode, 0.0,
                                f"setup: snapshot create failed: {made.stderr.strip()[:120]}"))

    existing = write(scratch / "records" / "existing.jsonl", "precious\n")
    probe("export_over_existing_file", ["runs", "export", "torn", "--out", str(existing)], "existing.jsonl",
          verdict=lambda proc: None if existing.read_text() == "precious\n" else "overwrote an existing file")
    return outcomes


def integrity_probes(scratch: Path, only: str | None) -> list[Outcome]:
    """Issue 27: data that passes its checks while being wrong, and bad input that used to get through. Non-finite
    and huge numbers on options, spec and record values; duplicate YAML keys; labels YAML reads as numbers; catalogs
    that are not msm's; a snapshot edited consistently after its catalog row was lost; lines lost, a doc_id reused
    or marks edited under a curation; exports after a dedup-only curation; a temp file a killed export left."""
    outcomes: list[Outcome] = []
    root = scratch / "integrity"
    root.mkdir(parents=True, exist_ok=True)
    ws = root / "ws"
    run_msm(scratch, ["init"], ws=ws, check=True)

    def probe(name: str, argv: list[str], names: str | None, *, exits: tuple[int, ...] = (0, 2), on: Path = ws,
              verdict: Callable[[subprocess.CompletedProcess], str | None] | None = None,
              stdin: bytes | None = None) -> None:
        if only and not f"integrity/{name}".startswith(only):
            return
        outcomes.append(judge(f"integrity/{name}", argv, scratch, names=names, is_special=False, ws=on,
                              extra=verdict, exits=exits, stdin=stdin))

    def refused(proc: subprocess.CompletedProcess) -> str | None:
        return None if proc.returncode != 0 else "accepted"

    def says(text: str) -> Callable[[subprocess.CompletedProcess], str | None]:
        return lambda proc: None if proc.returncode != 0 and text in proc.stderr else f"does not say {text!r}"

    plan = ["generate", "--spec", "cheese_affordability", "--run", "x", "--plan-only"]
    train = ["train", "midtrain", "--snapshot", "s", "--base", "b", "--out", "o"]
    for name, argv, option in (("max_cost_usd_nan", plan + ["--max-cost-usd", "nan"], "--max-cost-usd"),
                               ("max_cost_usd_inf", plan + ["--max-cost-usd", "inf"], "--max-cost-usd"),
                               ("request_timeout_nan", plan + ["--request-timeout", "nan"], "--request-timeout"),
                               ("value_share_nan", plan + ["--value-share", "nan"], "--value-share"),
                               ("lr_nan", train + ["--lr", "nan"], "--lr"),
                               ("length_words_20_digits", plan + ["--length-words", "9" * 20], "--length-words"),
                               ("epochs_20_digits", train + ["--epochs", "9" * 20], "--epochs")):
        probe(f"option/{name}", argv, option, verdict=refused)

    spec_text = (Path(__file__).resolve().parents[1] / "specs" / "cheese_affordability.yaml").read_text()
    import re

    weight_inf = write(root / "weight_inf.yaml", re.sub(r"^(\s+weight: ).*$", r"\1.inf", spec_text, count=1,
                                                         flags=re.M))
    probe("spec/weight_inf", ["spec", "validate", str(weight_inf)], "weight_inf.yaml", verdict=says("not a finite"))
    dup = write(root / "duplicate_key.yaml", spec_text + "\nclauses:\n  - id: only\n    text: one clause\n")
    probe("spec/duplicate_key", ["spec", "validate", str(dup)], "duplicate_key.yaml", verdict=says("duplicate key"))
    version = write(root / "version.yaml", re.sub(r"^version: .*$", "version: 1.10", spec_text, count=1, flags=re.M))
    probe("spec/version_1.10", ["--json", "spec", "show", str(version)], "version.yaml",
          verdict=lambda proc: None if proc.returncode == 0 and json.loads(proc.stdout).get("version") == "1.10"
          else f"version not kept as written: {proc.stdout.strip()[:80] or proc.stderr.strip()[:80]}")

    nan_jsonl = write(root / "nan.jsonl", '{"text": "hello there", "score": NaN}\n')
    probe("import/nan_in_jsonl", ["corpus", "import", str(nan_jsonl), "--run", "i1"], "nan.jsonl",
          verdict=says("score"))
    pq.write_table(pa.table({"text": ["hello there"], "score": [float("inf")]}), root / "inf.parquet")
    probe("import/inf_in_parquet", ["corpus", "import", str(root / "inf.parquet"), "--run", "i2"], "inf.parquet",
          verdict=says("score"))
    pq.write_table(pa.Table.from_arrays([pa.array(["a text"]), pa.array(["another"])], names=["text", "text"]),
                   root / "two_text.parquet")
    probe("import/two_text_columns", ["corpus", "import", str(root / "two_text.parquet"), "--run", "i3"],
          "two_text.parquet", verdict=refused)
    deep = write(root / "deep.jsonl", '{"text": "a", "m": ' + nest("[", "]", 100_000) + "}\n")
    probe("import/nested_100000", ["corpus", "import", str(deep), "--run", "i4"], "deep.jsonl", verdict=refused)
    fifo = special("fifo", root / "pipe.jsonl")
    probe("import/fifo", ["corpus", "import", str(fifo), "--run", "i5"], "pipe.jsonl", verdict=says("FIFO"))
    probe("review/password_not_utf8", ["review", "add-user", "bob", "--password-stdin"], "--password-stdin",
          verdict=refused, stdin=b"pass\xff\xfeword\n")

    import sqlite3

    sqlite_ws = root / "sqlite_ws"
    sqlite_ws.mkdir()
    sqlite3.connect(sqlite_ws / "catalog.duckdb").execute("CREATE TABLE t (x)").connection.commit()
    probe("catalog/sqlite_file", ["runs", "list"], "catalog.duckdb", exits=(1, 2), on=sqlite_ws,
          verdict=says("not an msm catalog"))
    newer = root / "newer_ws"
    run_msm(scratch, ["init"], ws=newer, check=True)
    _delete(newer, "INSERT INTO schema_migrations VALUES (9999, 'future', now())")
    probe("catalog/newer_migration", ["runs", "list"], "catalog.duckdb", exits=(1, 2), on=newer,
          verdict=says("newer msm"))

    experiment = (Path(__file__).resolve().parents[1] / "experiments" / "cheese_cpu.yaml").read_text()
    dots = write(root / "dots.yaml", experiment.replace("name: cheese-cpu", "name: x..y", 1))
    probe("experiment/name_with_dots", ["experiment", "validate", str(dots)], "dots.yaml", verdict=refused)
    long = write(root / "long.yaml", experiment.replace("name: cheese-cpu", "name: " + "a" * 79, 1))
    probe("experiment/derived_names_too_long", ["experiment", "validate", str(long)], "long.yaml", verdict=refused)

    def curated(run: str, steps: list[str] | None = None) -> Path:
        src = write(root / f"{run}.jsonl", "".join(json.dumps({"text": distinct_doc(i) + f" {run}"}) + "\n"
                                                   for i in range(8)))
        run_msm(scratch, ["corpus", "import", str(src), "--run", run], ws=ws, check=True)
        run_msm(scratch, ["curate", "--run", run, *(["--steps", ",".join(steps)] if steps else [])], ws=ws, check=True)
        return ws / "runs" / run

    def as_generated(run_dir: Path) -> None:
        record = json.loads((run_dir / "run.json").read_text())
        (run_dir / "run.json").write_text(json.dumps({**record, "kind": "generated"}))

    curated("edit")
    run_msm(scratch, ["snapshot", "create", "edit", "--from", "edit"], ws=ws, check=True)
    snap = ws / "snapshots" / "edit"
    table = pq.read_table(snap / "documents.parquet")
    pq.write_table(table.set_column(table.schema.get_field_index("text"), "text",
                                    pa.array(["planted"] * table.num_rows)), snap / "documents.parquet")
    import hashlib

    manifest = json.loads((snap / "manifest.json").read_text())
    manifest["files"]["documents.parquet"] = hashlib.sha256((snap / "documents.parquet").read_bytes()).hexdigest()
    digest = hashlib.sha256()
    for file_name in sorted(manifest["files"]):
        digest.update(f"{file_name}\0{manifest['files'][file_name]}\n".encode())
    manifest["content_hash"] = digest.hexdigest()
    (snap / "manifest.json").write_text(json.dumps(manifest, indent=2))
    _delete(ws, "DELETE FROM snapshots WHERE name = 'edit'")
    probe("snapshot/consistent_edit_row_deleted", ["snapshot", "verify", "edit"], "manifest.json", exits=(1,))

    lost = curated("lost")
    as_generated(lost)
    lines = (lost / "documents.jsonl").read_text().splitlines(keepends=True)
    (lost / "documents.jsonl").write_text("".join(lines[:5]))
    probe("snapshot/lines_lost_at_boundary", ["snapshot", "create", "lost", "--from", "lost"], "documents.jsonl",
          exits=(1, 2), verdict=lambda proc: None if not (ws / "snapshots" / "lost").exists() else "froze a subset")
    dup_run = curated("dupid")
    as_generated(dup_run)
    lines = (dup_run / "documents.jsonl").read_text().splitlines(keepends=True)
    impostor = {**json.loads(lines[3]), "text": "an impostor line before the real document"}
    (dup_run / "documents.jsonl").write_text(json.dumps(impostor) + "\n" + "".join(lines))
    probe("snapshot/duplicate_doc_id", ["snapshot", "create", "dupid", "--from", "dupid"], impostor["doc_id"],
          exits=(1, 2), verdict=refused)
    marks_run = curated("marks")
    current = (marks_run / "curation" / "CURRENT").read_text().strip()
    marks_path = marks_run / "curation" / current / "marks.parquet"
    marks = pq.read_table(marks_path)
    pq.write_table(marks.set_column(marks.schema.get_field_index("kept"), "kept",
                                    pa.array([True] * marks.num_rows)), marks_path)
    probe("snapshot/marks_edited", ["snapshot", "create", "marks", "--from", "marks"], "marks.parquet", exits=(1, 2),
          verdict=refused)

    curated("dedup", ["dedup"])
    probe("export/runs_after_dedup_only", ["runs", "export", "dedup", "--out", str(root / "dedup.parquet")], None,
          exits=(0,))
    run_msm(scratch, ["snapshot", "create", "dedup", "--from", "dedup"], ws=ws)
    probe("export/snapshot_after_dedup_only", ["snapshot", "export", "dedup", "--to", str(root / "dedup_snap")], None,
          exits=(0,))

    out_dir = root / "exports"
    out_dir.mkdir()
    temp = write(out_dir / ".o.jsonl.abc123.tmp", "half an export")
    dead = subprocess.Popen(["true"])
    dead.wait()
    with open(ws / "exports-pending.jsonl", "a") as handle:
        import socket

        handle.write(json.dumps({"path": str(temp.resolve()), "pid": dead.pid, "host": socket.gethostname()}) + "\n")
    probe("export/killed_export_temp_cleaned", ["doctor"], None, exits=(0,),
          verdict=lambda proc: None if not temp.exists() else "the temp file of a killed export is still there")
    return outcomes


MSM = ""


def main() -> None:
    global MSM
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--msm", default=str(Path(sys.executable).with_name("msm")), help="The msm executable to probe.")
    parser.add_argument("--only", help="Run only probes whose name starts with this.")
    parser.add_argument("--json", type=Path, help="Also write every outcome to this JSON file.")
    args = parser.parse_args()
    MSM = args.msm
    scratch = Path(tempfile.mkdtemp(prefix="msm-hostile-"))
    try:
        outcomes = (file_probes(scratch, args.only) + name_probes(scratch, args.only)
                    + catalog_probes(scratch, args.only) + record_probes(scratch, args.only)
                    + integrity_probes(scratch, args.only))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    for o in outcomes:
        mark = "ok  " if o.clean else "FAIL"
        detail = "" if o.clean else f"  <- {o.why}"
        print(f"{mark} {o.probe:48s} exit={o.code} {o.seconds:5.1f} cpu-s  {o.stderr[:110]}{detail}")
    clean = sum(o.clean for o in outcomes)
    groups: dict[str, list[Outcome]] = {}
    for o in outcomes:
        groups.setdefault(o.probe.split("/")[0], []).append(o)
    print()
    for group, members in groups.items():
        print(f"{group:20s} {sum(m.clean for m in members):4d} / {len(members):4d} clean")
    print(f"{'total':20s} {clean:4d} / {len(outcomes):4d} clean")
    if args.json:
        args.json.write_text(json.dumps([o.__dict__ for o in outcomes], indent=2))


if __name__ == "__main__":
    main()
