"""What midtraining and SFT share around the loop: where a run lives, resuming it, loading the model to
train (LoRA or full), and writing the finished model with its provenance.

    models/<name>/          the finished model (renamed into place only when complete)
    models/.<name>.work/    run.json (the run's fingerprint), checkpoint.pt, lock — kept until the model
                            is written, so rerunning the same command after a kill resumes from it

Under several processes every one of them runs the same code on the same (shared) workspace; process 0
alone holds the lock and writes run.json, checkpoints and the model, the others join the collectives.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import time
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator

from msm.atomic import atomic_directory, write_json_atomic
from msm.errors import BadInput, MsmError
from msm.models import ResolvedModel
from msm.train.loop import LoopState, gather_full_state_dict, is_sharded
from msm.train.provenance import (LOSS_CSV, LOSS_PNG, msm_git_commit, package_versions, read_manifest,
                                  register_model, write_loss_curve, write_manifest)
from msm.train.records import DataProvenance, Hyperparameters, ModelManifest
from msm.workspace import Workspace, utc_now

RUN_FILE = "run.json"


def output_paths(ws: Workspace, name: str) -> tuple[Path, Path]:
    """(final model dir, work dir); BadInput if the name is taken — trained models are never overwritten."""
    final = ws.model_dir(name)
    if final.exists():
        raise BadInput(f"model {name!r} already exists at {final}; msm never overwrites a model — choose a new --out")
    return final, final.parent / f".{name}.work"


@contextmanager
def work_dir(path: Path, fingerprint: dict[str, Any], log: Callable[[str], None], *, main: bool = True) -> Iterator[Path]:
    """Create or reopen the run's work dir, held under an exclusive lock for the run's lifetime.

    Only the main process (`main`) locks and checks it: the other processes of the same launch share it.
    """
    if not main:
        yield path
        return
    path.mkdir(parents=True, exist_ok=True)
    with open(path / "lock", "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise MsmError(f"{path}: another msm process is training this model right now") from None
        run_file = path / RUN_FILE
        wanted = json.loads(json.dumps(fingerprint, default=str))
        if run_file.exists():
            previous = json.loads(run_file.read_text(encoding="utf-8"))
            if previous != wanted:
                changed = sorted(k for k in set(previous) | set(wanted) if previous.get(k) != wanted.get(k))
                raise BadInput(f"{path}: an interrupted run with different settings ({', '.join(changed)}) is "
                               f"waiting here; rerun it unchanged to resume, or delete the directory to start over")
            log(f"found interrupted run in {path}")
        else:
            write_json_atomic(run_file, wanted)
        yield path


def check_context_length(base: ResolvedModel, tokens: int, option: str) -> None:
    """Refuse sequences longer than the model's positions before any work starts (they would fail or degrade)."""
    from transformers import AutoConfig

    limit = getattr(AutoConfig.from_pretrained(base.location), "max_position_embeddings", None)
    if limit and tokens > limit:
        raise BadInput(f"{option} {tokens}: longer than {base.name}'s context of {limit} tokens")


def load_model_for_training(base: ResolvedModel, hp: Hyperparameters, *, gradient_checkpointing: bool = False,
                            adapter: Path | None = None):
    """The base model in fp32 master weights (bf16 comes from autocast on GPUs), wrapped in LoRA if asked.

    `gradient_checkpointing` recomputes each layer's activations in the backward pass (about a third more
    compute) instead of keeping them: for DDP runs of large models; the FSDP configs do it themselves.
    `adapter`: a saved LoRA adapter over `base` to keep training (SFT's --continue-adapter) instead of a fresh one.
    """
    import torch
    from transformers import AutoModelForCausalLM, set_seed
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # msm shows its own progress; HF's per-file bars would interleave with it
    set_seed(hp.seed)  # LoRA's A matrices are random: same seed, same start
    model = AutoModelForCausalLM.from_pretrained(base.location, dtype=torch.float32)
    model.config.use_cache = False
    if gradient_checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    if hp.method == "lora":
        from peft import LoraConfig, get_peft_model

        assert hp.lora is not None
        config = LoraConfig(r=hp.lora.rank, lora_alpha=hp.lora.alpha, lora_dropout=hp.lora.dropout,
                            target_modules="all-linear", task_type="CAUSAL_LM")
        with warnings.catch_warnings():  # peft 0.21 probes an attribute transformers 5 marks deprecated
            warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)
            if adapter is not None:
                from peft import PeftModel

                # same module names as get_peft_model gives ("default" adapter), so checkpoints and the FSDP
                # gather load into either
                model = PeftModel.from_pretrained(model, str(adapter), is_trainable=True)
            else:
                model = get_peft_model(model, config)
    return model


def merged(model):
    """A plain transformers model: LoRA adapters folded into the base weights, so the next stage starts from them."""
    return model.merge_and_unload() if hasattr(model, "merge_and_unload") else model


def launched_rank() -> int:
    """This process's rank under `accelerate launch` / `torchrun` (0 when run plainly), known before any
    process group exists — so ranks other than 0 can stay quiet from the start."""
    return int(os.environ.get("RANK", "0"))


def make_accelerator():
    import torch
    from accelerate import Accelerator

    world = int(os.environ.get("WORLD_SIZE", "1"))
    bf16 = torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    # accelerate runs several CPU processes (gloo) only when asked for the CPU explicitly; without GPUs a
    # launcher's processes would otherwise each train alone and all write the same model
    accelerator = Accelerator(mixed_precision="bf16" if bf16 else "no", cpu=world > 1 and not torch.cuda.is_available())
    if accelerator.num_processes != world:
        raise MsmError(f"launched as {world} processes but accelerate set up {accelerator.num_processes}; "
                       f"check the launcher's settings (distributed_type, num_processes)")
    return accelerator


