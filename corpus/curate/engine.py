"""`msm curate`: compute signals, apply filter rules and dedup, and MARK every document — nothing is deleted.

What a curation writes and how it is committed: `store.py`. What is computed per batch of documents: `steps.py`
(signals + rule marks) and `dedup.py` (signatures, buckets, verification, representatives). Where it runs is an
engine's business — `LocalEngine` here (an in-process DuckDB table), `ray_engine.RayEngine` (Ray Data tasks over
Parquet shards) — behind one narrow protocol, `CurationEngine`:

    load(con)                      put the run's documents where `con` can query them as `docs`; their count
    signal_batches(inputs, dedup)  signal + rule-mark rows of every document, in batches (inputs None: no
                                   filters run, so no signal is computed)
    find_duplicates(dedup, rank)   exact and near-duplicate clusters (DedupResult)

`curate_run` drives any engine the same way and assembles marks and counters from what they
return, so engines cannot drift apart: the Ray engine's marks are asserted identical to the local one's.

Marks reflect exactly the steps of this curation (`--steps filters` marks by the filters alone), and steps not
asked for are not computed: `--steps dedup` computes no signal. The representative of a duplicate cluster is its
member with the fewest drop rules fired (none fire without filters), then the earliest `created_at`, then the
smallest doc_id. The diversity report is computed on demand (`store.kept_diversity`, `msm curate report`).
"""

from __future__ import annotations

import tempfile
import time
from contextlib import AbstractContextManager, ExitStack
from typing import Any, Callable, Iterator, Protocol

import duckdb
import numpy as np
import pyarrow as pa

from msm.atomic import staging_directory
from msm.corpus.curate.config import DedupSettings, compile_rules, default_config_for, load_config
from msm.corpus.curate.dedup import DedupResult, find_duplicates
from msm.corpus.curate.signals import SIGNAL_COLUMNS
from msm.corpus.curate.steps import (SignalInputs, clause_rationale_table, load_documents, load_spec_tables,
                                     local_signal_batches, sql_path, store_signal_batches)
from msm.corpus.curate.store import CurationSummary, commit_curation, curation_root
from msm.corpus.run_store import RunStore
from msm.errors import BadInput
from msm.progress import no_progress
from msm.workspace import Workspace, utc_now

STEPS = ("dedup", "filters")
ENGINES = ("local", "ray")
ProgressFactory = Callable[[str, int], AbstractContextManager]


class CurationEngine(Protocol):
    """Where curation's steps run. A context manager: entering acquires what it needs (a Ray session, scratch
    shards), leaving releases it."""

    name: str

    def __enter__(self) -> "CurationEngine": ...

    def __exit__(self, *exc: object) -> None: ...

    def load(self, con: duckdb.DuckDBPyConnection) -> int: ...

    def signal_batches(self, inputs: SignalInputs | None, dedup: DedupSettings | None) -> Iterator[pa.Table]: ...

    def find_duplicates(self, settings: DedupSettings, rank: np.ndarray) -> DedupResult: ...


class LocalEngine:
    """Every step in this process: the documents in an in-process DuckDB table, signals in batches of DOC_BATCH,
    dedup vectorized with numpy."""

    name = "local"

    def __init__(self, store: RunStore, progress: ProgressFactory = no_progress):
        self.store = store
        self.progress = progress
        self.con: duckdb.DuckDBPyConnection | None = None
        self.n_docs = 0

    def __enter__(self) -> "LocalEngine":
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def load(self, con: duckdb.DuckDBPyConnection) -> int:
        self.con = con
        self.n_docs = load_documents(con, self.store)
        return self.n_docs

    def signal_batches(self, inputs: SignalInputs | None, dedup: DedupSettings | None) -> Iterator[pa.Table]:
        if inputs is None:          # signatures are computed by find_duplicates, from the texts
            return iter(())
        return local_signal_batches(self.con, self.n_docs, inputs)

    def find_duplicates(self, settings: DedupSettings, rank: np.ndarray) -> DedupResult:
        with self.progress("dedup", self.n_docs) as advance:
            return find_duplicates(self._texts(), self.n_docs, settings, rank, advance)

    def _texts(self) -> Iterator[str]:
        """What dedup compares (`steps.dedup_text`, else the text) in doc_idx order, fetched in chunks so the texts
        are never all in Python at once."""
        cursor = self.con.cursor()
        cursor.execute("SELECT coalesce(dedup_text, text) FROM docs ORDER BY doc_idx")
        while rows := cursor.fetchmany(2048):
            for (text,) in rows:
                yield text


