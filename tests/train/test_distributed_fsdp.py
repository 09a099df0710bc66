"""msm's checkpoint and final-save code on a LoRA model sharded with FSDP2, on two CPU processes (gloo).

accelerate shards only on GPUs, so the model is sharded here by hand (`fully_shard` per decoder layer, as the
shipped fsdp2 configs do); what is tested is msm's own code around it: a checkpoint gathered from the shards
resumes weights and Adam moments exactly, and the adapter gathered to process 0 loads with PeftModel and
gives the sharded model's logits. The test runs this file under torchrun; `worker()` is each process.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch


def worker(tiny: str, out: Path) -> None:
    from torch.distributed.fsdp import fully_shard

    from msm.models import ResolvedModel
    from msm.train.loop import LoopState, _load_checkpoint, _save_checkpoint, gather_full_state_dict, is_sharded
    from msm.train.pipeline import LORA_ADAPTER_DIR, _gathered_model, load_model_for_training, make_accelerator, merged
    from msm.train.records import Hyperparameters, LoraSettings

    torch.set_num_threads(1)
    accelerator = make_accelerator()
    rank = accelerator.process_index
    hp = Hyperparameters(method="lora", lora=LoraSettings(rank=4, alpha=8), lr=1e-2, seed=3)
    base = ResolvedModel(tiny, "directory", tiny)

    def sharded_model():
        model = load_model_for_training(base, hp)
        for layer in model.base_model.model.model.layers:
            fully_shard(layer)
        fully_shard(model)
        optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=hp.lr)
        return model, optimizer, torch.optim.lr_scheduler.LambdaLR(optimizer, lambda _step: 1.0)

    def train_step(model, optimizer, batch):
        model(input_ids=batch, labels=batch).loss.backward()
        optimizer.step()
        optimizer.zero_grad()

    model, optimizer, scheduler = sharded_model()
    assert is_sharded(model)
    batch = torch.randint(10, 5000, (2, 16), generator=torch.Generator().manual_seed(rank))
    for _ in range(3):
        train_step(model, optimizer, batch)
    _save_checkpoint(out / "checkpoint.pt", model, optimizer, scheduler, LoopState(step=3), accelerator)
    resumed, resumed_optimizer, resumed_scheduler = sharded_model()
    state = _load_checkpoint(out / "checkpoint.pt", resumed, resumed_optimizer, resumed_scheduler, accelerator)
    # one more step on both: equal weights afterwards need equal weights and Adam moments before
    train_step(model, optimizer, batch)
    train_step(resumed, resumed_optimizer, batch)
    original, restored = gather_full_state_dict(model), gather_full_state_dict(resumed)
    if rank == 0:
        assert state.step == 3 and original.keys() == restored.keys()
        differing = [name for name in original if not torch.equal(original[name], restored[name])]
        assert not differing, differing[:3]

    probe = torch.randint(10, 5000, (2, 16), generator=torch.Generator().manual_seed(9))
    with torch.no_grad():
        sharded_logits = model(input_ids=probe).logits
    trained = _gathered_model(model, accelerator, base, hp)  # every process joins the gather
    if rank == 0:
        from peft import PeftModel
        from transformers import AutoModelForCausalLM

        trained.save_pretrained(out / LORA_ADAPTER_DIR)
        with torch.no_grad():
            loaded = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tiny), out / LORA_ADAPTER_DIR)
            adapter_logits = loaded.eval()(input_ids=probe).logits
            untrained_logits = AutoModelForCausalLM.from_pretrained(tiny)(input_ids=probe).logits
            merged_logits = merged(trained).eval()(input_ids=probe).logits
        assert (sharded_logits - untrained_logits).abs().max() > 1e-2
        torch.testing.assert_close(adapter_logits, sharded_logits, atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(merged_logits, sharded_logits, atol=1e-5, rtol=1e-5)
        (out / "ok").write_text("ok")
    accelerator.wait_for_everyone()


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_fsdp2_sharded_lora_checkpoint_resumes_and_adapter_loads(tiny_model_dir, tmp_path):
    run = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                          __file__, str(tiny_model_dir), str(tmp_path)],
                         env={**os.environ, "OMP_NUM_THREADS": "1"}, capture_output=True, text=True, timeout=200)
    assert run.returncode == 0, run.stderr[-3000:]
    assert (tmp_path / "ok").exists()


if __name__ == "__main__":
    worker(sys.argv[1], Path(sys.argv[2]))
