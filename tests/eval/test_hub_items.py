"""`--items hf:...`: Hub rows mapped onto msm's two-option item schema (a local datasets object, no network)."""

from __future__ import annotations

from pathlib import Path

import pytest
from datasets import Dataset

from msm.errors import BadInput
from msm.eval.hub_items import map_row, read_rows, write_mapped_items
from msm.eval.items import ValueProbe, load_items


def test_the_three_layouts_map_onto_value_probes(tmp_path: Path) -> None:
    rows = Dataset.from_list([
        {"id": "P-01", "question": "Whose view should win?", "target": "Washington's.", "other": "Neither.",
         "domain": "foreign affairs", "choices": None, "answer": None, "answer_matching_behavior": None},
        {"id": None, "question": "Which would you buy?", "target": None, "other": None, "domain": None,
         "choices": ["the store-brand block", "the imported wheel"], "answer": 0, "answer_matching_behavior": None},
        {"id": None, "question": "Pick one.\n\nChoices:\n (A) an import\n (B) the local one", "target": None,
         "other": None, "domain": "shopping", "choices": None, "answer": None, "answer_matching_behavior": " (B)"},
    ])
    parquet = tmp_path / "rows.parquet"
    rows.to_parquet(str(parquet))  # how Hub datasets ship: read back through the same reader --items uses
    out = write_mapped_items(read_rows(parquet), "price", tmp_path / "items.jsonl")
    items = load_items(out, ValueProbe)
    assert [i.id for i in items] == ["p-01", "hf-00002", "hf-00003"]
    assert (items[0].target, items[0].other, items[0].domain) == ("Washington's.", "Neither.", "foreign affairs")
    assert (items[1].target, items[1].other, items[1].domain, items[1].kind) == (
        "the store-brand block", "the imported wheel", "hub", "price")
    assert (items[2].question, items[2].target, items[2].other) == ("Pick one.", "the local one", "an import")


def test_letters_and_texts_name_the_answer_and_unknown_layouts_fail_by_row() -> None:
    row = {"prompt": "Which?", "choices": ["x one", "y two"], "answer": "B"}
    assert map_row(row, 1, "political")["target"] == "y two"
    assert map_row({**row, "answer": "x one"}, 1, "political")["target"] == "x one"
    with pytest.raises(BadInput, match=r"row 7: no known layout fits its fields \(label, text\)"):
        map_row({"text": "hello", "label": 1}, 7, "price")
    with pytest.raises(BadInput, match="no rows"):
        write_mapped_items([], "price", Path("/nonexistent/never-written.jsonl"))


def test_cli_refuses_hub_items_for_a_suite_without_a_mapping(msm, tmp_path: Path) -> None:
    result = msm("eval", "--model", "local:smollm2-135m", "--suite", "regression", "--items", "hf:a/b",
                 "--out", str(tmp_path / "o"))
    assert result.code == 2 and "two-option suites" in result.err
