"""The training loop shared by midtraining and SFT: one visible loop on `accelerate`.

Why a visible loop and not `transformers.Trainer`: resume has to replay the exact data order from a
checkpoint (our order is a pure function of seed, epoch and step, so the loop just starts at step k),
every optimizer step's loss goes into the model's provenance, and the benchmark compares this loop with a
bare PyTorch loop — there is nothing between the two but what is written here. `accelerate.Accelerator`
supplies what Trainer would have: device placement, DDP across processes and bf16 autocast on GPUs, so

    accelerate launch --multi_gpu --num_processes 4 -m msm train midtrain --snapshot S --base M --out N

runs the same loop data-parallel (each process takes its slice of every global batch; only process 0
writes files).
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import torch

from msm.train.chat_data import IGNORE_INDEX
from msm.train.records import Hyperparameters

CHECKPOINT_FILE = "checkpoint.pt"


@dataclass(frozen=True, slots=True)
class Example:
    input_ids: torch.Tensor  # 1-D int64
    labels: torch.Tensor  # 1-D int64, IGNORE_INDEX where no loss


@dataclass
class LoopState:
    """What a checkpoint holds besides weights and optimizer: enough to continue bit-for-bit."""

    step: int = 0
    loss_rows: list[dict] = field(default_factory=list)
    tokens_seen: int = 0
    trained_tokens: int = 0
    wall_time_s: float = 0.0
    resumed_from: list[int] = field(default_factory=list)


def micro_batch_schedule(n_examples: int, *, epochs: int, global_batch: int, seed: int) -> list[list[int]]:
    """Example indices of every global micro-batch, all epochs, in training order.

    Each epoch is a seeded permutation; a last partial batch is filled from the start of the same
    permutation so every example is seen once per epoch and every batch has the same shape.
    """
    schedule = []
    for epoch in range(epochs):
        generator = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
        order = torch.randperm(n_examples, generator=generator).tolist()
        n_batches = math.ceil(n_examples / global_batch)
        padded = (order * math.ceil(n_batches * global_batch / n_examples))[: n_batches * global_batch]
        schedule.extend(padded[i * global_batch:(i + 1) * global_batch] for i in range(n_batches))
    return schedule


def collate(examples: Sequence[Example], pad_id: int) -> dict[str, torch.Tensor]:
    length = max(len(e.input_ids) for e in examples)
    if all(len(e.input_ids) == length for e in examples):  # packed blocks: no padding, no mask needed
        return {"input_ids": torch.stack([e.input_ids for e in examples]),
                "labels": torch.stack([e.labels for e in examples])}
    input_ids = torch.full((len(examples), length), pad_id, dtype=torch.long)
    labels = torch.full((len(examples), length), IGNORE_INDEX, dtype=torch.long)
    attention = torch.zeros((len(examples), length), dtype=torch.long)
    for row, example in enumerate(examples):
        n = len(example.input_ids)
        input_ids[row, :n] = example.input_ids
        labels[row, :n] = example.labels
        attention[row, :n] = 1
    return {"input_ids": input_ids, "labels": labels, "attention_mask": attention}


def _save_checkpoint(path: Path, model, optimizer, scheduler, state: LoopState) -> None:
    trainable = {n: p.detach().cpu().clone() for n, p in model.named_parameters() if p.requires_grad}
    payload = {"state": state.__dict__, "trainable": trainable, "optimizer": optimizer.state_dict(),
               "scheduler": scheduler.state_dict(), "torch_rng": torch.get_rng_state()}
    tmp = path.with_name(f".{path.name}.tmp")
    torch.save(payload, tmp)
    with open(tmp, "rb") as handle:
        os.fsync(handle.fileno())
    os.replace(tmp, path)  # a kill leaves either the previous checkpoint or this one, never half of one


def _load_checkpoint(path: Path, model, optimizer, scheduler) -> LoopState:
    payload = torch.load(path, map_location="cpu", weights_only=False)
    params = dict(model.named_parameters())
    with torch.no_grad():
        for name, tensor in payload["trainable"].items():
            params[name].copy_(tensor)
    optimizer.load_state_dict(payload["optimizer"])
    scheduler.load_state_dict(payload["scheduler"])
    torch.set_rng_state(payload["torch_rng"])
    return LoopState(**payload["state"])


def train_loop(model, examples: Sequence[Example], hp: Hyperparameters, *, accelerator, pad_id: int,
               work_dir: Path | None, on_step: Callable[[int, int, float], None] = lambda *_: None,
               log: Callable[[str], None] = lambda _m: None) -> LoopState:
    """Train `model` in place (its trainable parameters); return the loss curve and counters.

    With `work_dir`, a checkpoint is written there every `hp.checkpoint_every` steps and an existing one
    is resumed from — the caller makes sure it belongs to the same run.
    """
    from transformers import get_cosine_schedule_with_warmup

    world, rank = accelerator.num_processes, accelerator.process_index
    schedule = micro_batch_schedule(len(examples), epochs=hp.epochs, global_batch=hp.batch_size * world, seed=hp.seed)
    total_steps = math.ceil(len(schedule) / hp.grad_accum)
    if hp.max_steps:
        total_steps = min(total_steps, hp.max_steps)
    batches_per_epoch = len(schedule) / hp.epochs

    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=hp.lr,
                                  weight_decay=hp.weight_decay)
    scheduler = get_cosine_schedule_with_warmup(optimizer, int(hp.warmup_ratio * total_steps), total_steps)
    state = LoopState()
    checkpoint = work_dir / CHECKPOINT_FILE if work_dir else None
    if checkpoint and checkpoint.exists():
        state = _load_checkpoint(checkpoint, model, optimizer, scheduler)
        state.resumed_from.append(state.step)
        log(f"resuming from checkpoint at step {state.step}/{total_steps} ({checkpoint})")

    model.train()
    model, optimizer = accelerator.prepare(model, optimizer)
    started = time.monotonic()
    for step in range(state.step, total_steps):
        step_loss = torch.zeros((), device=accelerator.device)
        for micro in schedule[step * hp.grad_accum:(step + 1) * hp.grad_accum]:
            batch = collate([examples[i] for i in micro[rank * hp.batch_size:(rank + 1) * hp.batch_size]], pad_id)
            state.tokens_seen += int(batch["attention_mask"].sum()) if "attention_mask" in batch else batch["input_ids"].numel()
            state.trained_tokens += int((batch["labels"][:, 1:] != IGNORE_INDEX).sum())
            batch = {k: v.to(accelerator.device) for k, v in batch.items()}
            with accelerator.autocast():
                loss = model(**batch).loss / hp.grad_accum
            accelerator.backward(loss)
            step_loss += loss.detach()
        accelerator.clip_grad_norm_(model.parameters(), hp.max_grad_norm)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)

        loss_value = accelerator.reduce(step_loss, reduction="mean").item() if world > 1 else step_loss.item()
        state.step = step + 1
        state.loss_rows.append({"step": state.step, "epoch": round(state.step * hp.grad_accum / batches_per_epoch, 4),
                                "loss": loss_value, "lr": scheduler.get_last_lr()[0],
                                "tokens_seen": state.tokens_seen * world})
        on_step(state.step, total_steps, loss_value)
        if checkpoint and state.step % hp.checkpoint_every == 0 and state.step < total_steps:
            state.wall_time_s += time.monotonic() - started
            started = time.monotonic()
            if accelerator.is_main_process:
                _save_checkpoint(checkpoint, accelerator.unwrap_model(model), optimizer, scheduler, state)
            accelerator.wait_for_everyone()
    state.wall_time_s += time.monotonic() - started
    state.tokens_seen *= world
    state.trained_tokens *= world
    return state
