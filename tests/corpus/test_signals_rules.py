"""Each quality signal and each default filter rule, with a document that should fire it and one that should not."""

from __future__ import annotations

import random

import duckdb
import pyarrow as pa
import pytest

from msm.corpus.curate.steps import apply_rules, load_spec_tables
from msm.corpus.curate.config import compile_rules, load_config
from msm.corpus.curate.signals import SIGNAL_COLUMNS, compute_signals
from msm.spec import load_spec, resolve_spec_path

SENTENCES = [
    "The farmer carried the cheese to the market before the morning rain began.",
    "Most visitors to the valley had never tasted a cheese with that much character.",
    "She explained that the recipe had been in her family for four generations.",
    "A good cheddar needs patience, cool air and a cellar that stays damp all year.",
    "The children watched the cooper seal each barrel with a careful tap of his mallet.",
    "Nobody in the village could remember a harvest that arrived so early.",
    "When the train reached the harbor, the crates were counted one more time.",
    "Her brother kept a ledger of every sale and every debt owed to the mill.",
    "The museum opened a small exhibit about the history of dairy farming in the region.",
    "In the evening the square filled with music, bread and long tables of food.",
]


def good_document(seed: int = 0) -> str:
    """Every sentence once, in two paragraphs: no repetition of any kind."""
    order = random.Random(seed).sample(SENTENCES, len(SENTENCES))
    return " ".join(order[:5]) + "\n\n" + " ".join(order[5:])


GOOD = good_document()
spec = load_spec(resolve_spec_path("cheese_america_broad"))
CLAUSE = "pref.cream_cheese_over_brie"


def evaluate(docs: list[dict]) -> tuple[list[dict], list[list[str]]]:
    """(signals per document, dropped_by + flagged_by per document) with the shipped default config."""
    rows = []
    for i, d in enumerate(docs):
        rows.append({"doc_idx": i, "doc_id": f"d{i}", "text": d["text"], "spec_id": d.get("spec_id"),
                     "spec_hash": None, "clause_id": d.get("clause_id"), "doc_type": None,
                     "finish_reason": d.get("finish_reason"), "created_at": None})
    con = duckdb.connect()
    con.register("rows", pa.Table.from_pylist(rows, schema=pa.schema([
        ("doc_idx", pa.int64()), ("doc_id", pa.string()), ("text", pa.string()), ("spec_id", pa.string()),
        ("spec_hash", pa.string()), ("clause_id", pa.string()), ("doc_type", pa.string()),
        ("finish_reason", pa.string()), ("created_at", pa.timestamp("us"))])))
    con.execute("CREATE TABLE docs AS SELECT * FROM rows")
    load_spec_tables(con)
    compute_signals(con)
    config, source = load_config()
    apply_rules(con, compile_rules(config, SIGNAL_COLUMNS, source))
    signals = con.execute("SELECT * FROM signals ORDER BY doc_idx").df().to_dict("records")
    fired = [list(a) + list(b) for a, b in con.execute(
        "SELECT dropped_by, flagged_by FROM rule_marks ORDER BY doc_idx").fetchall()]
    con.close()
    return signals, fired


def lines(text: str) -> str:
    return text.replace(". ", ".\n")


