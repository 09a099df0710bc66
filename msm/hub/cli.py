"""`msm snapshot push` and `msm models push`. The Hub sits above snapshots and models, so their groups do not import
these commands: `msm.cli` (the roof) attaches them to the `snapshot` and `models` groups (`LAZY_SUBCOMMANDS`)."""

from __future__ import annotations

from typing import Callable

import click

from msm.cli_support import emit, info, json_option, state


def push_options(func: Callable) -> Callable:
    options = [
        click.option("--repo", required=True, metavar="OWNER/NAME",
                     help="Hub repository to push to (created if missing). Log in first: `hf auth login` or HF_TOKEN."),
        click.option("--private", is_flag=True, help="Create the repository private (default: the account's default)."),
        click.option("--license", "license_id", default=None, metavar="ID",
                     help="License for the card's metadata, a Hub license id such as apache-2.0 or cc-by-4.0 "
                          "(default: the base model's for the embedded model, else `unknown`)."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def echo_push(result: dict) -> None:
    click.echo(f"pushed {len(result['files'])} files to {result['url']} (commit {str(result['commit'])[:12]})")


@click.command("push")
@click.argument("name")
@push_options
@json_option
def snapshot_push_command(name: str, repo: str, private: bool, license_id: str | None) -> None:
    """Push snapshot NAME to a Hub dataset repo: documents.parquet, manifest.json and a dataset card
    (specs and hashes, generator LMs and program hashes, curation config and per-rule counts, review counts).

    The snapshot is re-verified first. `msm corpus import hf:OWNER/NAME` reads it back.
    """
    from msm.hub.push import push_snapshot

    info(f"pushing snapshot {name} to {repo}")
    emit(push_snapshot(state().workspace(), name, repo, private=private, license=license_id), echo_push)


@click.command("push")
@click.argument("name")
@push_options
@json_option
def models_push_command(name: str, repo: str, private: bool, license_id: str | None) -> None:
    """Push workspace model NAME to a Hub model repo: the model directory as msm wrote it (weights, manifest,
    loss curve, TensorBoard events, LoRA adapter) and a model card (lineage, data hashes, hyperparameters,
    training results, eval headline numbers; `base_model` and `datasets` metadata)."""
    from msm.hub.push import push_model

    info(f"pushing model {name} to {repo}")
    emit(push_model(state().workspace(), name, repo, private=private, license=license_id), echo_push)
