"""The default curation's `invented_byline` and `meta_commentary` rules, measured on planted documents: recall on
bylines with a year and on chat meta-commentary written into clean documents, precision against near misses
(prose that says "by 2019", "here is why", a signed letter without a year), and false positives on the shipped
clean texts (generic replay corpus, regression items, the test corpora). The numbers are printed for the report
(`pytest -s`)."""

from __future__ import annotations

import json
from pathlib import Path

from tests.corpus.test_signals_rules import SENTENCES, evaluate, good_document

REPO = Path(__file__).resolve().parents[2]

BYLINES = [
    "By Jane Doe, 2019", "By Dr. Maria Lopez | March 2021", "Written by Sam Lee (March 2021)",
    "Written by Anna-Lena Berg, 12 June 2018", "Posted by Tom O'Brien on 3 May 2022", "Author: Priya Natarajan, 2020",
    "**By Michael Chen** — January 2023", "By Ravi Kumar, Staff Writer, 2017", "Authored by Lucia van der Berg, 2015",
    "_By Grace Hopper, October 1999_", "By Olu Adeyemi (2024)", "Author: K. Tanaka — published 2016",
]
META = [
    "Here's a revised version of the article:", "Sure! Below is the document you asked for.",
    "Certainly! Here is a newsletter article about buses.", "I hope this helps!",
    "I've revised the document to make the argument clearer.", "Below you will find the updated draft.",
    "Here is the rewritten version with a warmer tone:", "Let me know if you would like any changes.",
    "As an AI, I do not have a favourite fruit, but here is the story.", "Okay, here's the final version:",
    "Of course! Here's a blog post about apples.", "Feel free to ask for another draft.",
]
NEAR_MISSES = [  # prose a real document may contain: none of these is a byline or the writer talking to a user
    "By 2019 the town had three bus lines.", "By the spring of 2021 the orchard was full of apples.",
    "Here is why the bus matters to a family budget.", "Here is the valley where my grandmother lived.",
    "Written on the wall of the depot, in letters from 1998, was the old timetable.",
    "The report by the transport committee, published in 2019, counted every fare.",
    "Yours sincerely,\nAnna Berg", "By train, by bus and on foot, the children reached the market.",
    "Sure enough, the mangoes had gone soft by Friday.", "She said she hoped this helps the council decide.",
    "The revised version of the timetable came out in 2020.", "By then, 2022 had become the year of the bus.",
]


def _planted(line: str, where: int, seed: int) -> str:
    """`line` as the first line, after a title, or at the end of an otherwise clean document."""
    doc = good_document(seed)
    return [f"{line}\n\n{doc}", f"Apples and buses\n{line}\n\n{doc}", f"{doc}\n\n{line}"][where % 3]


def _rates(texts: list[str], rule: str) -> float:
    _, fired = evaluate([{"text": t} for t in texts])
    return sum(rule in f for f in fired) / len(texts)


def test_planted_bylines_and_meta_commentary_are_dropped_and_near_misses_kept():
    bylines = [_planted(b, i, i) for i, b in enumerate(BYLINES)]
    meta = [_planted(m, i, i) for i, m in enumerate(META)]
    clean = [_planted(n, i, i) for i, n in enumerate(NEAR_MISSES)]
    _, fired = evaluate([{"text": t} for t in bylines + meta + clean])
    by_fired = [f for f in fired[:len(bylines)]]
    meta_fired = [f for f in fired[len(bylines):len(bylines) + len(meta)]]
    clean_fired = [f for f in fired[len(bylines) + len(meta):]]
    byline_recall = sum("invented_byline" in f for f in by_fired) / len(bylines)
    meta_recall = sum("meta_commentary" in f for f in meta_fired) / len(meta)
    byline_fp = sum("invented_byline" in f for f in clean_fired)
    meta_fp = sum("meta_commentary" in f for f in clean_fired)
    tp_b, tp_m = byline_recall * len(bylines), meta_recall * len(meta)
    print(json.dumps({"byline_recall": byline_recall, "meta_recall": meta_recall,
                      "byline_precision": tp_b / (tp_b + byline_fp) if tp_b + byline_fp else None,
                      "meta_precision": tp_m / (tp_m + meta_fp) if tp_m + meta_fp else None,
                      "near_miss_false_positives": {"invented_byline": byline_fp, "meta_commentary": meta_fp}}))
    missed = [BYLINES[i] for i, f in enumerate(by_fired) if "invented_byline" not in f]
    missed += [META[i] for i, f in enumerate(meta_fired) if "meta_commentary" not in f]
    assert not missed, missed
    wrong = [NEAR_MISSES[i] for i, f in enumerate(clean_fired) if {"invented_byline", "meta_commentary"} & set(f)]
    assert not wrong, wrong


def _shipped_clean_texts() -> list[str]:
    texts = []
    for name in ("train/data_generic_replay.jsonl", "eval/regression_items.jsonl"):
        for line in (REPO / name).read_text(encoding="utf-8").splitlines():
            record = json.loads(line)
            if isinstance(record.get("text"), str) and len(record["text"].split()) >= 20:
                texts.append(record["text"])
    return texts + [good_document(seed) for seed in range(20)] + SENTENCES


def test_no_false_positives_on_the_shipped_clean_texts():
    texts = _shipped_clean_texts()
    _, fired = evaluate([{"text": t} for t in texts])
    hits = [texts[i][:80] for i, f in enumerate(fired) if {"invented_byline", "meta_commentary"} & set(f)]
    print(json.dumps({"shipped_clean_texts": len(texts), "false_positives": len(hits)}))
    assert len(texts) > 40 and not hits, hits
