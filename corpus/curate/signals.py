"""Per-document quality signals, computed in DuckDB SQL over a whole table of documents at once.

Input: a DuckDB table `docs(doc_idx BIGINT, doc_id, text, spec_id, clause_id, finish_reason, ...)`, plus
optional `spec_grams(spec_id, gram)` (word 8-grams of each spec's text) and `clause_terms(spec_id, clause_id,
term)` (each clause's key terms). Output: a table `signals` with one row per document and the columns in
`SIGNAL_COLUMNS`; filter rules (config.py) are boolean expressions over exactly these columns.

The Gopher, FineWeb and C4 signals are the quantities datatrove 0.10.1's filters compare with their thresholds,
computed the same way, so the default rules decide as those filters do (tests/corpus/test_datatrove_peer.py
runs both on the same documents). Words are the tokens of `words.py` (spaCy's English tokenization, written as
RE2 patterns): punctuation marks are tokens.
- Gopher quality (Rae et al. 2021, App. A.1.1): `token_count` counts every token; `word_count` and
  `mean_word_length` only tokens with a character outside datatrove's punctuation set; '#' and ellipsis counts are
  counted in the raw text and divided by `token_count`; bullet and ellipsis lines are over all lines of
  `str.splitlines()` (blank ones included); `alpha_word_ratio` is tokens with a letter over all tokens;
  `stop_word_count` counts *distinct* stop words, case-sensitive (`The` is not `the`).
- Gopher repetition (Table A1): paragraphs split on 2+ newlines of the stripped text, lines on 1+ newlines of
  the raw text (a whitespace-only line is a line); a duplicate is an occurrence after the first; character
  fractions are over all characters. `top_ngram`: the n-gram (tokens joined by spaces) with the most occurrences,
  the earliest on a tie, its characters times its count. `dup_ngram`: scanning start positions left to right, an
  n-gram seen before adds its characters (tokens without spaces) and the scan jumps past it; one that was not is
  remembered.
- FineWeb (Penedo et al. 2024): over lines split on newlines, blank ones dropped: lines ending (not stripped) in
  a terminal punctuation character, lines of at most 30 characters, characters of duplicate lines over the
  non-newline characters, and newlines per token.
- C4 (Raffel et al. 2020): a line (of `str.splitlines()`, stripped, citation marks like `[1]` removed) counts if it
  ends in . ? ! " or ' (not ...), has at least 3 whitespace-separated words and none longer than 1,000 characters;
  `c4_lorem_ipsum`: such a line contains "lorem ipsum"; `c4_curly_bracket`: such a line without "javascript"
  contains "{"; `c4_sentences`: sentences in such lines without "javascript" or a cookie/terms-of-use phrase.
- Synthetic-document hygiene (this project): counts of placeholder, meta-commentary, refusal and leaked prompt
  marker patterns; truncation (`finish_reason = 'length'`); and the signals measured against the document's spec
  (spec_signals.py: verbatim overlap, key terms, reasons supplied for rules-only clauses).
A ratio whose denominator is zero (no tokens, no lines) is NULL, and a rule over it does not fire.
"""

from __future__ import annotations

import duckdb
import numpy as np
import pyarrow as pa

from msm.corpus.curate.words import (CANNOT, LINE_BREAKS_RE, PUNCTUATION_RANGES, PY_SPACE,
                                     KEPT_PERIOD_END_RE, SENTENCE_END_RE, SPLIT_RE, SPLIT_REPLACEMENT,
                                     TERMINAL_CHARS, TOKEN_RE, re2_class)

from msm.corpus.curate.spec_signals import SPEC_SIGNAL_COLUMNS, spec_signals