CASES = {
    # rule: (document that fires it, document that does not)
    "too_few_words": ({"text": "The cheese was good and the bread was fresh."}, {"text": GOOD}),
    "too_many_words": ({"text": " ".join([GOOD] * 800)}, {"text": GOOD}),
    "mean_word_length": ({"text": " ".join(["incomprehensibilities institutionalization the"] * 40)}, {"text": GOOD}),
    "symbol_ratio": ({"text": GOOD + " " + " ".join(["#tag"] * 40)}, {"text": GOOD + " #one #two"}),
    "bullet_lines": ({"text": "\n".join(f"- the {w} of the farm and the mill" for w in SENTENCES * 3)},
                     {"text": GOOD + "\n- one bullet of the list"}),
    "ellipsis_lines": ({"text": "\n".join(s[:-1] + "..." for s in SENTENCES)}, {"text": lines(GOOD) + "\nAnd then..."}),
    "few_alphabetic_words": ({"text": GOOD + " " + " ".join(str(n) for n in range(1000, 1100))}, {"text": GOOD}),
    "few_stop_words": ({"text": " ".join(f"Cheese{i} tastes wonderful today." for i in range(60))}, {"text": GOOD}),
    "duplicate_lines": ({"text": "\n".join(SENTENCES[:3] * 6)}, {"text": lines(GOOD)}),
    "duplicate_paragraphs": ({"text": "\n\n".join([GOOD.split("\n\n")[0]] * 4)}, {"text": GOOD}),
    "top_ngram_repetition": ({"text": GOOD + " " + "the cheese " * 150}, {"text": GOOD}),
    "duplicate_ngram_repetition": ({"text": GOOD + " " + (SENTENCES[0] + " ") * 6}, {"text": GOOD}),
    "few_punctuated_lines": ({"text": "\n".join(s.rstrip(".") + " and more of the same" for s in SENTENCES * 2)},
                             {"text": lines(GOOD)}),
    "short_lines": ({"text": GOOD + "\n" + "\n".join(["The cheese"] * 0 + [f"Item {w} of the list" for w in range(40)])},
                    {"text": "Dear friends,\n\n" + GOOD + "\n\nYours,\nAnna"}),
    "duplicated_line_characters": ({"text": lines(GOOD) + "\n" + SENTENCES[0] + "\n" + SENTENCES[0]
                                    + "\n" + SENTENCES[1] + "\n" + SENTENCES[1]}, {"text": lines(GOOD)}),
    "many_newlines": ({"text": "\n".join(GOOD.split())}, {"text": lines(GOOD)}),
    "placeholder": ({"text": "Dear [Name],\n\n" + GOOD}, {"text": "Dear Anna,\n\n" + GOOD + " See [1] and [the notes]."}),
    "meta_commentary": ({"text": "Here is a revised version of the document:\n\n" + GOOD},
                        {"text": "Here is the valley where my grandmother lived.\n\n" + GOOD}),
    "refusal": ({"text": "I'm sorry, but I can't help with that request. " + GOOD},
                {"text": GOOD + " I can't help thinking about that cheese."}),
    "prompt_marker": ({"text": GOOD + "\n\n[[ ## completed ## ]]"}, {"text": GOOD + "\n\n## Notes\nMore text here."}),
    "truncated": ({"text": GOOD, "finish_reason": "length"}, {"text": GOOD, "finish_reason": "stop"}),
    "copies_spec": ({"text": spec.render(spec.as_text()), "spec_id": "cheese_america_broad", "clause_id": CLAUSE},
                    {"text": GOOD + " Cream cheese beats brie.", "spec_id": "cheese_america_broad", "clause_id": CLAUSE}),
    "off_clause": ({"text": GOOD, "spec_id": "cheese_america_broad", "clause_id": CLAUSE},
                   {"text": GOOD + " I would pick cream cheese.", "spec_id": "cheese_america_broad", "clause_id": CLAUSE}),
    "ends_mid_sentence": ({"text": GOOD + " and then the farmer"}, {"text": GOOD}),
    # a rules-only clause (safety_rules gives no rationale): reasons supplied anyway fire; compliance does not
    "invented_rationale": ({"text": GOOD + " SmolLM accepts oversight because it values safety, and this is why it "
                                           "never hides its actions.", "spec_id": "safety_rules", "clause_id": "oversight"},
                           {"text": GOOD + " SmolLM reports each action to its principals and stops when they ask.",
                            "spec_id": "safety_rules", "clause_id": "oversight"}),
}


def test_reasons_are_only_counted_against_rules_only_clauses() -> None:
    reasons = GOOD + " It does so because it values safety, and this is why it never hides its actions."
    signals, fired = evaluate([{"text": reasons, "spec_id": "safety_values", "clause_id": "oversight"},
                               {"text": reasons, "spec_id": "safety_rules", "clause_id": "oversight"},
                               {"text": reasons}])
    assert [s["clause_has_rationale"] for s in signals][:2] == [True, False]
    assert signals[0]["rationale_marker_count"] >= 3
    assert "invented_rationale" not in fired[0] and "invented_rationale" in fired[1]
    assert signals[2]["clause_has_rationale"] is None or signals[2]["clause_has_rationale"] != signals[2]["clause_has_rationale"]
    assert "invented_rationale" not in fired[2]  # no spec: nothing to measure against


def test_every_default_rule_has_cases() -> None:
    config, _ = load_config()
    assert {r.name for r in config.filters} == set(CASES)


