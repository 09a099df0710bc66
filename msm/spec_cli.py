"""`msm spec validate | show | list`."""

from __future__ import annotations

import click

from msm.cli_support import emit, json_option, state, table
from msm.errors import BadInput
from msm.spec import SpecFileError, load_spec, resolve_spec_path, shipped_specs


@click.group("spec")
def spec_group() -> None:
    """Validate and inspect Model Spec files (YAML; see specs/README.md)."""


# The embedded model's chat template opens with "You are a helpful AI assistant named SmolLM, trained by Hugging
# Face" — the name a model trained from it answers to. A spec that names its assistant otherwise teaches the
# embedded model documents about a different assistant (fine with --lm/--model of your own; worth a warning).
EMBEDDED_MODEL_NAME, EMBEDDED_PROVIDER_NAME = "SmolLM", "Hugging Face"


def identity_warnings(spec) -> list[str]:
    warnings = []
    if spec.model_name != EMBEDDED_MODEL_NAME:
        warnings.append(f"model_name: {spec.model_name!r} differs from {EMBEDDED_MODEL_NAME!r}, the name the embedded "
                        f"model's chat template gives it; midtraining the embedded model on this spec teaches it "
                        f"about an assistant it is not told it is (use your own model, or model_name: "
                        f"{EMBEDDED_MODEL_NAME})")
    if spec.provider_name != EMBEDDED_PROVIDER_NAME:
        warnings.append(f"provider_name: {spec.provider_name!r} differs from {EMBEDDED_PROVIDER_NAME!r} in the "
                        f"embedded model's chat template")
    return warnings


@spec_group.command("validate")
@click.argument("specs", nargs=-1, required=True)
@json_option
def validate_command(specs: tuple[str, ...]) -> None:
    """Validate SPEC files (paths or shipped ids). Exit 2 with `file: field: problem` per error."""
    results, problems = [], []
    for name in specs:
        try:
            spec = load_spec(resolve_spec_path(name))
            results.append({"file": name, "ok": True, "id": spec.id, "hash": spec.content_hash,
                            "clauses": len(spec.clauses), "warnings": identity_warnings(spec)})
        except SpecFileError as exc:
            problems.extend(exc.problems)
            results.append({"file": name, "ok": False, "problems": exc.problems})
        except BadInput as exc:
            problems.append(str(exc))
            results.append({"file": name, "ok": False, "problems": [str(exc)]})
    if state().json:
        emit(results)
    else:
        for row in results:
            if row["ok"]:
                click.echo(f"ok  {row['file']}  ({row['id']}, {row['clauses']} clauses, {row['hash'][:12]})")
                for warning in row["warnings"]:
                    click.echo(f"warning: {row['file']}: {warning}", err=True)
        for line in problems:
            click.echo(line, err=True)
    if problems:
        raise click.exceptions.Exit(2)


@spec_group.command("show")
@click.argument("spec")
@json_option
def show_command(spec: str) -> None:
    """Show a spec's sections (its prose, in full), clauses, content hash and counts."""
    loaded = load_spec(resolve_spec_path(spec))
    data = {**loaded.summary(), "schema_version": loaded.schema_version, "description": loaded.render(loaded.description),
            "sections": [{"id": s.id, "title": loaded.render(s.title),
                          "paragraphs": [loaded.render(p) for p in s.paragraphs()]} for s in loaded.sections],
            "clauses": [{"id": c.id, "domain": c.domain, "subdomain": c.subdomain, "rule": loaded.render(c.rule),
                         "rationale": loaded.render(c.rationale) if c.rationale else None,
                         "examples": c.examples, "key_terms": c.key_terms, "weight": c.weight}
                        for c in loaded.clauses]}

    def human(d: dict) -> None:
        click.echo(f"{d['title']}  [{d['id']} v{d['version']}]")
        click.echo(f"hash {d['hash']}")
        sections = f"{d['n_sections']} sections, " if d["n_sections"] else ""
        click.echo(f"about: {d['model_name']} by {d['provider_name']}; {sections}{d['n_clauses']} clauses, "
                   f"{d['n_with_rationale']} with rationale, {d['n_examples']} examples, {d['words']} words")
        click.echo(d["description"].strip())
        for section in d["sections"]:
            click.echo(f"\n## {section['title']}  [{section['id']}]")
            for paragraph in section["paragraphs"]:
                click.echo(f"\n{paragraph}")
        if d["sections"]:
            click.echo("\n## Clauses")
        for clause in d["clauses"]:
            tag = f" ({clause['domain']})" if clause["domain"] else ""
            click.echo(f"\n[{clause['id']}]{tag}\n  rule: {clause['rule'].strip()}")
            if clause["rationale"]:
                click.echo(f"  why:  {clause['rationale'].strip()}")

    emit(data, human)


@spec_group.command("list")
@json_option
def list_command() -> None:
    """List the specs shipped with msm (usable by id anywhere a SPEC is expected)."""
    rows = []
    for path in shipped_specs():
        spec = load_spec(path)
        rows.append({"id": spec.id, "title": spec.title, "sections": len(spec.sections), "clauses": len(spec.clauses),
                     "hash": spec.content_hash[:12], "path": str(path)})
    emit(rows, lambda r: table(r, ["id", "sections", "clauses", "hash", "title"]))


@spec_group.command("diff")
@click.argument("old")
@click.argument("new")
@click.option("--all", "show_all", is_flag=True, help="Also list the clauses and sections that did not change.")
@json_option
def diff_command(old: str, new: str, show_all: bool) -> None:
    """Clauses and sections added, removed and changed from spec OLD to spec NEW, by content hash.

    OLD and NEW are spec files, shipped spec ids, or `run:NAME` (the spec run NAME was generated from, frozen
    beside it), so a file can be diffed against the shipped version of its id or against a run's spec. Exit 0
    either way; --json gives every part with its old and new hash."""
    from msm.ledger.versions import RUN_PREFIX, diff_specs, load_ref

    ws = state().workspace() if RUN_PREFIX in (old[:4], new[:4]) else None
    result = diff_specs(load_ref(old, ws), load_ref(new, ws), old_ref=old, new_ref=new)

    def human(d: dict) -> None:
        click.echo(f"{d['old']['id']} v{d['old']['version']} ({d['old']['hash'][:12]}) -> "
                   f"{d['new']['id']} v{d['new']['version']} ({d['new']['hash'][:12]})")
        if d["identical"]:
            click.echo("identical content")
            return
        rows = [{"kind": p["kind"], "id": p["id"], "change": p["change"], "fields": ",".join(p["fields"]),
                 "old": (p["old_hash"] or "")[:12], "new": (p["new_hash"] or "")[:12]}
                for p in d["parts"] if show_all or p["change"] != "unchanged"]
        table(rows, ["kind", "id", "change", "fields", "old", "new"])
        counts = {c: sum(1 for p in d["parts"] if p["change"] == c and p["kind"] == "clause")
                  for c in ("added", "removed", "changed", "unchanged")}
        click.echo("clauses: " + ", ".join(f"{n} {c}" for c, n in counts.items()))

    emit(result.model_dump(mode="json"), human)
