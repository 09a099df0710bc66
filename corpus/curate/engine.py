"""`msm curate`: compute signals, apply filter rules and dedup, and MARK every document — nothing is deleted.

Each curation writes a new directory, then points `CURRENT` at it (an atomic write), so a kill leaves the
previous curation in force and a new config simply re-curates:

    runs/<run>/curation/<curation_id>/signals.parquet   doc_id + every column of quality_signals.SIGNAL_COLUMNS
    runs/<run>/curation/<curation_id>/marks.parquet     one row per document (MARK_COLUMNS below)
    runs/<run>/curation/<curation_id>/curation.json     CurationSummary: config + hash, steps, per-step
                                                        counters (`dropped_<rule>`), diversity report
    runs/<run>/curation/CURRENT                         the curation_id in force

marks.parquet is what the review app and `msm snapshot create` read: `kept`; `rules` (comma-joined names of
the rules that dropped it, '' when kept — `exact_duplicate` / `near_duplicate` for dedup); `dropped_by` and
`flagged_by` (lists); `cluster_id` (the smallest doc_id of its duplicate cluster, NULL when unique);
`is_representative`; `duplicate_of` (the representative's doc_id); `exact_key`.

Marks reflect exactly the steps of this curation (`--steps filters` marks by the filters alone). The
representative of a duplicate cluster is its member with the fewest drop rules fired, then the earliest
`created_at`, then the smallest doc_id.

Two engines run the same steps (`--engine local|ray`). Each step on a batch of records is one function both
call: `signals_step` (DuckDB signals + rule marks of a batch of documents), and in `dedup` the signature,
bucket, verification and representative steps. The local engine feeds them from an in-process DuckDB table;
`ray_engine` runs them in Ray Data tasks over Parquet shards of the documents. Assembling the marks, the
diversity report and the files is shared too, so both engines write identical marks.
"""

from __future__ import annotations

import json
import shutil
import time
import uuid
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

import duckdb
import pyarrow as pa
from pydantic import BaseModel, ConfigDict, Field

from msm.atomic import write_json_atomic, write_text_atomic
from msm.corpus.curate.config import CompiledRule, CurationConfig, compile_rules, load_config
from msm.corpus.curate.dedup import find_duplicates
from msm.corpus.curate.signals import SIGNAL_COLUMNS, SPEC_GRAM_WORDS, compute_signals
from msm.corpus.run_store import RunStore
from msm.errors import BadInput, MsmError
from msm.workspace import Workspace, utc_now

CURATION_SUMMARY_SCHEMA_VERSION = 1
STEPS = ("dedup", "filters")
ENGINES = ("local", "ray")
DOC_COLUMNS = {"doc_idx": "BIGINT", "doc_id": "VARCHAR", "text": "VARCHAR", "spec_id": "VARCHAR",
               "spec_hash": "VARCHAR", "clause_id": "VARCHAR", "doc_type": "VARCHAR", "finish_reason": "VARCHAR",
               "created_at": "TIMESTAMP"}
MARK_COLUMNS = ("doc_id", "kept", "rules", "dropped_by", "flagged_by", "cluster_id", "is_representative",
                "duplicate_of", "exact_key")
_LOAD_BATCH = 5000


class CurationSummary(BaseModel):
    model_config = ConfigDict(extra="forbid")

    schema_version: int = CURATION_SUMMARY_SCHEMA_VERSION
    curation_id: str
    run: str
    created_at: datetime
    steps: list[str]
    config: dict[str, Any]
    config_hash: str
    config_source: str
    n_documents: int
    n_kept: int
    n_dropped: int
    step_stats: dict[str, dict[str, Any]] = Field(description="per step: counters such as dropped_<rule>")
    rule_counts: dict[str, int] = Field(description="rule -> documents it fired on (drop and flag rules)")
    diversity: dict[str, Any]
    seconds: dict[str, float]


def curation_root(ws: Workspace, run: str) -> Path:
    return ws.run_dir(run) / "curation"


def current_curation_dir(ws: Workspace, run: str) -> Path | None:
    pointer = curation_root(ws, run) / "CURRENT"
    if not pointer.exists():
        return None
    return curation_root(ws, run) / pointer.read_text(encoding="utf-8").strip()


