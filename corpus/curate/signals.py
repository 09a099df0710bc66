"""Per-document quality signals, computed in DuckDB SQL over a whole table of documents at once.

Input: a DuckDB table `docs(doc_idx BIGINT, doc_id, text, spec_id, clause_id, finish_reason, ...)`, plus
optional `spec_grams(spec_id, gram)` (word 8-grams of each spec's text) and `clause_terms(spec_id, clause_id,
term)` (each clause's key terms). Output: a table `signals` with one row per document and the columns in
`SIGNAL_COLUMNS`; filter rules (config.py) are boolean expressions over exactly these columns.

Definitions follow the papers the default thresholds come from, with the differences written down:
- Gopher quality (Rae et al. 2021, App. A.1.1): words are whitespace tokens that contain a letter or digit;
  symbol ratios count `#` tokens and `...`/`…`; stop words are the, be, to, of, and, that, have, with.
- Gopher repetition (Rae et al. 2021, Table A1): duplicate lines / paragraphs (count and character fractions),
  the character fraction of the most frequent 2/3/4-gram, and for n = 5..10 the fraction of word characters
  covered by any n-gram that occurs more than once (the paper's definition; datatrove's implementation skips
  ahead after a repeat and does not count a repeat's first occurrence, so its values are somewhat lower).
- C4 / FineWeb line signals (Raffel et al. 2020; Penedo et al. 2024): fraction of lines ending in terminal
  punctuation, fraction of short lines (<= 30 characters), characters in duplicated lines over all non-newline
  characters, newlines per word.
- Synthetic-document hygiene (this project): counts of placeholder, meta-commentary, refusal and leaked prompt
  marker patterns; truncation (`finish_reason = 'length'`); and the signals measured against the document's spec
  (spec_signals.py: verbatim overlap, key terms, reasons supplied for rules-only clauses).
"""

from __future__ import annotations

import duckdb

from msm.corpus.curate.spec_signals import SPEC_GRAM_WORDS, SPEC_SIGNAL_COLUMNS, spec_signals

STOP_WORDS = ("the", "be", "to", "of", "and", "that", "have", "with")
# a stop word with any leading/trailing punctuation, any case (one RE2 match per word is the fastest form)
STOP_WORD_RE = "(?i)[^[:alnum:]]*(?:" + "|".join(STOP_WORDS) + ")[^[:alnum:]]*"
DUP_NGRAM_SIZES = (5, 6, 7, 8, 9, 10)

# Regular expressions (RE2 syntax, used by DuckDB). Matching is on the raw text.
PLACEHOLDER_RE = (
    r"\[(?:(?:Your|First|Last|Full|Company|Organi[sz]ation|Product|Recipient|Sender|Author|Client|Customer)\s+)?"
    r"(?:Name|Company|Date|Location|City|Country|Person|Author|Title|Organi[sz]ation|Number|Product|Address|Email"
    r"|Phone|Year|Topic|Brand|Website|X|Y)\]"
    r"|\[(?i:insert|add|placeholder)[^\]\n]{0,60}\]|\{\{[^}\n]{0,60}\}\}|(?i:lorem ipsum)"
    r"|<(?i:insert|placeholder)[^>\n]{0,60}>|\{(?:model_name|provider_name)\}"
)
META_COMMENTARY_RE = (
    r"(?i)\bas an ai\b|\bas a (?:large )?language model\b|\bi hope this helps\b|\blet me know if you\b"
    r"|\bfeel free to (?:ask|reach out|let me know)\b|\A\s*(?:sure|certainly|absolutely)[,!]"
    r"|(?m:^\s*here(?: is|'s|’s) (?:a|an|the|your|my)\b[^\n]{0,80}\b(?:document|article|essay|story|post|draft"
    r"|version|piece|text|memo|email|letter|report|blog)\b)|\bword count:"
)
REFUSAL_RE = (
    r"(?i)\bi(?:'m|’m| am) (?:sorry|afraid|unable|not able)\b[^.\n]{0,60}\b(?:can(?:no|'|’)t|unable|not able)\b"
    r"|\bi (?:can(?:no|'|’)t|won(?:'|’)t|will not|am unable to) (?:help|assist|provide|write|create|comply|fulfil"
    r"|generate|produce) (?:with )?(?:that|this|your request)"
)
PROMPT_MARKER_RE = r"\[\[ ##|## completed ##|\bUNSUITABLE\b|<\|(?:im_start|im_end|endoftext|user|assistant|system)\|>"
BULLET_RE = r"^\s*(?:[•‣⁃◦▪\-*]|\d+[.)])\s"

