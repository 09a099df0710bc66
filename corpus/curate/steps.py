"""The per-batch steps of curation, shared by every engine: loading a run's documents into DuckDB (or Parquet
shards), the signals + rule marks of a batch of documents (`signals_step`), and the spec tables the signals read.

An engine decides where these run (in this process, or in Ray tasks); what they compute is defined once, here and
in `dedup.py`, so every engine writes identical marks."""

from __future__ import annotations

import os
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator

import duckdb
import pyarrow as pa

from msm.corpus.chats import user_turns
from msm.corpus.curate.config import CompiledRule
from msm.corpus.curate.signals import compute_signals
from msm.corpus.curate.spec_signals import SPEC_GRAM_WORDS
from msm.corpus.run_store import RunStore
from msm.errors import BadInput, MsmError, first_line

DOC_COLUMNS = {"doc_idx": "BIGINT", "doc_id": "VARCHAR", "text": "VARCHAR", "spec_id": "VARCHAR",
               "spec_hash": "VARCHAR", "clause_id": "VARCHAR", "doc_type": "VARCHAR", "finish_reason": "VARCHAR",
               "created_at": "TIMESTAMP", "lm_text": "VARCHAR", "dedup_text": "VARCHAR"}
DOC_BATCH = 5000


def dedup_text(doc: Any) -> str | None:
    """What dedup compares when it is not the whole text: a chat's user turns (two chats that answer the same
    question are duplicates, however the answers differ). None for a document: dedup reads `text`."""
    return user_turns(doc.messages) if doc.messages else None


def lm_written(doc) -> str | None:
    """The part of a document an LM wrote, when the generator declared template text in it (the spans of a
    scaffold, or an opening); None when the LM wrote it all."""
    spans = doc.metadata.get("scaffold_spans")
    if not spans and doc.metadata.get("opening_chars"):
        spans = [[0, int(doc.metadata["opening_chars"])]]
    if not spans:
        return None
    pieces, last = [], 0
    for start, end in sorted((int(a), int(b)) for a, b in spans):
        pieces.append(doc.text[last:start])
        last = max(last, end)
    pieces.append(doc.text[last:])
    return " ".join(piece.strip() for piece in pieces if piece.strip())


def document_batches(store: RunStore) -> Iterator[pa.RecordBatch]:
    columns: dict[str, list] = {c: [] for c in DOC_COLUMNS}
    index = 0
    for doc in store.documents():
        for name in columns:
            if name == "doc_idx":
                columns[name].append(index)
            elif name == "lm_text":
                columns[name].append(lm_written(doc))
            elif name == "dedup_text":
                columns[name].append(dedup_text(doc))
            else:
                columns[name].append(getattr(doc, name))
        index += 1
        if len(columns["doc_id"]) == DOC_BATCH:
            yield pa.RecordBatch.from_pydict(columns)
            columns = {c: [] for c in columns}
    if columns["doc_id"]:
        yield pa.RecordBatch.from_pydict(columns)


def create_docs_table(con: duckdb.DuckDBPyConnection, name: str) -> None:
    con.execute(f"CREATE TABLE {name} (" + ", ".join(f"{c} {t}" for c, t in DOC_COLUMNS.items()) + ")")


def load_documents(con: duckdb.DuckDBPyConnection, store: RunStore) -> int:
    create_docs_table(con, "docs")
    for batch in document_batches(store):
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
        create_docs_table(con, "doc_shard")
        for number, batch in enumerate(document_batches(store)):
            con.register("doc_batch", batch)
            con.execute(f"INSERT INTO doc_shard SELECT {', '.join(DOC_COLUMNS)} FROM doc_batch")
            con.unregister("doc_batch")
            con.execute(f"COPY doc_shard TO '{sql_path(directory / f'part-{number:05d}.parquet')}' (FORMAT parquet)")
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
    clause_rationale: pa.Table | None = None  # (spec_id, clause_id, has_rationale)


def signals_step(docs: pa.Table, inputs: SignalInputs, threads: int | None = None) -> pa.Table:
    """Signals and rule marks of a batch of documents: (doc_idx, doc_id, *SIGNAL_COLUMNS, dropped_by,
    flagged_by), by doc_idx. Every signal reads only its own document and the spec tables, so any split of the
    documents into batches gives the same rows."""
    con = duckdb.connect()
    try:
        if threads:
            con.execute(f"SET threads = {int(threads)}")
        con.register("docs", docs)
        for name, table in (("spec_grams", inputs.spec_grams), ("clause_terms", inputs.clause_terms),
                            ("clause_rationale", inputs.clause_rationale)):
            if table is not None:
                con.register(f"{name}_rows", table)
                con.execute(f"CREATE TEMP TABLE {name} AS SELECT * FROM {name}_rows")
        compute_signals(con)
        apply_rules(con, list(inputs.rules))
        return con.sql("""SELECT s.*, m.dropped_by, m.flagged_by FROM signals s JOIN rule_marks m USING (doc_idx)
                              ORDER BY doc_idx""").to_arrow_table()
    finally:
        con.close()


def signal_workers() -> int:
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1))