def read_summary(ws: Workspace, run: str) -> CurationSummary:
    RunStore(ws, run).config()
    directory = current_curation_dir(ws, run)
    if directory is None:
        raise BadInput(f"run {run!r} has not been curated yet (run `msm curate --run {run}`)")
    return CurationSummary.model_validate_json((directory / "curation.json").read_text(encoding="utf-8"))


def parse_steps(steps: str) -> list[str]:
    chosen = [s.strip() for s in steps.split(",") if s.strip()]
    unknown = [s for s in chosen if s not in STEPS]
    if unknown or not chosen:
        raise BadInput(f"--steps: {(unknown or [steps])[0]!r} is not a step (choose from {', '.join(STEPS)})")
    return [s for s in STEPS if s in chosen]


def _document_batches(store: RunStore) -> Iterator[pa.RecordBatch]:
    columns: dict[str, list] = {c: [] for c in DOC_COLUMNS}
    index = 0
    for doc in store.documents():
        for name in columns:
            columns[name].append(index if name == "doc_idx" else getattr(doc, name))
        index += 1
        if len(columns["doc_id"]) == _LOAD_BATCH:
            yield pa.RecordBatch.from_pydict(columns)
            columns = {c: [] for c in columns}
    if columns["doc_id"]:
        yield pa.RecordBatch.from_pydict(columns)


def _create_docs_table(con: duckdb.DuckDBPyConnection, name: str) -> None:
    con.execute(f"CREATE TABLE {name} (" + ", ".join(f"{c} {t}" for c, t in DOC_COLUMNS.items()) + ")")


def load_documents(con: duckdb.DuckDBPyConnection, store: RunStore) -> int:
    _create_docs_table(con, "docs")
    for batch in _document_batches(store):
        con.register("doc_batch", batch)
        con.execute(f"INSERT INTO docs SELECT {', '.join(DOC_COLUMNS)} FROM doc_batch")
        con.unregister("doc_batch")
    return con.execute("SELECT count(*) FROM docs").fetchall()[0][0]


def write_document_shards(store: RunStore, directory: Path) -> int:
    """The run's documents as Parquet shards `part-NNNNN.parquet` (the `docs` table's schema, converted by the
    same DuckDB insert as `load_documents`), streamed: only one batch is in memory."""
    directory.mkdir(parents=True)
    con = duckdb.connect()
    n_docs = 0
    try:
        _create_docs_table(con, "doc_shard")
        for number, batch in enumerate(_document_batches(store)):
            con.register("doc_batch", batch)
            con.execute(f"INSERT INTO doc_shard SELECT {', '.join(DOC_COLUMNS)} FROM doc_batch")
            con.unregister("doc_batch")
            con.execute(f"COPY doc_shard TO '{_sql_path(directory / f'part-{number:05d}.parquet')}' (FORMAT parquet)")
            con.execute("DELETE FROM doc_shard")
            n_docs += batch.num_rows
    finally:
        con.close()
    return n_docs


@dataclass(frozen=True)
class SignalInputs:
    """What `signals_step` needs besides the documents: small and picklable, so Ray ships it to its workers."""
    spec_grams: pa.Table | None       # (spec_id, gram) word 8-grams of the specs the documents name
    clause_terms: pa.Table | None     # (spec_id, clause_id, term)
    rules: tuple[CompiledRule, ...]


def signals_step(docs: pa.Table, inputs: SignalInputs, threads: int | None = None) -> pa.Table:
    """Signals and rule marks of a batch of documents: (doc_idx, doc_id, *SIGNAL_COLUMNS, dropped_by,
    flagged_by), by doc_idx. Every signal reads only its own document and the spec tables, so any split of the
    documents into batches gives the same rows."""
    con = duckdb.connect()
    try:
        if threads:
            con.execute(f"SET threads = {int(threads)}")
        con.register("docs", docs)
        for name, table in (("spec_grams", inputs.spec_grams), ("clause_terms", inputs.clause_terms)):
            if table is not None:
                con.register(f"{name}_rows", table)
                con.execute(f"CREATE TEMP TABLE {name} AS SELECT * FROM {name}_rows")
        compute_signals(con)
        apply_rules(con, list(inputs.rules))
        return con.sql("""SELECT s.*, m.dropped_by, m.flagged_by FROM signals s JOIN rule_marks m USING (doc_idx)
                              ORDER BY doc_idx""").to_arrow_table()
    finally:
        con.close()