STOP_WORDS = ("the", "be", "to", "of", "and", "that", "have", "with")
DUP_NGRAM_SIZES = (5, 6, 7, 8, 9, 10)
TOP_NGRAM_SIZES = (2, 3, 4)
MAX_GRAM = max(DUP_NGRAM_SIZES)
_VECTOR_STEP_MIN_DOCS = 32
C4_POLICY_PHRASES = ("terms of use", "privacy policy", "cookie policy", "uses cookies", "use of cookies", "use cookies")
C4_CITATION_RE = r"\[\d*\]|\[edit\]|\[citation needed\]"

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
    r"|\bfeel free to (?:ask|reach out|let me know)\b|\A\s*(?:sure|certainly|absolutely|of course|okay)[,!.]"
    r"|(?m:^\s*here(?: is|'s|’s) (?:a|an|the|your|my)\b[^\n]{0,80}\b(?:document|article|essay|story|post|draft"
    r"|version|piece|text|memo|email|letter|report|blog)\b)|\bword count:"
    # a chat model's framing of its answer (issue 30): "Sure! Below is…", "Here's a revised version…",
    # "I've revised the document…", "(revised version)" — anywhere, not only at a line's start
    r"|\b(?:here(?: is|'s|’s)|below is|below you(?:'ll|’ll| will) find) (?:a|an|the|your|my) (?:revised|rewritten"
    r"|updated|improved|polished|new|final|edited) (?:version|draft|document|text|article)\b"
    r"|\bi(?:'ve|’ve| have) (?:revised|rewritten|rewrote|updated|edited|polished) (?:the|your|this) (?:document"
    r"|text|draft|article|essay|piece)\b"
    r"|(?m:^[ \t]*(?:sure|certainly|absolutely|of course|okay)\b[^\n]{0,40}\b(?:below is|here(?: is|'s|’s))\b)"
)
# An invented byline with a year (issue 30: the paper's writer invents no bylines, author names or dates, and
# `--levers` is off by default): a line that opens with By / Written by / Author: / Posted by, then a capitalised
# name, and a year (1900-2099) on the same line — "By Jane Doe, 2019", "Written by Sam Lee (March 2021)".
BYLINE_RE = (
    r"(?m)^[ \t*_#>]*(?:(?i:by|written by|posted by|authored by)[ \t]+|(?i:author)[ \t]*:[ \t]*)"
    r"\p{Lu}[\pL.'’-]+(?:[ \t]+(?:\p{Lu}[\pL.'’-]*|van|von|de|da|del|la|le))*"
    r"[^\n]{0,40}?\b(?:19|20)\d\d(?:[^\d\pL]|$)"
)
REFUSAL_RE = (
    r"(?i)\bi(?:'m|’m| am) (?:sorry|afraid|unable|not able)\b[^.\n]{0,60}\b(?:can(?:no|'|’)t|unable|not able)\b"
    r"|\bi (?:can(?:no|'|’)t|won(?:'|’)t|will not|am unable to) (?:help|assist|provide|write|create|comply|fulfil"
    r"|generate|produce) (?:with )?(?:that|this|your request)"
)
PROMPT_MARKER_RE = r"\[\[ ##|## completed ##|\bUNSUITABLE\b|<\|(?:im_start|im_end|endoftext|user|assistant|system)\|>"

# column -> DuckDB type: the schema filter rules are validated against.
SIGNAL_COLUMNS: dict[str, str] = {
    "n_chars": "BIGINT", "n_lines": "BIGINT", "token_count": "BIGINT", "word_count": "BIGINT",
    "mean_word_length": "DOUBLE", "hash_word_ratio": "DOUBLE", "ellipsis_word_ratio": "DOUBLE",
    "bullet_line_ratio": "DOUBLE", "ellipsis_line_ratio": "DOUBLE", "alpha_word_ratio": "DOUBLE",
    "stop_word_count": "BIGINT",
    "dup_line_frac": "DOUBLE", "dup_para_frac": "DOUBLE", "dup_line_char_frac": "DOUBLE",
    "dup_para_char_frac": "DOUBLE", "top_2gram_char_frac": "DOUBLE", "top_3gram_char_frac": "DOUBLE",
    "top_4gram_char_frac": "DOUBLE",
    **{f"dup_{n}gram_char_frac": "DOUBLE" for n in DUP_NGRAM_SIZES},
    "line_punct_ratio": "DOUBLE", "short_line_ratio": "DOUBLE", "char_dup_ratio": "DOUBLE",
    "newline_word_ratio": "DOUBLE", "c4_lorem_ipsum": "BOOLEAN", "c4_curly_bracket": "BOOLEAN",
    "c4_sentences": "BIGINT", "placeholder_count": "BIGINT", "meta_commentary_count": "BIGINT",
    "refusal_count": "BIGINT", "prompt_marker_count": "BIGINT", "byline_count": "BIGINT", "truncated": "BOOLEAN",
    "ends_mid_sentence": "BOOLEAN", **SPEC_SIGNAL_COLUMNS,
}