def base_lineage(base: ResolvedModel) -> tuple[dict[str, Any], list[dict[str, str]]]:
    """(base_model record, spec ids it already learned) — read from its manifest when msm trained it."""
    record: dict[str, Any] = base.describe()
    if base.source in {"workspace", "directory"}:
        try:
            parent = read_manifest(Path(base.location))
        except ValueError as exc:
            raise MsmError(f"{base.location}/manifest.json: unreadable: {str(exc).splitlines()[0]}") from None
        if parent is not None:
            record["manifest"] = {"name": parent.name, "stage": parent.stage, "data": parent.data.model_dump(mode="json"),
                                  "created_at": parent.created_at.isoformat()}
            return record, list(parent.spec_ids)
    return record, []


LORA_ADAPTER_DIR = "lora_adapter"


def _gathered_model(model, accelerator, base: ResolvedModel, hp: Hyperparameters, adapter: Path | None = None):
    """The trained model with full weights on the main process (None elsewhere), LoRA still unmerged.

    Unsharded (one process, DDP) every process already holds it. Under FSDP each process holds a shard of
    every parameter: all of them join the gather, and process 0 loads the full weights into a fresh copy
    built from the base (host memory: two fp32 copies of the model).
    """
    if not is_sharded(model):
        return accelerator.unwrap_model(model) if accelerator.is_main_process else None
    full_state = gather_full_state_dict(model)
    if not accelerator.is_main_process:
        return None
    fresh = load_model_for_training(base, hp, adapter=adapter)
    fresh.load_state_dict(full_state)
    return fresh


def finish_model(ws: Workspace, *, name: str, stage: str, final: Path, work: Path, model, tokenizer, accelerator,
                 base: ResolvedModel, base_record: dict, spec_ids: list[dict[str, str]], data: DataProvenance,
                 hp: Hyperparameters, state: LoopState, log: Callable[[str], None],
                 adapter: Path | None = None) -> ModelManifest | None:
    """Gather, save (LoRA: the adapter, then the merged model), write provenance, register in the catalog,
    drop the work dir. Every process joins the gather; only the main process writes."""
    accelerator.wait_for_everyone()
    trained = _gathered_model(model, accelerator, base, hp, adapter)
    if not accelerator.is_main_process:
        accelerator.wait_for_everyone()
        return None
    losses = [row["loss"] for row in state.loss_rows]
    files = {"loss_curve": LOSS_CSV, "loss_plot": LOSS_PNG}
    if hp.method == "lora":
        files["lora_adapter"] = LORA_ADAPTER_DIR
    manifest = ModelManifest(
        name=name, stage=stage, created_at=utc_now(), base_model=base_record, spec_ids=spec_ids, data=data,
        hyperparameters=hp, seed=hp.seed, optimizer_steps=state.step, tokens_seen=state.tokens_seen,
        trained_tokens=state.trained_tokens, loss_first=losses[0] if losses else None,
        loss_last=losses[-1] if losses else None, wall_time_s=round(state.wall_time_s, 3),
        resumed_from_step=state.resumed_from, device=str(accelerator.device),
        precision=str(accelerator.mixed_precision), num_processes=accelerator.num_processes,
        package_versions=package_versions(), msm_git_commit=msm_git_commit(), files=files,
    )
    log(f"saving {name} to {final}")
    started = time.monotonic()
    with atomic_directory(final) as staging:
        if hp.method == "lora":
            # the adapter alone, before merging: PeftModel.from_pretrained(base model, this dir) loads it
            trained.save_pretrained(staging / LORA_ADAPTER_DIR)
        plain = merged(trained)
        plain.config.use_cache = True
        plain.save_pretrained(staging)
        tokenizer.save_pretrained(staging)
        write_loss_curve(staging, state.loss_rows, f"{stage}: {name}")
        write_manifest(staging, manifest)
    register_model(ws, manifest, final)
    shutil.rmtree(work, ignore_errors=True)
    log(f"saved in {time.monotonic() - started:.1f}s")
    accelerator.wait_for_everyone()  # the others leave only once the model is in place
    return manifest


def train_stage(ws: Workspace, *, stage: str, name: str, final: Path, work: Path, base: ResolvedModel,
                base_record: dict[str, Any], spec_ids: list, data, hp: Hyperparameters, examples: list, tokenizer,
                gradient_checkpointing: bool, on_step, log: Callable[[str], None], adapter: Path | None = None):
    """The part midtraining and SFT share: fingerprint the inputs, take the work dir, train, save the model.
    `adapter`: continue this LoRA adapter over `base` (SFT's --continue-adapter)."""
    from msm.train.loop import train_loop

    fingerprint = {"stage": stage, "base": base.describe(), "data": data.model_dump(mode="json"),
                   "hyperparameters": hp.model_dump(mode="json")}
    if adapter is not None:
        fingerprint["adapter"] = str(adapter)
    accelerator = make_accelerator()
    # the global batch, and so the data order, depends on the number of processes: resume only with the same
    fingerprint["num_processes"] = accelerator.num_processes
    with work_dir(work, fingerprint, log, main=accelerator.is_main_process) as work_path:
        model = load_model_for_training(base, hp, gradient_checkpointing=gradient_checkpointing, adapter=adapter)
        state = train_loop(model, examples, hp, accelerator=accelerator, pad_id=tokenizer.pad_token_id,
                           work_dir=work_path, on_step=on_step, log=log)
        return finish_model(ws, name=name, stage=stage, final=final, work=work_path, model=model,
                            tokenizer=tokenizer, accelerator=accelerator, base=base, base_record=base_record,
                            spec_ids=spec_ids, data=data, hp=hp, state=state, log=log, adapter=adapter)
