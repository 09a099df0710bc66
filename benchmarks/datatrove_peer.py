"""msm's default Gopher / FineWeb / C4 rules against datatrove 0.10.1's filters, rule by rule, on the same documents.

    .venv/bin/python benchmarks/datatrove_peer.py [--n-planted 1500] [--n-prose 1500]

Documents: the planted corpus (benchmarks/planted.py), prose documents with the punctuation of real writing
(contractions, quotes, dashes, numbers, abbreviations, headings, lists) and, for every threshold of every rule,
documents built to land just below and just above it (`straddling_documents`). For each msm rule, datatrove runs
the filter with only that rule's check switched on (its other thresholds disabled), so every document gets one
decision per rule from each side. Prints agreement and Cohen's kappa per rule and the documents that disagree;
`tests/corpus/test_datatrove_peer.py` asserts agreement >= 0.995 and kappa >= 0.95 for every rule.

Documents a datatrove filter rejects before any check ("empty": no text, or for FineWeb no non-blank line) are
left out of that filter's rules.
"""

from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import duckdb  # noqa: E402
import pyarrow as pa  # noqa: E402

from planted import planted_corpus, prose_document  # noqa: E402

from msm.corpus.curate.config import compile_rules, load_config  # noqa: E402
from msm.corpus.curate.signals import SIGNAL_COLUMNS, compute_signals  # noqa: E402
from msm.corpus.curate.steps import apply_rules  # noqa: E402

OFF = None


def datatrove_checks() -> dict[str, tuple[str, object]]:
    """msm rule name -> (datatrove filter family, filter with only that rule's check on)."""
    from datatrove.pipeline.filters import (C4QualityFilter, FineWebQualityFilter, GopherQualityFilter,
                                            GopherRepetitionFilter)

    quality_off = dict(min_doc_words=OFF, max_doc_words=OFF, min_avg_word_length=OFF, max_avg_word_length=OFF,
                       max_symbol_word_ratio=OFF, max_bullet_lines_ratio=OFF, max_ellipsis_lines_ratio=OFF,
                       max_non_alpha_words_ratio=OFF, min_stop_words=OFF)
    repetition_off = dict(dup_line_frac=OFF, dup_para_frac=OFF, dup_line_char_frac=OFF, dup_para_char_frac=OFF,
                          top_n_grams=(), dup_n_grams=())
    # FineWeb's checks cannot be switched off by None: thresholds no ratio can cross do it.
    fineweb_off = dict(line_punct_thr=0.0, short_line_thr=1.0, char_duplicates_ratio=1.0, new_line_ratio=float("inf"))
    c4_off = dict(filter_lorem_ipsum=False, filter_curly_bracket=False, min_num_sentences=-1)

    def quality(**on):
        return "gopher_quality", GopherQualityFilter(**{**quality_off, **on})

    def repetition(**on):
        return "gopher_repetition", GopherRepetitionFilter(**{**repetition_off, **on})

    def fineweb(**on):
        return "fineweb", FineWebQualityFilter(**{**fineweb_off, **on})

    def c4(**on):
        return "c4", C4QualityFilter(**{**c4_off, **on})

    return {
        "too_few_words": quality(min_doc_words=50),
        "too_many_words": quality(max_doc_words=100000),
        "mean_word_length": quality(min_avg_word_length=3, max_avg_word_length=10),
        "symbol_ratio": quality(max_symbol_word_ratio=0.1),
        "bullet_lines": quality(max_bullet_lines_ratio=0.9),
        "ellipsis_lines": quality(max_ellipsis_lines_ratio=0.3),
        "few_alphabetic_words": quality(max_non_alpha_words_ratio=0.8),
        "few_stop_words": quality(min_stop_words=2),
        "duplicate_lines": repetition(dup_line_frac=0.3, dup_line_char_frac=0.2),
        "duplicate_paragraphs": repetition(dup_para_frac=0.3, dup_para_char_frac=0.2),
        "top_ngram_repetition": repetition(top_n_grams=((2, 0.2), (3, 0.18), (4, 0.16))),
        "duplicate_ngram_repetition": repetition(
            dup_n_grams=((5, 0.15), (6, 0.14), (7, 0.13), (8, 0.12), (9, 0.11), (10, 0.10))),
        "few_punctuated_lines": fineweb(line_punct_thr=0.12),
        "short_lines": fineweb(short_line_thr=0.67),
        "duplicated_line_characters": fineweb(char_duplicates_ratio=0.01),
        "many_newlines": fineweb(new_line_ratio=0.3),
        "c4_lorem_ipsum": c4(filter_lorem_ipsum=True),
        "c4_curly_bracket": c4(filter_curly_bracket=True),
        "c4_too_few_sentences": c4(min_num_sentences=5),
    }