def _local_signal_batches(con: duckdb.DuckDBPyConnection, n_docs: int, inputs: SignalInputs) -> Iterator[pa.Table]:
    for lo in range(0, n_docs, _LOAD_BATCH):
        batch = con.sql("SELECT * FROM docs WHERE doc_idx >= $lo AND doc_idx < $hi ORDER BY doc_idx",
                        params={"lo": lo, "hi": lo + _LOAD_BATCH}).to_arrow_table()
        yield signals_step(batch, inputs)


def store_signal_batches(con: duckdb.DuckDBPyConnection, batches: Iterable[pa.Table]) -> None:
    """Tables `signals` (doc_idx, doc_id, *SIGNAL_COLUMNS) and `rule_marks` (doc_idx, dropped_by, flagged_by)."""
    created = False
    for batch in batches:
        con.register("signal_batch", batch)
        con.execute("INSERT INTO signal_marks SELECT * FROM signal_batch" if created else
                    "CREATE TEMP TABLE signal_marks AS SELECT * FROM signal_batch")
        con.unregister("signal_batch")
        created = True
    con.execute("CREATE TEMP TABLE signals AS SELECT * EXCLUDE (dropped_by, flagged_by) FROM signal_marks ORDER BY doc_idx")
    con.execute("CREATE TEMP TABLE rule_marks AS SELECT doc_idx, dropped_by, flagged_by FROM signal_marks ORDER BY doc_idx")
    con.execute("DROP TABLE signal_marks")


def load_spec_tables(con: duckdb.DuckDBPyConnection) -> tuple[pa.Table | None, pa.Table | None, dict[str, str]]:
    """(spec_grams, clause_terms, spec_id -> problem for missing specs) for the specs the documents name."""
    from msm.spec import load_spec, resolve_spec_path

    problems: dict[str, str] = {}
    texts, terms = [], []
    for (spec_id,) in con.execute("SELECT DISTINCT spec_id FROM docs WHERE spec_id IS NOT NULL").fetchall():
        try:
            spec = load_spec(resolve_spec_path(spec_id))
        except MsmError as exc:
            problems[spec_id] = str(exc)
            continue
        body = [spec.as_text()] + [spec.render(e) for c in spec.clauses for e in c.examples]
        texts.append({"spec_id": spec_id, "text": "\n".join(body)})
        terms.extend({"spec_id": spec_id, "clause_id": c.id, "term": spec.render(t)} for c in spec.clauses for t in c.key_terms)
    if texts:
        con.register("spec_text_rows", pa.Table.from_pylist(texts))
        # Same tokenization as the documents' `words`, so the 8-grams are comparable.
        con.execute(f"""
            CREATE TEMP TABLE spec_grams AS
            SELECT DISTINCT spec_id, gram FROM (
                SELECT spec_id, unnest(list_transform(range(1, len(w) - {SPEC_GRAM_WORDS - 1} + 1),
                                       lambda i: array_to_string(w[i:i + {SPEC_GRAM_WORDS - 1}], ' '))) AS gram
                FROM (SELECT spec_id, list_transform(list_filter(regexp_extract_all(text, '\\S+'),
                              lambda t: regexp_matches(t, '[[:alnum:]]')), lambda t: lower(t)) AS w FROM spec_text_rows))""")
        con.unregister("spec_text_rows")
    if terms:
        con.register("clause_term_rows", pa.Table.from_pylist(terms))
        con.execute("CREATE TEMP TABLE clause_terms AS SELECT * FROM clause_term_rows")
        con.unregister("clause_term_rows")
    spec_grams = con.sql("SELECT * FROM spec_grams ORDER BY ALL").to_arrow_table() if texts else None
    clause_terms = con.sql("SELECT * FROM clause_terms").to_arrow_table() if terms else None
    return spec_grams, clause_terms, problems


def apply_rules(con: duckdb.DuckDBPyConnection, rules: list[CompiledRule]) -> None:
    """Table `rule_marks(doc_idx, dropped_by, flagged_by)`; rule names go in as parameters, like thresholds."""
    params: dict[str, Any] = {}
    drop_items, flag_items = [], []
    for i, rule in enumerate(rules):
        params.update(rule.params)
        params[f"rule_name_{i}"] = rule.name
        item = f"CASE WHEN coalesce(CAST(({rule.sql}) AS BOOLEAN), false) THEN $rule_name_{i} END"
        (drop_items if rule.action == "drop" else flag_items).append(item)

    def as_list(items: list[str]) -> str:
        if not items:
            return "CAST([] AS VARCHAR[])"
        return f"list_filter([{', '.join(items)}], lambda x: x IS NOT NULL)"

    con.execute(f"CREATE OR REPLACE TEMP TABLE rule_marks AS SELECT doc_idx, {as_list(drop_items)} AS dropped_by, "
                f"{as_list(flag_items)} AS flagged_by FROM signals", params)


