"""`msm aft generate | export | report` — the commands over `msm.corpus.aft`."""

from __future__ import annotations

from pathlib import Path

import click

from msm.cli_support import emit, info, json_option, progress, state, table
from msm.corpus.lmrun.cli_options import lm_run_options


def _comma_list(_ctx: click.Context, _param: click.Parameter, value: str | None) -> list[str] | None:
    return [c.strip() for c in value.split(",") if c.strip()] if value else None


@click.group("aft")
def aft_group() -> None:
    """Write alignment fine-tuning chats from a spec with an LM, and export them for `msm train sft`."""


@aft_group.command("generate")
@click.option("--spec", "spec", required=True, help="Spec file or shipped spec id.")
@click.option("--run", "run_name", required=True, help="Run name; rerunning the same command resumes it.")
@click.option("--n", "n", type=click.IntRange(min=1, max=10_000_000), required=True,
              help="Number of judged chats to keep (the judge's INCLUDEs).")
@click.option("--lm", default="local:smollm2-135m", show_default=True,
              help="LM: local:smollm2-135m, a model dir, or a dspy/LiteLLM string such as openai/gpt-4.1-mini.")
@click.option("--api-base", default=None, help="Base URL of an OpenAI-compatible server (e.g. http://127.0.0.1:8000/v1).")
@click.option("--style", type=click.Choice(["value", "rule", "opaque"]), default="value", show_default=True,
              help="value: reasoning from values held as the assistant's own (never cites the spec); rule: reasoning "
                   "that cites the spec's rules by id; opaque: the behaviour with no reasoning and no reasons.")
@click.option("--judge", type=click.Choice(["lm", "checks"]), default="lm", show_default=True,
              help="lm: an LM judge gives each chat INCLUDE/EXCLUDE with a reason; checks: no LM verdict, a chat "
                   "that passes the deterministic checks is kept (for LMs whose verdicts carry no signal).")
@click.option("--program", type=click.Path(dir_okay=False), default=None,
              help="Optimized chat program JSON from `msm optimize --program-kind aft`.")
@click.option("--concurrency", type=click.IntRange(min=1, max=256), default=None,
              help="Items in flight: parallel API calls, or the batch size of a local model. [default: 8 API, 32 local]")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed for the cell order, fallbacks and sampling.")
@click.option("--profile", type=click.Choice(["auto", "weak", "strong"]), default="auto", show_default=True,
              help="weak: plain prompts, lenient parsing, the clause (not the whole spec) in context, short outputs "
                   "(auto for local models); strong: the whole spec in context (auto for API models).")
@click.option("--question-types", callback=_comma_list, default=None,
              help="Comma-separated kinds of user message [default: advice,opinion,task,dilemma,agentic,challenge].")
@click.option("--domains-per-clause", type=click.IntRange(min=1, max=100), default=None,
              help="Conversation areas brainstormed per clause [default: 4 weak, 6 strong].")
@click.option("--questions-per-ask", type=click.IntRange(min=1, max=50), default=None,
              help="User messages asked for per (clause, area, type) cell [default: 3].")
@click.option("--dedup-threshold", type=click.FloatRange(min=0.0, max=1.0, min_open=True, max_open=True),
              default=None, help="MinHash Jaccard (word 2-grams) at or above which a message is a near-duplicate of "
                                 "an earlier one and dropped [default: 0.6].")
@click.option("--max-rounds", type=click.IntRange(min=1, max=50), default=None,
              help="Question rounds per clause: the first plus backfills, which stop early once a round adds no "
                   "accepted chat [default: 4].")
@click.option("--attempts", type=click.IntRange(min=1, max=20), default=None,
              help="Tries per user message when a check fails or a verdict is unreadable (an EXCLUDE is final) "
                   "[default: 2].")
@click.option("--max-failures", type=click.IntRange(min=0), default=None,
              help="Stop cleanly once more than this many messages have failed or been rejected (rerun resumes).")
