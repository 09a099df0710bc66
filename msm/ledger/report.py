"""The ledger's section of the experiment report: one table per (condition, spec) and a per-clause plot of
spec-knowledge after midtraining (with 95% CIs) beside the clause's share of the snapshot's documents."""

from __future__ import annotations

import base64
import html
import io
from typing import Any

from msm.workspace import Workspace


def report_ledgers(ws: Workspace, name: str) -> dict[str, Any]:
    """{ledgers: [...]} or {error: one line} — the report says why a ledger is missing, it never fails for it."""
    from msm.ledger.sources import experiment_ledgers

    try:
        return {"ledgers": [ledger.model_dump(mode="json") for ledger in experiment_ledgers(ws, name)]}
    except Exception as exc:  # noqa: BLE001  (an unfinished experiment: the rest of the report still renders)
        return {"error": str(exc).splitlines()[0] if str(exc) else type(exc).__name__}


def _cell(e: dict | None) -> str:
    if not e or e.get("value") is None:
        return "—"
    return f"{e['value']:.2f} [{e['ci_low']:.2f}, {e['ci_high']:.2f}] n={e['n']}"


def ledger_rows(ledger: dict) -> list[list[str]]:
    rows = [["clause", "documents", "tokens", "reused", "curation dropped", "review acceptance", "knowledge before",
             "knowledge after", "behaviour", "change", "notes"]]
    for r in ledger["rows"]:
        rows.append([r["clause_id"], str(r["documents"]), str(r["tokens"]), str(r["reused"]),
                     f"{r['curation_dropped']}/{r['generated']}",
                     "—" if r["acceptance"] is None else f"{r['acceptance']:.2f} ({r['accepted']}/{r['reviewed']})",
                     _cell(r["knowledge_before"]), _cell(r["knowledge_after"]),
                     "; ".join(f"{s}: {_cell(e)}" for s, e in r["behaviour"].items()) or "—",
                     "; ".join(f"{s}: {_cell(e)}" for s, e in r["change"].items()) or "—", "; ".join(r["notes"])])
    return rows


def ledger_plot(ledger: dict) -> str | None:
    """PNG (base64): knowledge before/after per clause with CIs, and the clause's documents on a second axis."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = ledger["rows"]
    if not rows:
        return None
    x = list(range(len(rows)))
    fig, ax = plt.subplots(figsize=(max(6, 0.55 * len(rows) + 2), 4))
    for offset, key, label in ((-0.15, "knowledge_before", "spec knowledge before"),
                               (0.15, "knowledge_after", "spec knowledge after midtraining")):
        pts = [(i + offset, r[key]) for i, r in enumerate(rows) if r[key] and r[key]["value"] is not None]
        if pts:
            ax.errorbar([p[0] for p in pts], [p[1]["value"] for p in pts],
                        yerr=[[p[1]["value"] - p[1]["ci_low"] for p in pts], [p[1]["ci_high"] - p[1]["value"] for p in pts]],
                        fmt="o", capsize=3, label=label)
    ax.set_ylim(-0.05, 1.05)
    ax.set_ylabel("accuracy (95% CI)")
    ax.set_xticks(x, [r["clause_id"] for r in rows], rotation=60, ha="right", fontsize=8)
    docs = ax.twinx()
    docs.bar(x, [r["documents"] for r in rows], alpha=0.15, color="grey")
    docs.set_ylabel("documents in snapshot")
    ax.set_title(f"{ledger['subject']} · {ledger['spec_id']}: per-clause ledger", fontsize=10)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8, loc="upper left")
    else:  # nothing measured yet: say so on the plot rather than draw an empty axis silently
        ax.text(0.5, 0.5, "spec knowledge not measured (msm ledger EXPERIMENT --measure)", ha="center",
                va="center", transform=ax.transAxes, fontsize=9, color="grey")
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    plt.close(fig)
    return base64.b64encode(buffer.getvalue()).decode()


def markdown_section(data: dict) -> list[str]:
    lines = ["", "## Clause ledger", ""]
    if data.get("error"):
        return lines + [f"No ledger: {data['error']}"]
    lines.append("Per spec clause (see docs/ledger.md; `msm ledger EXPERIMENT --measure` adds spec knowledge).")
    for ledger in data["ledgers"]:
        rows = ledger_rows(ledger)
        lines += ["", f"### {ledger['subject']} · {ledger['spec_id']} ({ledger['spec_hash'][:12]})", "",
                  "| " + " | ".join(rows[0]) + " |", "|" + "---|" * len(rows[0])]
        lines += ["| " + " | ".join(c.replace("|", "\\|") for c in row) + " |" for row in rows[1:]]
    return lines


def html_section(data: dict) -> str:
    esc = html.escape
    parts = ["<h2>Clause ledger</h2>"]
    if data.get("error"):
        return parts[0] + f"<p>No ledger: {esc(data['error'])}</p>"
    for ledger in data["ledgers"]:
        parts.append(f"<h3>{esc(ledger['subject'])} · {esc(ledger['spec_id'])}</h3>")
        image = ledger_plot(ledger)
        if image:
            parts.append(f"<img alt='ledger {esc(ledger['subject'])}' src='data:image/png;base64,{image}'>")
        rows = ledger_rows(ledger)
        parts.append("<table><tr>" + "".join(f"<th>{esc(h)}</th>" for h in rows[0]) + "</tr>")
        parts += ["<tr>" + "".join(f"<td>{esc(c)}</td>" for c in row) + "</tr>" for row in rows[1:]]
        parts.append("</table>")
    return "".join(parts)
