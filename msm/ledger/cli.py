"""`msm ledger EXPERIMENT|MODEL`: the clause ledger as a terminal table (rich) or JSON."""

from __future__ import annotations

from pathlib import Path

import click

from msm.cli_support import emit, info, json_option, state


def _est(e: dict | None, digits: int = 2) -> str:
    if not e or e.get("value") is None:
        return "—"
    ci = f" [{e['ci_low']:.{digits}f},{e['ci_high']:.{digits}f}]" if e.get("ci_low") is not None else ""
    return f"{e['value']:.{digits}f}{ci} n={e['n']}"


def _suites(d: dict) -> str:
    return "; ".join(f"{s}: {_est(e)}" for s, e in d.items()) or "—"


def print_ledgers(data: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(width=max(140, Console().width))
    for ledger in data["ledgers"]:
        title = (f"{ledger['subject']} · spec {ledger['spec_id']} ({ledger['spec_hash'][:12]}) · snapshot "
                 f"{ledger['snapshot'] or '—'}" + (f" · vs {ledger['compared_with']}" if ledger["compared_with"] else ""))
        table = Table(title=title, title_justify="left")
        for column in ("clause", "docs", "tokens", "versions", "review acc.", "cur. drop", "knowledge before",
                       "knowledge after", "behaviour", "change", "notes"):
            table.add_column(column, overflow="fold")
        for r in ledger["rows"]:
            versions = ", ".join(f"{h[:8]}:{n}" for h, n in r["spec_versions"].items()) or "—"
            acceptance = f"{r['acceptance']:.2f} ({r['accepted']}/{r['reviewed']})" if r["acceptance"] is not None \
                else "—"
            table.add_row(r["clause_id"], str(r["documents"]), str(r["tokens"]),
                          versions + (f" ({r['reused']} reused)" if r["reused"] else ""), acceptance,
                          f"{r['curation_dropped']}/{r['generated']}", _est(r["knowledge_before"]),
                          _est(r["knowledge_after"]), _suites(r["behaviour"]), _suites(r["change"]),
                          "; ".join(r["notes"]))
        console.print(table)


@click.command("ledger")
@click.argument("subject")
@click.option("--result", "results", multiple=True, type=click.Path(path_type=Path, dir_okay=False),
              help="MODEL only: an eval result of the model whose clause-tagged items give the behaviour column "
                   "(repeatable; an experiment finds its own).")
@click.option("--measure", is_flag=True,
              help="Run spec_knowledge on the base and the midtrained model where no result exists yet (kept in "
                   "the workspace's ledger/knowledge/ and reused).")
@json_option
def ledger_command(subject: str, results: tuple[Path, ...], measure: bool) -> None:
    """Per spec clause of EXPERIMENT (each condition with a corpus) or MODEL: documents and tokens in the snapshot
    (by spec version), curation drops, review acceptance, spec-knowledge accuracy before and after midtraining
    and behaviour on the items that probe the clause, with 95% CIs, and the change versus the compared condition.
    See docs/ledger.md. `--json` output is what `msm generate --focus-from` reads."""
    from msm.ledger.sources import experiment_ledgers, model_ledgers
    from msm.ledger.table import LedgerFile

    ws = state().workspace()
    if (ws.report_dir(subject) / "plan.json").exists():
        kind, ledgers = "experiment", experiment_ledgers(ws, subject, measure=measure, log=info)
    else:
        kind, ledgers = "model", model_ledgers(ws, subject, result_files=results, measure=measure, log=info)
    emit(LedgerFile(source=subject, kind=kind, ledgers=ledgers).model_dump(mode="json"), print_ledgers)
