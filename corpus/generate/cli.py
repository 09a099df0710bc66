"""`msm generate` — run the DSPy generator program over a spec (issue #3)."""

from __future__ import annotations

import os

import click

from msm.cli_support import emit, info, json_option, progress, state
from msm.errors import BadInput, MsmError


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
    from msm.corpus.generate.lm.backends import build_backend, is_local_name
    from msm.corpus.generate.program import load_program, program_hash
    from msm.corpus.generate.engine import PROFILE_DEFAULTS, GenerationRun, GenerationSettings, open_run, run_lock
    from msm.corpus.run_store import RunStore
    from msm.spec import load_spec, resolve_spec_path
    from msm.workspace import check_name

    check_name("run", run_name)
    the_spec = load_spec(resolve_spec_path(spec))
    ws = state().workspace(create=True)
    local = is_local_name(lm, ws)
    chosen_profile = profile if profile != "auto" else ("weak" if local else "strong")
    gen_program = load_program(program)
    stage_tokens = None
    if max_tokens is not None:
        base = PROFILE_DEFAULTS[chosen_profile]["max_tokens"]
        stage_tokens = {**base, "write": max_tokens, "revise": max(base["revise"], max_tokens)}
    settings = GenerationSettings.for_profile(
        chosen_profile, spec_id=the_spec.id, spec_hash=the_spec.content_hash, lm=lm, api_base=api_base, n_docs=n_docs,
        seed=seed, program_hash=program_hash(gen_program), program_file=os.path.abspath(program) if program else None,
        revise=revise, opening=opening, attempts=attempts, max_tokens=stage_tokens,
    )
    store = RunStore(ws, run_name)
    if batch or batch_file_only or ingest_outputs:
        if local:
            raise BadInput(f"--lm {lm}: batch generation needs an API model (provider/model), not a local one")
        if batch and batch_file_only:
            raise BadInput("--batch and --batch-file-only: pick one (the API, or files for `vllm run-batch`)")
        _generate_in_batches(store, the_spec, gen_program, settings, api_base=api_base, batch=batch,
                             file_dir=batch_file_only, ingest_outputs=ingest_outputs, poll_interval=poll_interval,
                             request_timeout=request_timeout, max_failures=max_failures)
        return
    in_flight = concurrency or (32 if local else 8)  # bench_local_lm: batch 32 = 6.9x one stream, 16 = 5.4x
    with run_lock(store):
        open_run(store, settings)
        backend = build_backend(lm, ws=ws, api_base=api_base, max_tokens=settings.max_tokens["write"],
                                temperature=settings.temperature, timeout_s=request_timeout, batch_size=in_flight,
                                api_key=os.environ.get("MSM_API_KEY"), frequency_penalty=settings.frequency_penalty)
        info(f"generate: run {run_name} · spec {the_spec.id} · {n_docs} docs · lm {lm} ({chosen_profile}) · "
             f"{in_flight} in flight")
        with progress(f"generate {run_name}", total=n_docs) as advance:
            job = GenerationRun(store, the_spec, backend, gen_program, settings, concurrency=in_flight,
                                max_failures=max_failures, on_progress=advance)
            totals = job.run()
    documents = sum(1 for _ in store.documents())
    emit({"run": run_name, "documents": documents, "target": n_docs, "failed_items": totals.failed,
          "new_documents": totals.done, "calls": totals.calls, "retries": totals.retries,
          "prompt_tokens": totals.prompt_tokens, "completion_tokens": totals.completion_tokens, "cost_usd": totals.cost},
         lambda d: click.echo(f"run {d['run']}: {d['documents']}/{d['target']} documents "
                              f"({d['new_documents']} new), {d['failed_items']} failed items, {d['calls']} LM calls, "
                              f"{d['retries']} retries, {d['prompt_tokens'] + d['completion_tokens']} tokens, "
                              f"${d['cost_usd']:.4f}"))


def _generate_in_batches(store, spec, program, settings, *, api_base: str | None, batch: bool, file_dir: str | None,
                         ingest_outputs: tuple[str, ...], poll_interval: float, request_timeout: float,
                         max_failures: int | None) -> None:
    from pathlib import Path

    from msm.corpus.generate.batch import BatchGenerationRun
    from msm.corpus.generate.lm.backends import build_backend
    from msm.corpus.generate.engine import open_run, run_lock

    client = None
    if batch:
        import openai

        api_key = os.environ.get("MSM_API_KEY") or os.environ.get("OPENAI_API_KEY")
        if not api_key and not api_base:
            raise BadInput("--batch: no API key (set OPENAI_API_KEY or MSM_API_KEY)")
        client = openai.OpenAI(base_url=api_base, api_key=api_key or "not-needed", timeout=request_timeout)
    with run_lock(store):
        open_run(store, settings)
        backend = build_backend(settings.lm, ws=None, api_base=api_base, api_key=os.environ.get("MSM_API_KEY"))
        job = BatchGenerationRun(store, spec, backend, program, settings, client=client, poll_s=poll_interval,
                                 max_failures=max_failures,
                                 round_progress=lambda description, total: progress(description, total=total),
                                 log=lambda message: info(f"generate: {message}"))
        ingested = {"answered": 0, "errors": 0, "skipped": 0}
        for path in ingest_outputs:
            result = job.ingest_output_file(Path(path))
            info(f"generate: {path}: {result.answered} answers applied, {result.errors} per-request errors "
                 f"(asked again in the next file), {result.skipped} lines for work already done")
            for key in ingested:
                ingested[key] += getattr(result, key)
        files: list[str] = []
        next_stages = None
        if batch:
            import openai

            try:
                job.run()
            except openai.OpenAIError as exc:
                raise MsmError(f"batch API: {type(exc).__name__}: {(str(exc).splitlines() or [''])[0][:200]}; "
                               f"rerun the same command to resume") from None
        elif file_dir:
            next_stages, paths, n_requests = job.write_request_files(Path(file_dir))
            files = [str(p) for p in paths]
            if paths:
                info(f"generate: wrote {n_requests} {next_stages} requests to {len(paths)} file(s); run them "
                     f"(e.g. `vllm run-batch -i FILE -o OUT --model MODEL`), then rerun with --ingest-batch-output OUT")
        else:
            next_stages = ",".join(sorted({r.stage for r in job.open_requests()})) or None
    totals = job.totals
    documents = sum(1 for _ in store.documents())
    emit({"run": store.name, "documents": documents, "target": settings.n_docs, "failed_items": totals.failed,
          "new_documents": totals.done, "calls": totals.calls, "retries": totals.retries,
          "prompt_tokens": totals.prompt_tokens, "completion_tokens": totals.completion_tokens, "cost_usd": totals.cost,
          "cost_basis": "batch price: LiteLLM list price x 0.5 (0 for models LiteLLM does not know)",
          "batches_submitted": job.batches_submitted, "rounds": job.rounds, "ingested": ingested,
          "files_written": files, "next_stages": next_stages},
         lambda d: click.echo(f"run {d['run']}: {d['documents']}/{d['target']} documents "
                              f"({d['new_documents']} new), {d['failed_items']} failed items, {d['calls']} batch "
                              f"results, {d['retries']} retried, {d['prompt_tokens'] + d['completion_tokens']} tokens, "
                              f"${d['cost_usd']:.4f} at batch price, {d['batches_submitted']} batches submitted"
                              + (f"; {len(d['files_written'])} request file(s) written" if d['files_written'] else "")
                              + (f"; next: {d['next_stages']}" if d['next_stages'] else "")))