def diversity_report(con: duckdb.DuckDBPyConnection) -> dict[str, Any]:
    """Over the kept documents: coverage per clause and type, lexical diversity, length spread, and the most
    repeated capitalised words (the 'one name repeated 439k times' mode collapse)."""
    kept = "(SELECT d.* FROM docs d JOIN marks m USING (doc_id) WHERE m.kept)"
    n_kept = con.execute(f"SELECT count(*) FROM {kept}").fetchall()[0][0]
    per_clause = con.execute(f"SELECT coalesce(clause_id, '(none)'), count(*) FROM {kept} GROUP BY 1 ORDER BY 2 DESC, 1").fetchall()
    per_type = con.execute(f"SELECT coalesce(doc_type, '(none)'), count(*) FROM {kept} GROUP BY 1 ORDER BY 2 DESC, 1").fetchall()
    lexical = con.execute(f"""
        WITH w AS (SELECT doc_idx, unnest(list_transform(regexp_extract_all(lower(text), '[[:alpha:]]+'),
                                                        lambda x: x)) AS word FROM {kept}),
             b AS (SELECT doc_idx, word, lead(word) OVER (PARTITION BY doc_idx ORDER BY rowid) AS nxt FROM
                   (SELECT row_number() OVER () AS rowid, * FROM w))
        SELECT count(*), count(DISTINCT word), count(nxt), count(DISTINCT (word, nxt)) FILTER (WHERE nxt IS NOT NULL) FROM b
    """).fetchall()[0]
    lengths = con.execute(f"""SELECT quantile_cont(wc, [0.1, 0.5, 0.9]) FROM
                              (SELECT len(regexp_extract_all(text, '\\S+')) AS wc FROM {kept})""").fetchall()[0][0]
    names = con.execute(f"""
        SELECT name, count(DISTINCT doc_idx) AS docs FROM (
            SELECT doc_idx, unnest(regexp_extract_all(text, '[^.!?\\n"“]\\s+([A-Z][a-z]{{2,}}[A-Za-z]*)', 1)) AS name FROM {kept})
        GROUP BY name ORDER BY docs DESC, name LIMIT 10""").fetchall()
    n_words, n_distinct, n_bigrams, n_distinct_bigrams = lexical
    return {
        "kept_documents": n_kept,
        "per_clause": dict(per_clause), "per_doc_type": dict(per_type),
        "distinct_1": round(n_distinct / n_words, 4) if n_words else None,
        "distinct_2": round(n_distinct_bigrams / n_bigrams, 4) if n_bigrams else None,
        "words_p10_p50_p90": [round(x, 1) for x in lengths] if lengths else None,
        "top_capitalized_words": [{"word": n, "documents": d, "share": round(d / n_kept, 3)} for n, d in names],
    }