def _lit(value: str) -> str:
    """A constant of this module as a SQL string literal: DuckDB compiles a literal pattern once per query, a
    bound parameter once per row."""
    return "'" + value.replace("'", "''") + "'"


def tokens_sql(text: str) -> str:
    """SQL for the token list (words.py) of the text expression `text`; a newline is a token too."""
    for old, new in CANNOT:
        text = f"replace({text}, {_lit(old)}, {_lit(new)})"
    return f"regexp_extract_all(regexp_replace({text}, {_lit(SPLIT_RE)}, {_lit(SPLIT_REPLACEMENT)}, 'g'), {_lit(TOKEN_RE)})"


def sentence_ends(line: str) -> str:
    """SQL: how many sentences end inside the line expression `line` and have one after them, as spaCy's
    sentencizer cuts (words.py): a sentence-ending character that is a token of its own, then punctuation only,
    then anything else. Counted on the text, not on its tokens: every such ending, less those whose period
    belongs to a title, dotted abbreviation or single letter (Dr., U.S., B.), which keep their period; an
    ellipsis is made one character first, so each remaining period stands alone."""
    text = f"regexp_replace({line}, '\\.{{2,}}', '…', 'g')"
    return (f"(len(regexp_extract_all({text}, {_lit(SENTENCE_END_RE)})) "
            f"- len(regexp_extract_all({text}, {_lit(KEPT_PERIOD_END_RE)})))")


_SPACE_NO_NEWLINE = PY_SPACE.replace(r"\s", r"\t\f\r ")
_PUNCT = re2_class(PUNCTUATION_RANGES)


def _py_strip(expr: str) -> str:
    """str.strip() of a text expression."""
    return f"regexp_replace({expr}, '^[{PY_SPACE}]+|[{PY_SPACE}]+$', '', 'g')"


