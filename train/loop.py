"""The training loop shared by midtraining and SFT: one visible loop on `accelerate`.

Why a visible loop and not `transformers.Trainer`: resume has to replay the exact data order from a
checkpoint (our order is a pure function of seed, epoch and step, so the loop just starts at step k),
every optimizer step's loss goes into the model's provenance, and the benchmark compares this loop with a
bare PyTorch loop — there is nothing between the two but what is written here. `accelerate.Accelerator`
supplies what Trainer would have: device placement, DDP or FSDP2 across processes and bf16 autocast on GPUs.

Several processes (`accelerate launch -m msm.train ...`, `torchrun -m msm.train ...`) train as one:
- the schedule below is the distributed sampler: every global micro-batch holds `batch_size × processes`
  examples and process r takes rows [r·b, (r+1)·b) of it, so an optimizer step sees
  `batch_size × processes × grad_accum` examples and N processes follow the same data order as one;
- the loss of a step is the mean over every loss-carrying token of that global step (all micro-batches, all
  processes), so the update does not depend on how the step is split — one process with batch 4 and two
  with batch 2 compute the same gradient, also when SFT examples carry different numbers of tokens;
- every process takes part in gathering checkpoints and final weights; only process 0 writes files.

Each optimizer step goes to the loss curve and to the trackers the accelerator was built with (see
`msm.train.tracking`): loss, lr, grad norm, tokens/s, padding waste; every `eval_every` steps and at the
last step, the mean token loss on the held-out examples.
"""

from __future__ import annotations

import contextlib
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import torch

from msm.errors import MsmError
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
    eval_rows: list[dict] = field(default_factory=list)  # {step, eval_loss, eval_tokens}


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


def padding_waste(examples: Sequence[Example], rows_per_batch: int) -> tuple[int, int]:
    """(padded positions, all positions) when `examples` are collated `rows_per_batch` at a time, as each
    process does with its slice: every row is padded to the longest row of its batch."""
    padded = total = 0
    for start in range(0, len(examples), rows_per_batch):
        lengths = [len(e.input_ids) for e in examples[start:start + rows_per_batch]]
        total += max(lengths) * len(lengths)
        padded += max(lengths) * len(lengths) - sum(lengths)
    return padded, total


def loss_tokens(example: Example) -> int:
    """Tokens whose next-token prediction carries loss (labels are shifted by one inside the loss)."""
    return int((example.labels[1:] != IGNORE_INDEX).sum())


def _torch_optimizer(optimizer):
    return getattr(optimizer, "optimizer", optimizer)  # accelerate wraps the torch optimizer


def _checkpoint_options(**extra):
    from torch.distributed.checkpoint.state_dict import StateDictOptions

    # full (unsharded) tensors keyed by parameter name: one file resumes under one process, DDP or FSDP
    return StateDictOptions(full_state_dict=True, ignore_frozen_params=True, **extra)


def _trainable_names(module) -> set[str]:
    return {name for name, p in module.named_parameters() if p.requires_grad}


def _save_checkpoint(path: Path, model, optimizer, scheduler, state: LoopState, accelerator) -> None:
    """Every process joins the gather (under FSDP each holds a shard); process 0 writes the file."""
    from torch.distributed.checkpoint.state_dict import get_state_dict

    weights, optimizer_state = get_state_dict(model, _torch_optimizer(optimizer),
                                              options=_checkpoint_options(cpu_offload=True))
    if accelerator.is_main_process:
        # a frozen weight tied to another (LoRA's embeddings = lm_head) slips past ignore_frozen_params
        wanted = _trainable_names(accelerator.unwrap_model(model))
        trainable = {name: tensor for name, tensor in weights.items() if name in wanted}
        payload = {"state": state.__dict__, "trainable": trainable, "optimizer": optimizer_state,
                   "scheduler": scheduler.state_dict(), "torch_rng": torch.get_rng_state()}
        tmp = path.with_name(f".{path.name}.tmp")
        torch.save(payload, tmp)
        with open(tmp, "rb") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, path)  # a kill leaves either the previous checkpoint or this one, never half of one
    accelerator.wait_for_everyone()


