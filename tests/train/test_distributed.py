"""The distributed code path on CPU: two processes (torchrun, gloo backend) train like one process with the
same global batch, and what they save is loadable.

SFT is the harder case for equivalence: demonstrations differ in length and in assistant tokens, so each
process's micro-batch is padded differently and carries a different share of the step's loss tokens. A
per-process mean loss would diverge from the one-process curve; the token-weighted global mean does not.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys

import pytest
import torch
from peft import PeftModel
from transformers import AutoModelForCausalLM

from msm.train.records import Hyperparameters, LoraSettings
from msm.train.sft import run_sft

STEPS = 4


def curve(path) -> list[float]:
    with open(path, newline="") as handle:
        return [float(row["loss"]) for row in csv.DictReader(handle)]


@pytest.mark.slow
@pytest.mark.timeout(300)
@pytest.mark.filterwarnings("ignore:.*is_gradient_checkpointing.*:FutureWarning")  # peft 0.21 on transformers 5
def test_two_processes_match_one_process_with_the_same_global_batch(ws, tiny_model_dir):
    # 2 processes × 2 sequences × 2 micro-batches = 1 process × 4 × 2 = 8 demonstrations per optimizer step
    two = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
         "-m", "msm.train", "--workspace", str(ws.root), "--json", "sft", "--model", str(tiny_model_dir),
         "--data", "safety", "--out", "two", "--lora-rank", "4", "--lora-alpha", "8", "--lr", "0.01",
         "--warmup-ratio", "0", "--batch-size", "2", "--grad-accum", "2", "--max-steps", str(STEPS),
         "--max-length", "96", "--seed", "5", "--checkpoint-every", "2"],
        env={**os.environ, "OMP_NUM_THREADS": "1"}, capture_output=True, text=True, timeout=240)
    assert two.returncode == 0, two.stderr[-3000:]
    printed = json.loads(two.stdout)  # rank 0 alone prints the manifest
    assert printed["num_processes"] == 2 and printed["optimizer_steps"] == STEPS

    hp = Hyperparameters(method="lora", lora=LoraSettings(rank=4, alpha=8), lr=0.01, warmup_ratio=0.0,
                         batch_size=4, grad_accum=2, max_steps=STEPS, block_size=96, seed=5)
    one = run_sft(ws, model=str(tiny_model_dir), data="safety", out="one", hp=hp)
    assert one.num_processes == 1

    two_curve, one_curve = curve(ws.model_dir("two") / "loss.csv"), curve(ws.model_dir("one") / "loss.csv")
    print("1 process: ", one_curve, "\n2 processes:", two_curve)
    assert len(two_curve) == STEPS
    assert two_curve == pytest.approx(one_curve, rel=1e-4)
    assert one_curve[-1] < one_curve[0] - 0.05  # the steps changed the model: the equality is not vacuous
    assert printed["tokens_seen"] == one.tokens_seen and printed["trained_tokens"] == one.trained_tokens
    # process 0 wrote one model; no other process left a directory or the work dir behind
    assert sorted(p.name for p in (ws.root / "models").iterdir()) == ["one", "two"]

    # the adapter saved under two processes loads onto the base model and equals the merged model
    probe = torch.randint(10, 5000, (2, 24), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        base = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
        untrained = base(input_ids=probe).logits
        adapter = PeftModel.from_pretrained(base, ws.model_dir("two") / "lora_adapter").eval()
        adapted = adapter(input_ids=probe).logits
        merged = AutoModelForCausalLM.from_pretrained(ws.model_dir("two"))(input_ids=probe).logits
        one_process = AutoModelForCausalLM.from_pretrained(ws.model_dir("one"))(input_ids=probe).logits
    assert (adapted - untrained).abs().max() > 1e-3
    torch.testing.assert_close(adapted, merged, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(merged, one_process, atol=1e-3, rtol=1e-3)
