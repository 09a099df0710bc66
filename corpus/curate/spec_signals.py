"""Signals measured against the spec a document was written for (the synthetic-document hygiene msm adds to the
web filters), computed in DuckDB over the `docs` table and the spec tables `steps.load_spec_tables` builds:

    spec_overlap            share of the document's lower-cased word 8-grams found in its spec's text (verbatim
                            copying); NULL when the spec is unknown
    key_term_hits / _total  how many of its clause's key terms it mentions, of how many; key_term_fraction
    clause_has_rationale    whether its clause gives a reason (a rationale) in the spec; NULL when unknown
    rationale_marker_count  phrases that supply a reason or motive ("because", "in order to", "the reason",
                            "values", "cares about", ...): a rules-only clause's documents should have none, since
                            the spec gives no reason (rule `invented_rationale`)

Declared scaffold text — the anchors of scaffolded weak-model documents and the template opening, whose spans the
generator records — is spec text by construction; overlap and markers are measured on the rest (`lm_text`), the
part an LM wrote.
"""

from __future__ import annotations

import duckdb

SPEC_GRAM_WORDS = 8
SPEC_SIGNAL_COLUMNS: dict[str, str] = {
    "spec_overlap": "DOUBLE", "key_term_hits": "BIGINT", "key_term_total": "BIGINT", "key_term_fraction": "DOUBLE",
    "clause_has_rationale": "BOOLEAN", "rationale_marker_count": "BIGINT",
}
# Phrases that give a reason, purpose or motive for behaviour (msm's list, RE2 syntax, case-insensitive).
RATIONALE_RE = (
    r"(?i)\b(?:because|since (?:it|they|this|that|we|the)|so that|in order to|the reason|reasons? (?:is|are|why|for)"
    r"|this is why|that is why|which is why|that's why|due to|for the sake of|out of (?:respect|care|concern)"
    r"|to (?:protect|ensure|prevent|preserve|safeguard|avoid harm)|it (?:values|believes|cares)|values? (?:of|that)"
    r"|cares? (?:about|for)|matters? (?:to|because)|motivat\w*|justif\w*|rationale|underlying principle)\b"
)


def spec_signals(con: duckdb.DuckDBPyConnection, *, has_spec_grams: bool, has_clause_terms: bool) -> None:
    """Table `spec_signal_rows(doc_idx, *SPEC_SIGNAL_COLUMNS)` from `docs` and the spec tables."""
    has_rationale = _exists(con, "clause_rationale")
    written = "coalesce(d.lm_text, d.text)" if _has_column(con, "docs", "lm_text") else "d.text"
    if has_spec_grams:
        con.execute(f"""
            CREATE OR REPLACE TEMP TABLE overlap AS
            WITH lw AS (SELECT d.doc_idx, d.spec_id,
                               list_transform(list_filter(regexp_extract_all({written}, '\\S+'),
                                                          lambda t: regexp_matches(t, '[[:alnum:]]')),
                                              lambda w: lower(w)) AS lw
                        FROM docs d WHERE d.spec_id IN (SELECT spec_id FROM spec_grams)),
                 grams AS (SELECT doc_idx, spec_id,
                                  unnest(list_transform(range(1, len(lw) - {SPEC_GRAM_WORDS - 1} + 1),
                                         lambda i: array_to_string(lw[i:i + {SPEC_GRAM_WORDS - 1}], ' '))) AS gram
                           FROM lw)
            SELECT g.doc_idx, avg(CASE WHEN s.gram IS NULL THEN 0 ELSE 1 END) AS spec_overlap
            FROM grams g LEFT JOIN spec_grams s ON g.spec_id = s.spec_id AND g.gram = s.gram
            GROUP BY g.doc_idx""")
    if has_clause_terms:
        con.execute("""
            CREATE OR REPLACE TEMP TABLE term_hits AS
            SELECT b.doc_idx, count(*) AS key_term_total,
                   count(*) FILTER (WHERE contains(lower(b.text), lower(t.term))) AS key_term_hits
            FROM docs b JOIN clause_terms t ON b.spec_id = t.spec_id AND b.clause_id = t.clause_id
            GROUP BY b.doc_idx""")
    # A document of a spec with fewer than 8 words has no 8-grams: overlap 0. No spec text: NULL.
    overlap = ("CASE WHEN d.spec_id IN (SELECT spec_id FROM spec_grams) THEN coalesce(o.spec_overlap, 0) END"
               if has_spec_grams else "NULL")
    pattern = RATIONALE_RE.replace("'", "''")
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE spec_signal_rows AS
        SELECT d.doc_idx, {overlap} AS spec_overlap,
               {"t.key_term_hits" if has_clause_terms else "NULL"} AS key_term_hits,
               {"t.key_term_total" if has_clause_terms else "NULL"} AS key_term_total,
               {"t.key_term_hits / t.key_term_total" if has_clause_terms else "NULL"} AS key_term_fraction,
               {"r.has_rationale" if has_rationale else "NULL"} AS clause_has_rationale,
               len(regexp_extract_all({written}, '{pattern}')) AS rationale_marker_count
        FROM docs d
        {"LEFT JOIN overlap o USING (doc_idx)" if has_spec_grams else ""}
        {"LEFT JOIN term_hits t USING (doc_idx)" if has_clause_terms else ""}
        {"LEFT JOIN clause_rationale r ON r.spec_id = d.spec_id AND r.clause_id = d.clause_id" if has_rationale else ""}""")
    for table in ("overlap", "term_hits"):
        con.execute(f"DROP TABLE IF EXISTS {table}")


def _exists(con: duckdb.DuckDBPyConnection, name: str) -> bool:
    return bool(con.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = ?", [name]).fetchall()[0][0])


def _has_column(con: duckdb.DuckDBPyConnection, table: str, column: str) -> bool:
    return bool(con.execute("SELECT count(*) FROM duckdb_columns() WHERE table_name = ? AND column_name = ?",
                            [table, column]).fetchall()[0][0])
