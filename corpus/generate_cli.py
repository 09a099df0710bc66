"""`msm generate` — run the DSPy generator program over a spec (issue #3)."""

from __future__ import annotations

import click

from msm.cli_support import not_built


@click.command("generate")
@click.option("--spec", "spec", required=True, help="Spec file or shipped spec id.")
@click.option("--run", "run_name", required=True, help="Run name; rerunning the same command resumes it.")
@click.option("--n-docs", type=click.IntRange(min=1), required=True, help="Number of documents to write.")
@click.option("--lm", default="local:smollm2-135m", show_default=True, help="LM: local:…, a model dir, or a dspy/LiteLLM string.")
@click.option("--api-base", default=None, help="Base URL of an OpenAI-compatible server (e.g. http://127.0.0.1:8000/v1).")
@click.option("--program", type=click.Path(dir_okay=False), default=None, help="Optimized program JSON from `msm optimize`.")
@click.option("--concurrency", type=click.IntRange(min=1), default=4, show_default=True, help="Parallel LM calls (API backends).")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed for plan, personas, names and sampling.")
def generate_command(**kwargs) -> None:
    """Generate documents that discuss SPEC's clauses into run NAME (resumable)."""
    not_built("generate", 3)(**kwargs)
