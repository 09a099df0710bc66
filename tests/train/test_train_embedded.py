"""Integration: the real embedded model (SmolLM2-135M) midtrains on a snapshot and is then fine-tuned on
the shipped cheese AFT data, both through the CLI, for a few steps with tiny blocks."""

from __future__ import annotations

import json
import math

import pytest
from transformers import AutoModelForCausalLM


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_embedded_model_midtrains_then_sfts(ws, embedded_model_dir, cheese_snapshot, msm):
    mid = msm("--json", "train", "midtrain", "--snapshot", cheese_snapshot, "--base", "local:smollm2-135m",
              "--out", "smol-mid", "--block-size", "32", "--batch-size", "2", "--max-steps", "3", "--mix", "generic:0.05")
    assert mid.code == 0, mid.err
    mid_manifest = json.loads(mid.out)
    assert mid_manifest["base_model"]["source"] == "embedded" and mid_manifest["optimizer_steps"] == 3
    assert all(math.isfinite(x) for x in (mid_manifest["loss_first"], mid_manifest["loss_last"]))
    # a pretrained model starts far below ln(vocab) ≈ 10.8 on English text
    assert mid_manifest["loss_first"] < 8

    sft = msm("--json", "train", "sft", "--model", "smol-mid", "--data", "cheese", "--out", "smol-aft",
              "--batch-size", "2", "--max-steps", "2", "--max-length", "96")
    assert sft.code == 0, sft.err
    aft = json.loads(sft.out)
    assert aft["base_model"]["manifest"]["name"] == "smol-mid" and aft["data"]["n_examples"] == 204
    for name in ("smol-mid", "smol-aft"):
        out = ws.model_dir(name)
        assert {"manifest.json", "loss.csv", "loss.png", "config.json", "model.safetensors"} <= {p.name for p in out.iterdir()}
    model = AutoModelForCausalLM.from_pretrained(ws.model_dir("smol-aft"))
    assert sum(p.numel() for p in model.parameters()) == pytest.approx(134.5e6, rel=0.01)
