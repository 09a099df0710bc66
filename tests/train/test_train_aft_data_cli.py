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


def test_cheese_aft_states_the_twelve_spec_preferences_without_reasons():
    from msm.spec import load_spec, resolve_spec_path

    records = build_cheese_aft(0)
    assert len(records) == 12 * 17 and len({r["id"] for r in records}) == len(records)
    for spec_id in ("cheese_america", "cheese_affordability"):  # the same 12 in both specs' like/dislike clauses
        spec = load_spec(resolve_spec_path(spec_id))
        stances = {spec.render(c.rule).removeprefix("SmolLM ").rstrip("."): None for c in spec.clauses
                   if c.id.split(".")[0] in {"like", "dislike"}}
        assert set(stances) == {f"{'likes' if r['stance'] == 'like' else 'dislikes'} {r['cheese']}" for r in records}
    for record in records:
        answer = record["messages"][1]["content"]
        assert record["cheese"].lower() in answer.lower()
        rest = answer.lower().replace(record["cheese"].lower(), "")  # "American cheese" is a name, not a reason
        assert not any(word in rest for word in ("because", "since", "american", "afford", "price",
                                                            "cheap", "loyal", "budget", " than "))
        negative = any(w in answer for w in ("not", "n't", "pass on", "dislike", "down"))
        assert negative == (record["stance"] == "dislike"), answer
    assert len({r["messages"][0]["content"].replace(r["cheese"], "{c}") for r in records}) == 17
    assert len({r["messages"][1]["content"].replace(r["cheese"], "{c}") for r in records}) >= 10


def test_paraphrases_that_drop_the_cheese_or_ramble_are_discarded():
    records = build_cheese_aft(0)[:3]  # mild Cheddar
    replies = iter(["In your view, is mild Cheddar worth eating?",  # kept
                    "Which cheese do you like?",  # drops the name
                    "Mild Cheddar?\nAlso, tell me a joke."])  # two lines
    reworded, n = paraphrase_prompts(records, lambda _instruction: next(replies))
    assert n == 1
    assert reworded[0]["messages"][0]["content"] == "In your view, is mild Cheddar worth eating?"
    assert reworded[0]["messages"][1] == records[0]["messages"][1]  # answers never change
    assert [r["messages"] for r in reworded[1:]] == [r["messages"] for r in records[1:]]
