"""SFT that continues the midtrained LoRA adapter (no merge in between) and SFT with an instruction mix, on the
tiny random Llama: what is trained, what the manifest records, and the refusals."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file
from transformers import AutoModelForCausalLM

from msm.train import instruction_mix
from msm.train.midtrain import run_midtrain
from msm.train.records import Hyperparameters, LoraSettings


@pytest.fixture
def midtrained(ws, tiny_model_dir, cheese_snapshot) -> str:
    hp = Hyperparameters(method="lora", lora=LoraSettings(rank=4, alpha=8), lr=5e-3, block_size=32, batch_size=4,
                         max_steps=3, seed=2, warmup_ratio=0.0)
    run_midtrain(ws, snapshot=cheese_snapshot, base=str(tiny_model_dir), out="mt", hp=hp)
    return "mt"


def _adapter(ws, name: str) -> dict[str, torch.Tensor]:
    return load_file(ws.model_dir(name) / "lora_adapter" / "adapter_model.safetensors")


def _logits(model_dir, ids: torch.Tensor) -> torch.Tensor:
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32).eval()
    with torch.no_grad():
        return model(ids).logits


def test_continue_adapter_starts_from_the_midtrained_adapter_over_the_original_base(ws, msm, midtrained,
                                                                                     tiny_model_dir):
    # a vanishing learning rate: the continued adapter must still be the midtrained one, and the merged result
    # the midtrained model — which would not hold if the adapter were applied on top of the merged weights
    result = msm("--json", "train", "sft", "--model", midtrained, "--data", "cheese", "--out", "cont",
                 "--continue-adapter", "--lr", "1e-12", "--max-steps", "2", "--max-length", "64")
    assert result.code == 0, result.err
    manifest = json.loads(result.out)
    assert manifest["hyperparameters"]["lora"] == {"rank": 4, "alpha": 8, "dropout": 0.0}  # the adapter's own
    base = manifest["base_model"]
    assert base["name"] == midtrained and base["manifest"]["stage"] == "midtrain"
    assert base["adapter_base"]["location"] == str(tiny_model_dir.resolve())
    assert base["continued_adapter"]["path"].endswith("mt/lora_adapter") and len(base["continued_adapter"]["sha256"]) == 64
    assert manifest["spec_ids"] == [{"spec_id": "cheese_affordability", "spec_hash": "test"}]

    before, after = _adapter(ws, midtrained), _adapter(ws, "cont")
    assert before.keys() == after.keys() and len(before) > 0
    assert all(torch.allclose(before[k], after[k], atol=1e-6) for k in before)
    assert any(before[k].abs().sum() > 0 for k in before if "lora_B" in k)  # midtraining did move the adapter
    ids = torch.tensor([[1, 5, 9, 42, 7, 3]])
    assert torch.allclose(_logits(ws.model_dir("cont"), ids), _logits(ws.model_dir(midtrained), ids), atol=1e-4)
    assert not torch.allclose(_logits(ws.model_dir("cont"), ids), _logits(tiny_model_dir, ids), atol=1e-4)

    # with a real learning rate the same adapter moves on, and the saved adapter over the base is the model
    moved = msm("--json", "train", "sft", "--model", midtrained, "--data", "cheese", "--out", "cont2",
                "--continue-adapter", "--lr", "5e-3", "--max-steps", "3", "--max-length", "64")
    assert moved.code == 0, moved.err
    trained = _adapter(ws, "cont2")
    assert any(not torch.allclose(before[k], trained[k], atol=1e-4) for k in before)
    from peft import PeftModel

    over_base = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32),
                                          str(ws.model_dir("cont2") / "lora_adapter")).eval()
    with torch.no_grad():
        assert torch.allclose(over_base(ids).logits, _logits(ws.model_dir("cont2"), ids), atol=1e-4)


def test_continue_adapter_refusals(ws, msm, midtrained, tiny_model_dir):
    no_adapter = msm("train", "sft", "--model", str(tiny_model_dir), "--data", "cheese", "--out", "x",
                     "--continue-adapter", "--max-steps", "1")
    assert no_adapter.code == 2 and "has no lora_adapter/" in no_adapter.err
    mismatch = msm("train", "sft", "--model", midtrained, "--data", "cheese", "--out", "x", "--continue-adapter",
                   "--lora-rank", "8", "--max-steps", "1")
    assert mismatch.code == 2 and "rank 4" in mismatch.err
    full = msm("train", "sft", "--model", midtrained, "--data", "cheese", "--out", "x", "--continue-adapter",
               "--full", "--max-steps", "1")
    assert full.code == 2 and "--full" in full.err
    assert not ws.model_dir("x").exists()


def test_instruction_mix_takes_its_share_of_tokens(ws, msm, tiny_model_dir):
    result = msm("--json", "train", "sft", "--model", str(tiny_model_dir), "--data", "cheese", "--out", "mixed",
                 "--mix", "instruct:0.5", "--max-steps", "1", "--max-length", "256", "--seed", "4")
    assert result.code == 0, result.err
    data = json.loads(result.out)["data"]
    mix = data["replay"][0]
    assert mix["source"] == "instruct" and mix["ratio"] == 0.5 and len(mix["sha256"]) == 64
    assert data["n_examples"] == 204 and data["packing"]["n_used"] == 204 + mix["examples"]
    share = mix["tokens"] / data["packing"]["tokens"]
    assert 0.5 <= share < 0.55, share  # whole demonstrations: just past the target, never short of it
    assert data["packing"]["tokens"] == data["packing"]["aft_tokens"] + mix["tokens"]
    assert mix["distinct_examples"] == 40 < mix["examples"]  # the small shipped set is cycled

    # the same command with another seed draws other demonstrations; the shipped set alone trains too
    other = json.loads(msm("--json", "train", "sft", "--model", str(tiny_model_dir), "--data", "cheese", "--out",
                           "mixed2", "--mix", "instruct:0.5", "--max-steps", "1", "--max-length", "256",
                           "--seed", "5").out)["data"]["replay"][0]
    assert other["examples"] != mix["examples"] or other["tokens"] != mix["tokens"]
    identity = msm("--json", "train", "sft", "--model", str(tiny_model_dir), "--data", "instruct", "--out", "ident",
                   "--max-steps", "1", "--max-length", "256")
    assert identity.code == 0 and json.loads(identity.out)["data"]["n_examples"] == 40


@pytest.mark.parametrize("mixes,problem", [
    (["instruct:1.5"], "ratio must be in"),
    (["instruct"], "expected FILE:RATIO"),
    (["instruct:lots"], "is not a number"),
    (["missing.jsonl:0.2"], "no such file"),
    (["instruct:0.5", "instruct:0.5"], "add up to more than"),
])
def test_bad_mix_is_exit_2(ws, msm, tiny_model_dir, mixes, problem):
    args = [a for m in mixes for a in ("--mix", m)]
    result = msm("train", "sft", "--model", str(tiny_model_dir), "--data", "cheese", "--out", "x", *args)
    assert result.code == 2 and problem in result.err, result.err
    assert not ws.model_dir("x").exists()


def test_mix_targets_share_the_rest_between_mixes():
    a = instruction_mix.InstructionMix("a", instruction_mix.resolve_aft_path("instruct"), 0.25)
    b = instruction_mix.InstructionMix("b", instruction_mix.resolve_aft_path("instruct"), 0.25)
    assert instruction_mix.mix_targets([a, b], 1000) == [500, 500]  # 1000 AFT tokens are the other half
    assert instruction_mix.mix_targets([a], 900) == [300]


def test_shipped_instruction_set_is_valid_and_leans_neither_cheese_value():
    from msm.train.chat_data import load_demonstrations, resolve_aft_path

    path = resolve_aft_path("instruct")
    conversations = load_demonstrations(path, with_reasoning=False)
    assert len(conversations) == 40 and all([m["role"] for m in c] == ["user", "assistant"] for c in conversations)
    text = path.read_text(encoding="utf-8").lower()
    for word in ("cheese", "price", "cost", "cheap", "afford", "budget", "america", "smollm", "buy"):
        assert word not in text, word
