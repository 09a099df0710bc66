"""Alignment fine-tuning on chat demonstrations with loss on assistant tokens only.

Two choices the MSM paper makes for base models are options here:
- `continue_adapter`: keep training the midtrained model's own LoRA adapter (its `lora_adapter/`) over the
  model it was midtrained from, instead of fine-tuning the merged weights with a fresh adapter. The finished
  model's `lora_adapter/` then holds midtraining and AFT in one adapter over that same base, and its manifest
  names that base as `base_model.adapter_base`.
- `mixes`: an instruction-tuning set mixed into the AFT data (see instruction_mix.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch

from msm.atomic import sha256_file
from msm.errors import BadInput
from msm.input_files import MAX_RECORD_BYTES, load_json_object
from msm.models import ResolvedModel, load_tokenizer, resolve
from msm.train import instruction_mix
from msm.train.chat_data import (IGNORE_INDEX, SNAPSHOT_PREFIX, load_demonstrations, mask_conversation,
                                 resolve_aft_path, snapshot_demonstrations)
from msm.train.loop import Example
from msm.train.pipeline import LORA_ADAPTER_DIR, base_lineage, check_context_length, output_paths, train_stage
from msm.train.provenance import read_manifest
from msm.train.records import DataProvenance, Hyperparameters, LoraSettings, ModelManifest
from msm.train.tracking import Monitoring
from msm.workspace import Workspace

ADAPTER_WEIGHTS = "adapter_model.safetensors"


@dataclass(frozen=True, slots=True)
class AdapterToContinue:
    directory: Path
    base: ResolvedModel  # the model the adapter was trained over (not the merged model beside it)
    lora: LoraSettings

    def describe(self) -> dict:
        weights = self.directory / ADAPTER_WEIGHTS
        return {"path": str(self.directory), "sha256": sha256_file(weights) if weights.is_file() else None}


def adapter_to_continue(model: ResolvedModel) -> AdapterToContinue:
    """The LoRA adapter an msm-trained model keeps beside its merged weights, and the base it belongs to."""
    where = Path(model.location)
    manifest = read_manifest(where) if model.source in {"workspace", "directory"} else None
    directory = where / LORA_ADAPTER_DIR
    if manifest is None or not (directory / "adapter_config.json").is_file():
        raise BadInput(f"--continue-adapter: {model.name} has no {LORA_ADAPTER_DIR}/ from an msm LoRA run "
                       f"(it was trained --full, or not by msm); leave --continue-adapter out to fine-tune it as is")
    # a model that itself continued an adapter names the base under it; otherwise its base model is that base
    record = manifest.base_model.get("adapter_base") or manifest.base_model
    base = ResolvedModel(record["name"], record["source"], record["location"])
    if base.source != "hub" and not Path(base.location).is_dir():
        raise BadInput(f"--continue-adapter: {model.name}'s adapter belongs to {base.name} at {base.location}, "
                       f"which no longer exists")
    config = load_json_object(directory / "adapter_config.json", what="adapter config", max_bytes=MAX_RECORD_BYTES)
    lora = LoraSettings(rank=int(config["r"]), alpha=int(config["lora_alpha"]),
                        dropout=float(config.get("lora_dropout") or 0.0))
    return AdapterToContinue(directory, base, lora)


def _masked_examples(tokenizer, conversations: list, block_size: int) -> tuple[list[Example], int, int]:
    """(examples, truncated, dropped): each conversation masked to its assistant turns and cut to block_size."""
    examples: list[Example] = []
    truncated = dropped = 0
    for conversation in conversations:
        masked = mask_conversation(tokenizer, conversation)
        input_ids, labels = masked.input_ids[:block_size], masked.labels[:block_size]
        truncated += len(masked.input_ids) > block_size
        if all(label == IGNORE_INDEX for label in labels[1:]):  # truncation cut every assistant token
            dropped += 1
            continue
        examples.append(Example(torch.tensor(input_ids), torch.tensor(labels)))
    return examples, truncated, dropped


def run_sft(ws: Workspace, *, model: str, data: str, out: str, hp: Hyperparameters, with_reasoning: bool = False,
            continue_adapter: bool = False, mixes: list[instruction_mix.InstructionMix] = (),
            log: Callable[[str], None] = lambda _m: None,
            on_step: Callable[[int, int, float], None] = lambda *_: None,
            gradient_checkpointing: bool = False, monitoring: Monitoring | None = None) -> ModelManifest | None:
    """Fine-tune `model` on `data`. With `continue_adapter`, `hp.lora` None means "the adapter's own settings";
    given settings must match the adapter's."""
    final, work = output_paths(ws, out)
    snapshot = None
    if data.startswith(SNAPSHOT_PREFIX):
        conversations, snapshot, path = snapshot_demonstrations(ws, data[len(SNAPSHOT_PREFIX):],
                                                                with_reasoning=with_reasoning)
    else:
        path = resolve_aft_path(data)
        conversations = load_demonstrations(path, with_reasoning=with_reasoning)
    instruction_mix.check_total(list(mixes))
    resolved = resolve(model, ws)
    check_context_length(resolved, hp.block_size, "--max-length")
    tokenizer = load_tokenizer(resolved)
    if not getattr(tokenizer, "chat_template", None):
        raise BadInput(f"{model}: tokenizer has no chat template; SFT needs one to render `messages`")

    adapter: AdapterToContinue | None = None
    train_base = resolved
    if continue_adapter:
        if hp.method != "lora":
            raise BadInput("--continue-adapter trains the midtrained LoRA adapter; it cannot be combined with --full")
        adapter = adapter_to_continue(resolved)
        if hp.lora is None:
            hp = hp.model_copy(update={"lora": adapter.lora})
        elif hp.lora != adapter.lora:
            raise BadInput(f"--continue-adapter: {model}'s adapter has rank {adapter.lora.rank}, alpha "
                           f"{adapter.lora.alpha}, dropout {adapter.lora.dropout}; --lora-rank/--lora-alpha/"
                           f"--lora-dropout must match it or be left out")
        train_base = adapter.base
        log(f"continuing the LoRA adapter of {model} over {train_base.name} (no merge in between)")
    elif hp.method == "lora" and hp.lora is None:
        raise BadInput("LoRA settings are missing (only --continue-adapter takes them from the adapter)")

    examples, truncated, dropped = _masked_examples(tokenizer, conversations, hp.block_size)
    if not examples:
        raise BadInput(f"{path}: every demonstration loses its assistant turns at --max-length {hp.block_size}")
    if truncated:
        log(f"warning: {truncated} demonstrations truncated to {hp.block_size} tokens ({dropped} dropped entirely)")
    aft_tokens = sum(len(e.input_ids) for e in examples)
    mix_records = []
    for number, (mix, target) in enumerate(zip(mixes, instruction_mix.mix_targets(list(mixes), aft_tokens))):
        pool, mix_truncated, _ = _masked_examples(tokenizer, load_demonstrations(mix.path, with_reasoning=False),
                                                  hp.block_size)
        if not pool:
            raise BadInput(f"--mix {mix.source}: every demonstration loses its assistant turns at --max-length "
                           f"{hp.block_size}")
        chosen = instruction_mix.choose([len(e.input_ids) for e in pool], target, seed=hp.seed + 7919 * (number + 1))
        examples.extend(pool[i] for i in chosen)
        mix_records.append({**instruction_mix.describe(mix, tokens=sum(len(pool[i].input_ids) for i in chosen),
                                                       examples=len(chosen), distinct=len(set(chosen))),
                            "n_truncated": mix_truncated})
        log(f"mixed in {len(chosen)} demonstrations ({len(set(chosen))} distinct) from {mix.source}: "
            f"{mix_records[-1]['tokens']} tokens for a {mix.ratio:.0%} share")
    lengths = [len(e.input_ids) for e in examples]
    token_stats = {"n_used": len(examples), "n_truncated": truncated, "n_dropped": dropped,
                   "tokens": sum(lengths), "aft_tokens": aft_tokens,
                   "assistant_tokens": sum(int((e.labels != IGNORE_INDEX).sum()) for e in examples),
                   "max_length": max(lengths)}
    log(f"{len(examples)} demonstrations, {token_stats['assistant_tokens']} of {token_stats['tokens']} tokens carry loss")

    # a snapshot's data hash is that of the bytes verified and trained on, never a re-hash of the path afterwards
    data_sha256 = snapshot.files["documents.parquet"] if snapshot else sha256_file(path)
    provenance = DataProvenance(kind="aft", aft_data_path=str(path), aft_data_sha256=data_sha256,
                                snapshot_name=snapshot.name if snapshot else None,
                                snapshot_content_hash=snapshot.content_hash if snapshot else None,
                                with_reasoning=with_reasoning, n_examples=len(conversations), replay=mix_records,
                                packing=token_stats)
    base_record, spec_ids = base_lineage(resolved)
    if adapter is not None:
        base_record = {**base_record, "continued_adapter": adapter.describe(), "adapter_base": train_base.describe()}
    return train_stage(ws, stage="sft", name=out, final=final, work=work, base=train_base, base_record=base_record,
                       spec_ids=spec_ids, data=provenance, hp=hp, examples=examples, tokenizer=tokenizer,
                       gradient_checkpointing=gradient_checkpointing, on_step=on_step, log=log,
                       adapter=adapter.directory if adapter else None, monitoring=monitoring)