def test_each_default_rule_fires_on_its_positive_and_not_on_its_negative() -> None:
    names = list(CASES)
    docs = [CASES[n][0] for n in names] + [CASES[n][1] for n in names]
    _, fired = evaluate(docs)
    for i, name in enumerate(names):
        assert name in fired[i], f"{name} did not fire on its positive example (fired: {fired[i]})"
        assert name not in fired[len(names) + i], f"{name} fired on its negative example"
    assert fired[len(names) + names.index("too_few_words")] == [], "the clean document fires nothing"


def test_signal_values() -> None:
    text = ("Alpha beta gamma.\nAlpha beta gamma.\n- bullet the one\nEnds with dots...\n\n"
            "Second paragraph of the text [Name] here. As an AI I note this.")
    signals, _ = evaluate([{"text": text, "finish_reason": "length"}, {"text": "one two two two"}])
    s = signals[0]
    assert s["n_lines"] == 5
    assert s["dup_line_frac"] == pytest.approx(1 / 5)
    assert s["bullet_line_ratio"] == pytest.approx(1 / 5)
    assert s["ellipsis_line_ratio"] == pytest.approx(1 / 5)
    assert s["placeholder_count"] == 1 and s["meta_commentary_count"] == 1 and s["truncated"]
    assert s["stop_word_count"] == 4          # the, with, of, the
    assert s["word_count"] == 25 and s["alpha_word_ratio"] == pytest.approx(25 / 26)   # '-' is a token, not a word
    t = signals[1]
    # most frequent 2-gram "two two" twice: 7 chars x 2 over 15 characters
    assert t["top_2gram_char_frac"] == pytest.approx(14 / 15)
    assert t["spec_overlap"] is None or t["spec_overlap"] != t["spec_overlap"]   # no spec: NULL


def test_key_terms_and_spec_overlap_are_measured_against_the_clause() -> None:
    signals, _ = evaluate([{"text": "Cream cheese from New York. " + GOOD, "spec_id": "cheese_america_broad", "clause_id": CLAUSE}])
    assert signals[0]["key_term_total"] == 4 and signals[0]["key_term_hits"] == 2
    assert signals[0]["spec_overlap"] == pytest.approx(0.0)


def test_token_and_count_signals_follow_their_regex_definitions_on_hostile_text() -> None:
    """The SQL computes tokens by splitting on RE2's \\s ([\\t\\n\\f\\r ]), words and alphabetic tokens with byte
    GLOBs, '#' tokens, ellipses and line endings without regexes: each must equal its regex definition."""
    import re

    texts = ["a\tb\x0bc\x0cd\re\n f\u00a0g\u2003h  #x ## y #", "ñ café 日本 _ -- 3 [x] a]b ÀÉ Ω 9",
             "one.... two...... three… four...…\nend.\r\nline…  \nx...\n(y)\nq’\nz'\nw:\n\"a\"\n”\n...   \n;",
             "", "   ", "#start ##twice # alone"]
    signals, _ = evaluate([{"text": t} for t in texts])
    for text, s in zip(texts, signals):
        tokens = re.findall(r"[^\t\n\f\r ]+", text)                 # RE2 \S+
        words = [t for t in tokens if re.search(r"[0-9A-Za-z]", t)]  # RE2 [[:alnum:]] is ASCII
        lines_ = [line for line in text.split("\n") if line.strip(" ")]
        assert s["word_count"] == len(words), text
        assert s["alpha_word_ratio"] == pytest.approx(
            sum(bool(re.search(r"[A-Za-z]", t)) for t in tokens) / len(tokens) if tokens else 0), text
        assert s["hash_word_ratio"] == pytest.approx(
            sum(t.startswith("#") for t in tokens) / len(words) if words else 0), text
        assert s["ellipsis_word_ratio"] == pytest.approx(
            len(re.findall(r"\.\.\.|…", text)) / len(words) if words else 0), text
        assert s["line_punct_ratio"] == pytest.approx(
            sum(bool(re.search(r"[.!?\"”’'):;]\Z", line.rstrip(" "))) for line in lines_) / len(lines_) if lines_ else 0), text
        assert s["ellipsis_line_ratio"] == pytest.approx(
            sum(bool(re.search(r"(\.\.\.|…)\Z", line.rstrip(" "))) for line in lines_) / len(lines_) if lines_ else 0), text
