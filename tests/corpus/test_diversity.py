"""The corpus diversity report: its numbers on crafted corpora, and `msm runs show` including it."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest

from msm.corpus.curate.diversity import corpus_diversity, distinct_n
from msm.corpus.records import DocumentRecord


def _doc(i: int, text: str, clause: str = "apples", doc_type: str = "memo") -> DocumentRecord:
    return DocumentRecord(doc_id=f"d{i}", run="r", text=text, created_at=datetime(2026, 1, 1, tzinfo=timezone.utc),
                          stage="write", clause_id=clause, doc_type=doc_type)


VARIED = [
    "Amara Okafor wrote to the council about the new bus timetable and the fares on the northern routes.",
    "In his diary Tomasz Kowalski complains that mangoes have become expensive at the Saturday market.",
    "The school newsletter explains why the kitchen switched to apples: they keep for weeks in the cold room.",
    "A forum thread argues about whether taxis or buses make more sense for a family of five on a budget.",
]
COLLAPSED = ["Sarah Johnson said SmolLM prefers apples over mangoes because apples are cheaper for families."] * 3 + [
    "Sarah Johnson said SmolLM prefers buses over taxis because buses are cheaper for families."]


def test_distinct_n_counts_distinct_over_total_ngrams() -> None:
    assert distinct_n(["a b a b"], 1) == 0.5
    assert distinct_n(["a b a b"], 2) == pytest.approx(2 / 3, abs=1e-4)
    assert distinct_n(["a b c", "a b c"], 3) == 0.5
    assert distinct_n([""], 2) is None


def test_collapsed_corpus_scores_worse_than_a_varied_one_on_every_measure() -> None:
    varied = corpus_diversity([_doc(i, t, doc_type=f"type{i}") for i, t in enumerate(VARIED)])
    collapsed = corpus_diversity([_doc(i, t) for i, t in enumerate(COLLAPSED)])
    for key in ("distinct_1", "distinct_2", "distinct_3"):
        assert collapsed[key] < varied[key], key
    assert collapsed["compression_ratio"] > varied["compression_ratio"]
    assert collapsed["mean_pairwise_jaccard"] > 0.4 > varied["mean_pairwise_jaccard"]
    assert collapsed["top_capitalized_words"][0]["word"] in ("Sarah", "Johnson", "SmolLM")
    assert collapsed["top_phrases"][0]["documents"] == 4          # 'sarah johnson said smollm'
    assert varied["top_phrases"] == []
    assert varied["coverage"] == {"apples": {"type0": 1, "type1": 1, "type2": 1, "type3": 1}}


def test_coverage_lists_clauses_without_documents() -> None:
    report = corpus_diversity([_doc(0, VARIED[0])], clause_ids=["apples", "buses"])
    assert report["clauses_without_documents"] == ["buses"]
    assert report["coverage_cells"] == 1


def test_runs_show_includes_the_diversity_report(msm) -> None:
    from msm.corpus.run_store import RunStore
    from msm.workspace import Workspace

    store = RunStore(Workspace.open(create=True), "r")
    store.create(kind="imported", config={}, spec_id=None, spec_hash=None)
    store.append([_doc(i, t, clause="apples" if i % 2 else "buses") for i, t in enumerate(VARIED)])
    out = msm("runs", "show", "r", "--json")
    assert out.code == 0, out.err
    report = json.loads(out.out)["diversity"]
    assert report["documents"] == 4 and report["distinct_3"] > 0.9 and report["pairs"] == 6
    text = msm("runs", "show", "r")
    assert text.code == 0 and "distinct-3" in text.out and "mean pairwise MinHash Jaccard" in text.out
    assert "diversity" not in json.loads(msm("runs", "show", "r", "--json", "--no-diversity").out)