def build_engine(name: str, store: RunStore, *, progress: ProgressFactory = no_progress, ray_address: str | None = None,
                 ray_scratch: str | None = None, ray_shuffle: str = "sort") -> CurationEngine:
    """`--engine NAME` as an engine object (the only place engine names are looked at)."""
    if name == "local":
        return LocalEngine(store, progress)
    if name == "ray":
        from msm.corpus.curate.ray_engine import RayEngine

        return RayEngine(store, address=ray_address, scratch=ray_scratch, shuffle=ray_shuffle)
    raise BadInput(f"--engine: {name!r} is not an engine (choose from {', '.join(ENGINES)})")


def parse_steps(steps: str) -> list[str]:
    chosen = [s.strip() for s in steps.split(",") if s.strip()]
    unknown = [s for s in chosen if s not in STEPS]
    if unknown or not chosen:
        raise BadInput(f"--steps: {(unknown or [steps])[0]!r} is not a step (choose from {', '.join(STEPS)})")
    return [s for s in STEPS if s in chosen]


def curate(ws: Workspace, request, *, progress: ProgressFactory | None = None) -> CurationSummary:
    """Curate `request.run` (a `msm.corpus.curate.request.CurateRequest`) — what `msm curate` runs."""
    from msm.errors import BadInput

    if request.engine == "local" and (request.ray_address or request.ray_scratch or request.ray_shuffle):
        raise BadInput("--ray-address, --ray-scratch and --ray-shuffle need --engine ray")
    return curate_run(ws, request.run, request.config, parse_steps(request.steps), progress=progress,
                      engine=request.engine, ray_address=request.ray_address, ray_scratch=request.ray_scratch,
                      ray_shuffle=request.ray_shuffle or "sort")


