"""Alignment fine-tuning on chat demonstrations with loss on assistant tokens only."""

from __future__ import annotations

from typing import Callable

import torch

from msm.atomic import sha256_file
from msm.errors import BadInput
from msm.models import load_tokenizer, resolve
from msm.train.chat_data import (IGNORE_INDEX, SNAPSHOT_PREFIX, load_demonstrations, mask_conversation,
                                 resolve_aft_path, snapshot_demonstrations)
from msm.train.loop import Example
from msm.train.pipeline import base_lineage, check_context_length, output_paths, train_stage
from msm.train.records import DataProvenance, Hyperparameters, ModelManifest
from msm.workspace import Workspace


def run_sft(ws: Workspace, *, model: str, data: str, out: str, hp: Hyperparameters, with_reasoning: bool = False,
            log: Callable[[str], None] = lambda _m: None,
            on_step: Callable[[int, int, float], None] = lambda *_: None,
            gradient_checkpointing: bool = False) -> ModelManifest | None:
    final, work = output_paths(ws, out)
    snapshot = None
    if data.startswith(SNAPSHOT_PREFIX):
        conversations, snapshot, path = snapshot_demonstrations(ws, data[len(SNAPSHOT_PREFIX):],
                                                                with_reasoning=with_reasoning)
    else:
        path = resolve_aft_path(data)
        conversations = load_demonstrations(path, with_reasoning=with_reasoning)
    resolved = resolve(model, ws)
    check_context_length(resolved, hp.block_size, "--max-length")
    tokenizer = load_tokenizer(resolved)
    if not getattr(tokenizer, "chat_template", None):
        raise BadInput(f"{model}: tokenizer has no chat template; SFT needs one to render `messages`")

    examples: list[Example] = []
    truncated = dropped = 0
    for conversation in conversations:
        masked = mask_conversation(tokenizer, conversation)
        input_ids, labels = masked.input_ids[: hp.block_size], masked.labels[: hp.block_size]
        truncated += len(masked.input_ids) > hp.block_size
        if all(label == IGNORE_INDEX for label in labels[1:]):  # truncation cut every assistant token
            dropped += 1
            continue
        examples.append(Example(torch.tensor(input_ids), torch.tensor(labels)))
    if not examples:
        raise BadInput(f"{path}: every demonstration loses its assistant turns at --max-length {hp.block_size}")
    if truncated:
        log(f"warning: {truncated} demonstrations truncated to {hp.block_size} tokens ({dropped} dropped entirely)")
    lengths = [len(e.input_ids) for e in examples]
    token_stats = {"n_used": len(examples), "n_truncated": truncated, "n_dropped": dropped,
                   "tokens": sum(lengths), "assistant_tokens": sum(int((e.labels != IGNORE_INDEX).sum()) for e in examples),
                   "max_length": max(lengths)}
    log(f"{len(examples)} demonstrations, {token_stats['assistant_tokens']} of {token_stats['tokens']} tokens carry loss")

    provenance = DataProvenance(kind="aft", aft_data_path=str(path), aft_data_sha256=sha256_file(path),
                                snapshot_name=snapshot.name if snapshot else None,
                                snapshot_content_hash=snapshot.content_hash if snapshot else None,
                                with_reasoning=with_reasoning, n_examples=len(conversations), packing=token_stats)
    base_record, spec_ids = base_lineage(resolved)
    return train_stage(ws, stage="sft", name=out, final=final, work=work, base=resolved, base_record=base_record,
                       spec_ids=spec_ids, data=provenance, hp=hp, examples=examples, tokenizer=tokenizer,
                       gradient_checkpointing=gradient_checkpointing, on_step=on_step, log=log)
