"""`msm generate` — the command over `msm.corpus.generate.api.generate`."""

from __future__ import annotations

import click

from msm.cli_support import emit, info, json_option, progress, state


@click.command("generate")
@click.option("--spec", "spec", required=True, help="Spec file or shipped spec id.")
@click.option("--run", "run_name", required=True, help="Run name; rerunning the same command resumes it.")
@click.option("--n-docs", type=click.IntRange(min=1, max=10_000_000), required=True, help="Number of documents to write.")
@click.option("--lm", default="local:smollm2-135m", show_default=True,
              help="LM: local:smollm2-135m, a model dir, or a dspy/LiteLLM string such as openai/gpt-4.1-mini.")
@click.option("--api-base", default=None, help="Base URL of an OpenAI-compatible server (e.g. http://127.0.0.1:8000/v1).")
@click.option("--program", type=click.Path(dir_okay=False), default=None, help="Optimized program JSON from `msm optimize`.")
@click.option("--concurrency", type=click.IntRange(min=1, max=256), default=None,
              help="Items in flight: parallel API calls, or the batch size of a local model. [default: 8 API, 32 local]")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed for plan, personas, names and sampling.")
@click.option("--profile", type=click.Choice(["auto", "weak", "strong"]), default="auto", show_default=True,
              help="weak: plain prompts, lenient parsing, clause-only context, no revise (auto for local models); "
                   "strong: the full pipeline with revise (auto for API models).")
@click.option("--revise/--no-revise", default=None, help="Run the critique-and-rewrite stage [default: on for strong].")
@click.option("--opening/--no-opening", default=None,
              help="Weak models continue a template opening (title, byline, the clause's rule and one quoted "
                   "sentence of its reason) recorded as metadata.opening_chars [default: on for weak].")
@click.option("--max-failures", type=click.IntRange(min=0), default=None,
              help="Stop cleanly once more than this many items have failed permanently (rerun resumes).")
@click.option("--attempts", type=click.IntRange(min=1, max=20), default=3, show_default=True,
              help="Tries per document before it is recorded as a permanent failure.")
@click.option("--max-tokens", type=click.IntRange(min=16), default=None,
              help="Token limit of the write stage [default: 240 weak, 1600 strong].")
@click.option("--request-timeout", type=click.FloatRange(min=1), default=120.0, show_default=True,
              help="Seconds before an API call counts as timed out (and is retried).")
@click.option("--batch", "batch", is_flag=True,
              help="Run each stage as one round of OpenAI Batch API requests (half price, up to 24 h a round); "
                   "batch ids are kept with the run, so a killed run resumes them instead of submitting again.")
@click.option("--batch-file-only", "batch_file_only", type=click.Path(file_okay=False), default=None,
              help="Write the next stage's requests as batch JSONL files into this directory (for `vllm run-batch`) "
                   "and stop.")
@click.option("--ingest-batch-output", "ingest_outputs", type=click.Path(exists=True, dir_okay=False), multiple=True,
              help="Read a batch output file (OpenAI or `vllm run-batch` format) into the run first; repeatable.")
@click.option("--poll-interval", type=click.FloatRange(min=0.01), default=30.0, show_default=True,
              help="Seconds between status checks of running batches (--batch).")
@json_option
def generate_command(spec: str, run_name: str, n_docs: int, lm: str, api_base: str | None, program: str | None,
                     concurrency: int | None, seed: int, profile: str, revise: bool | None, opening: bool | None,
                     max_failures: int | None,
                     attempts: int, max_tokens: int | None, request_timeout: float, batch: bool,
                     batch_file_only: str | None, ingest_outputs: tuple[str, ...], poll_interval: float) -> None:
    """Generate documents that discuss SPEC's clauses into run NAME (resumable).

    Each document is written for one (clause, document type, idea) with a seeded persona, author name, era,
    register and length. Kill it at any time and rerun the same command: finished documents and finished
    brainstorm answers are kept and never paid for again.

    With --batch, --batch-file-only or --ingest-batch-output every stage runs as rounds of batch requests
    (API models only); the same checks and records apply.
    """
    from msm.corpus.generate.api import GenerateRequest, generate
    from msm.spec import load_spec, resolve_spec_path
    from msm.workspace import check_name

    check_name("run", run_name)  # bad input fails before the workspace is created
    request = GenerateRequest(
        spec=load_spec(resolve_spec_path(spec)), run=run_name, n_docs=n_docs, lm=lm, api_base=api_base, program=program, concurrency=concurrency,
        seed=seed, profile=profile, revise=revise, opening=opening, max_failures=max_failures, attempts=attempts,
        max_tokens=max_tokens, request_timeout=request_timeout, batch=batch, batch_file_only=batch_file_only,
        ingest_outputs=ingest_outputs, poll_interval=poll_interval)
    result = generate(state().workspace(create=True), request,
                      progress=lambda description, total: progress(description, total=total), log=info)
    emit(result.model_dump(mode="json", exclude_none=True), _print_result)


def _print_result(d: dict) -> None:
    line = f"run {d['run']}: {d['documents']}/{d['target']} documents ({d['new_documents']} new), " \
           f"{d['failed_items']} failed items, "
    tokens = d["prompt_tokens"] + d["completion_tokens"]
    if d["mode"] == "items":
        click.echo(line + f"{d['calls']} LM calls, {d['retries']} retries, {tokens} tokens, ${d['cost_usd']:.4f}")
        return
    click.echo(line + f"{d['calls']} batch results, {d['retries']} retried, {tokens} tokens, "
               f"${d['cost_usd']:.4f} at batch price, {d['batches_submitted']} batches submitted"
               + (f"; {len(d['files_written'])} request file(s) written" if d.get("files_written") else "")
               + (f"; next: {d['next_stages']}" if d.get("next_stages") else ""))