def curate_run(ws: Workspace, run: str, config_path: str | None = None, steps: list[str] | None = None,
               progress: ProgressFactory | None = None, engine: str = "local", ray_address: str | None = None,
               ray_scratch: str | None = None, ray_shuffle: str = "sort") -> CurationSummary:
    """Curate `run` and make the result current. `progress(description, total)` returns a context manager
    yielding advance(n) (msm.cli_support.progress), or None for no progress display. `engine` names where the
    steps run (`build_engine`)."""
    steps = steps or list(STEPS)
    store = RunStore(ws, run)
    store.config()                                   # BadInput if the run does not exist
    config, source = load_config(config_path or default_config_for(store))
    rules = compile_rules(config, SIGNAL_COLUMNS, source)   # a bad rule fails before any work
    runner = build_engine(engine, store, progress=progress or no_progress, ray_address=ray_address,
                          ray_scratch=ray_scratch, ray_shuffle=ray_shuffle)
    timings: dict[str, float] = {}
    started = time.perf_counter()
    # The staging directory carries an owner lock for as long as this process lives, so a kill anywhere leaves
    # nothing that `msm doctor` (or the next command) cannot tell from a live curation and clear.
    with ExitStack() as owned:
        con = bounded_connection(owned)
        try:
            with runner:
                n_docs = runner.load(con)
                if n_docs == 0:
                    raise BadInput(f"run {run!r} has no documents to curate")
                timings["load"] = time.perf_counter() - started
                use_filters = "filters" in steps
                t = time.perf_counter()
                inputs, spec_problems = None, {}
                if use_filters:
                    spec_grams, clause_terms, spec_problems = load_spec_tables(con, _carried_specs(ws, run))
                    inputs = SignalInputs(spec_grams, clause_terms, tuple(rules), clause_rationale_table(con))
                # Without filters no signal is computed; an engine that reads the documents once for signals and
                # signatures together (Ray) still makes its pass here.
                store_signal_batches(con, runner.signal_batches(inputs, config.dedup if "dedup" in steps else None),
                                     with_signals=use_filters)
                if use_filters:
                    timings["signals_and_rules"] = time.perf_counter() - t
                step_stats, rule_counts = _rule_stats(con, rules, n_docs, steps, spec_problems)
                dedup_rows = {"doc_idx": list(range(n_docs)), "cluster_rep": [None] * n_docs,
                              "dup_kind": [None] * n_docs, "exact_key": [None] * n_docs}
                if "dedup" in steps:
                    t = time.perf_counter()
                    result = runner.find_duplicates(config.dedup, _representative_rank(con))
                    dedup_rows.update(cluster_rep=[c if c >= 0 else None for c in result.cluster_of],
                                      dup_kind=result.duplicate_kind, exact_key=result.exact_keys)
                    step_stats["dedup"] = result.stats
                    timings["dedup"] = time.perf_counter() - t
                n_kept = _assemble_marks(con, dedup_rows, use_filters=use_filters)
                created = utc_now()
                curation_id = f"{created:%Y%m%dT%H%M%S%f}-{config.content_hash[:8]}"
                staging = owned.enter_context(staging_directory(curation_root(ws, run), curation_id))
                if use_filters:
                    con.execute(f"COPY (SELECT * EXCLUDE (doc_idx) FROM signals ORDER BY doc_idx) TO "
                                f"'{sql_path(staging / 'signals.parquet')}' (FORMAT parquet)")
                con.execute(f"COPY marks TO '{sql_path(staging / 'marks.parquet')}' (FORMAT parquet)")
        finally:
            con.close()
        timings["total"] = time.perf_counter() - started
        summary = CurationSummary(
            curation_id=curation_id, run=run, created_at=created, steps=steps, config=config.model_dump(mode="json"),
            config_hash=config.content_hash, config_source=source, n_documents=n_docs, n_kept=n_kept,
            n_dropped=n_docs - n_kept, step_stats=step_stats, rule_counts=rule_counts, diversity={},
            seconds={k: round(v, 3) for k, v in timings.items()})
        commit_curation(ws, summary, staging, config.canonical_json())
    return summary


# The in-process DuckDB holds the documents, their signals and the marks: ~1-2 KB per tiny document, several GB
# at a million if it may use what it likes (its default is 80% of RAM). Capped, it spills its tables to a scratch
# directory instead, so curation's memory stays flat as the corpus grows (benchmarks/bench_memory_scale.py).
DUCKDB_MEMORY_LIMIT = "1GB"