def compute_signals(con: duckdb.DuckDBPyConnection) -> None:
    """Create table `signals` (doc_idx, doc_id, *SIGNAL_COLUMNS) from table `docs`."""
    has_spec_grams = _table_exists(con, "spec_grams")
    has_clause_terms = _table_exists(con, "clause_terms")
    # The four hygiene patterns are rare: one combined scan finds the documents worth counting each in (flags
    # inside a group can only widen the combined match, so it never skips a document with a match).
    any_hygiene = "|".join(f"(?:{p})" for p in (PLACEHOLDER_RE, META_COMMENTARY_RE, REFUSAL_RE, PROMPT_MARKER_RE,
                                                BYLINE_RE))
    hygiene_counts = ",\n               ".join(
        f"CASE WHEN has_hygiene THEN len(regexp_extract_all(text, {_lit(pattern)})) ELSE 0 END AS {column}"
        for pattern, column in ((PLACEHOLDER_RE, "placeholder_count"), (META_COMMENTARY_RE, "meta_commentary_count"),
                                (REFUSAL_RE, "refusal_count"), (PROMPT_MARKER_RE, "prompt_marker_count"),
                                (BYLINE_RE, "byline_count")))
    # Tests per token as one regex pass over the tokens joined as " a  b  c " (each token inside its own pair of
    # spaces, so matches cannot share one): symbols (only punctuation-set characters), tokens without a letter.
    symbol_tokens = f"regexp_extract_all(spaced_tokens, ' {_PUNCT}+ ')"
    letterless = "len(regexp_extract_all(spaced_tokens, ' [^\\pL ]+ '))"
    policy = " OR ".join(f"contains(c.lowered, {_lit(p)})" for p in C4_POLICY_PHRASES)
    c4_terminal = " OR ".join(f"suffix(c.cleaned, {_lit(e)})" for e in (".", "?", "!", '"', "'"))
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE base_signals AS
        SELECT doc_idx, doc_id, spec_id, clause_id, hl, ll, n_chars, n_lines,
               len(tokens) AS token_count,
               len(tokens) - len(symbols) AS word_count,
               (list_sum(ll) - coalesce(list_sum(list_transform(symbols, lambda s: length(s) - 2)), 0))
                   / nullif(len(tokens) - len(symbols), 0) AS mean_word_length,
               (n_chars - length(replace(text, '#', ''))) / nullif(len(tokens), 0) AS hash_word_ratio,
               ((n_chars - length(replace(text, '...', ''))) / 3 + n_chars - length(replace(text, '…', '')))
                   / nullif(len(tokens), 0) AS ellipsis_word_ratio,
               len(regexp_extract_all(nl, '(?m)^[{_SPACE_NO_NEWLINE}]*[-•]')) / nullif(n_pylines, 0) AS bullet_line_ratio,
               len(regexp_extract_all(nl, '(?m)(?:\\.\\.\\.|…)[{_SPACE_NO_NEWLINE}]*$')) / nullif(n_pylines, 0)
                   AS ellipsis_line_ratio,
               (len(tokens) - {letterless}) / nullif(len(tokens), 0) AS alpha_word_ratio,
               {" + ".join(f"contains(spaced_tokens, ' {w} ')::INT" for w in STOP_WORDS)} AS stop_word_count,
               (len(rep_lines) - len(list_distinct(rep_lines))) / len(rep_lines) AS dup_line_frac,
               (list_sum(list_transform(rep_lines, lambda l: length(l)))
                - list_sum(list_transform(list_distinct(rep_lines), lambda l: length(l)))) / nullif(n_chars, 0)
                   AS dup_line_char_frac,
               (len(paragraphs) - len(list_distinct(paragraphs))) / len(paragraphs) AS dup_para_frac,
               (list_sum(list_transform(paragraphs, lambda p: length(p)))
                - list_sum(list_transform(list_distinct(paragraphs), lambda p: length(p)))) / nullif(n_chars, 0)
                   AS dup_para_char_frac,
               len(list_filter(fw_lines, lambda l: contains({_lit(TERMINAL_CHARS)}, right(l, 1)))) / nullif(n_lines, 0)
                   AS line_punct_ratio,
               len(list_filter(fw_lines, lambda l: length(l) <= 30)) / nullif(n_lines, 0) AS short_line_ratio,
               (list_sum(list_transform(fw_lines, lambda l: length(l)))
                - list_sum(list_transform(list_distinct(fw_lines), lambda l: length(l))))
                   / nullif(n_chars - n_newlines, 0) AS char_dup_ratio,
               n_newlines / nullif(len(tokens), 0) AS newline_word_ratio,
               coalesce(list_bool_or(list_transform(c4, lambda c: c.counts AND c.lorem)), false) AS c4_lorem_ipsum,
               coalesce(list_bool_or(list_transform(c4, lambda c: c.counts AND NOT c.javascript AND c.curly)), false)
                   AS c4_curly_bracket,
               coalesce(list_sum(list_transform(c4, lambda c: CASE WHEN c.counts AND NOT c.javascript AND NOT c.policy
                   THEN 1 + c.sentence_ends ELSE 0 END)), 0) AS c4_sentences,
               {hygiene_counts},
               coalesce(finish_reason = 'length', false) AS truncated,
               NOT regexp_matches(rtrim(text), '[.!?"”’)\\]*`]$') AS ends_mid_sentence
        FROM (
            SELECT *, list_transform(c4_lines, lambda c: struct_pack(
                       counts := NOT c.long_word AND c.three_words AND ({c4_terminal}) AND NOT suffix(c.cleaned, '...'),
                       lorem := contains(c.lowered, 'lorem ipsum'), javascript := contains(c.lowered, 'javascript'),
                       curly := contains(c.cleaned, '{{'), policy := ({policy}),
                       sentence_ends := {sentence_ends("c.cleaned")})) AS c4
            FROM (
                SELECT *, {symbol_tokens} AS symbols,
                       list_transform(tokens, lambda t: length(t)) AS ll, list_transform(tokens, lambda t: hash(t)) AS hl,
                       -- each line of splitlines(), stripped
                       list_transform(list_transform(split_lines, lambda l: {_py_strip("l")}), lambda s: struct_pack(
                           cleaned := regexp_replace(s, {_lit(C4_CITATION_RE)}, '', 'g'),
                           lowered := lower(regexp_replace(s, {_lit(C4_CITATION_RE)}, '', 'g')),
                           three_words := regexp_matches(s, '[^{PY_SPACE}][{PY_SPACE}]+[^{PY_SPACE}]+[{PY_SPACE}]+[^{PY_SPACE}]'),
                           -- a word over 1,000 characters needs a line that long (the test alone is slow in RE2)
                           long_word := length(s) > 1000 AND list_max(list_transform(
                               string_split_regex(s, '[{PY_SPACE}]+'), lambda w: length(w))) > 1000)) AS c4_lines
                FROM (
                    SELECT *, ' ' || array_to_string(tokens, '  ') || ' ' AS spaced_tokens
                    FROM (
                        SELECT *, len(fw_lines) AS n_lines
                        FROM (
                            SELECT *, {tokens_sql("nl")} AS tokens, string_split(nl, chr(10)) AS split_lines,
                                   CASE WHEN text = '' THEN 0
                                        ELSE len(string_split(nl, chr(10))) - suffix(nl, chr(10))::INT END AS n_pylines,
                                   string_split_regex(text, '\\n+') AS rep_lines,
                                   string_split_regex({_py_strip("text")}, '\\n{{2,}}') AS paragraphs,
                                   list_filter(string_split(text, chr(10)), lambda l: regexp_matches(l, '[^{PY_SPACE}]'))
                                       AS fw_lines
                            FROM (
                                SELECT doc_idx, doc_id, text, spec_id, clause_id, finish_reason,
                                       length(text) AS n_chars,
                                       length(text) - length(replace(text, chr(10), '')) AS n_newlines,
                                       regexp_replace(text, {_lit(LINE_BREAKS_RE)}, chr(10), 'g') AS nl,
                                       regexp_matches(text, {_lit(any_hygiene)}) AS has_hygiene
                                FROM docs))))))
    """)
    _ngram_repetition(con)
    spec_signals(con, has_spec_grams=has_spec_grams, has_clause_terms=has_clause_terms)
    columns = ", ".join(f"CAST(s.{c} AS {t}) AS {c}" for c, t in SIGNAL_COLUMNS.items() if c not in SPEC_SIGNAL_COLUMNS)
    fractions = ", ".join([f"top_{n}_chars / nullif(n_chars, 0) AS top_{n}gram_char_frac" for n in TOP_NGRAM_SIZES]
                          + [f"dup_{n}_chars / nullif(n_chars, 0) AS dup_{n}gram_char_frac" for n in DUP_NGRAM_SIZES])
    spec_columns = ", ".join(f"CAST(x.{c} AS {t}) AS {c}" for c, t in SPEC_SIGNAL_COLUMNS.items())
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE signals AS
        SELECT s.doc_idx, s.doc_id, {columns}, {spec_columns}
        FROM (SELECT *, {fractions} FROM base_signals JOIN repetition USING (doc_idx)) s
             JOIN spec_signal_rows x USING (doc_idx)
        ORDER BY s.doc_idx""")
    for table in ("base_signals", "spec_signal_rows", "repetition"):
        con.execute(f"DROP TABLE IF EXISTS {table}")


