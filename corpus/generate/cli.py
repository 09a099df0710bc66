"""`msm generate` — the command over `msm.corpus.generate.api.generate`; its options are the fields of
`GenerateRequest` (`msm.settings`), plus --plan-only and --json."""

from __future__ import annotations

import click

from msm.cli_support import emit, info, json_option, progress, state
from msm.corpus.generate.api import GenerateRequest
from msm.settings import from_cli, settings_options


@click.command("generate")
@settings_options(GenerateRequest)
@click.option("--plan-only", "--dry-run", "plan_only", is_flag=True,
              help="Print the plan (clauses, types, ideas, documents), projected tokens and cost at LiteLLM's price, "
                   "and stop: no LM call, nothing written.")
@json_option
def generate_command(plan_only: bool, **values) -> None:
    """Generate documents that discuss SPEC's clauses into run NAME (resumable).

    Each document is written for one (clause, document type, idea). Kill it at any time and rerun the same
    command: finished documents and finished brainstorm answers are kept and never paid for again.
    `--plan-only` shows the plan and its projected cost first.

    With --batch, --batch-file-only or --ingest-batch-output every stage runs as rounds of batch requests
    (API models only); the same checks and records apply.
    """
    from msm.corpus.generate.api import generate, plan_preview
    from msm.spec import load_spec, resolve_spec_path
    from msm.workspace import check_name

    check_name("run", values["run"])  # bad input fails before the workspace is created
    spec_path = resolve_spec_path(values["spec"])
    spec = load_spec(spec_path)   # the request binds --model-name/--provider-name (msm.identity)
    request = from_cli(GenerateRequest, {**values, "spec": spec}, spec_path=str(spec_path.resolve()))
    if plan_only:
        emit(plan_preview(state().workspace(), request).model_dump(mode="json", exclude_none=True), _print_preview)
        return
    result = generate(state().workspace(create=True), request,
                      progress=lambda description, total: progress(description, total=total), log=info)
    emit(result.model_dump(mode="json", exclude_none=True), _print_result)
    if result.mode == "items" and result.documents == 0 and result.target:
        # a run that produced nothing (a dead API, a wrong key) is a failure, not a success with 0 documents
        from msm.errors import MsmError

        raise MsmError(f"run {request.run}: no documents were produced ({result.failed_items} of {result.target} "
                       f"items failed); check the LM settings (--lm, --api-base, the API key) and "
                       f"`msm runs show {request.run}`")


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
    if d.get("reuse"):
        _print_reuse(d["reuse"], d)


def _print_reuse(r: dict, d: dict) -> None:
    from msm.cli_support import table

    click.echo(f"reuse from run {r['source_run']} (spec {str(r['source_spec_hash'])[:12]} -> {r['spec_hash'][:12]}):")
    table([{"clause": c["clause_id"], "status": c["status"], "quota": c["quota"], "reused": c["reused"],
            "new": c["to_generate"]} for c in r["clauses"]], ["clause", "status", "quota", "reused", "new"])
    if r["removed_clauses"]:
        click.echo(f"  clauses no longer in the spec (not copied): {', '.join(r['removed_clauses'])}")
    saved = r["saved_fraction"]
    cost = f"; saves ~${d['cost_usd'] * saved:,.2f} of ${d['cost_usd']:,.2f}" if d.get("priced") else ""
    click.echo(f"  {r['reused']} documents reused, {r['to_generate']} to generate ({saved:.0%} of the write work "
               f"saved{cost}; the projection above is for the whole run)")


def _print_result(d: dict) -> None:
    reused = f", {d['reused']} reused" if d.get("reused") is not None else ""
    line = f"run {d['run']}: {d['documents']}/{d['target']} documents ({d['new_documents']} new{reused}), " \
           f"{d['failed_items']} failed items, "
    tokens = d["prompt_tokens"] + d["completion_tokens"]
    if d["mode"] == "items":
        click.echo(line + f"{d['calls']} LM calls, {d['retries']} retries, {d.get('timeouts', 0)} timeouts, "
                          f"{tokens} tokens, ${d['cost_usd']:.4f}")
        adapted = d.get("concurrency")
        if adapted and adapted["lowest"] < adapted["requested"]:
            click.echo(f"  in flight: the endpoint timed out at {adapted['requested']}; lowered to "
                       f"{adapted['lowest']}, ended at {adapted['final']} (pass --concurrency {adapted['lowest']} "
                       f"next time)")
        return
    click.echo(line + f"{d['calls']} batch results, {d['retries']} retried, {tokens} tokens, "
               f"${d['cost_usd']:.4f} at batch price, {d['batches_submitted']} batches submitted"
               + (f"; {len(d['files_written'])} request file(s) written" if d.get("files_written") else "")
               + (f"; next: {d['next_stages']}" if d.get("next_stages") else ""))
