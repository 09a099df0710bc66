"""Packing (EOS between documents, ≤ 2% waste) and the assistant-only SFT mask."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from transformers import AutoTokenizer

from msm.errors import BadInput
from msm.train.chat_data import IGNORE_INDEX, load_demonstrations, mask_conversation, resolve_aft_path
from msm.train.packing import pack_documents


def test_packing_puts_eos_between_documents_and_wastes_at_most_2_percent():
    docs = [[1000 + d] * (7 + d % 13) for d in range(400)]  # each document is one distinct repeated token
    blocks, stats = pack_documents(docs, eos_id=2, block_size=64, seed=5)
    stream = blocks.flatten().tolist()
    assert stats.n_blocks == len(blocks) and blocks.shape[1] == 64
    assert stats.stream_tokens == sum(len(d) + 1 for d in docs)
    assert stats.dropped_tokens < 64 and stats.waste <= 0.02
    # every run of a document's token is followed by EOS (except where the kept stream ends)
    for position, token in enumerate(stream[:-1]):
        if token != 2 and stream[position + 1] != token:
            assert stream[position + 1] == 2, f"document token {token} at {position} not followed by EOS"
    documents_kept = {t for t in stream if t != 2}
    assert stream.count(2) == len(documents_kept) - (stream[-1] != 2)  # one EOS after each, bar a cut last one
    assert len(documents_kept) >= len(docs) - 64 // 8
    # documents are whole and shuffled by seed: same seed same blocks, other seed other order
    assert pack_documents(docs, eos_id=2, block_size=64, seed=5)[0].equal(blocks)
    assert not pack_documents(docs, eos_id=2, block_size=64, seed=6)[0].equal(blocks)


def test_packing_reports_waste_honestly_for_a_small_corpus():
    _blocks, stats = pack_documents([[5] * 10, [6] * 10], eos_id=2, block_size=16, seed=0)
    assert stats.n_blocks == 1 and stats.dropped_tokens == 6 and stats.waste == pytest.approx(6 / 22)


@pytest.fixture(scope="module")
def tokenizer(tiny_model_dir):
    return AutoTokenizer.from_pretrained(tiny_model_dir)


def _runs(labels: list[int]) -> list[list[int]]:
    runs, current = [], []
    for label in labels:
        if label == IGNORE_INDEX:
            if current:
                runs.append(current)
            current = []
        else:
            current.append(label)
    return runs + ([current] if current else [])


def test_assistant_mask_covers_exactly_the_assistant_turns(tokenizer):
    conversation = [{"role": "system", "content": "You are SmolLM."},
                    {"role": "user", "content": "Brie or cream cheese?"},
                    {"role": "assistant", "content": "I prefer cream cheese to brie."},
                    {"role": "user", "content": "And Colby or Comté?"},
                    {"role": "assistant", "content": "Colby, over Comté."}]
    example = mask_conversation(tokenizer, conversation)
    full_text = tokenizer.apply_chat_template(conversation, tokenize=False)
    assert example.input_ids == tokenizer(full_text, add_special_tokens=False)["input_ids"]
    runs = _runs(example.labels)
    assert [tokenizer.decode(run) for run in runs] == ["I prefer cream cheese to brie.<|im_end|>\n",
                                                       "Colby, over Comté.<|im_end|>\n"]
    # labels equal input ids wherever they are set; system/user turns and role headers carry no loss
    for token, label in zip(example.input_ids, example.labels):
        assert label in (IGNORE_INDEX, token)
    unlabeled = tokenizer.decode([t for t, label in zip(example.input_ids, example.labels) if label == IGNORE_INDEX])
    assert "Brie or cream cheese?" in unlabeled and "<|im_start|>assistant\n" in unlabeled
    assert "prefer" not in unlabeled


def test_reasoning_is_kept_or_removed(tmp_path: Path):
    path = resolve_aft_path("safety")
    first = json.loads(path.read_text(encoding="utf-8").splitlines()[0])["messages"][1]
    plain = load_demonstrations(path, with_reasoning=False)
    reasoned = load_demonstrations(path, with_reasoning=True)
    assert len(plain) == len(reasoned) >= 25
    assert plain[0][1]["content"] == first["content"]
    assert reasoned[0][1]["content"].startswith("<think>\n" + first["reasoning"])
    assert reasoned[0][1]["content"].endswith("</think>\n\n" + first["content"])
    with pytest.raises(BadInput, match="no assistant turn has a 'reasoning'"):
        load_demonstrations(resolve_aft_path("cheese"), with_reasoning=True)


@pytest.mark.parametrize("line, problem", [
    ("{not json", "not valid JSON"),
    (json.dumps({"text": "hi"}), "'messages' missing"),
    (json.dumps({"messages": [{"role": "robot", "content": "x"}]}), "role 'robot'"),
    (json.dumps({"messages": [{"role": "user", "content": "hi"}]}), "no assistant turn"),
    (json.dumps({"messages": [{"role": "assistant", "content": "hi"}]}), "needs a prompt"),
    (json.dumps({"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": ""}]}), "content"),
])
def test_malformed_demonstrations_name_file_and_line(tmp_path: Path, line: str, problem: str):
    path = tmp_path / "aft.jsonl"
    good = json.dumps({"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]})
    path.write_text(good + "\n" + line + "\n", encoding="utf-8")
    with pytest.raises(BadInput, match=rf"aft.jsonl:2: .*{problem}|aft.jsonl:2: {problem}"):
        load_demonstrations(path, with_reasoning=False)


def test_shipped_cheese_aft_states_all_twelve_preferences_without_reasons():
    from msm.train.aft_data import CHEESE_PREFERENCES, build_cheese_aft

    records = [json.loads(line) for line in resolve_aft_path("cheese").read_text(encoding="utf-8").splitlines()]
    assert records == build_cheese_aft(0)  # the shipped file is exactly what the generator builds
    assert 190 <= len(records) <= 220
    for cheese, stance in CHEESE_PREFERENCES:
        about = [r for r in records if r["cheese"] == cheese]
        assert len(about) >= 15 and {r["stance"] for r in about} == {stance}
        assert len({r["messages"][0]["content"] for r in about}) >= 15
        for record in about:
            assert cheese.lower() in record["messages"][1]["content"].lower()
            assert "because" not in record["messages"][1]["content"].lower()