def _ngram_repetition(con: duckdb.DuckDBPyConnection) -> None:
    """Table `repetition(doc_idx, top_{2,3,4}_chars, dup_{5..10}_chars)` from `base_signals` (hl: token hashes,
    ll: token lengths).

    Relational where it can be: an n-gram can only repeat where its (n-1)-gram prefix repeats, so each size is
    counted only over the start positions whose shorter prefix repeated — a cascade that touches far fewer rows
    than counting every size over every position. Bigrams are counted over a narrow table of every token
    position; the positions of repeated bigrams then get the hashes and lengths of their next 9 tokens by
    indexing the per-document lists, and the candidate table shrinks from size to size.

    top_n: the most frequent n-gram, the earliest on a tie (datatrove's Counter.most_common(1)); with no repeat
    every count is 1 and the earliest is the document's first n-gram. dup_n: the left-to-right scan that jumps
    past a repeat is sequential within a document, so it runs in numpy over the repeated n-grams' positions only
    (`_scan_repeats`): positions whose n-gram occurs once never add characters and never decide a later one.
    """
    # Shifted slices unnested side by side act as lead(h, 1), lead(h, 2) without a window sort (unnest pads with
    # NULL): every position with its first three tokens, enough for bigrams and trigrams.
    con.execute("""
        CREATE OR REPLACE TEMP TABLE candidates AS
        SELECT doc_idx, unnest(range(len(hl))) AS pos, unnest(hl) AS h0, unnest(hl[2:]) AS h1, unnest(hl[3:]) AS h2,
               unnest(ll) AS l0, unnest(ll[2:]) AS l1, unnest(ll[3:]) AS l2
        FROM base_signals""")
    first_grams = ", ".join(
        f"CASE WHEN len(ll) >= {n} THEN list_sum(ll[1:{n}]) + {n - 1} ELSE 0 END AS first_{n}_chars" for n in TOP_NGRAM_SIZES)
    con.execute(f"CREATE OR REPLACE TEMP TABLE repetition AS SELECT doc_idx, {first_grams} FROM base_signals")
    dup_positions = []
    for n in range(2, MAX_GRAM + 1):
        gram = "hash(" + ", ".join(f"h{k}" for k in range(n)) + ")"
        gram_chars = " + ".join(f"l{k}" for k in range(n))
        con.execute(f"""
            CREATE OR REPLACE TEMP TABLE gram_counts AS
            SELECT doc_idx, {gram} AS g, count(*) AS c, any_value({gram_chars}) AS chars, min(pos) AS first_pos
            FROM candidates WHERE h{n - 1} IS NOT NULL GROUP BY ALL HAVING count(*) > 1""")
        repeated = f"""(SELECT * FROM (SELECT *, {gram} AS g FROM candidates WHERE h{n - 1} IS NOT NULL)
                        SEMI JOIN gram_counts USING (doc_idx, g))"""
        if n == 3:
            # Only the starts of repeated trigrams (about a tenth of all positions) get the hashes and lengths of
            # their next tokens, looked up in their document's lists: gathered per document, since joining the
            # lists to every position would copy a document's lists once per position.
            following = ", ".join(f"unnest(list_transform(starts, lambda p: hl[p + {k + 1}])) AS h{k}, "
                                  f"unnest(list_transform(starts, lambda p: ll[p + {k + 1}])) AS l{k}"
                                  for k in range(MAX_GRAM))
            con.execute(f"""
                CREATE OR REPLACE TEMP TABLE next_candidates AS
                SELECT doc_idx, unnest(starts) AS pos, {following}
                FROM (SELECT doc_idx, list(pos ORDER BY pos) AS starts FROM {repeated} GROUP BY doc_idx)
                JOIN base_signals USING (doc_idx)""")
        else:
            con.execute(f"CREATE OR REPLACE TEMP TABLE next_candidates AS SELECT * EXCLUDE (g) FROM {repeated}")
        if n in TOP_NGRAM_SIZES:
            con.execute(f"""
                CREATE OR REPLACE TEMP TABLE repetition AS
                SELECT r.*, coalesce(t.v, first_{n}_chars) AS top_{n}_chars FROM repetition r
                LEFT JOIN (SELECT doc_idx, arg_max(c * (chars + {n - 1}), [c, -first_pos]) AS v
                           FROM gram_counts GROUP BY doc_idx) t USING (doc_idx)""")
        if n in DUP_NGRAM_SIZES:
            dup_positions.append((n, con.execute(f"SELECT doc_idx, pos, {gram} AS g, {gram_chars} AS chars "
                                                 "FROM next_candidates ORDER BY doc_idx, pos").fetchnumpy()))
        con.execute("DROP TABLE candidates")
        con.execute("ALTER TABLE next_candidates RENAME TO candidates")
    doc_idx = con.execute("SELECT doc_idx FROM repetition ORDER BY doc_idx").fetchnumpy()["doc_idx"]
    columns = {"doc_idx": doc_idx}
    for n, rows in dup_positions:
        columns[f"dup_{n}_chars"] = _scan_repeats(doc_idx, rows, n)
    con.register("dup_chars", pa.table(columns))
    con.execute("CREATE OR REPLACE TEMP TABLE repetition AS SELECT * FROM repetition JOIN dup_chars USING (doc_idx)")
    con.unregister("dup_chars")
    for table in ("candidates", "gram_counts"):
        con.execute(f"DROP TABLE IF EXISTS {table}")