def datatrove_decisions(texts: list[str]) -> dict[str, list[bool | None]]:
    """Per rule, per document: True if datatrove drops it, None if the filter rejects it before any check."""
    from datatrove.data import Document

    checks = datatrove_checks()
    decisions: dict[str, list[bool | None]] = {rule: [] for rule in checks}
    # Document by document, so datatrove's own cache of the last few tokenizations serves all rules of one text.
    for i, text in enumerate(texts):
        for rule, (_, check) in checks.items():
            result = check.filter(Document(text=text, id=str(i)))   # C4 rewrites doc.text: a fresh one each time
            reason = result[1] if isinstance(result, tuple) else None
            decisions[rule].append(None if reason == "empty" else result is not True)
    return decisions


def msm_decisions(texts: list[str]) -> dict[str, list[bool]]:
    """Per default rule, per document: True if the rule fires."""
    n = len(texts)
    con = duckdb.connect()
    try:
        con.register("rows", pa.table({"doc_idx": list(range(n)), "doc_id": [str(i) for i in range(n)], "text": texts,
                                       "spec_id": pa.nulls(n, pa.string()), "clause_id": pa.nulls(n, pa.string()),
                                       "finish_reason": pa.nulls(n, pa.string())}))
        con.execute("CREATE TABLE docs AS SELECT * FROM rows")
        compute_signals(con)
        config, source = load_config()
        rules = compile_rules(config, SIGNAL_COLUMNS, source)
        apply_rules(con, rules)
        fired = [set(d) | set(f) for d, f in
                 con.execute("SELECT dropped_by, flagged_by FROM rule_marks ORDER BY doc_idx").fetchall()]
    finally:
        con.close()
    return {rule.name: [rule.name in f for f in fired] for rule in rules}


def agreement(ours: list[bool], theirs: list[bool | None]) -> dict:
    """Agreement and Cohen's kappa over the documents datatrove decided (None left out)."""
    pairs = [(bool(a), b) for a, b in zip(ours, theirs) if b is not None]
    n = len(pairs)
    agree = sum(a == b for a, b in pairs)
    p_ours = sum(a for a, _ in pairs) / n
    p_theirs = sum(b for _, b in pairs) / n
    expected = p_ours * p_theirs + (1 - p_ours) * (1 - p_theirs)
    observed = agree / n
    kappa = 1.0 if expected == 1 else (observed - expected) / (1 - expected)
    disagree = [i for i, (a, b) in enumerate(zip(ours, theirs)) if b is not None and bool(a) != b]
    return {"documents": n, "drops_msm": sum(a for a, _ in pairs), "drops_datatrove": sum(b for _, b in pairs),
            "agreement": observed, "kappa": kappa, "disagree": disagree}


# ---- documents that straddle each threshold ---------------------------------------------------------------------

def _prose(rng: random.Random, words: int | None = None) -> str:
    text = prose_document(rng)
    if words is not None:
        text = " ".join(text.split()[:words])
    return text