def _load_checkpoint(path: Path, model, optimizer, scheduler, accelerator) -> LoopState:
    """Every process reads the file (the workspace is shared) into its own replica or shard."""
    from torch.distributed.checkpoint.state_dict import set_state_dict

    # memory-mapped: the processes of one machine share a single page-cached copy of the file, and under
    # FSDP each reads only the slices of its own shard
    payload = torch.load(path, map_location="cpu", weights_only=False, mmap=True)
    missing = _trainable_names(accelerator.unwrap_model(model)) - set(payload["trainable"])
    if missing:
        raise MsmError(f"{path}: checkpoint lacks trainable weights {sorted(missing)[:3]}; "
                       f"delete the directory to start over")
    # not strict: the frozen weights are deliberately absent from the file
    set_state_dict(model, _torch_optimizer(optimizer), model_state_dict=payload["trainable"],
                   optim_state_dict=payload["optimizer"], options=_checkpoint_options(strict=False))
    scheduler.load_state_dict(payload["scheduler"])
    torch.set_rng_state(payload["torch_rng"])
    return LoopState(**payload["state"])


def summed_token_loss(model, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """Next-token cross-entropy summed over the batch's loss-carrying tokens; the caller divides by the
    token count of the whole global step (a per-micro-batch mean would weight short examples up)."""
    logits = model(input_ids=batch["input_ids"], attention_mask=batch.get("attention_mask")).logits
    # shift the labels, not the logits: slicing the logits would copy the largest tensor of the step
    targets = torch.nn.functional.pad(batch["labels"][:, 1:], (0, 1), value=IGNORE_INDEX)
    return torch.nn.functional.cross_entropy(logits.flatten(0, 1).float(), targets.flatten(),
                                             ignore_index=IGNORE_INDEX, reduction="sum")


def evaluate_loss(wrapped, examples: Sequence[Example], *, batch_size: int, accelerator, pad_id: int) -> tuple[float, int]:
    """(mean next-token loss over every loss-carrying token of `examples`, that token count), all processes
    together. Every process runs the same number of forward passes — under FSDP each forward is a
    collective — so a process whose slice of the last batch is empty runs one example with zero weight."""
    world, rank = accelerator.num_processes, accelerator.process_index
    totals = torch.zeros(2, dtype=torch.float64, device=accelerator.device)  # summed loss, tokens
    was_training = wrapped.training
    wrapped.eval()
    with torch.no_grad():
        for start in range(0, len(examples), batch_size * world):
            mine = list(examples[start + rank * batch_size:start + (rank + 1) * batch_size])
            weight = 1.0 if mine else 0.0
            batch = collate(mine or [examples[0]], pad_id)
            batch = {k: v.to(accelerator.device) for k, v in batch.items()}
            with accelerator.autocast():
                summed = summed_token_loss(wrapped, batch)
            totals[0] += summed.double() * weight
            totals[1] += weight * sum(loss_tokens(e) for e in mine)
    if was_training:
        wrapped.train()
    if world > 1:
        totals = accelerator.reduce(totals, reduction="sum")
    tokens = int(totals[1].item())
    return (totals[0].item() / tokens if tokens else float("nan")), tokens


def _scalar(value) -> float:
    """A grad norm as a float: under FSDP2 clipping returns a DTensor whose value lives on every shard."""
    full = getattr(value, "full_tensor", None)
    return float(full() if callable(full) else value)


def train_loop(model, examples: Sequence[Example], hp: Hyperparameters, *, accelerator, pad_id: int,
               work_dir: Path | None, on_step: Callable[[int, int, float], None] = lambda *_: None,
               log: Callable[[str], None] = lambda _m: None, eval_examples: Sequence[Example] = (),
               eval_every: int = 50) -> LoopState:
    """Train `model`'s trainable parameters in place; return the loss curve and counters.

    Under several processes `model` is wrapped (DDP) or sharded in place (FSDP2) by `accelerator`; the
    caller gathers its weights with `gather_full_state_dict`. With `work_dir`, a checkpoint is written
    there every `hp.checkpoint_every` steps and an existing one is resumed from — the caller makes sure it
    belongs to the same run (same settings, same number of processes). Metrics go to `accelerator.log`
    (a no-op without trackers); `eval_examples` are evaluated every `eval_every` steps and at the end.
    """
    from accelerate.utils import DistributedType
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
    model.train()
    # model and optimizer in one call: FSDP2 re-points the optimizer at the sharded parameters
    wrapped, optimizer = accelerator.prepare(model, optimizer)
    # Skipping the gradient all-reduce on all but the last micro-batch saves bandwidth under DDP; under
    # FSDP it would keep a full unsharded gradient on every GPU, which is what FSDP is there to avoid.
    skip_sync = world > 1 and accelerator.distributed_type != DistributedType.FSDP

    state = LoopState()
    checkpoint = work_dir / CHECKPOINT_FILE if work_dir else None
    if checkpoint and checkpoint.exists():
        state = _load_checkpoint(checkpoint, wrapped, optimizer, scheduler, accelerator)
        state.resumed_from.append(state.step)
        log(f"resuming from checkpoint at step {state.step}/{total_steps} ({checkpoint})")

    started = time.monotonic()
    for step in range(state.step, total_steps):
        step_started = time.monotonic()
        micro_batches = schedule[step * hp.grad_accum:(step + 1) * hp.grad_accum]
        # counted over the global batch, which every process holds: no communication needed
        step_tokens = max(1, sum(loss_tokens(examples[i]) for micro in micro_batches for i in micro))
        step_inputs = sum(len(examples[i].input_ids) for micro in micro_batches for i in micro)
        state.tokens_seen += step_inputs
        state.trained_tokens += step_tokens
        padded, positions = map(sum, zip(*(padding_waste([examples[i] for i in micro], hp.batch_size)
                                           for micro in micro_batches)))
        step_loss = torch.zeros((), device=accelerator.device)
        for number, micro in enumerate(micro_batches):
            batch = collate([examples[i] for i in micro[rank * hp.batch_size:(rank + 1) * hp.batch_size]], pad_id)
            batch = {k: v.to(accelerator.device) for k, v in batch.items()}
            last = number == len(micro_batches) - 1
            with accelerator.no_sync(wrapped) if skip_sync and not last else contextlib.nullcontext():
                with accelerator.autocast():
                    summed = summed_token_loss(wrapped, batch)
                # DDP and FSDP average gradients over processes; × world turns that into the global token mean
                accelerator.backward(summed * world / step_tokens)
            step_loss += summed.detach() / step_tokens
        grad_norm = accelerator.clip_grad_norm_(wrapped.parameters(), hp.max_grad_norm)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)

        loss_value = accelerator.reduce(step_loss, reduction="sum").item() if world > 1 else step_loss.item()
        state.step = step + 1
        row = {"step": state.step, "epoch": round(state.step * hp.grad_accum / batches_per_epoch, 4),
               "loss": loss_value, "lr": scheduler.get_last_lr()[0], "grad_norm": _scalar(grad_norm),
               "tokens_seen": state.tokens_seen,
               "tokens_per_s": round(step_inputs / max(time.monotonic() - step_started, 1e-9), 2),
               "padding_waste": round(padded / positions, 6) if positions else 0.0}
        if eval_examples and (state.step % eval_every == 0 or state.step == total_steps):
            eval_loss, eval_tokens = evaluate_loss(wrapped, eval_examples, batch_size=hp.batch_size,
                                                   accelerator=accelerator, pad_id=pad_id)
            row["eval_loss"] = eval_loss
            state.eval_rows.append({"step": state.step, "eval_loss": eval_loss, "eval_tokens": eval_tokens})
        state.loss_rows.append(row)
        accelerator.log({f"train/{key}": value for key, value in row.items() if key not in ("step", "eval_loss")}
                        | ({"eval/loss": row["eval_loss"]} if "eval_loss" in row else {}), step=state.step)
        on_step(state.step, total_steps, loss_value)
        if checkpoint and state.step % hp.checkpoint_every == 0 and state.step < total_steps:
            state.wall_time_s += time.monotonic() - started
            started = time.monotonic()
            _save_checkpoint(checkpoint, wrapped, optimizer, scheduler, state, accelerator)
    state.wall_time_s += time.monotonic() - started
    return state


def gather_full_state_dict(model) -> dict[str, torch.Tensor]:
    """All weights as full CPU tensors on process 0 (an empty dict elsewhere). Every process must call it:
    under FSDP each holds one shard of every parameter."""
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict

    return get_model_state_dict(model, options=StateDictOptions(full_state_dict=True, cpu_offload=True))


def is_sharded(model) -> bool:
    from torch.distributed.tensor import DTensor

    return any(isinstance(p, DTensor) for p in model.parameters())