def _scan_repeats(doc_idx: np.ndarray, rows: dict[str, np.ndarray], n: int) -> np.ndarray:
    """Per document of `doc_idx` (sorted), the characters of the n-grams that the left-to-right scan finds
    repeated: at each start position not jumped over, an n-gram seen before adds its characters and the scan
    jumps n positions; one not seen before is remembered. `rows` are the positions of repeated n-grams, by
    (document, position). Vectorized over documents: step k handles every document's k-th such position."""
    out = np.zeros(len(doc_idx), dtype=np.int64)
    if len(rows["pos"]) == 0:
        return out
    doc = np.searchsorted(doc_idx, np.asarray(rows["doc_idx"]))
    pos = np.asarray(rows["pos"], dtype=np.int64)
    chars = np.asarray(rows["chars"], dtype=np.int64)
    # one id per (document, n-gram)
    _, gram_id = np.unique(np.stack([doc.astype(np.uint64), np.asarray(rows["g"], dtype=np.uint64)]), axis=1,
                           return_inverse=True)
    gram_id = gram_id.reshape(-1)
    starts = np.flatnonzero(np.concatenate(([True], doc[1:] != doc[:-1])))
    rank = np.arange(len(doc)) - np.repeat(starts, np.diff(np.concatenate((starts, [len(doc)]))))
    by_rank = np.argsort(rank, kind="stable")
    bounds = np.searchsorted(rank[by_rank], np.arange(rank.max() + 2))
    seen = np.zeros(gram_id.max() + 1, dtype=bool)
    next_visit = np.zeros(len(doc_idx), dtype=np.int64)
    k = 0
    # A step costs the same few numpy calls however many documents take part: once few are left (long or
    # repetitive documents), each finishes in a plain loop over its remaining positions.
    while k < len(bounds) - 1 and bounds[k + 1] - bounds[k] >= _VECTOR_STEP_MIN_DOCS:
        r = by_rank[bounds[k]:bounds[k + 1]]
        d = doc[r]
        visited = pos[r] >= next_visit[d]
        known = seen[gram_id[r]]
        hit = r[visited & known]
        seen[gram_id[r[visited & ~known]]] = True
        out[doc[hit]] += chars[hit]
        next_visit[doc[hit]] = pos[hit] + n
        k += 1
    if k < len(bounds) - 1:
        for row_start, row_end in zip(starts.tolist(), np.append(starts[1:], len(doc)).tolist()):
            if row_end - row_start <= k:
                continue
            d = int(doc[row_start])
            limit, total = int(next_visit[d]), 0
            for p_, g_, c_ in zip(pos[row_start + k:row_end].tolist(), gram_id[row_start + k:row_end].tolist(),
                                  chars[row_start + k:row_end].tolist()):
                if p_ < limit:
                    continue
                if seen[g_]:
                    total += c_
                    limit = p_ + n
                else:
                    seen[g_] = True
            out[d] += total
    return out


def _table_exists(con: duckdb.DuckDBPyConnection, name: str) -> bool:
    return bool(con.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = ?", [name]).fetchall()[0][0])
