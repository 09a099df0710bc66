"""`msm runs list | show | export` and `msm corpus import`."""

from __future__ import annotations

import click

from msm.cli_support import emit, json_option, state, table


@click.group("runs")
def runs_group() -> None:
    """List, inspect and export runs (generated or imported documents)."""


@runs_group.command("list")
@json_option
def list_command() -> None:
    """List the runs in the workspace."""
    from msm.corpus.run_store import list_runs

    ws = state().workspace()
    rows = [{**row, **_counts(ws, row["name"])} for row in list_runs(ws)]
    emit(rows, lambda r: table(r, ["name", "kind", "spec_id", "documents", "kept", "failed", "created_at"]))


def _counts(ws, name: str) -> dict:
    """Documents (lines of documents.jsonl, counted without parsing), kept by the current curation, failed items."""
    from msm.corpus.curate.store import current_curation_dir, read_summary
    from msm.corpus.run_store import RunStore

    store = RunStore(ws, name)
    counts: dict = {"documents": 0, "kept": None, "failed": 0}
    try:
        with open(store.documents_path, "rb") as handle:
            counts["documents"] = sum(chunk.count(b"\n") for chunk in iter(lambda: handle.read(1 << 20), b""))
    except OSError:
        pass
    try:
        with open(store.failures_path, "rb") as handle:
            counts["failed"] = sum(b'"permanent": true' in line or b'"permanent":true' in line for line in handle)
    except OSError:
        pass
    try:
        if current_curation_dir(ws, name) is not None:
            counts["kept"] = read_summary(ws, name).n_kept
    except Exception:  # a damaged curation is `msm doctor`'s to report; the listing still lists
        counts["kept"] = None
    return counts


@runs_group.command("delete")
@click.argument("name")
@click.option("--force", is_flag=True, help="Delete it even if snapshots were made from it (they keep their copy).")
@json_option
def delete_command(name: str, force: bool) -> None:
    """Delete run NAME from the workspace: its directory and its catalog row, all or nothing."""
    from msm.corpus.run_delete import delete_run

    result = delete_run(state().workspace(), name, force=force)
    emit(result, lambda d: click.echo(f"deleted run {d['run']} ({d['documents']} documents)"
                                      + (f"; snapshots {', '.join(d['snapshots_using'])} keep their copy"
                                         if d["snapshots_using"] else "")))


@runs_group.command("show")
@click.argument("name")
@click.option("--diversity/--no-diversity", default=True, show_default=True,
              help="Include the corpus diversity report (distinct-n, compression, MinHash similarity, coverage).")
@json_option
def show_command(name: str, diversity: bool) -> None:
    """Counts per clause and type, failures, tokens, cost and corpus diversity of run NAME."""
    from msm.corpus.run_store import RunStore, run_summary

    store = RunStore(state().workspace(), name)
    summary = run_summary(store)
    if diversity:
        summary["diversity"] = _diversity(store)
    emit(summary, _print_run_summary)


def _diversity(store) -> dict:
    from msm.corpus.curate.diversity import corpus_diversity
    from msm.spec import load_spec, resolve_spec_path

    clause_ids = None
    spec_id = store.config().get("spec_id")
    carried = store.spec()
    if carried is not None:
        clause_ids = [c.id for c in carried.clauses]
    elif spec_id:
        try:
            clause_ids = [c.id for c in load_spec(resolve_spec_path(spec_id)).clauses]
        except Exception:  # an imported run may name a spec this machine does not have; coverage still works
            clause_ids = None
    return corpus_diversity(store.documents(), clause_ids=clause_ids)


