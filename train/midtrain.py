"""Midtraining: continued pre-training (plain next-token loss) on a verified snapshot's documents, packed
into fixed blocks, optionally with a replay share of generic text; LoRA adapters are merged at the end."""

from __future__ import annotations

from typing import Callable

from msm.corpus.snapshot.store import load_verified_snapshot
from msm.errors import BadInput
from msm.models import load_tokenizer, resolve
from msm.train import replay
from msm.train.loop import Example
from msm.train.packing import pack_documents, pack_held_out
from msm.train.pipeline import base_lineage, check_context_length, hold_out, output_paths, train_stage
from msm.train.records import DataProvenance, Hyperparameters, ModelManifest
from msm.train.tracking import Monitoring
from msm.workspace import Workspace

MAX_PACKING_WASTE = 0.02


def run_midtrain(ws: Workspace, *, snapshot: str, base: str, out: str, hp: Hyperparameters,
                 mixes: list[replay.ReplaySource] = (), log: Callable[[str], None] = lambda _m: None,
                 on_step: Callable[[int, int, float], None] = lambda *_: None,
                 gradient_checkpointing: bool = False, monitoring: Monitoring | None = None) -> ModelManifest | None:
    final, work = output_paths(ws, out)
    # read into memory and verified there (MsmError, exit 1, on any tampering): the texts below come from the very
    # bytes that were hashed, never from re-opening the file
    verified = load_verified_snapshot(ws, snapshot)
    snapshot_manifest = verified.manifest
    resolved = resolve(base, ws)
    check_context_length(resolved, hp.block_size, "--block-size")
    tokenizer = load_tokenizer(resolved)
    if tokenizer.eos_token_id is None:
        raise BadInput(f"{base}: tokenizer has no EOS token to separate documents")

    texts = [t for t in verified.table(columns=["text"]).column("text").to_pylist() if t and t.strip()]
    # whole documents are held out before packing, so no held-out text is ever trained on
    doc_tokens, held_tokens = hold_out(tokenizer(texts, add_special_tokens=False)["input_ids"], hp.eval_fraction, hp.seed)
    corpus_tokens = sum(len(t) + 1 for t in doc_tokens)
    replay_records, replay_tokens = [], []
    for number, source in enumerate(mixes):
        pool = tokenizer(replay.read_replay_texts(source), add_special_tokens=False)["input_ids"]
        chosen = replay.sample_replay(pool, source.ratio, corpus_tokens, seed=hp.seed + 7919 * (number + 1))
        replay_tokens.extend(chosen)
        replay_records.append(replay.describe(source, sum(len(t) + 1 for t in chosen)))
    blocks, stats = pack_documents(doc_tokens + replay_tokens, eos_id=tokenizer.eos_token_id,
                                   block_size=hp.block_size, seed=hp.seed)
    if stats.n_blocks == 0:
        raise BadInput(f"snapshot {snapshot!r}: {stats.stream_tokens} tokens do not fill one block of "
                       f"--block-size {hp.block_size}; use a smaller block size")
    log(f"packed {stats.n_documents} documents into {stats.n_blocks} blocks of {hp.block_size} tokens "
        f"(waste {stats.waste:.2%})")
    if stats.waste > MAX_PACKING_WASTE:
        log(f"warning: packing waste {stats.waste:.2%} > {MAX_PACKING_WASTE:.0%}: the corpus is small for this block size")

    eval_blocks = pack_held_out(held_tokens, eos_id=tokenizer.eos_token_id, block_size=hp.block_size)
    held_out = {"fraction": hp.eval_fraction, "n_examples": len(held_tokens), "n_sequences": len(eval_blocks),
                "tokens": sum(len(b) for b in eval_blocks)} if held_tokens else {}
    data = DataProvenance(kind="snapshot", snapshot_name=snapshot, snapshot_content_hash=snapshot_manifest.content_hash,
                          n_examples=len(texts), replay=replay_records, packing=stats.as_dict(), held_out=held_out)
    base_record, inherited_specs = base_lineage(resolved)
    spec_ids = merge_spec_ids(inherited_specs, [_with_spec_path(ws, snapshot, s) for s in snapshot_manifest.specs])
    examples = [Example(block, block) for block in blocks]
    return train_stage(ws, stage="midtrain", name=out, final=final, work=work, base=resolved, base_record=base_record,
                       spec_ids=spec_ids, data=data, hp=hp, examples=examples, tokenizer=tokenizer,
                       gradient_checkpointing=gradient_checkpointing, on_step=on_step, log=log, monitoring=monitoring,
                       eval_examples=[Example(block, block) for block in eval_blocks])


def _with_spec_path(ws: Workspace, snapshot: str, entry: dict[str, str]) -> dict[str, str]:
    """A snapshot's spec entry as the model's manifest keeps it: `spec_path`, the absolute path of the frozen spec
    copy in the snapshot, so `msm eval --suite spec_knowledge` finds a user's own spec without `--spec`."""
    entry = dict(entry)
    file_name = entry.pop("spec_file", None)
    if file_name:
        entry["spec_path"] = str((ws.snapshot_dir(snapshot) / file_name).resolve())
    return entry


def merge_spec_ids(inherited: list[dict[str, str]], new: list[dict[str, str]]) -> list[dict[str, str]]:
    """Specs learned so far, then the new ones, once per (spec_id, spec_hash)."""
    seen = {(s.get("spec_id"), s.get("spec_hash")) for s in inherited}
    return list(inherited) + [s for s in new if (s.get("spec_id"), s.get("spec_hash")) not in seen]
