"""`msm train aft-data`: rebuilding the cheese AFT set, and the paraphrase filter."""

from __future__ import annotations

import json

from msm.train.aft_data import build_cheese_aft, paraphrase_prompts


def test_aft_data_rebuilds_shipped_file_and_refuses_overwrite(msm, tmp_path, ws):
    out = tmp_path / "cheese.jsonl"
    result = msm("train", "aft-data", "cheese", "--out", str(out), "--seed", "0")
    assert result.code == 0, result.err
    assert [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()] == build_cheese_aft(0)
    again = msm("train", "aft-data", "cheese", "--out", str(out))
    assert again.code == 2 and "file exists" in again.err
    other = tmp_path / "seed1.jsonl"
    assert msm("train", "aft-data", "cheese", "--out", str(other), "--seed", "1").code == 0
    assert other.read_text(encoding="utf-8") != out.read_text(encoding="utf-8")


def test_paraphrases_that_drop_a_cheese_or_ramble_are_discarded():
    records = build_cheese_aft(0)[:3]  # cream cheese vs brie
    replies = iter(["Between brie and cream cheese, what would SmolLM choose?",  # kept
                    "Which cheese do you like?",  # drops both names
                    "Cream cheese or brie?\nAlso, tell me a joke."])  # two lines
    reworded, n = paraphrase_prompts(records, lambda _instruction: next(replies))
    assert n == 1
    assert reworded[0]["messages"][0]["content"] == "Between brie and cream cheese, what would SmolLM choose?"
    assert reworded[0]["messages"][1] == records[0]["messages"][1]  # answers never change
    assert [r["messages"] for r in reworded[1:]] == [r["messages"] for r in records[1:]]