# column -> DuckDB type: the schema filter rules are validated against.
SIGNAL_COLUMNS: dict[str, str] = {
    "n_chars": "BIGINT", "n_lines": "BIGINT", "word_count": "BIGINT", "mean_word_length": "DOUBLE",
    "hash_word_ratio": "DOUBLE", "ellipsis_word_ratio": "DOUBLE", "bullet_line_ratio": "DOUBLE",
    "ellipsis_line_ratio": "DOUBLE", "alpha_word_ratio": "DOUBLE", "stop_word_count": "BIGINT",
    "dup_line_frac": "DOUBLE", "dup_para_frac": "DOUBLE", "dup_line_char_frac": "DOUBLE",
    "dup_para_char_frac": "DOUBLE", "top_2gram_char_frac": "DOUBLE", "top_3gram_char_frac": "DOUBLE",
    "top_4gram_char_frac": "DOUBLE",
    **{f"dup_{n}gram_char_frac": "DOUBLE" for n in DUP_NGRAM_SIZES},
    "line_punct_ratio": "DOUBLE", "short_line_ratio": "DOUBLE", "char_dup_ratio": "DOUBLE",
    "newline_word_ratio": "DOUBLE", "placeholder_count": "BIGINT", "meta_commentary_count": "BIGINT",
    "refusal_count": "BIGINT", "prompt_marker_count": "BIGINT", "truncated": "BOOLEAN",
    "ends_mid_sentence": "BOOLEAN", **SPEC_SIGNAL_COLUMNS,
}


MAX_GRAM = max(DUP_NGRAM_SIZES)
TOP_NGRAM_SIZES = (2, 3, 4)


def _ngram_repetition(con: duckdb.DuckDBPyConnection) -> None:
    """Table `repetition(doc_idx, top_{2,3,4}_chars, dup_{5..10}_chars)` from `base_signals`.

    Relational, not per-document lambdas. An n-gram can only repeat where its (n-1)-gram prefix repeats, so
    each size is counted only over the start positions whose shorter prefix repeated — a cascade that touches
    far fewer rows than counting every size over every position. Bigrams are counted over a narrow table of
    every word position; the positions of repeated bigrams then get the hashes and lengths of their next 9
    words by indexing the per-document lists, and the candidate table shrinks and carries its columns from
    size to size (no join back to all words). A most frequent n-gram that occurs once covers
    no repetition, so top_n is 0 for a document without a repeated n-gram.
    """
    # Shifted slices unnested side by side act as lead(h, 1) without a window sort (unnest pads with NULL).
    con.execute("""
        CREATE OR REPLACE TEMP TABLE word_pairs AS
        SELECT doc_idx, unnest(range(len(hl))) AS pos, unnest(hl) AS h0, unnest(hl[2:]) AS h1,
               unnest(ll) AS l0, unnest(ll[2:]) AS l1
        FROM base_signals""")
    con.execute("CREATE OR REPLACE TEMP TABLE repetition AS SELECT doc_idx FROM base_signals")
    for n in range(2, MAX_GRAM + 1):
        source = "word_pairs" if n == 2 else "candidates"
        gram = "hash(" + ", ".join(f"h{k}" for k in range(n)) + ")"
        gram_chars = " + ".join(f"l{k}" for k in range(n)) + f" + {n - 1}"
        # n-grams at the candidate starts, counted per document; the repeated ones are the next candidates.
        con.execute(f"""
            CREATE OR REPLACE TEMP TABLE gram_counts AS
            SELECT doc_idx, {gram} AS g, count(*) AS c, any_value({gram_chars}) AS chars
            FROM {source} WHERE h{n - 1} IS NOT NULL GROUP BY ALL HAVING count(*) > 1""")
        repeated = f"""(SELECT * FROM (SELECT *, {gram} AS g FROM {source} WHERE h{n - 1} IS NOT NULL)
                        SEMI JOIN gram_counts USING (doc_idx, g))"""
        if n == 2:
            # Start positions gathered per document and looked up in its lists: joining the lists to every
            # position instead would copy a document's lists once per position.
            following = ", ".join(f"unnest(list_transform(starts, lambda p: hl[p + {k + 1}])) AS h{k}, "
                                  f"unnest(list_transform(starts, lambda p: ll[p + {k + 1}])) AS l{k}"
                                  for k in range(MAX_GRAM))
            con.execute(f"""
                CREATE OR REPLACE TEMP TABLE candidates AS
                SELECT doc_idx, unnest(starts) AS pos, {following}
                FROM (SELECT doc_idx, list(pos ORDER BY pos) AS starts FROM {repeated} GROUP BY doc_idx)
                JOIN base_signals USING (doc_idx)""")
        else:
            con.execute(f"CREATE OR REPLACE TEMP TABLE candidates AS SELECT * EXCLUDE (g) FROM {repeated}")
        if n in TOP_NGRAM_SIZES:
            con.execute(f"""
                CREATE OR REPLACE TEMP TABLE repetition AS
                SELECT r.*, coalesce(t.v, 0) AS top_{n}_chars FROM repetition r
                LEFT JOIN (SELECT doc_idx, arg_max(c * chars, [c, chars]) AS v FROM gram_counts GROUP BY doc_idx) t
                USING (doc_idx)""")
        if n in DUP_NGRAM_SIZES:
            # characters of the words covered by any repeated n-gram (each word once)
            lengths = ", ".join(f"l{k}" for k in range(n))
            con.execute(f"""
                CREATE OR REPLACE TEMP TABLE repetition AS
                SELECT r.*, coalesce(t.v, 0) AS dup_{n}_chars FROM repetition r
                LEFT JOIN (SELECT doc_idx, sum(l) AS v
                           FROM (SELECT DISTINCT doc_idx, unnest(range(pos, pos + {n})) AS pos, unnest([{lengths}]) AS l
                                 FROM candidates) GROUP BY doc_idx) t USING (doc_idx)""")
    for table in ("word_pairs", "candidates", "gram_counts"):
        con.execute(f"DROP TABLE IF EXISTS {table}")


