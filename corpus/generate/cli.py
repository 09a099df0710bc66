"""`msm generate` — the command over `msm.corpus.generate.api.generate`."""

from __future__ import annotations

import click

from msm.cli_support import emit, info, json_option, progress, state
from msm.corpus.lmrun.cli_options import lm_run_options


def _int_list(ctx: click.Context, param: click.Parameter, value: str | None) -> list[int] | None:
    if value is None:
        return None
    try:
        numbers = [int(part) for part in value.split(",") if part.strip()]
    except ValueError:
        raise click.BadParameter(f"{value!r}: expected whole numbers separated by commas, e.g. 600,900,1200") from None
    if not numbers or min(numbers) < 10:
        raise click.BadParameter(f"{value!r}: each length must be at least 10 words")
    return numbers


@click.command("generate")
@click.option("--spec", "spec", required=True, help="Spec file or shipped spec id.")
@click.option("--run", "run_name", required=True, help="Run name; rerunning the same command resumes it.")
@click.option("--n-docs", type=click.IntRange(min=1, max=10_000_000), default=None,
              help="Number of documents to write [default: the plan's size, clauses x --types-per-clause x "
                   "--ideas-per-type].")
@click.option("--lm", default="local:smollm2-135m", show_default=True,
              help="LM: local:smollm2-135m, a model dir, or a dspy/LiteLLM string such as openai/gpt-4.1-mini.")
@click.option("--api-base", default=None, help="Base URL of an OpenAI-compatible server (e.g. http://127.0.0.1:8000/v1).")
@click.option("--program", type=click.Path(dir_okay=False), default=None, help="Optimized program JSON from `msm optimize`.")
@click.option("--concurrency", type=click.IntRange(min=1, max=256), default=None,
              help="Items in flight: parallel API calls, or the batch size of a local model. [default: 8 API, 32 local]")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed for plan, levers, anchors and sampling.")
@click.option("--profile", type=click.Choice(["auto", "weak", "strong", "paper"]), default="auto", show_default=True,
              help="weak: plain prompts, lenient parsing, clause-only context, scaffolded documents, no revise (auto "
                   "for local models); strong: full spec in context, the paper's plan, plus msm's plan step, length "
                   "targets and critique-and-revise (auto for API models); paper: the replication profile — the "
                   "paper's plan and writer with none of msm's additions (no revise, no length target, no levers, "
                   "checks recorded on the document instead of dropping it).")
@click.option("--plan", "plan", type=click.Choice(["clauses", "paper"]), default=None,
              help="clauses: documents per author clause, brainstorms seeing the clause; paper: the LM decomposes "
                   "the whole spec into domains -> subdomains (each with the verbatim spec section it covers) -> "
                   "assertions -> types -> ideas, every stage with the full spec [default: paper for the strong and "
                   "paper profiles, clauses for weak].")
@click.option("--paper-domains", type=click.IntRange(min=1, max=100), default=None,
              help="Paper plan: about how many domains to ask for [default: 5].")
@click.option("--subdomains-per-domain", type=click.IntRange(min=1, max=100), default=None,
              help="Paper plan: subdomains asked per domain [default: 4]; --types-per-clause and --ideas-per-type "
                   "count per subdomain.")
@click.option("--types-per-clause", type=click.IntRange(min=1, max=200), default=None,
              help="Document types brainstormed per clause [default: 6 weak, 20 strong (the paper's)].")
@click.option("--ideas-per-type", type=click.IntRange(min=1, max=1000), default=None,
              help="Ideas per document type; with --types-per-clause it sizes the plan when --n-docs is not given "
                   "[default: 4 weak, 25 strong (the paper's)].")
@click.option("--length-words", callback=_int_list, default=None, metavar="N[,N...]",
              help="Target lengths in words, one drawn per document [default: 120,150,180 weak; 500,800,1200,1600 "
                   "strong].")
@click.option("--levers/--no-levers", default=None,
              help="Give each document a named author persona and an era. Off by default: the writer invents no "
                   "bylines, author names or dates.")
@click.option("--revise/--no-revise", default=None, help="Run the critique-and-rewrite stage [default: on for strong].")
@click.option("--scaffold/--no-scaffold", default=None,
              help="Weak models write anchored paragraphs: a spec-derived sentence each, continued by the LM for a "
                   "sentence or two and checked for staying on the clause [default: on for weak].")
@click.option("--opening/--no-opening", default=None,
              help="Without the scaffold: weak models continue a template opening (title, the clause's rule and one "
                   "quoted sentence of its reason) recorded as metadata.opening_chars.")
@click.option("--value-share", type=click.FloatRange(0, 1, min_open=True, max_open=True), default=None,
              help="Share of the documents for the spec's value clauses (see --value-clauses) [default: by clause "
                   "weights].")
@click.option("--value-clauses", default=None, metavar="PATTERN[,PATTERN...]",
              help="Clause ids (glob patterns) that are the spec's value clauses [default: value.*].")
@click.option("--plan-only", "--dry-run", "plan_only", is_flag=True,
              help="Print the plan (clauses, types, ideas, documents), projected tokens and cost at LiteLLM's price, "
                   "and stop: no LM call, nothing written.")
