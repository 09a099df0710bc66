"""`msm generate` — run the DSPy generator program over a spec (issue #3)."""

from __future__ import annotations

import os

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
              help="Items in flight: parallel API calls, or the batch size of a local model. [default: 8 API, 16 local]")
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
@json_option
def generate_command(spec: str, run_name: str, n_docs: int, lm: str, api_base: str | None, program: str | None,
                     concurrency: int | None, seed: int, profile: str, revise: bool | None, opening: bool | None,
                     max_failures: int | None,
                     attempts: int, max_tokens: int | None, request_timeout: float) -> None:
    """Generate documents that discuss SPEC's clauses into run NAME (resumable).

    Each document is written for one (clause, document type, idea) with a seeded persona, author name, era,
    register and length. Kill it at any time and rerun the same command: finished documents and finished
    brainstorm answers are kept and never paid for again.
    """
    from msm.corpus.lm_backends import build_backend, is_local_name
    from msm.corpus.program import load_program, program_hash
    from msm.corpus.run_generation import PROFILE_DEFAULTS, GenerationRun, GenerationSettings, open_run, run_lock
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
    in_flight = concurrency or (16 if local else 8)
    with run_lock(store):
        open_run(store, settings)
        backend = build_backend(lm, ws=ws, api_base=api_base, max_tokens=settings.max_tokens["write"],
                                temperature=settings.temperature, timeout_s=request_timeout, batch_size=in_flight,
                                api_key=os.environ.get("MSM_API_KEY"))
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