def bounded_connection(owned: ExitStack) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB connection capped at DUCKDB_MEMORY_LIMIT that spills to a temporary directory
    (removed when `owned` closes; under $TMPDIR, never inside the workspace's committed folders)."""
    spill = owned.enter_context(tempfile.TemporaryDirectory(prefix="msm-curate-spill-"))
    con = duckdb.connect(config={"memory_limit": DUCKDB_MEMORY_LIMIT, "temp_directory": spill})
    # Inserts keep doc_idx order only if DuckDB keeps insertion order, which it does under a memory cap too
    # (preserve_insertion_order is on by default); every read of the tables orders explicitly anyway.
    return con


def _rule_stats(con: duckdb.DuckDBPyConnection, rules: list, n_docs: int, steps: list[str],
                spec_problems: dict[str, str]) -> tuple[dict[str, dict[str, Any]], dict[str, int]]:
    counts = dict(con.execute("""SELECT r, count(*) FROM (SELECT unnest(list_concat(dropped_by, flagged_by)) AS r
                                 FROM rule_marks) GROUP BY r""").fetchall())
    rule_counts = {rule.name: int(counts.get(rule.name, 0)) for rule in rules}
    step_stats: dict[str, dict[str, Any]] = {}
    if "filters" in steps:
        step_stats["filters"] = {
            "documents": n_docs, "rules": len(rules),
            **{f"dropped_{r.name}" if r.action == "drop" else f"flagged_{r.name}": rule_counts[r.name] for r in rules},
            "dropped": con.execute("SELECT count(*) FROM rule_marks WHERE len(dropped_by) > 0").fetchall()[0][0]}
        if spec_problems:
            step_stats["filters"]["specs_not_found"] = spec_problems
    return step_stats, rule_counts


def _representative_rank(con: duckdb.DuckDBPyConnection) -> np.ndarray:
    """Per doc_idx, its rank as a cluster representative: fewest drop rules fired, then earliest, then smallest id."""
    rank = con.sql("""
        SELECT rank FROM (SELECT d.doc_idx, row_number() OVER (ORDER BY len(m.dropped_by), d.created_at, d.doc_id,
                                                                        d.doc_idx) AS rank
                          FROM docs d JOIN rule_marks m USING (doc_idx)) ORDER BY doc_idx""").to_arrow_table()
    return rank.column(0).to_numpy()


def _assemble_marks(con: duckdb.DuckDBPyConnection, dedup_rows: dict[str, list], *, use_filters: bool) -> int:
    """Table `marks` (store.MARK_COLUMNS, by doc_idx) from the rule marks and the dedup result; the kept count."""
    con.register("dedup_rows", pa.table(dedup_rows, schema=pa.schema([
        ("doc_idx", pa.int64()), ("cluster_rep", pa.int64()), ("dup_kind", pa.string()), ("exact_key", pa.string())])))
    filter_drops = "m.dropped_by" if use_filters else "CAST([] AS VARCHAR[])"
    con.execute(f"""
        CREATE TEMP TABLE marks AS
        WITH cluster_ids AS (SELECT cluster_rep, min(d.doc_id) AS cluster_id FROM dedup_rows r
                             JOIN docs d USING (doc_idx) WHERE cluster_rep IS NOT NULL GROUP BY cluster_rep)
        SELECT d.doc_idx, d.doc_id,
               list_concat({filter_drops}, CASE WHEN r.dup_kind IS NULL THEN CAST([] AS VARCHAR[])
                                               ELSE [r.dup_kind] END) AS dropped_by,
               {"m.flagged_by" if use_filters else "CAST([] AS VARCHAR[])"} AS flagged_by,
               c.cluster_id, r.cluster_rep IS NOT NULL AND r.cluster_rep = d.doc_idx AS is_representative,
               rep.doc_id AS duplicate_of, r.exact_key
        FROM docs d JOIN rule_marks m USING (doc_idx) JOIN dedup_rows r USING (doc_idx)
        LEFT JOIN cluster_ids c USING (cluster_rep) LEFT JOIN docs rep ON rep.doc_idx = r.cluster_rep AND r.dup_kind IS NOT NULL
        ORDER BY d.doc_idx""")
    con.execute("""CREATE OR REPLACE TEMP TABLE marks AS
                   SELECT doc_id, len(dropped_by) = 0 AS kept, array_to_string(dropped_by, ',') AS rules,
                          dropped_by, flagged_by, cluster_id, is_representative, duplicate_of, exact_key
                   FROM marks ORDER BY doc_idx""")
    return con.execute("SELECT count(*) FROM marks WHERE kept").fetchall()[0][0]


def _carried_specs(ws: Workspace, run: str) -> dict:
    """{spec id: Spec} of the frozen spec copy run `run` carries (empty for runs made before runs carried one)."""
    spec = RunStore(ws, run).spec()
    return {spec.id: spec} if spec is not None else {}