@click.option("--max-cost-usd", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Stop cleanly (exit 1, resumable) once the run's recorded cost reaches this.")
@click.option("--max-failures", type=click.IntRange(min=0), default=None,
              help="Stop cleanly once more than this many items have failed permanently (rerun resumes).")
@click.option("--attempts", type=click.IntRange(min=1, max=20), default=3, show_default=True,
              help="Tries per document before it is recorded as a permanent failure.")
@click.option("--max-tokens", type=click.IntRange(min=16), default=None,
              help="Token limit of the write stage [default: 240 weak, 5000 strong].")
@click.option("--model-name", default=None,
              help="The assistant's name the documents use (renders the spec's {model_name}) [default: the spec's].")
@click.option("--provider-name", default=None,
              help="Who made the assistant, as the documents say (the spec's {provider_name}) [default: the spec's].")
@lm_run_options
@json_option
def generate_command(spec: str, run_name: str, n_docs: int | None, lm: str, api_base: str | None,
                     program: str | None, concurrency: int | None, seed: int, profile: str,
                     types_per_clause: int | None, ideas_per_type: int | None, length_words: list[int] | None,
                     levers: bool | None, revise: bool | None, scaffold: bool | None, opening: bool | None,
                     value_share: float | None, value_clauses: str | None, plan_only: bool,
                     max_cost_usd: float | None, max_failures: int | None, attempts: int, max_tokens: int | None,
                     request_timeout: float, batch: bool, batch_file_only: str | None,
                     ingest_outputs: tuple[str, ...], poll_interval: float, plan: str | None = None,
                     paper_domains: int | None = None, subdomains_per_domain: int | None = None,
                     model_name: str | None = None, provider_name: str | None = None) -> None:
    """Generate documents that discuss SPEC's clauses into run NAME (resumable).

    Each document is written for one (clause, document type, idea). Kill it at any time and rerun the same
    command: finished documents and finished brainstorm answers are kept and never paid for again.
    `--plan-only` shows the plan and its projected cost first.

    With --batch, --batch-file-only or --ingest-batch-output every stage runs as rounds of batch requests
    (API models only); the same checks and records apply.
    """
    from msm.corpus.generate.api import GenerateRequest, generate, plan_preview
    from msm.identity import with_identity
    from msm.spec import load_spec, resolve_spec_path
    from msm.workspace import check_name

    check_name("run", run_name)  # bad input fails before the workspace is created
    request = GenerateRequest(
        spec=with_identity(load_spec(resolve_spec_path(spec)), model_name, provider_name), run=run_name, n_docs=n_docs, lm=lm, api_base=api_base,
        program=program, concurrency=concurrency, seed=seed, profile=profile, revise=revise, opening=opening,
        max_failures=max_failures, attempts=attempts, max_tokens=max_tokens, request_timeout=request_timeout,
        batch=batch, batch_file_only=batch_file_only, ingest_outputs=ingest_outputs, poll_interval=poll_interval,
        types_per_clause=types_per_clause, ideas_per_type=ideas_per_type, length_words=length_words, levers=levers,
        scaffold=scaffold, value_share=value_share,
        value_clauses=[p.strip() for p in value_clauses.split(",") if p.strip()] if value_clauses else None,
        max_cost_usd=max_cost_usd, plan=plan, paper_domains=paper_domains,
        subdomains_per_domain=subdomains_per_domain)
    if plan_only:
        emit(plan_preview(state().workspace(), request).model_dump(mode="json"), _print_preview)
        return
    result = generate(state().workspace(create=True), request,
                      progress=lambda description, total: progress(description, total=total), log=info)
    emit(result.model_dump(mode="json", exclude_none=True), _print_result)


def _print_preview(d: dict) -> None:
    if d.get("plan") == "paper":
        click.echo(f"plan for spec {d['spec_id']} with {d['lm']} ({d['profile']} profile, paper plan): "
                   f"~{d['subdomains']} subdomains ({d['domains']} domains x {d['subdomains_per_domain']}) x up to "
                   f"{d['types_per_clause']} document types x {d['ideas_per_type']} ideas -> {d['documents']} "
                   f"documents (subdomain count projected; the LM decides it)")
    else:
        click.echo(f"plan for spec {d['spec_id']} with {d['lm']} ({d['profile']} profile): {d['clauses']} clauses x "
                   f"up to {d['types_per_clause']} document types x {d['ideas_per_type']} ideas -> "
                   f"{d['documents']} documents")
    for stage, p in d["stages"].items():
        click.echo(f"  {stage:<9} {p['calls']:>9,} calls  {p['input_tokens']:>13,} input tokens  "
                   f"{p['output_tokens']:>12,} output tokens")
    cost = (f"${d['cost_usd']:,.2f} at list price, ${d['batch_cost_usd']:,.2f} with --batch" if d["priced"]
            else "not priced (LiteLLM does not know this model)")
    click.echo(f"  total: {d['input_tokens']:,} input + {d['output_tokens']:,} output tokens (estimated); {cost}")


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