def _print_run_summary(s: dict) -> None:
    target = f"/{s['target']}" if s.get("target") else ""
    click.echo(f"run {s['name']} ({s['kind']}) · spec {s['spec_id']} {str(s['spec_hash'])[:12]} · lm {s['lm']}")
    click.echo(f"documents {s['documents']}{target} · failed items {s['failed_items']} "
               f"({s['failed_attempts']} rejected attempts) · LM calls {s['calls']} ({s['errors']} errors, "
               f"{s['cache_hits']} cache hits) · tokens {s['prompt_tokens']} in / {s['completion_tokens']} out · "
               f"cost ${s['cost_usd']:.4f}")
    t = s.get("template") or {}
    if t.get("templated_documents"):
        click.echo(f"template text: {t['share']:.1%} of characters came from the generator's scaffold/openings, not "
                   f"the LM ({t['templated_documents']} documents; {t['paragraphs_cut']} of {t['paragraphs']} "
                   f"scaffold paragraphs had their continuation cut)")
    for title, counts in (("clause", s["per_clause"]), ("doc type", s["per_type"]), ("failure", s["failure_reasons"])):
        if counts:
            click.echo("")
            table([{title: k, "count": v} for k, v in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))],
                  [title, "count"])
    if s.get("diversity"):
        click.echo("")
        print_diversity(s["diversity"])


def print_diversity(d: dict) -> None:
    if not d.get("documents"):
        click.echo("diversity: no documents")
        return
    click.echo(f"diversity over {d['documents']} documents: distinct-1 {d['distinct_1']} · distinct-2 {d['distinct_2']}"
               f" · distinct-3 {d['distinct_3']} · compression ratio {d['compression_ratio']} · mean pairwise "
               f"MinHash Jaccard {d['mean_pairwise_jaccard']} (within clause {d['mean_pairwise_jaccard_within_clause']})"
               f" · words p10/p50/p90 {d['words_p10_p50_p90']}")
    click.echo(f"coverage: {d['coverage_cells']} (clause, doc type) cells"
               + (f"; clauses without documents: {', '.join(d['clauses_without_documents'])}"
                  if d["clauses_without_documents"] else ""))
    table([{"clause": c, "doc type": t, "documents": n} for c, row in sorted(d["coverage"].items())
           for t, n in sorted(row.items(), key=lambda kv: (-kv[1], kv[0]))], ["clause", "doc type", "documents"])
    if d["top_capitalized_words"]:
        click.echo("")
        table([{"name": w["word"], "documents": w["documents"], "share": w["share"]} for w in d["top_capitalized_words"]],
              ["name", "documents", "share"])
    if d["top_phrases"]:
        click.echo("")
        table(d["top_phrases"], ["phrase", "documents", "share"])


@runs_group.command("export")
@click.argument("name")
@click.option("--out", required=True, type=click.Path(dir_okay=False),
              help="FILE.jsonl or FILE.parquet (an existing file is refused unless --force).")
@click.option("--force", is_flag=True, help="Replace --out if it already exists.")
@json_option
def export_command(name: str, out: str, force: bool) -> None:
    """Write every document of run NAME with provenance, signals, cluster id and decisions."""
    from pathlib import Path

    from msm.corpus.exporter import export_run

    result = export_run(state().workspace(), name, Path(out), force=force)
    emit(result, lambda d: click.echo(f"exported {d['documents']} documents of {d['run']} to {d['out']}"
                                      + ("" if d["curated"] else " (not curated yet: no signals or marks)")))


@click.group("corpus")
def corpus_group() -> None:
    """Bring your own documents into a run."""


@corpus_group.command("import")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--run", "run_name", required=True, help="Run to create with the imported documents.")
@click.option("--spec", default=None, help="Spec the documents were written for (file or shipped id).")
@json_option
def import_command(file: str, run_name: str, spec: str | None) -> None:
    """Import documents from FILE (JSONL or Parquet with a `text` field, or hf:OWNER/DATASET[/FILE]) into a new run.

    An `id` field is kept as `source_id`; clause_id, domain, doc_type, idea, persona, lm, finish_reason and
    spec_id are kept as provenance; every other field goes to metadata. Any bad record: exit 2, no run made.
    """
    from pathlib import Path

    from msm.corpus.importer import import_documents
    from msm.data_refs import resolve_data_file

    source = resolve_data_file(file, option="FILE")  # hf:<owner>/<dataset> is downloaded once, then cached
    result = import_documents(state().workspace(create=True), Path(source), run_name, spec)
    emit(result, lambda d: click.echo(f"imported {d['documents']} documents into run {d['run']}"
                                      + (f" (spec {d['spec_id']})" if d["spec_id"] else "")))
