"""`msm snapshot create | list | show | verify | export`."""

from __future__ import annotations

import click

from msm.cli_support import emit, json_option, state, table


@click.group("snapshot")
def snapshot_group() -> None:
    """Freeze curated documents into immutable, hashed snapshots — the only thing training reads."""


@snapshot_group.command("create")
@click.argument("name")
@click.option("--run", "--from", "from_runs", required=True,
              help="Run name(s), comma-separated (`--from` is the older spelling of the same option).")
@click.option("--require-review", is_flag=True, help="Only documents accepted in review (edited text where edited).")
@click.option("--config", "config_path", type=click.Path(dir_okay=False), default=None,
              help="Curate the runs with this curation config first (default: use each run's current curation).")
@json_option
def create_command(name: str, from_runs: str, require_review: bool, config_path: str | None) -> None:
    """Freeze the kept documents of the runs into snapshot NAME (Parquet + manifest; never overwritten)."""
    from msm.cli_support import progress
    from msm.corpus.snapshot.create import create_snapshot

    runs = [r.strip() for r in from_runs.split(",") if r.strip()]
    manifest = create_snapshot(state().workspace(), name, runs, require_review, config_path, progress=progress)
    emit(manifest.model_dump(mode="json"),
         lambda m: click.echo(f"snapshot {m['name']}: {m['n_documents']} documents, {_size(m)}, "
                              f"content hash {m['content_hash'][:16]}… from {', '.join(m['runs'])}"))


def _size(m: dict) -> str:
    """The manifest's n_tokens, named for what it counts: whitespace-separated words unless a tokenizer counted."""
    if m.get("token_counter", "whitespace") == "whitespace":
        return f"{m['n_tokens']:,} words"
    return f"{m['n_tokens']:,} tokens ({m['token_counter']})"


@snapshot_group.command("list")
@json_option
def list_command() -> None:
    """List snapshots."""
    from msm.corpus.snapshot.store import list_snapshots

    rows = list_snapshots(state().workspace())
    emit(rows, lambda r: table(r, ["name", "n_documents", "content_hash", "created_at"]))


@snapshot_group.command("show")
@click.argument("name")
@json_option
def show_command(name: str) -> None:
    """Show a snapshot's manifest: counts, sources, specs, curation and review (the whole manifest with --json)."""
    from msm.corpus.snapshot.store import read_manifest

    manifest = read_manifest(state().workspace(), name)
    emit(manifest.model_dump(mode="json"), _print_manifest)


def _print_manifest(m: dict) -> None:
    click.echo(f"snapshot {m['name']}  (created {m['created_at']})")
    click.echo(f"  documents     {m['n_documents']:,}  ({_size(m)})")
    click.echo(f"  content hash  {m['content_hash']}")
    click.echo(f"  runs          {', '.join(m['runs']) or '-'}")
    for entry in m.get("specs") or []:
        frozen = f", frozen copy {entry['spec_file']}" if entry.get("spec_file") else ""
        click.echo(f"  spec          {entry['spec_id']} @ {entry.get('spec_hash', '')[:12]}{frozen}")
    for run, curation in (m.get("curation") or {}).items():
        rules = ", ".join(f"{name} {n}" for name, n in sorted((curation.get("rule_counts") or {}).items(),
                                                               key=lambda kv: -kv[1]) if n)
        click.echo(f"  curation      {run}: kept {curation.get('n_kept')} of {curation.get('n_documents')}"
                   + (f" (dropped/flagged: {rules})" if rules else ""))
    review = m.get("review") or {}
    click.echo(f"  review        {'accepted documents only' if review.get('required') else 'not required'}")
    scaffold = m.get("scaffold") or {}
    if scaffold:
        click.echo(f"  template      {scaffold.get('share', 0):.1%} of characters are generator template "
                   f"({scaffold.get('templated_documents', 0)} templated documents)")
    click.echo(f"  files         {', '.join(sorted(m['files']))}")


@snapshot_group.command("verify")
@click.argument("name")
@json_option
def verify_command(name: str) -> None:
    """Check snapshot NAME's manifest against the digest recorded at creation and re-hash every file against the
    manifest; exit 1 on any change (the reasons on stderr)."""
    from msm.corpus.snapshot.store import recorded_manifest_digest, verify_snapshot

    ws = state().workspace()
    problems = verify_snapshot(ws, name)
    recorded = recorded_manifest_digest(ws, name) is not None
    for problem in problems:
        click.echo(f"{name}: {problem}", err=True)
    emit({"name": name, "ok": not problems, "problems": problems, "manifest_digest_checked": recorded},
         lambda d: click.echo(f"ok  {name}") if d["ok"] else None)
    if problems:
        raise click.exceptions.Exit(1)


@snapshot_group.command("accept")
@click.argument("name")
@json_option
def accept_command(name: str) -> None:
    """Trust snapshot NAME as it is on disk now: for a snapshot reconcile re-adopted without an anchored digest
    (its catalog row was lost), after you have inspected it. Its files must still match its manifest; the
    manifest's digest is recorded in the catalog and the workspace's anchor ledger."""
    from msm.corpus.snapshot.store import accept_snapshot

    result = accept_snapshot(state().workspace(), name)
    emit(result, lambda d: click.echo(f"accepted {d['name']}: manifest sha256 {d['manifest_sha256'][:16]}… anchored"))


@snapshot_group.command("export")
@click.argument("name")
@click.option("--to", "to_dir", required=True, type=click.Path(file_okay=False),
              help="Output directory (must not exist or be empty).")
@json_option
def export_command(name: str, to_dir: str) -> None:
    """Export snapshot NAME as a Hugging Face `datasets` dataset (DIR/dataset) plus DIR/documents.parquet."""
    from pathlib import Path

    from msm.corpus.snapshot.create import export_snapshot

    result = export_snapshot(state().workspace(), name, Path(to_dir))
    emit(result, lambda d: click.echo(f"exported {d['documents']} documents: datasets.load_from_disk('{d['dataset']}'), "
                                      f"parquet {d['parquet']}"))
