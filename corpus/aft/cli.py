"""`msm aft generate | export | report` — the commands over `msm.corpus.aft`."""

from __future__ import annotations

from pathlib import Path

import click

from msm.cli_support import emit, info, json_option, progress, state, table
from msm.corpus.aft.api import AftRequest
from msm.settings import from_cli, settings_options


@click.group("aft")
def aft_group() -> None:
    """Write alignment fine-tuning chats from a spec with an LM, and export them for `msm train sft`."""


@aft_group.command("generate")
@settings_options(AftRequest)
@json_option
def generate_command(**values) -> None:
    """Write N judged chats for SPEC into run NAME (resumable).

    Stages: conversation areas per clause → user messages of several kinds that never mention the spec →
    near-duplicate removal → reasoning and answer with the spec in context → a judge (INCLUDE/EXCLUDE with a
    reason) → backfill rounds until N chats are kept or a round adds none. Kill it at any time and rerun the same
    command: every stage answer is cached and never paid for again.
    """
    from msm.corpus.aft.api import generate_chats
    from msm.spec import load_spec, resolve_spec_path
    from msm.workspace import check_name

    check_name("run", values["run"])  # bad input fails before the workspace is created
    spec_path = resolve_spec_path(values["spec"])
    spec = load_spec(spec_path)   # the request binds --model-name/--provider-name (msm.identity)
    request = from_cli(AftRequest, {**values, "spec": spec}, spec_path=str(spec_path.resolve()))
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
