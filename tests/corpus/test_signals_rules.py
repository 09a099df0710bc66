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
    "few_stop_words": ({"text": " ".join(f"Cheese{i} THE tastes With wonderful the today." for i in range(60))},
                       {"text": GOOD}),
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
    "c4_lorem_ipsum": ({"text": GOOD + "\nLorem ipsum dolor sit amet."}, {"text": GOOD + "\nlorem ipsum"}),
    "c4_curly_bracket": ({"text": GOOD + "\nWe write {braces} in the code."},
                         {"text": GOOD + "\nThe javascript {x} line is skipped."}),
    "c4_too_few_sentences": ({"text": " ".join(SENTENCES[:4])}, {"text": GOOD}),
    "placeholder": ({"text": "Dear [Name],\n\n" + GOOD}, {"text": "Dear Anna,\n\n" + GOOD + " See [1] and [the notes]."}),
    "meta_commentary": ({"text": "Here is a revised version of the document:\n\n" + GOOD},
                        {"text": "Here is the valley where my grandmother lived.\n\n" + GOOD}),
    "invented_byline": ({"text": "Why buses win\nBy Jane Doe, 2019\n\n" + GOOD},
                        {"text": "Why buses win\n\nBy 2019 the town had three bus lines. " + GOOD}),
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
    assert s["n_lines"] == 5                                     # non-blank lines
    assert s["dup_line_frac"] == pytest.approx(1 / 5)
    assert s["bullet_line_ratio"] == pytest.approx(1 / 6)        # over splitlines(), the blank line included
    assert s["ellipsis_line_ratio"] == pytest.approx(1 / 6)
    assert s["placeholder_count"] == 1 and s["meta_commentary_count"] == 1 and s["truncated"]
    assert s["stop_word_count"] == 3                             # distinct: the, with, of
    # 33 tokens, 8 of them punctuation (. . - ... [ ] . .): words are the other 25, tokens with a letter too
    assert s["token_count"] == 33 and s["word_count"] == 25
    assert s["alpha_word_ratio"] == pytest.approx(25 / 33)
    assert s["c4_sentences"] == 4                                # the bullet line and "..." line do not count
    t = signals[1]
    # most frequent 2-gram "two two" twice: 7 chars x 2 over 15 characters
    assert t["top_2gram_char_frac"] == pytest.approx(14 / 15)
    assert t["spec_overlap"] is None or t["spec_overlap"] != t["spec_overlap"]   # no spec: NULL


def test_top_ngram_without_repeats_is_the_first_one_and_ties_go_to_the_earliest() -> None:
    tied = "a b zzz qqq a b zzz qqq"
    signals, _ = evaluate([{"text": "alpha beta gamma delta"}, {"text": tied}])
    assert signals[0]["top_2gram_char_frac"] == pytest.approx(len("alpha beta") / len("alpha beta gamma delta"))
    # "a b", "b zzz" and "zzz qqq" occur twice each: the earliest, "a b", wins the tie (not the longest)
    assert signals[1]["top_2gram_char_frac"] == pytest.approx(2 * len("a b") / len(tied))


def _greedy_duplicate_chars(tokens: list[str], n: int) -> int:
    """The scan as a plain loop: a start position's n-gram seen before adds its characters and jumps n."""
    seen, total, i = set(), 0, 0
    while i < len(tokens) - n + 1:
        gram = tuple(tokens[i:i + n])
        if gram in seen:
            total += sum(map(len, gram))
            i += n
        else:
            seen.add(gram)
            i += 1
    return total


def test_duplicate_ngram_scan_equals_the_plain_loop_on_random_repetitive_texts() -> None:
    rng = random.Random(7)
    vocabulary = ["a", "bb", "ccc", "the", "cheese", "of", "dd"]
    texts = [" ".join(rng.choice(vocabulary[:rng.randint(2, 7)]) for _ in range(rng.randint(0, 300)))
             for _ in range(150)]
    signals, _ = evaluate([{"text": t} for t in texts])
    for text, s in zip(texts, signals):
        for n in (5, 6, 7, 8, 9, 10):
            expected = _greedy_duplicate_chars(text.split(), n) / len(text) if text else None
            value = s[f"dup_{n}gram_char_frac"]
            if expected is None:
                assert value is None or value != value
            else:
                assert value == pytest.approx(expected), (n, text[:80])


def test_key_terms_and_spec_overlap_are_measured_against_the_clause() -> None:
    signals, _ = evaluate([{"text": "Cream cheese from New York. " + GOOD, "spec_id": "cheese_america_broad", "clause_id": CLAUSE}])
    assert signals[0]["key_term_total"] == 4 and signals[0]["key_term_hits"] == 2
    assert signals[0]["spec_overlap"] == pytest.approx(0.0)
