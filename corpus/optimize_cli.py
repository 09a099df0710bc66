"""`msm optimize` — tune the generator's prompts with a DSPy optimizer (issue #4)."""

from __future__ import annotations

import click

from msm.cli_support import not_built


@click.command("optimize")
@click.option("--spec", required=True, help="Spec file or shipped spec id.")
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="Where to write the optimized program JSON.")
@click.option("--optimizer", type=click.Choice(["bootstrap", "mipro", "gepa"]), default="bootstrap", show_default=True,
              help="DSPy optimizer: BootstrapFewShot, MIPROv2 or GEPA.")
@click.option("--lm", default="local:smollm2-135m", show_default=True, help="LM the program runs on.")
@click.option("--judge-lm", default=None, help="LM that scores documents (default: --lm).")
def optimize_command(**kwargs) -> None:
    """Optimize the generator program against the corpus-quality metric on held-out clauses."""
    not_built("optimize", 4)(**kwargs)