def straddling_documents(seed: int = 0) -> list[str]:
    """Documents whose signals sit on both sides of every default threshold, built from prose with punctuation."""
    rng = random.Random(seed)
    docs: list[str] = []
    filler = ["Cheddar", "is", "a", "firm", "cheese", "that", "many", "people", "enjoy", "with", "bread", "and", "apples"]
    for k in range(36, 66):                                           # 50 words, counted without punctuation
        docs.append(_prose(rng, k))
        docs.append(" ".join(rng.choice(filler) for _ in range(k)) + ", and—yes—it's fine.")
    for _ in range(2):                                                 # 100,000 words
        base = ("The farmer sold the cheese at the market. " * 12500).split()
        docs.append(" ".join(base[:100000 - 6 + rng.choice((-3, 0, 3, 6, 9))]) + " It's done.")
    long_words = ["internationalization", "incomprehensibility", "characteristically", "responsibilities"]
    short_words = ["a", "I", "of", "to", "an", "it", "we", "so", "the", "at"]
    for share in [i / 40 for i in range(41)]:                          # mean word length 3 and 10
        words = [rng.choice(long_words) if rng.random() < share else rng.choice(short_words) for _ in range(120)]
        docs.append(" ".join(words) + ". " + _prose(rng, 10))
        words = [rng.choice(long_words) if rng.random() < share else "cheese" for _ in range(120)]
        docs.append(" ".join(words) + ". The end.")
    for k in range(0, 50, 2):                                          # '#' and ellipses per token: 0.1
        base = _prose(rng, 200)
        docs.append(base + " " + " ".join(["#tag"] * k))
        docs.append(base + " " + " ".join(["wait..."] * (k // 2)) + " " + "… " * (k - k // 2))
    for n_lines in (10, 20, 31):                                       # bullet lines 0.9, ellipsis lines 0.3
        for k in range(n_lines + 1):
            lines = [("- " if i < k else "") + _prose(rng, 8) for i in range(n_lines)]
            docs.append("\n".join(lines) + ("\n" if rng.random() < 0.5 else ""))
            lines = [_prose(rng, 8).rstrip(".") + ("..." if i < k else ".") for i in range(n_lines)]
            docs.append("\n\n".join(lines))
        docs.append("\n".join(["• " + _prose(rng, 6) for _ in range(n_lines)] + [""] * 3))
    for k in range(0, 160, 5):                                         # alphabetic tokens 0.8
        base = _prose(rng, 150)
        extra = " ".join(rng.choice(["42", "3.5", "(1)", "—", "1,000", "%", "2020-2021", "$5"]) for _ in range(k))
        docs.append(base + " " + extra)
    for stop in ([], ["the"], ["The", "With"], ["the", "The"], ["the", "of"], ["be", "be"], ["and", "that"]):
        words = [rng.choice(["Cheddar", "Colby", "Brie", "melts", "slowly", "tastes", "sharp", "aged", "Monday"])
                 for _ in range(80)] + stop
        rng.shuffle(words)
        docs.append(" ".join(words) + ".")
    sentences = [_prose(rng, 12) for _ in range(40)]
    for n_lines in (10, 13, 20):                                       # duplicate lines / paragraphs 0.3, 0.2
        for k in range(0, n_lines):
            lines = sentences[:n_lines - k] + [sentences[0]] * k
            rng.shuffle(lines)
            docs.append("\n".join(lines))
            docs.append("\n\n".join(lines))
            docs.append("\n \n".join(lines))                           # whitespace-only lines are lines, not breaks
    for k in range(0, 40, 2):                                          # top n-gram 0.2/0.18/0.16
        base = _prose(rng, 120)
        docs.append(base + " " + "the cheese " * k)
        docs.append(base + " " + "I'd say cheddar, " * k)
        docs.append(base + " " + " ".join(f"the old cheese {rng.choice(['shop', 'cave', 'cart'])}" for _ in range(k)))
    for k in range(0, 12):                                             # duplicated 5..10-grams 0.15..0.10
        base = _prose(rng, 180)
        repeat = _prose(rng, rng.randint(5, 14))
        docs.append(base + " " + " ".join([repeat] * k))
        docs.append(" ".join([repeat] * k) + " " + base + " " + repeat)
    for n_lines in (8, 17, 25, 34):                                    # punctuated lines 0.12, short lines 0.67
        for k in range(n_lines + 1):
            lines = [_prose(rng, 9).rstrip(".!?") + (rng.choice([".", "!", "?"]) if i < k else rng.choice(["", ",", ":"]))
                     for i in range(n_lines)]
            docs.append("\n".join(lines))
            lines = [("Item " + str(i) if i < k else _prose(rng, 10)) for i in range(n_lines)]
            docs.append("\n".join(lines))
    for k in range(0, 12):                                             # duplicated line characters 0.01
        base = "\n".join(_prose(rng, 14) for _ in range(25))
        sign_off = rng.choice(["Best,", "Yours truly,", "Thanks!", "Anna"])
        docs.append(base + ("\n" + sign_off) * (k + 1) + "\n" + sign_off[:k])
    for k in range(20, 120, 4):                                        # newlines per word 0.3
        words = _prose(rng, 200).split()
        docs.append("\n".join(" ".join(words[i:i + max(1, 200 // k)]) for i in range(0, 200, max(1, 200 // k))))
    hostile = ["a\tb\x0bc\x0cd\re\n f\u00a0g\u2003h  #x ## y #", "ñ café 日本 _ -- 3 [x] a]b ÀÉ Ω 9",
               "one.... two...... three… four...…\nend.\r\nline…  \nx...\n(y)\nq’\nz'\nw:\n\"a\"\n”\n...   \n;",
               "   ", "#start ##twice # alone", "\n\nleading and trailing newlines\n\n", "x\u2028y\u2029z\x85w\x1cv",
               "  - indented bullet\n\t• tab bullet\n-no space\n•\n", "It's 5 p.m. in the U.S.A. Mr. Li isn't here!"]
    docs += [h + " " + _prose(rng, 60) for h in hostile] + [_prose(rng, 60) + " " + h for h in hostile]
    base_lines = [_prose(rng, 12) for _ in range(8)]                   # C4: lorem ipsum, curly brackets, sentences
    for variant in range(12):
        lines = list(base_lines)
        lines[variant % 8] = ["Lorem ipsum dolor sit amet.", "lorem ipsum dolor", "Lorem ipsum is here {x}.",
                              "We use {braces} in code.", "See {this}", "JavaScript needs {braces} here.",
                              "Our privacy policy covers cookies {x}.", "Two {words}.", "A {b} c d e f.",
                              "Write it as {\"a\": 1}.", "Lorem Ipsum text appears here again!",
                              "Nothing odd in this line at all."][variant]
        docs.append("\n".join(lines))
    for n in range(1, 9):
        for style in range(4):
            sentences_ = [_prose(rng, 7).rstrip(".") + "." for _ in range(n)]
            if style == 0:
                docs.append("\n".join(sentences_))
            elif style == 1:
                docs.append(" ".join(sentences_))
            elif style == 2:
                docs.append("Dr. Smith and Mrs. Jones met in the U.S. at 3.5 p.m. on Jan. 5. " * 0
                            + " ".join(s.replace(".", "!") if i % 2 else s for i, s in enumerate(sentences_))
                            + "\nShort line\nAnother one")
            else:
                docs.append(" ".join(f"Dr. Lee said \"{s}\" Then" for s in sentences_[:-1]) + " " + sentences_[-1]
                            + " See e.g. the U.S. notes [1].")
    return docs


def peer_corpus(n_planted: int, n_prose: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    return ([d.text for d in planted_corpus(n_planted, seed=seed)] + [prose_document(rng) for _ in range(n_prose)]
            + straddling_documents(seed))


def main() -> None:
    parser = argparse.ArgumentParser(description="msm default rules vs datatrove filters, rule by rule")
    parser.add_argument("--n-planted", type=int, default=1500)
    parser.add_argument("--n-prose", type=int, default=1500)
    parser.add_argument("--show", type=int, default=3, help="disagreeing documents to print per rule")
    args = parser.parse_args()
    texts = peer_corpus(args.n_planted, args.n_prose)
    ours = msm_decisions(texts)
    theirs = datatrove_decisions(texts)
    print(f"{len(texts)} documents ({args.n_planted} planted, {args.n_prose} prose, the rest straddle thresholds)\n")
    print("| rule | documents | drops msm | drops datatrove | agreement | kappa |\n|---|---|---|---|---|---|")
    shown = []
    for rule in theirs:
        s = agreement(ours[rule], theirs[rule])
        print(f"| {rule} | {s['documents']} | {s['drops_msm']} | {s['drops_datatrove']} | {s['agreement']:.4f} | "
              f"{s['kappa']:.3f} |")
        shown += [(rule, i) for i in s["disagree"][:args.show]]
    for rule, i in shown:
        print(f"\n--- {rule}: msm {'drops' if ours[rule][i] else 'keeps'}, datatrove the opposite:\n{texts[i][:600]!r}")


if __name__ == "__main__":
    main()