@click.option("--max-cost-usd", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Stop cleanly (exit 1, resumable) once the run's recorded LM cost reaches this.")
@click.option("--model-name", default=None,
              help="The assistant's name in the chats (renders the spec's {model_name}) [default: the spec's].")
@click.option("--provider-name", default=None,
              help="Who made the assistant, as the chats say (the spec's {provider_name}) [default: the spec's].")
@lm_run_options
@json_option
def generate_command(spec: str, run_name: str, n: int, lm: str, api_base: str | None, style: str, judge: str,
                     program: str | None, concurrency: int | None, seed: int, profile: str,
                     question_types: list[str] | None, domains_per_clause: int | None, questions_per_ask: int | None,
                     dedup_threshold: float | None, max_rounds: int | None, attempts: int | None,
                     max_failures: int | None, max_cost_usd: float | None, request_timeout: float, batch: bool,
                     batch_file_only: str | None,
                     ingest_outputs: tuple[str, ...], poll_interval: float, model_name: str | None = None,
                     provider_name: str | None = None) -> None:
    """Write N judged chats for SPEC into run NAME (resumable).

    Stages: conversation areas per clause → user messages of several kinds that never mention the spec →
    near-duplicate removal → reasoning and answer with the spec in context → a judge (INCLUDE/EXCLUDE with a
    reason) → backfill rounds until N chats are kept or a round adds none. Kill it at any time and rerun the same
    command: every stage answer is cached and never paid for again.
    """
    from msm.corpus.aft.api import AftRequest, generate_chats
    from msm.identity import with_identity
    from msm.spec import load_spec, resolve_spec_path
    from msm.workspace import check_name

    check_name("run", run_name)  # bad input fails before the workspace is created
    spec_path = resolve_spec_path(spec)
    request = AftRequest(spec=with_identity(load_spec(spec_path), model_name, provider_name), spec_path=str(spec_path.resolve()), run=run_name, n=n, lm=lm,
                         api_base=api_base,
                         style=style, judge=judge, program=program, concurrency=concurrency, seed=seed,
                         profile=profile,
                         question_types=question_types, domains_per_clause=domains_per_clause,
                         questions_per_ask=questions_per_ask, dedup_threshold=dedup_threshold, max_rounds=max_rounds,
                         attempts=attempts, max_failures=max_failures, max_cost_usd=max_cost_usd,
                         request_timeout=request_timeout, batch=batch,
                         batch_file_only=batch_file_only, ingest_outputs=ingest_outputs, poll_interval=poll_interval)
    result = generate_chats(state().workspace(create=True), request,
                            progress=lambda description, total: progress(description, total=total), log=info)
    emit(result.model_dump(mode="json", exclude_none=True), _print_result)


def _print_result(d: dict) -> None:
    rate = "-" if d["include_rate"] is None else f"{d['include_rate']:.0%}"
    q = d["questions"]
    line = (f"run {d['run']}: {d['chats']}/{d['target']} chats ({d['new_chats']} new), judge INCLUDE rate {rate} of "
            f"{d['judged']} judged, {d['rejected']} excluded, {d['failed_items']} failed; questions {q.get('kept', 0)} "
            f"kept of {q.get('asked', 0)} ({q.get('near_duplicate', 0) + q.get('exact_duplicate', 0)} duplicates, "
            f"{q.get('problem', 0)} unusable), {q.get('rounds', 0)} round(s); ")
    tokens = d["prompt_tokens"] + d["completion_tokens"]
    if d["mode"] == "items":
        click.echo(line + f"{d['calls']} LM calls, {d['retries']} retries, {tokens} tokens, ${d['cost_usd']:.4f}")
        return
    click.echo(line + f"{d['calls']} batch results, {tokens} tokens, ${d['cost_usd']:.4f} at batch price, "
               f"{d['batches_submitted']} batches submitted"
               + (f"; {len(d['files_written'])} request file(s) written" if d.get("files_written") else "")
               + (f"; next: {d['next_stages']}" if d.get("next_stages") else ""))


@aft_group.command("export")
@click.argument("name")
@click.option("--out", required=True, type=click.Path(dir_okay=False),
              help="JSONL file to write (an existing file is refused unless --force).")
@click.option("--force", is_flag=True, help="Replace --out if it already exists.")
@click.option("--with-reasoning/--stripped", "with_reasoning", required=True,
              help="--with-reasoning: assistant turns carry <think>reasoning</think> before the answer (the "
                   "deliberative-alignment baseline); --stripped: the answer alone (plain AFT).")
@json_option
def export_command(name: str, out: str, with_reasoning: bool, force: bool) -> None:
    """Write the chats of run NAME as {"messages": [...]} JSONL for `msm train sft --data FILE`."""
    from msm.corpus.aft.export import export_chats

    result = export_chats(state().workspace(), name, Path(out), with_reasoning=with_reasoning,
                          force=force)
    emit(result, lambda r: click.echo(f"{r['chats']} chats of run {r['run']} -> {r['out']} "
                                      f"({'with reasoning' if r['with_reasoning'] else 'stripped'})"))


@aft_group.command("report")
@click.argument("name")
@click.option("--spec", default=None, help="The spec file the run was written from, for the question counts "
                                           "[default: the shipped spec of the run's spec id].")
@json_option
def report_command(name: str, spec: str | None) -> None:
    """Chats, judge INCLUDE rate, failures, and the diversity of the user turns of run NAME."""
    from msm.corpus.aft.api import load_walk
    from msm.corpus.aft.report import chat_report
    from msm.corpus.run_store import RunStore

    ws = state().workspace()
    store = RunStore(ws, name)
    walk = load_walk(ws, store, spec)
    emit(chat_report(store, walk.question_counts() if walk else None), _print_report)


def _print_report(r: dict) -> None:
    rate = "-" if r["include_rate"] is None else f"{r['include_rate']:.0%}"
    click.echo(f"run {r['run']} (spec {r['spec_id']}, style {r['style']}): {r['chats']}/{r['target']} chats, "
               f"judge INCLUDE rate {rate} of {r['judged']}, {r['failed_items']} failed")
    u = r["user_turns"]
    click.echo(f"user turns: distinct-1 {u['distinct_1']}, distinct-2 {u['distinct_2']}, distinct-3 {u['distinct_3']}, "
               f"mean pairwise MinHash Jaccard {u.get('mean_pairwise_jaccard')}")
    if "questions" in r:
        q = r["questions"]
        click.echo(f"questions: {q['kept']} kept of {q['asked']} brainstormed; near-duplicate share "
                   f"{r['near_duplicate_share']} ({q['exact_duplicate']} exact, {q['near_duplicate']} near), "
                   f"{q['problem']} unusable; {q['rounds']} round(s)")
    table([{"question type": k, "chats": v} for k, v in sorted(r["per_question_type"].items())],
          ["question type", "chats"])
    if r["failure_reasons"]:
        table([{"reason": k, "count": v} for k, v in r["failure_reasons"].items()], ["reason", "count"])
