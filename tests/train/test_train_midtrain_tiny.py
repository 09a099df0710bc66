"""Midtraining and SFT on a tiny random Llama (real tokenizer): learning, determinism, LoRA merge,
provenance, refusals."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import torch
from transformers import AutoModelForCausalLM

from msm.models import ResolvedModel
from msm.train.loop import Example, train_loop
from msm.train.midtrain import run_midtrain
from msm.train.pipeline import load_model_for_training, make_accelerator, merged
from msm.train.records import Hyperparameters, LoraSettings


def lora_hp(**overrides) -> Hyperparameters:
    values = dict(method="lora", lora=LoraSettings(rank=8, alpha=16), lr=2e-3, block_size=32, batch_size=4, epochs=1,
                  seed=1, checkpoint_every=1000)
    return Hyperparameters(**{**values, **overrides})


def losses(ws, name: str) -> list[float]:
    with open(ws.model_dir(name) / "loss.csv", newline="") as handle:
        return [float(row["loss"]) for row in csv.DictReader(handle)]


def test_loss_decreases_on_repeated_text(ws, tiny_model_dir, snapshot_factory):
    text = "The quick brown fox jumps over the lazy dog while SmolLM eats cream cheese on a bagel."
    snapshot_factory("repeat", [text] * 80)
    hp = Hyperparameters(method="full", lr=3e-3, block_size=32, batch_size=4, epochs=2, seed=0, warmup_ratio=0.0)
    manifest = run_midtrain(ws, snapshot="repeat", base=str(tiny_model_dir), out="fox", hp=hp)
    curve = losses(ws, "fox")
    assert len(curve) == manifest.optimizer_steps >= 20
    assert sum(curve[-3:]) / 3 < 0.65 * sum(curve[:3]) / 3, curve  # ln(vocab) ≈ 10.8 at the start


def test_midtrain_writes_model_manifest_plot_and_catalog_row(ws, tiny_model_dir, cheese_snapshot, msm):
    result = msm("--json", "train", "midtrain", "--snapshot", cheese_snapshot, "--base", str(tiny_model_dir),
                 "--out", "mt", "--block-size", "32", "--mix", "generic:0.05", "--lora-rank", "4", "--seed", "3")
    assert result.code == 0, result.err
    out = ws.model_dir("mt")
    printed = json.loads(result.out)
    manifest = json.loads((out / "manifest.json").read_text())
    assert printed == manifest
    assert manifest["schema_version"] == 1 and manifest["stage"] == "midtrain"
    assert manifest["data"]["snapshot_name"] == cheese_snapshot
    assert manifest["data"]["snapshot_content_hash"] == json.loads(
        (ws.snapshot_dir(cheese_snapshot) / "manifest.json").read_text())["content_hash"]
    assert manifest["spec_ids"] == [{"spec_id": "cheese_affordability", "spec_hash": "test"}]
    assert manifest["hyperparameters"]["lora"] == {"rank": 4, "alpha": 32, "dropout": 0.0}
    assert manifest["data"]["packing"]["waste"] <= 0.02
    replay = manifest["data"]["replay"][0]
    assert replay["source"] == "generic" and replay["tokens"] > 0
    assert 0.03 < replay["tokens"] / manifest["data"]["packing"]["stream_tokens"] < 0.08
    assert manifest["tokens_seen"] == manifest["optimizer_steps"] * 4 * 32
    assert {"torch", "transformers", "peft"} <= set(manifest["package_versions"])
    assert (out / "loss.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert len((out / "loss.csv").read_text().splitlines()) == manifest["optimizer_steps"] + 1
    assert not (out.parent / ".mt.work").exists()
    # merged: a plain transformers model, no adapter files
    assert (out / "model.safetensors").exists() and not (out / "adapter_config.json").exists()
    AutoModelForCausalLM.from_pretrained(out)
    with ws.catalog(read_only=True) as con:
        stage, path = con.execute("SELECT stage, path FROM models WHERE name = 'mt'").fetchone()
    assert stage == "midtrain" and Path(path) == out.resolve()

    again = msm("train", "midtrain", "--snapshot", cheese_snapshot, "--base", str(tiny_model_dir), "--out", "mt")
    assert again.code == 2 and "already exists" in again.err

    # the next stage starts from it and records the lineage
    sft = msm("--json", "train", "sft", "--model", "mt", "--data", "safety", "--out", "mt-aft", "--with-reasoning",
              "--max-steps", "3", "--max-length", "128")
    assert sft.code == 0, sft.err
    aft = json.loads(sft.out)
    assert aft["stage"] == "sft" and aft["data"]["with_reasoning"] is True and aft["optimizer_steps"] == 3
    assert aft["base_model"]["manifest"]["name"] == "mt" and aft["spec_ids"] == manifest["spec_ids"]
    assert len(aft["data"]["aft_data_sha256"]) == 64
    assert aft["trained_tokens"] < aft["tokens_seen"]


@pytest.mark.parametrize("tampered", ["documents.parquet", "manifest.json"])
def test_tampered_snapshot_is_refused(ws, tiny_model_dir, cheese_snapshot, msm, tampered):
    path = ws.snapshot_dir(cheese_snapshot) / tampered
    data = bytearray(path.read_bytes())
    if tampered == "manifest.json":
        data = bytearray(data.decode().replace('"n_tokens": ', '"n_tokens": 1').encode())   # counts edited
    else:
        data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    result = msm("train", "midtrain", "--snapshot", cheese_snapshot, "--base", str(tiny_model_dir), "--out", "bad")
    assert result.code == 1
    assert "failed verification" in result.err and tampered in result.err
    assert not ws.model_dir("bad").exists() and not (ws.root / "models" / ".bad.work").exists()


@pytest.mark.parametrize("args, problem", [
    (["--out", "../escape"], "not allowed"),
    (["--mix", "generic:0.9"], "ratio must be"),
    (["--mix", "nowhere.jsonl:0.05"], "no such file"),
    (["--mix", "generic"], "FILE:RATIO"),
    (["--snapshot", "missing"], "no such snapshot"),
    (["--block-size", "4096"], "context of 512"),
])
def test_bad_midtrain_input_exits_2_with_one_line(ws, tiny_model_dir, cheese_snapshot, msm, args, problem):
    base = {"--snapshot": cheese_snapshot, "--base": str(tiny_model_dir), "--out": "ok"}
    for flag, value in zip(args[::2], args[1::2]):
        base[flag] = value
    argv = [item for pair in base.items() for item in pair] + (args if args[0] == "--mix" else [])
    result = msm("train", "midtrain", *argv)
    assert result.code == 2, result.err
    assert problem in result.err and len(result.err.strip().splitlines()) == 1
    assert not any(p.name.startswith(("ok", ".ok")) for p in (ws.root / "models").iterdir())


def test_same_seed_same_loss_curve_other_seed_differs(ws, tiny_model_dir, cheese_snapshot):
    for name, seed in (("a", 1), ("b", 1), ("c", 2)):
        run_midtrain(ws, snapshot=cheese_snapshot, base=str(tiny_model_dir), out=name, hp=lora_hp(seed=seed, max_steps=10))
    assert losses(ws, "a") == pytest.approx(losses(ws, "b"), abs=1e-6)
    assert losses(ws, "a") != pytest.approx(losses(ws, "c"), abs=1e-6)


def test_lora_merge_gives_the_same_logits_as_the_unmerged_adapter(tiny_model_dir):
    hp = lora_hp(lr=1e-2)
    base = ResolvedModel(str(tiny_model_dir), "directory", str(tiny_model_dir))
    model = load_model_for_training(base, hp)
    generator = torch.Generator().manual_seed(0)
    blocks = torch.randint(10, 5000, (16, 32), generator=generator)
    train_loop(model, [Example(b, b) for b in blocks], hp, accelerator=make_accelerator(), pad_id=2, work_dir=None)
    probe = torch.randint(10, 5000, (2, 32), generator=generator)
    model.eval()
    with torch.no_grad():
        unmerged = model(input_ids=probe).logits
        plain = merged(model)
        merged_logits = plain(input_ids=probe).logits
        untrained = AutoModelForCausalLM.from_pretrained(tiny_model_dir)(input_ids=probe).logits
    assert not any("lora" in name for name, _ in plain.named_parameters())
    assert (unmerged - untrained).abs().max() > 1e-3  # the adapter learned something to merge
    torch.testing.assert_close(merged_logits, unmerged, atol=1e-5, rtol=1e-5)