def compute_signals(con: duckdb.DuckDBPyConnection) -> None:
    """Create table `signals` (doc_idx, doc_id, *SIGNAL_COLUMNS) from table `docs`."""
    has_spec_grams = _table_exists(con, "spec_grams")
    has_clause_terms = _table_exists(con, "clause_terms")
    # One statement, nested so each list (tokens, lines, words, their lengths) is built once per document and
    # reused by every signal; materializing intermediate tables of string lists cost as much as the signals.
    # Cheap forms where they are exactly equal to the definitions: RE2's \s is [\t\n\f\r ], so replacing those
    # by spaces and splitting on ' ' gives the tokens of regexp_extract_all(text, '\S+') without a regex pass;
    # [[:alnum:]] / [[:alpha:]] are ASCII classes, so a byte GLOB tests them without a regex per token.
    whitespace_as_spaces = "replace(replace(replace(replace(text, chr(9), ' '), chr(10), ' '), chr(12), ' '), chr(13), ' ')"
    # Counts without a regex pass where arithmetic on replace() is exact: non-overlapping '...' and '…' as the
    # regex '\.\.\.|…' counts them; tokens starting with '#' are the ' #' in the text with whitespace as spaces;
    # a line's last character compared with a list is the regex '[.!?"”’'):;]$' (RE2's $ is the end of text).
    # The four hygiene patterns are rare: one combined scan finds the documents worth counting each in (flags
    # inside a group can only widen the combined match, so it never skips a document with a match).
    any_hygiene = "|".join(f"(?:{_sql_str(p)})" for p in (PLACEHOLDER_RE, META_COMMENTARY_RE, REFUSAL_RE, PROMPT_MARKER_RE))
    hygiene_counts = ",\n               ".join(
        f"CASE WHEN has_hygiene THEN len(regexp_extract_all(text, '{_sql_str(pattern)}')) ELSE 0 END AS {column}"
        for pattern, column in ((PLACEHOLDER_RE, "placeholder_count"), (META_COMMENTARY_RE, "meta_commentary_count"),
                                (REFUSAL_RE, "refusal_count"), (PROMPT_MARKER_RE, "prompt_marker_count")))
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE base_signals AS
        SELECT doc_idx, doc_id, spec_id, clause_id, word_hashes AS hl, word_lengths AS ll,
               n_chars, n_lines, word_chars,
               len(words) AS word_count,
               coalesce(word_chars / nullif(len(words), 0), 0) AS mean_word_length,
               coalesce((length(spaced) - length(replace(spaced, ' #', ''))) / 2 / nullif(len(words), 0), 0)
                   AS hash_word_ratio,
               coalesce(((n_chars - length(replace(text, '...', ''))) / 3 + n_chars - length(replace(text, '…', '')))
                        / nullif(len(words), 0), 0) AS ellipsis_word_ratio,
               coalesce(len(list_filter(lines, lambda l: regexp_matches(l, '{BULLET_RE}'))) / nullif(n_lines, 0), 0)
                   AS bullet_line_ratio,
               coalesce(len(list_filter(lines, lambda l: suffix(rtrim(l), '...') OR suffix(rtrim(l), '…'))) / nullif(n_lines, 0), 0)
                   AS ellipsis_line_ratio,
               coalesce(len(list_filter(tokens, lambda t: t GLOB '*[a-zA-Z]*')) / nullif(len(tokens), 0), 0)
                   AS alpha_word_ratio,
               len(list_filter(words, lambda w: regexp_full_match(w, '{STOP_WORD_RE}'))) AS stop_word_count,
               coalesce((n_lines - len(list_distinct(lines))) / nullif(n_lines, 0), 0) AS dup_line_frac,
               coalesce((len(paragraphs) - len(list_distinct(paragraphs))) / nullif(len(paragraphs), 0), 0) AS dup_para_frac,
               coalesce(dup_line_chars / nullif(n_chars, 0), 0) AS dup_line_char_frac,
               coalesce((list_sum(list_transform(paragraphs, lambda p: length(p)))
                         - list_sum(list_transform(list_distinct(paragraphs), lambda p: length(p)))) / nullif(n_chars, 0), 0)
                   AS dup_para_char_frac,
               coalesce(len(list_filter(lines, lambda l: list_contains(['.', '!', '?', '"', '”', '’', '''', ')', ':', ';'],
                                                                       right(rtrim(l), 1)))) / nullif(n_lines, 0), 0)
                   AS line_punct_ratio,
               coalesce(len(list_filter(lines, lambda l: length(trim(l)) <= 30)) / nullif(n_lines, 0), 0) AS short_line_ratio,
               coalesce(dup_line_chars / nullif(n_chars - n_newlines, 0), 0) AS char_dup_ratio,
               coalesce(n_newlines / nullif(len(words), 0), 0) AS newline_word_ratio,
               {hygiene_counts},
               coalesce(finish_reason = 'length', false) AS truncated,
               NOT regexp_matches(rtrim(text), '[.!?"”’)\\]*`]$') AS ends_mid_sentence
        FROM (
            SELECT *, coalesce(list_sum(word_lengths), 0) AS word_chars,
                   list_transform(words, lambda w: hash(w)) AS word_hashes,
                   list_sum(list_transform(lines, lambda l: length(l)))
                       - list_sum(list_transform(list_distinct(lines), lambda l: length(l))) AS dup_line_chars
            FROM (
                SELECT *, list_transform(words, lambda w: length(w)) AS word_lengths
                FROM (
                    SELECT *, list_filter(tokens, lambda t: t GLOB '*[a-zA-Z0-9]*') AS words, len(lines) AS n_lines
                    FROM (
                        SELECT doc_idx, doc_id, text, spec_id, clause_id, finish_reason,
                               length(text) AS n_chars,
                               length(text) - length(replace(text, chr(10), '')) AS n_newlines,
                               regexp_matches(text, '{any_hygiene}') AS has_hygiene,
                               ' ' || {whitespace_as_spaces} AS spaced,
                               list_filter(string_split(spaced, ' '), lambda t: t <> '') AS tokens,
                               list_filter(string_split(text, chr(10)), lambda l: trim(l) <> '') AS lines,
                               list_filter(list_transform(string_split_regex(text, '\\n\\s*\\n'), lambda p: trim(p)),
                                           lambda p: p <> '') AS paragraphs
                        FROM docs))))
    """)
    _ngram_repetition(con)
    spec_signals(con, has_spec_grams=has_spec_grams, has_clause_terms=has_clause_terms)
    columns = ", ".join(f"CAST(s.{c} AS {t}) AS {c}" for c, t in SIGNAL_COLUMNS.items() if c not in SPEC_SIGNAL_COLUMNS)
    fractions = ", ".join([f"coalesce(top_{n}_chars / nullif(n_chars, 0), 0) AS top_{n}gram_char_frac" for n in TOP_NGRAM_SIZES]
                          + [f"coalesce(dup_{n}_chars / nullif(word_chars, 0), 0) AS dup_{n}gram_char_frac"
                             for n in DUP_NGRAM_SIZES])
    spec_columns = ", ".join(f"CAST(x.{c} AS {t}) AS {c}" for c, t in SPEC_SIGNAL_COLUMNS.items())
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE signals AS
        SELECT s.doc_idx, s.doc_id, {columns}, {spec_columns}
        FROM (SELECT *, {fractions} FROM base_signals JOIN repetition USING (doc_idx)) s
             JOIN spec_signal_rows x USING (doc_idx)
        ORDER BY s.doc_idx""")
    for table in ("base_signals", "spec_signal_rows", "repetition"):
        con.execute(f"DROP TABLE IF EXISTS {table}")


def _sql_str(pattern: str) -> str:
    """A constant pattern of this module as a SQL string literal body (quotes doubled)."""
    return pattern.replace("'", "''")


def _table_exists(con: duckdb.DuckDBPyConnection, name: str) -> bool:
    return bool(con.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = ?", [name]).fetchall()[0][0])