def local_signal_batches(con: duckdb.DuckDBPyConnection, n_docs: int, inputs: SignalInputs,
                         workers: int | None = None) -> Iterator[pa.Table]:
    """`signals_step` over batches of the `docs` table, in doc_idx order, on `workers` threads (one DuckDB
    connection each). A DuckDB query over a few thousand rows runs on one thread (they are one row group), so
    the batches are what spreads the work over the cores; DuckDB releases the GIL while it runs."""
    workers = workers or signal_workers()
    size = max(1, min(DOC_BATCH, -(-n_docs // workers)))

    def batch(lo: int) -> pa.Table:
        return con.sql("SELECT * FROM docs WHERE doc_idx >= $lo AND doc_idx < $hi ORDER BY doc_idx",
                       params={"lo": lo, "hi": lo + size}).to_arrow_table()

    if workers == 1 or n_docs <= size:
        for lo in range(0, n_docs, size):
            yield signals_step(batch(lo), inputs, threads=1)
        return
    with ThreadPoolExecutor(workers, thread_name_prefix="signals") as pool:
        pending: deque = deque()
        for lo in range(0, n_docs, size):
            pending.append(pool.submit(signals_step, batch(lo), inputs, 1))
            if len(pending) > workers:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


def store_signal_batches(con: duckdb.DuckDBPyConnection, batches: Iterable[pa.Table], *, with_signals: bool = True) -> None:
    """Tables `signals` (doc_idx, doc_id, *SIGNAL_COLUMNS) and `rule_marks` (doc_idx, dropped_by, flagged_by).
    Without signals (a curation without filters) the batches are only drained — an engine may do other work in
    the same pass — and `rule_marks` has no rule for any document of `docs`."""
    if not with_signals:
        for _ in batches:
            pass
        con.execute("CREATE TEMP TABLE rule_marks AS SELECT doc_idx, CAST([] AS VARCHAR[]) AS dropped_by, "
                    "CAST([] AS VARCHAR[]) AS flagged_by FROM docs ORDER BY doc_idx")
        return
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


def load_spec_tables(con: duckdb.DuckDBPyConnection, carried: dict | None = None,
                     ) -> tuple[pa.Table | None, pa.Table | None, dict[str, str]]:
    """(spec_grams, clause_terms, spec_id -> problem for missing specs) for the specs the documents name. `carried`
    (spec id -> Spec) are the specs the run carries (its frozen copy), used before the shipped spec of that id."""
    from msm.spec import load_spec, resolve_spec_path

    problems: dict[str, str] = {}
    texts, terms, rationale = [], [], []
    for (spec_id,) in con.execute("SELECT DISTINCT spec_id FROM docs WHERE spec_id IS NOT NULL").fetchall():
        try:
            spec = (carried or {}).get(spec_id) or load_spec(resolve_spec_path(spec_id))
        except MsmError as exc:
            problems[spec_id] = str(exc)
            continue
        body = [spec.as_text()] + [spec.render(e) for c in spec.clauses for e in c.examples]
        texts.append({"spec_id": spec_id, "text": "\n".join(body)})
        terms.extend({"spec_id": spec_id, "clause_id": c.id, "term": spec.render(t)} for c in spec.clauses for t in c.key_terms)
        rationale.extend({"spec_id": spec_id, "clause_id": c.id, "has_rationale": bool(c.rationale)}
                         for c in spec.clauses)
    if texts:
        con.register("spec_text_rows", pa.Table.from_pylist(texts))
        # Same tokenization as spec_signals' document words, so the 8-grams are comparable.
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
    if rationale:
        con.register("clause_rationale_rows", pa.Table.from_pylist(rationale))
        con.execute("CREATE TEMP TABLE clause_rationale AS SELECT * FROM clause_rationale_rows")
        con.unregister("clause_rationale_rows")
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

    try:
        con.execute(f"CREATE OR REPLACE TEMP TABLE rule_marks AS SELECT doc_idx, {as_list(drop_items)} AS dropped_by, "
                    f"{as_list(flag_items)} AS flagged_by FROM signals", params)
    except duckdb.Error as exc:
        raise _failing_rule(con, rules, exc) from None


def _failing_rule(con: duckdb.DuckDBPyConnection, rules: list[CompiledRule], exc: duckdb.Error) -> BadInput:
    """A rule that passed `compile_rules` but fails on these documents (e.g. ln() of a zero count): BadInput
    naming the config file and the rule, found by running the rules one at a time on the same rows."""
    for rule in rules:
        try:
            con.execute(f"SELECT count(*) FROM signals WHERE coalesce(CAST(({rule.sql}) AS BOOLEAN), false)",
                        rule.params).fetchall()
        except duckdb.Error as rule_exc:
            return BadInput(f"{rule.origin or repr(rule.name)}: fails on the documents: {first_line(rule_exc)}")
    return BadInput(f"filter rules fail on the documents: {first_line(exc)}")




def sql_path(path: Path) -> str:
    # Paths come from the workspace and a validated run name; quote defensively all the same.
    return str(path).replace("'", "''")


def clause_rationale_table(con: duckdb.DuckDBPyConnection) -> pa.Table | None:
    """(spec_id, clause_id, has_rationale) of the specs `load_spec_tables` found, or None."""
    exists = con.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = 'clause_rationale'").fetchall()[0][0]
    return con.sql("SELECT * FROM clause_rationale ORDER BY ALL").to_arrow_table() if exists else None
