"""`msm eval` (issue #8)."""

from __future__ import annotations

import click

from msm.cli_support import not_built


@click.command("eval")
@click.option("--model", required=True, help="Model to evaluate.")
@click.option("--suite", required=True, help="Suite name (cheese_values, agentic, spec_knowledge, regression).")
@click.option("--out", type=click.Path(file_okay=False), default=None, help="Directory for the result file.")
def eval_command(**kwargs) -> None:
    """Run an evaluation suite on a model and write a typed result file."""
    not_built("eval", 8)(**kwargs)
