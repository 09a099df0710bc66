"""SIGKILL msm's writing commands at random instants, rerun them, and check that files and catalog still agree.

    python scripts/kill_at_random.py [--kills 20] [--seed 0] [--only import,curate,snapshot,generate] [--json OUT]

As a database is tested: each command — `msm corpus import`, `msm curate`, `msm snapshot create` and
`msm generate` (against the scripted loopback LM, so it is fast and needs no model) — is first run once to time
it and to see when its first file appears and when its result is committed (renamed into place, or for `generate`
the last document written), then started again and again and killed with SIGKILL, in turn: at an instant drawn
uniformly from its whole life (interpreter start-up included); a uniform time into its writing window (after that
attempt's own first file, up to the measured time to commit); and a uniform time after the commit (up to the
measured exit) — most of a short command's life is start-up, and the kills that matter land in the other two. A
draw that comes after the process already finished is not a kill; the script draws until it has `--kills` real
kills per command. After each kill:

  1. the next command to open the workspace (`msm doctor --json`) must leave catalog and disk in agreement:
     `runs` rows = run directories, `snapshots` rows = snapshot directories, `curations` rows = curation
     directories, every `CURRENT` naming one of them, no staging directory or temp file left, no problem reported;
  2. the same command is rerun and must succeed (a name is never stuck; a command killed after its commit point
     may answer "already exists" with exit 2, and then what it made must be complete);
  3. the invariants again, plus: every finished record present exactly once (all documents of an import or a
     generation, each doc id once in the raw file, every document finished before the kill still there), the
     current curation marks every document, and `msm snapshot verify` passes for every snapshot.

It prints one line per kill and a table of kills survived per command; exit 1 if any invariant failed. Everything
happens in a scratch directory.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

ROOT = Path(__file__).resolve().parents[1]
SPEC = ROOT / "tests" / "corpus" / "fruit_spec.yaml"
N_IMPORT = 2000        # documents per import: enough that a kill often lands mid-write, not only in start-up
N_GENERATE = 10         # documents per generation run


def _planted():
    spec = importlib.util.spec_from_file_location("planted", ROOT / "benchmarks" / "planted.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["planted"] = module
    spec.loader.exec_module(module)
    return module


def _kill_unless_done(proc: subprocess.Popen, seconds: float) -> bool:
    """SIGKILL `proc` unless it exits within `seconds`; True if it was still running (a real kill)."""
    try:
        proc.wait(timeout=seconds)
        return False
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        return True


@dataclass
class Tally:
    kills: int = 0                # the process was still running when SIGKILL landed
    late: int = 0                 # draws that came after the process had finished (not counted as kills)
    left: dict[str, int] = field(default_factory=dict)   # what each kill left: nothing / staging / partial / committed
    survived: int = 0
    failures: list[str] = field(default_factory=list)


class Harness:
    def __init__(self, scratch: Path, msm: list[str], env: dict[str, str]):
        self.scratch = scratch
        self.ws = scratch / "ws"
        self.msm = msm
        self.env = env

    def command(self, *args: str) -> list[str]:
        return [*self.msm, "--workspace", str(self.ws), "-q", *args]

    def run(self, *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
        return subprocess.run(self.command(*args), capture_output=True, text=True, env=self.env, timeout=timeout)

    def kill_at(self, args: list[str], delay: float) -> bool:
        """Start the command, SIGKILL it after `delay` seconds; True if it was still running (a real kill)."""
        return _kill_unless_done(self.start(args), delay)

    def start(self, args: list[str]) -> subprocess.Popen:
        return subprocess.Popen(self.command(*args), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                env=self.env)

    def kill_after(self, args: list[str], happened, extra: float) -> float | None:
        """Start the command, wait until `happened()` (its first file, its commit), SIGKILL it `extra` seconds
        later; the instant of the kill since start, or None if it finished first."""
        started = time.monotonic()
        proc = self.start(args)
        while proc.poll() is None and not happened():
            time.sleep(0.001)
        return time.monotonic() - started if _kill_unless_done(proc, extra) else None

    # ---- invariants ---------------------------------------------------------------------------------------------
    def catalog(self, sql: str) -> list[tuple]:
        con = duckdb.connect(str(self.ws / "catalog.duckdb"), read_only=True)
        try:
            return con.execute(sql).fetchall()
        finally:
            con.close()

    def agreement(self) -> list[str]:
        """Open the workspace the way every command does (`msm doctor` reconciles), then compare catalog and disk."""
        problems: list[str] = []
        doctor = self.run("--json", "doctor")
        if doctor.returncode != 0:
            return [f"msm doctor exit {doctor.returncode}: {doctor.stderr.strip()[-300:] or doctor.stdout[-300:]}"]
        report = json.loads(doctor.stdout)
        problems += [f"doctor problem: {p}" for p in report["problems"]]
        problems += [f"staging owned by a live process after the kill: {p}" for p in report["in_use"]]

        def dirs(folder: Path) -> set[str]:
            return {p.name for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")} if folder.exists() \
                else set()

        def leftovers(folder: Path) -> list[str]:
            return [p.name for p in folder.iterdir() if p.name.startswith(".") and ".tmp" in p.name] \
                if folder.exists() else []

        runs = {r[0] for r in self.catalog("SELECT name FROM runs")}
        if runs != dirs(self.ws / "runs"):
            problems.append(f"runs: catalog {sorted(runs ^ dirs(self.ws / 'runs'))} disagree with disk")
        snapshots = {r[0] for r in self.catalog("SELECT name FROM snapshots")}
        if snapshots != dirs(self.ws / "snapshots"):
            problems.append(f"snapshots: catalog and disk disagree on {sorted(snapshots ^ dirs(self.ws / 'snapshots'))}")
        for folder in (self.ws / "runs", self.ws / "snapshots"):
            if leftovers(folder):
                problems.append(f"{folder.name}/: staging left behind: {leftovers(folder)}")
        curations = {}
        for curation_id, run in self.catalog("SELECT curation_id, run FROM curations"):
            curations.setdefault(run, set()).add(curation_id)
        duplicates = self.catalog("SELECT curation_id FROM curations GROUP BY curation_id HAVING count(*) > 1")
        if duplicates:
            problems.append(f"curations: duplicate rows {duplicates}")
        for run in runs:
            root = self.ws / "runs" / run / "curation"
            on_disk = dirs(root)
            if on_disk != curations.get(run, set()):
                problems.append(f"runs/{run}/curation: catalog and disk disagree on "
                                f"{sorted(on_disk ^ curations.get(run, set()))}")
            if leftovers(root):
                problems.append(f"runs/{run}/curation: staging left behind: {leftovers(root)}")
            pointer = root / "CURRENT"
            if pointer.exists() and pointer.read_text().strip() not in on_disk:
                problems.append(f"runs/{run}/curation/CURRENT names {pointer.read_text().strip()!r}, not on disk")
        return problems

    def staging_left(self) -> bool:
        """Whether a staging directory or temp file lies anywhere a writer stages (before `doctor` cleans it)."""
        folders = [self.ws / "runs", self.ws / "snapshots", *(self.ws / "runs").glob("*/curation"),
                   *(self.ws / "runs").glob("*")]
        return any(p.name.startswith(".") and ".tmp" in p.name for folder in folders if folder.is_dir()
                   for p in folder.iterdir())

    def documents(self, run: str) -> list[str]:
        """The doc id of every complete line of the run's documents.jsonl, as written (repeats included); a line
        that does not parse counts as the id "<damaged line N>", which fails the checks."""
        path = self.ws / "runs" / run / "documents.jsonl"
        if not path.exists():
            return []
        ids = []
        for number, raw in enumerate(path.read_bytes().splitlines(keepends=True), 1):
            if raw.endswith(b"\n") and raw.strip():
                try:
                    ids.append(json.loads(raw)["doc_id"])
                except (ValueError, KeyError, TypeError):
                    ids.append(f"<damaged line {number}>")
        return ids


# ---- the commands under test -----------------------------------------------------------------------------------
def rerun_ok(result: subprocess.CompletedProcess) -> str | None:
    """A rerun succeeds, or says the thing it makes already exists (killed after its commit point)."""
    if result.returncode == 0 or (result.returncode == 2 and "already exists" in result.stderr):
        return None
    return f"rerun exit {result.returncode}: {result.stderr.strip()[-300:]}"


def import_case(h: Harness, source: Path):
    def case(index: int):
        run = f"imp-{index}"
        args = ["corpus", "import", str(source), "--run", run]

        def made() -> str:      # the run is built aside and renamed: a directory in place is a committed one
            return "committed" if (h.ws / "runs" / run / "run.json").exists() else "none"

        def check() -> list[str]:
            ids = h.documents(run)
            problems = [] if len(ids) == N_IMPORT else [f"{run}: {len(ids)} documents, expected {N_IMPORT}"]
            if len(set(ids)) != len(ids):
                problems.append(f"{run}: duplicate doc ids in documents.jsonl")
            return problems
        return args, made, check
    return case


def curate_case(h: Harness, run: str):
    def curations() -> set[str]:
        root = h.ws / "runs" / run / "curation"
        return {p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")}

    def case(index: int):
        existing = curations()

        def made() -> str:
            return "committed" if curations() - existing else "none"
        def check() -> list[str]:
            current = (h.ws / "runs" / run / "curation" / "CURRENT").read_text().strip()
            marks = h.ws / "runs" / run / "curation" / current / "marks.parquet"
            import pyarrow.parquet as pq

            n = pq.ParquetFile(marks).metadata.num_rows
            return [] if n == N_IMPORT else [f"{run}: current curation marks {n} documents, expected {N_IMPORT}"]
        return ["curate", "--run", run], made, check
    return case


def snapshot_case(h: Harness, run: str):
    def case(index: int):
        name = f"snap-{index}"

        def made() -> str:
            return "committed" if (h.ws / "snapshots" / name).exists() else "none"

        def check() -> list[str]:
            verify = h.run("snapshot", "verify", name)
            return [] if verify.returncode == 0 else [f"{name}: verify exit {verify.returncode}: {verify.stderr[-300:]}"]
        return ["snapshot", "create", name, "--from", run], made, check
    return case


def generate_case(h: Harness, base_url: str):
    def case(index: int):
        run = f"gen-{index}"
        before: list[str] = []

        def made() -> str:
            before[:] = h.documents(run)
            if len(set(before)) >= N_GENERATE:
                return "committed"
            return "partial" if (h.ws / "runs" / run).exists() else "none"

        def check() -> list[str]:
            ids = h.documents(run)
            problems = [] if len(ids) == N_GENERATE else [f"{run}: {len(ids)} documents, expected {N_GENERATE}"]
            if len(set(ids)) != len(ids):
                problems.append(f"{run}: a document written twice")
            if set(before) - set(ids):
                problems.append(f"{run}: documents finished before the kill are gone")
            return problems
        args = ["generate", "--spec", str(SPEC), "--run", run, "--n-docs", str(N_GENERATE), "--lm", "openai/scripted",
                "--api-base", base_url, "--concurrency", "2", "--plan", "clauses"]   # the clause plan the script checks
        return args, made, check
    return case


def exercise(h: Harness, label: str, case, kills: int, rng: random.Random, tally: Tally) -> None:
    # Time one uninterrupted run (index 0), watching for its first file and its commit.
    args, made, check = case(0)
    started = time.monotonic()
    proc = subprocess.Popen(h.command(*args), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=h.env)
    first_write = committed = None
    while proc.poll() is None:
        state = made()
        now = time.monotonic() - started
        if first_write is None and (h.staging_left() or state != "none"):
            first_write = now
        if committed is None and state == "committed":
            committed = now
        time.sleep(0.001)
    duration = time.monotonic() - started
    if proc.returncode != 0:
        raise SystemExit(f"{label}: the uninterrupted run failed: {proc.stderr.read()[-500:]}")
    first_write = duration * 0.5 if first_write is None else first_write   # (too fast to be seen)
    committed = duration if committed is None else max(committed, first_write)
    problems = check() + h.agreement()
    if problems:
        raise SystemExit(f"{label}: the uninterrupted run already breaks an invariant: {problems}")
    writing, after = committed - first_write, duration - committed
    print(f"{label}: one uninterrupted run takes {duration:.2f} s: first file at {first_write:.2f} s, committed at "
          f"{committed:.2f} s; kills in turn anywhere in [0, {duration:.2f}] s, up to {writing:.2f} s after the "
          f"attempt's first file, and up to {after:.2f} s after its commit", flush=True)
    index = 0
    while tally.kills < kills:
        index += 1
        args, made, check = case(index)
        mode = tally.kills % 3
        if mode == 0:
            delay = rng.uniform(0, duration)
            killed = h.kill_at(args, delay)
        else:
            event = ((lambda: h.staging_left() or made() != "none") if mode == 1
                     else (lambda: made() == "committed"))
            at = h.kill_after(args, event, rng.uniform(0, writing if mode == 1 else after))
            killed, delay = at is not None, at or 0.0
        if not killed:
            tally.late += 1
            continue
        tally.kills += 1
        output = made()
        left = "staging left" if h.staging_left() else {"none": "nothing yet", "partial": "partial output",
                                                          "committed": "committed"}[output]
        tally.left[left] = tally.left.get(left, 0) + 1
        problems = [f"after the kill: {p}" for p in h.agreement()]
        failed = rerun_ok(h.run(*args))
        if failed:
            problems.append(failed)
        else:
            problems += [f"after the rerun: {p}" for p in check() + h.agreement()]
        if problems:
            tally.failures.append(f"kill {tally.kills} at {delay:.2f} s: " + "; ".join(problems))
        else:
            tally.survived += 1
        print(f"{label:9} kill {tally.kills:2d} at {delay:5.2f} s ({left}): "
              f"{'ok' if not problems else '; '.join(problems)}", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kills", type=int, default=20, help="Real kills per command (default 20).")
    parser.add_argument("--seed", type=int, default=0, help="Seed for the kill instants.")
    parser.add_argument("--only", default="import,curate,snapshot,generate",
                        help="Comma-separated commands to exercise (import, curate, snapshot, generate).")
    parser.add_argument("--msm", default=None, help="The msm executable (default: this Python's `-m msm`).")
    parser.add_argument("--json", dest="json_out", default=None, help="Also write the table as JSON to this file.")
    args = parser.parse_args()
    wanted = [c.strip() for c in args.only.split(",") if c.strip()]
    rng = random.Random(args.seed)
    msm = [args.msm] if args.msm else [sys.executable, "-m", "msm"]
    scratch = Path(tempfile.mkdtemp(prefix="msm-kill-"))
    env = {**os.environ, "DSPY_CACHEDIR": str(scratch / "dspy-cache"), "OMP_NUM_THREADS": "1"}
    h = Harness(scratch, msm, env)
    tallies: dict[str, Tally] = {}
    server = None
    try:
        planted = _planted()
        doc_rng = random.Random(1)
        source = scratch / "docs.jsonl"
        source.write_text("".join(json.dumps({"id": f"d{i}", "text": "\n\n".join(planted.document(doc_rng))}) + "\n"
                                  for i in range(N_IMPORT)))
        init = h.run("init")
        base = h.run("corpus", "import", str(source), "--run", "base")
        curated = h.run("curate", "--run", "base")
        if init.returncode or base.returncode or curated.returncode:
            raise SystemExit(f"setup failed: {init.stderr}{base.stderr}{curated.stderr}")
        cases = {"import": lambda: import_case(h, source), "curate": lambda: curate_case(h, "base"),
                 "snapshot": lambda: snapshot_case(h, "base")}
        if "generate" in wanted:
            from msm.lm.loopback_server import ScriptedServer

            server = ScriptedServer(latency_s=0.05).start()
            cases["generate"] = lambda: generate_case(h, server.base_url)
        for label in wanted:
            tallies[label] = Tally()
            exercise(h, label, cases[label](), args.kills, rng, tallies[label])
    finally:
        if server is not None:
            server.shutdown()
        shutil.rmtree(scratch, ignore_errors=True)

    print()
    kinds = ["nothing yet", "staging left", "partial output", "committed"]
    print(f"{'command':10} {'kills':>5} {'survived':>8} {'late draws':>10}   what the kills left: "
          + " / ".join(kinds))
    for label, tally in tallies.items():
        print(f"{label:10} {tally.kills:5d} {tally.survived:8d} {tally.late:10d}   "
              + " / ".join(str(tally.left.get(kind, 0)) for kind in kinds))
    for label, tally in tallies.items():
        for failure in tally.failures:
            print(f"FAILED {label}: {failure}")
    if args.json_out:
        Path(args.json_out).write_text(json.dumps({k: {"kills": t.kills, "survived": t.survived, "late": t.late,
                                                       "left": t.left, "failures": t.failures} for k, t in tallies.items()}, indent=2))
    return 0 if all(t.survived == t.kills for t in tallies.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