def curate_run(ws: Workspace, run: str, config_path: str | None = None, steps: list[str] | None = None,
               progress: Callable[[str, int], Any] | None = None, engine: str = "local",
               ray_address: str | None = None, ray_scratch: str | None = None,
               ray_shuffle: str = "sort") -> CurationSummary:
    """Curate `run` and make the result current. `progress(description, total)` returns a context manager
    yielding advance(n) (msm.cli_support.progress), or None for no progress display.

    engine "ray" runs the per-batch steps on a Ray cluster (`ray_address`, else a running session, else a
    local one); `ray_scratch` is where its workers read the document shards, `ray_shuffle` Ray's shuffle
    implementation (see `ray_engine`)."""
    steps = steps or list(STEPS)
    if engine not in ENGINES:
        raise BadInput(f"--engine: {engine!r} is not an engine (choose from {', '.join(ENGINES)})")
    store = RunStore(ws, run)
    store.config()                                   # BadInput if the run does not exist
    config, source = load_config(config_path)
    rules = compile_rules(config, SIGNAL_COLUMNS, source)   # a bad rule fails before any work
    timings: dict[str, float] = {}
    started = time.perf_counter()
    con = duckdb.connect()
    cleanup = ExitStack()
    try:
        if engine == "ray":
            from msm.corpus.curate.ray_engine import RayCuration

            work_dir = curation_root(ws, run) / f".ray-{uuid.uuid4().hex[:12]}"
            cleanup.callback(shutil.rmtree, work_dir, True)
            n_docs = write_document_shards(store, work_dir / "documents")
            if n_docs:
                con.execute(f"CREATE VIEW docs AS SELECT * FROM read_parquet('{_sql_path(work_dir / 'documents')}/*.parquet')")
        else:
            n_docs = load_documents(con, store)
        if n_docs == 0:
            raise BadInput(f"run {run!r} has no documents to curate")
        timings["load"] = time.perf_counter() - started
        t = time.perf_counter()
        spec_grams, clause_terms, spec_problems = load_spec_tables(con)
        inputs = SignalInputs(spec_grams, clause_terms, tuple(rules))
        if engine == "ray":
            ray_run = cleanup.enter_context(RayCuration(work_dir / "documents", n_docs, ray_address, ray_scratch,
                                                             ray_shuffle))
            timings["ray_start"] = time.perf_counter() - t
            t = time.perf_counter()
            store_signal_batches(con, ray_run.signal_batches(inputs, config.dedup if "dedup" in steps else None))
        else:
            store_signal_batches(con, _local_signal_batches(con, n_docs, inputs))
        timings["signals_and_rules"] = time.perf_counter() - t
        rule_names = [r.name for r in rules]
        step_stats: dict[str, dict[str, Any]] = {}
        counts = dict(con.execute("""SELECT r, count(*) FROM (SELECT unnest(list_concat(dropped_by, flagged_by)) AS r
                                     FROM rule_marks) GROUP BY r""").fetchall())
        rule_counts = {name: int(counts.get(name, 0)) for name in rule_names}
        use_filters = "filters" in steps
        if use_filters:
            step_stats["filters"] = {"documents": n_docs, "rules": len(rules),
                                     **{f"dropped_{r.name}" if r.action == "drop" else f"flagged_{r.name}":
                                        rule_counts[r.name] for r in rules},
                                     "dropped": con.execute("SELECT count(*) FROM rule_marks WHERE len(dropped_by) > 0").fetchall()[0][0]}
            if spec_problems:
                step_stats["filters"]["specs_not_found"] = spec_problems
        # Representative ranking: fewest drop rules fired, then earliest, then smallest id.
        rank = con.sql("""
            SELECT rank FROM (SELECT d.doc_idx, row_number() OVER (ORDER BY len(m.dropped_by), d.created_at, d.doc_id,
                                                                            d.doc_idx) AS rank
                              FROM docs d JOIN rule_marks m USING (doc_idx)) ORDER BY doc_idx""").to_arrow_table()
        rank = rank.column(0).to_numpy()
        dedup_columns = {"doc_idx": list(range(n_docs)), "cluster_rep": [None] * n_docs, "dup_kind": [None] * n_docs,
                         "exact_key": [None] * n_docs}
        if "dedup" in steps:
            t = time.perf_counter()
            if engine == "ray":
                result = ray_run.find_duplicates(config.dedup, rank)
            else:
                with (progress("dedup", n_docs) if progress else _null_progress()) as advance:
                    result = find_duplicates(_texts(con), n_docs, config.dedup, rank, advance)
            dedup_columns["cluster_rep"] = [c if c >= 0 else None for c in result.cluster_of]
            dedup_columns["dup_kind"] = result.duplicate_kind
            dedup_columns["exact_key"] = result.exact_keys
            step_stats["dedup"] = result.stats
            timings["dedup"] = time.perf_counter() - t
        con.register("dedup_rows", pa.table(dedup_columns, schema=pa.schema([
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
        n_kept = con.execute("SELECT count(*) FROM marks WHERE kept").fetchall()[0][0]
        t = time.perf_counter()
        diversity = diversity_report(con)
        timings["diversity"] = time.perf_counter() - t
        created = utc_now()
        curation_id = f"{created:%Y%m%dT%H%M%S%f}-{config.content_hash[:8]}"
        directory = curation_root(ws, run) / curation_id
        staging = curation_root(ws, run) / f".{curation_id}.tmp"
        staging.mkdir(parents=True)
        con.execute(f"COPY (SELECT * EXCLUDE (doc_idx) FROM signals ORDER BY doc_idx) TO '{_sql_path(staging / 'signals.parquet')}' (FORMAT parquet)")
        con.execute(f"COPY marks TO '{_sql_path(staging / 'marks.parquet')}' (FORMAT parquet)")
        timings["total"] = time.perf_counter() - started
        summary = CurationSummary(
            curation_id=curation_id, run=run, created_at=created, steps=steps, config=config.model_dump(mode="json"),
            config_hash=config.content_hash, config_source=source, n_documents=n_docs, n_kept=n_kept,
            n_dropped=n_docs - n_kept, step_stats=step_stats, rule_counts=rule_counts, diversity=diversity,
            seconds={k: round(v, 3) for k, v in timings.items()})
        write_json_atomic(staging / "curation.json", summary.model_dump(mode="json"))
        staging.rename(directory)
        write_text_atomic(curation_root(ws, run) / "CURRENT", curation_id + "\n")
    finally:
        con.close()
        cleanup.close()
    with ws.catalog() as catalog:
        catalog.execute("INSERT INTO curations VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        [curation_id, run, config.content_hash, config.canonical_json(), ",".join(steps), created,
                         n_docs, n_kept, n_docs - n_kept, str(directory)])
    return summary


def _sql_path(path: Path) -> str:
    # Paths come from the workspace and a validated run name; quote defensively all the same.
    return str(path).replace("'", "''")


def _texts(con: duckdb.DuckDBPyConnection) -> Iterator[str]:
    """Document texts in doc_idx order, fetched in chunks so they are never all in Python at once."""
    cursor = con.cursor()
    cursor.execute("SELECT text FROM docs ORDER BY doc_idx")
    while rows := cursor.fetchmany(2048):
        for (text,) in rows:
            yield text


class _null_progress:
    def __enter__(self) -> Callable[[int], None]:
        return lambda n=1, **_: None

    def __exit__(self, *exc: object) -> None:
        return None


def read_marks(ws: Workspace, run: str) -> pa.Table:
    """The current marks of `run` (BadInput if it was never curated)."""
    import pyarrow.parquet as pq

    RunStore(ws, run).config()
    directory = current_curation_dir(ws, run)
    if directory is None:
        raise BadInput(f"run {run!r} has not been curated yet (run `msm curate --run {run}`)")
    return pq.read_table(directory / "marks.parquet")


def curation_files(ws: Workspace, run: str) -> tuple[Path, Path] | None:
    """(marks.parquet, signals.parquet) of the current curation, or None."""
    directory = current_curation_dir(ws, run)
    if directory is None:
        return None
    return directory / "marks.parquet", directory / "signals.parquet"


def report(ws: Workspace, run: str, examples_per_rule: int = 3) -> dict[str, Any]:
    """Per-rule drop counts with examples (doc_id + opening of the text) and the diversity report."""
    summary = read_summary(ws, run)
    marks, signals = curation_files(ws, run)  # type: ignore[misc]
    con = duckdb.connect()
    try:
        rows = con.execute("""
            SELECT rule, count(*) AS n, list(doc_id ORDER BY doc_id)[1:?] AS examples, any_value(action) AS action FROM (
                SELECT doc_id, unnest(dropped_by) AS rule, 'drop' AS action FROM read_parquet(?)
                UNION ALL SELECT doc_id, unnest(flagged_by), 'flag' FROM read_parquet(?))
            GROUP BY rule ORDER BY n DESC, rule""", [examples_per_rule, str(marks), str(marks)]).fetchall()
    finally:
        con.close()
    wanted = {doc_id for _, _, examples, _ in rows for doc_id in examples}
    openings = {d.doc_id: " ".join(d.text.split())[:160] for d in RunStore(ws, run).documents() if d.doc_id in wanted}
    rules = [{"rule": rule, "action": action, "documents": n,
              "share": round(n / summary.n_documents, 4),
              "examples": [{"doc_id": e, "opening": openings.get(e, "")} for e in examples]}
             for rule, n, examples, action in rows]
    return {"run": run, "curation_id": summary.curation_id, "config_hash": summary.config_hash,
            "steps": summary.steps, "n_documents": summary.n_documents, "n_kept": summary.n_kept,
            "n_dropped": summary.n_dropped, "rules": rules, "dedup": summary.step_stats.get("dedup"),
            "diversity": summary.diversity}
