"""`msm train midtrain | sft` (issue #7)."""

from __future__ import annotations

import click

from msm.cli_support import not_built


@click.group("train")
def train_group() -> None:
    """Midtrain on a frozen snapshot, then alignment-fine-tune; every model records its provenance."""


@train_group.command("midtrain")
@click.option("--snapshot", required=True, help="Snapshot to train on (re-verified before use).")
@click.option("--base", required=True, help="Base model: local:smollm2-135m, a directory, or hf:<repo>.")
@click.option("--out", required=True, help="Name of the model to create in the workspace.")
@click.option("--lora/--full", default=True, show_default=True, help="LoRA (merged afterwards) or full fine-tuning.")
def midtrain_command(**kwargs) -> None:
    """Continued pre-training (next-token loss) on the snapshot's documents."""
    not_built("train midtrain", 7)(**kwargs)


@train_group.command("sft")
@click.option("--model", required=True, help="Model to fine-tune.")
@click.option("--data", required=True, type=click.Path(dir_okay=False), help="Chat demonstrations (JSONL of `messages`).")
@click.option("--out", required=True, help="Name of the model to create in the workspace.")
@click.option("--with-reasoning", is_flag=True, help="Keep the spec-citing reasoning (deliberative-alignment baseline).")
def sft_command(**kwargs) -> None:
    """Alignment fine-tuning on chat demonstrations, loss on assistant tokens only."""
    not_built("train sft", 7)(**kwargs)
