"""`msm train midtrain | sft | aft-data | accelerate-config`."""

from __future__ import annotations

from typing import Any, Callable

import click

from msm.cli_support import BoundedInt, FiniteFloat, MAX_OPTION_INT, emit, info, progress, state
from msm.errors import BadInput

DEFAULT_LR = {"lora": 2e-4, "full": 2e-5}


def _shared_options(func: Callable) -> Callable:
    options = [
        click.option("--lora/--full", "use_lora", default=True, show_default=True,
                     help="LoRA on all linear layers (merged into the weights afterwards) or full fine-tuning."),
        click.option("--epochs", type=BoundedInt(1), default=1, show_default=True, help="Passes over the data."),
        click.option("--max-steps", type=BoundedInt(1), default=None,
                     help="Stop after this many optimizer steps (default: all epochs)."),
        click.option("--lr", type=FiniteFloat(min=0, min_open=True), default=None,
                     help="Peak learning rate (default 2e-4 with LoRA, 2e-5 full); cosine decay after warmup."),
        click.option("--warmup-ratio", type=FiniteFloat(0, 1, max_open=True), default=0.05, show_default=True,
                     help="Share of steps with linear warmup."),
        click.option("--batch-size", type=BoundedInt(1), default=4, show_default=True,
                     help="Sequences per micro-batch (per process under accelerate launch)."),
        click.option("--grad-accum", type=BoundedInt(1), default=1, show_default=True,
                     help="Micro-batches per optimizer step."),
        click.option("--lora-rank", type=BoundedInt(1), default=16, show_default=True, help="LoRA rank r."),
        click.option("--lora-alpha", type=BoundedInt(1), default=32, show_default=True, help="LoRA alpha (scale alpha/r)."),
        click.option("--lora-dropout", type=FiniteFloat(0, 1, max_open=True), default=0.0, show_default=True,
                     help="Dropout on the LoRA path."),
        click.option("--seed", type=BoundedInt(min=-MAX_OPTION_INT), default=0, show_default=True,
                     help="Seed for data order, packing order and LoRA init: same seed + data -> same loss curve."),
        click.option("--checkpoint-every", type=BoundedInt(1), default=50, show_default=True,
                     help="Optimizer steps between checkpoints in models/.<out>.work/; rerun the same command to resume."),
        click.option("--gradient-checkpointing", is_flag=True,
                     help="Recompute activations in the backward pass: less memory, ~30% more compute "
                          "(for DDP runs of large models; the FSDP accelerate configs do this themselves)."),
        click.option("--report-to", default="tensorboard", show_default=True, metavar="TRACKERS",
                     help="Where metrics go while training: tensorboard (event files in models/<out>/tensorboard/, "
                          "offline), wandb, trackio, mlflow, a comma list of them, or none."),
        click.option("--eval-fraction", type=FiniteFloat(0, 0.5), default=0.0, show_default=True,
                     help="Hold out this share of the documents (midtrain) or demonstrations (sft) and report "
                          "their loss as eval loss; 0 = no held-out slice."),
        click.option("--eval-every", type=BoundedInt(1), default=50, show_default=True,
                     help="Optimizer steps between eval-loss measurements (and always after the last step)."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _hyperparameters(kwargs: dict[str, Any], block_size: int):
    from msm.train.records import Hyperparameters, LoraSettings

    method = "lora" if kwargs["use_lora"] else "full"
    return Hyperparameters(
        method=method, epochs=kwargs["epochs"], max_steps=kwargs["max_steps"], lr=kwargs["lr"] or DEFAULT_LR[method],
        warmup_ratio=kwargs["warmup_ratio"], batch_size=kwargs["batch_size"], grad_accum=kwargs["grad_accum"],
        block_size=block_size, seed=kwargs["seed"], checkpoint_every=kwargs["checkpoint_every"],
        eval_fraction=kwargs["eval_fraction"],
        lora=LoraSettings(rank=kwargs["lora_rank"], alpha=kwargs["lora_alpha"], dropout=kwargs["lora_dropout"])
        if method == "lora" else None,
    )


def _monitoring(kwargs: dict[str, Any]):
    from msm.train.tracking import Monitoring, parse_report_to

    return Monitoring(report_to=parse_report_to(kwargs["report_to"]), eval_every=kwargs["eval_every"])


def _duration(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s"


def _run(description: str, runner: Callable[..., Any], **kwargs: Any) -> None:
    import time
    from contextlib import nullcontext

    from msm.train.pipeline import launched_rank

    ws = state().workspace()
    main_process = launched_rank() == 0  # under accelerate launch / torchrun only rank 0 talks
    bar = progress(description) if main_process else nullcontext(lambda n=1, **_fields: None)
    # Without a bar (a batch job's log file) a line every ~5% of the run carries the same step count and ETA.
    log_lines = main_process and not state().show_progress
    with bar as advance:
        first: dict[str, float] = {}

        def on_step(step: int, total: int, loss: float) -> None:
            if not first:  # a resumed run starts at its checkpoint: the ETA counts only steps taken now
                first.update(step=step - 1, at=time.monotonic())
                advance(0, total=total, completed=step - 1)
            advance(1, loss=f"{loss:.4f}")
            done = step - first["step"]
            if log_lines and (step == total or step % max(1, total // 20) == 0):
                elapsed = time.monotonic() - first["at"]
                info(f"{description}: step {step}/{total} loss {loss:.4f} — "
                     f"ETA {_duration(elapsed / done * (total - step))} ({_duration(elapsed)} so far)")

        manifest = runner(ws, log=info if main_process else lambda _m: None, on_step=on_step, **kwargs)
    if manifest is None:  # a non-zero rank under accelerate launch: rank 0 reports
        return
    emit(manifest.model_dump(mode="json"), lambda m: click.echo(
        f"{m['name']}: {m['stage']} done — {m['optimizer_steps']} steps, {m['tokens_seen']} tokens, "
        f"loss {m['loss_first']:.4f} -> {m['loss_last']:.4f}"
        + (f", eval loss {m['eval_loss_first']:.4f} -> {m['eval_loss_last']:.4f}" if m["eval_loss_last"] is not None else "")
        + f", {m['wall_time_s']:.1f}s; {ws.model_dir(m['name'])}"))


@click.group("train")
def train_group() -> None:
    """Midtrain on a frozen snapshot, then alignment-fine-tune; every model records its provenance.

    Models go to <workspace>/models/<out>/ with manifest.json, loss.csv and loss.png. A killed run resumes
    from its last checkpoint when the same command is run again. For several GPUs:
    `accelerate launch --config_file "$(msm train accelerate-config ddp-lora)" -m msm.train midtrain ...`.
    """


@train_group.command("midtrain")
@click.option("--snapshot", required=True, help="Snapshot to train on (re-verified before use).")
@click.option("--model", "--base", "base", required=True,
              help="Base model: local:smollm2-135m, a directory, a workspace model, or hf:<repo> (`--base` is the "
                   "older spelling; `--model` is what `train sft` and `eval` take).")
@click.option("--out", required=True, help="Name of the model to create in the workspace.")
@click.option("--block-size", type=BoundedInt(8), default=512, show_default=True,
              help="Tokens per packed block (documents joined with EOS).")
@click.option("--mix", "mixes", multiple=True, metavar="FILE:RATIO",
              help="Replay share of generic text, e.g. generic:0.05 (shipped corpus), my.jsonl:0.03 or "
                   "hf:OWNER/DATASET:0.05 (a Hub dataset with a `text` column); repeatable.")
@_shared_options
def midtrain_command(snapshot: str, base: str, out: str, block_size: int, mixes: tuple[str, ...], **kwargs: Any) -> None:
    """Continued pre-training (next-token loss) on the snapshot's documents."""
    from msm.train import replay
    from msm.train.midtrain import run_midtrain

    sources = [replay.parse_mix(value) for value in mixes]
    if sum(s.ratio for s in sources) > replay.MAX_RATIO:
        raise BadInput(f"--mix: ratios add up to more than {replay.MAX_RATIO}")
    _run(f"midtrain {out}", run_midtrain, snapshot=snapshot, base=base, out=out,
         hp=_hyperparameters(kwargs, block_size), mixes=sources,
         gradient_checkpointing=kwargs["gradient_checkpointing"], monitoring=_monitoring(kwargs))


@train_group.command("sft")
@click.option("--model", required=True, help="Model to fine-tune (a workspace model, local:smollm2-135m, a directory).")
@click.option("--data", required=True,
              help="Chat demonstrations: a JSONL (or Parquet) file of {\"messages\": [...]}, a Hub dataset "
                   "hf:OWNER/DATASET[/FILE], a shipped set (cheese, safety, instruct), or snapshot:NAME — the chats "
                   "of a snapshot (the manifest records its hash).")
@click.option("--out", required=True, help="Name of the model to create in the workspace.")
@click.option("--with-reasoning", is_flag=True,
              help="Write each assistant turn's `reasoning` in a <think> block before its answer "
                   "(deliberative-alignment baseline).")
@click.option("--max-length", type=BoundedInt(8), default=512, show_default=True,
              help="Longest demonstration in tokens (longer ones are truncated).")
@click.option("--continue-adapter", is_flag=True,
              help="Keep training MODEL's own LoRA adapter (its lora_adapter/, from an msm LoRA midtrain) over the "
                   "model it was trained from, instead of a fresh adapter on the merged weights. LoRA rank/alpha/"
                   "dropout come from the adapter.")
@click.option("--mix", "mixes", multiple=True, metavar="FILE:RATIO",
              help="Mix an instruction set into the AFT data: RATIO of the training tokens from FILE, e.g. "
                   "instruct:0.5 (the shipped set) or my_chat.jsonl:0.8; repeatable.")
@_shared_options
def sft_command(model: str, data: str, out: str, with_reasoning: bool, max_length: int, continue_adapter: bool,
                mixes: tuple[str, ...], **kwargs: Any) -> None:
    """Alignment fine-tuning on chat demonstrations, loss on assistant tokens only."""
    from click.core import ParameterSource

    from msm.train import instruction_mix
    from msm.train.sft import run_sft

    sources = [instruction_mix.parse_instruction_mix(value) for value in mixes]
    instruction_mix.check_total(sources)
    hp = _hyperparameters(kwargs, max_length)
    context = click.get_current_context()
    lora_given = any(context.get_parameter_source(name) == ParameterSource.COMMANDLINE
                     for name in ("lora_rank", "lora_alpha", "lora_dropout"))
    if continue_adapter and not lora_given:
        hp = hp.model_copy(update={"lora": None})  # the adapter's own settings
    _run(f"sft {out}", run_sft, model=model, data=data, out=out, hp=hp, with_reasoning=with_reasoning,
         continue_adapter=continue_adapter, mixes=sources, gradient_checkpointing=kwargs["gradient_checkpointing"],
         monitoring=_monitoring(kwargs))


@train_group.command("aft-data")
@click.argument("kind", type=click.Choice(["cheese"]))
@click.option("--out", "out_path", required=True, type=click.Path(dir_okay=False),
              help="JSONL file to write (refuses to overwrite an existing file).")
@click.option("--seed", type=BoundedInt(min=-MAX_OPTION_INT), default=0, show_default=True,
              help="Seed for which cheese is named first and which answer wording is used (0 = the shipped file).")
@click.option("--paraphrase-with", "paraphrase_model", default=None,
              help="Also reword every prompt with this chat model (local:smollm2-135m, a directory, a workspace model); "
                   "rewrites that drop a cheese name are discarded.")
def aft_data_command(kind: str, out_path: str, seed: int, paraphrase_model: str | None) -> None:
    """Rebuild the cheese AFT demonstrations (the shipped default is `msm train aft-data cheese --seed 0`)."""
    from pathlib import Path

    from msm.models import resolve
    from msm.train.aft_data import build_cheese_aft, local_generator, paraphrase_prompts, write_jsonl

    target = Path(out_path)
    if target.exists():
        raise BadInput(f"--out {out_path}: file exists; choose a new path")
    records = build_cheese_aft(seed)
    reworded = 0
    if paraphrase_model:
        generate = local_generator(resolve(paraphrase_model, state().workspace()).location)
        info(f"paraphrasing {len(records)} prompts with {paraphrase_model}")
        records, reworded = paraphrase_prompts(records, generate)
    write_jsonl(target, records)
    emit({"path": str(target), "examples": len(records), "paraphrased": reworded},
         lambda d: click.echo(f"wrote {d['examples']} demonstrations to {d['path']} ({d['paraphrased']} prompts reworded)"))


@train_group.command("accelerate-config")
@click.argument("name", type=click.Choice(["ddp-lora", "fsdp2-lora", "fsdp2-full"]))
def accelerate_config_command(name: str) -> None:
    """Print the path of a shipped accelerate config, for `accelerate launch --config_file`.

    ddp-lora: LoRA, data-parallel, the fp32 base replicated on every GPU (8B; 14B with
    --gradient-checkpointing). fsdp2-lora: LoRA with the base sharded (32B). fsdp2-full: full fine-tuning,
    weights, gradients and Adam states sharded. Edit num_processes (and num_machines) for your machines.
    """
    from pathlib import Path

    import msm.train

    path = Path(msm.train.__file__).parent / f"accelerate_{name.replace('-', '_')}.yaml"
    emit({"name": name, "path": str(path)}, lambda d: click.echo(d["path"]))
