"""`msm report`: one self-contained HTML page (plots embedded) and a Markdown twin for an experiment.

It reads only what the stages left behind — the plan, stage markers, run stores, curation summaries,
snapshot manifests, model manifests with their loss curves, and eval result files — so it can be rebuilt
at any time, and it says plainly when a stage has not run yet. A difference between two conditions is
reported with its paired-bootstrap 95% CI, and when that CI includes 0 the report says the effect was not
detected rather than naming a winner.
"""

from __future__ import annotations

import base64
import csv
import html
import io
import json
from pathlib import Path
from typing import Any

from msm.atomic import write_text_atomic
from msm.errors import BadInput
from msm.input_files import MAX_RECORD_BYTES, load_json_object
from msm.workspace import Workspace, utc_now


def _load_plan(ws: Workspace, name: str) -> tuple[dict, Path]:
    root = ws.report_dir(name)
    plan_path = root / "plan.json"
    if not plan_path.exists():
        raise BadInput(f"experiment {name!r}: nothing has run in {ws.root} yet (run `msm experiment run FILE`)")
    return load_json_object(plan_path, what="plan", max_bytes=MAX_RECORD_BYTES), root


def _marker(root: Path, key: str) -> dict | None:
    path = root / "stages" / f"{key}.json"
    return load_json_object(path, what="stage marker", max_bytes=MAX_RECORD_BYTES) if path.exists() else None


def _stage_keys(plan: dict, condition: str, kind: str) -> list[str]:
    return [k for k in plan["conditions"][condition] if plan["stages"][k]["kind"] == kind]


def _corpus_stats(ws: Workspace, run: str) -> dict[str, Any]:
    from msm.corpus.run_store import RunStore

    store = RunStore(ws, run)
    stats: dict[str, Any] = {"run": run, "documents": 0, "failures": 0, "words": 0}
    if not store.exists():
        return stats
    for doc in store.documents():
        stats["documents"] += 1
        stats["words"] += len(doc.text.split())
    stats["failures"] = sum(1 for _ in store.failures())
    try:
        from msm.corpus.curation import read_summary

        summary = read_summary(ws, run).model_dump(mode="json")
        stats["curation"] = summary
    except Exception as exc:  # not curated yet, or an older curation format: say so, don't fail the report
        stats["curation_error"] = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return stats


def _loss_rows(model_dir: Path) -> list[dict]:
    path = model_dir / "loss.csv"
    if not path.exists():
        return []
    with open(path, encoding="utf-8") as handle:
        return [{k: float(v) for k, v in row.items() if v not in ("", None)} for row in csv.DictReader(handle)]


def _png(fig) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    return base64.b64encode(buffer.getvalue()).decode()


def _fmt(value: float | None, digits: int = 3) -> str:
    return "n/a" if value is None or value != value else f"{value:.{digits}f}"


def collect(ws: Workspace, name: str) -> dict[str, Any]:
    """Everything the report shows, as plain data (also what `msm report --json` prints)."""
    from msm.eval.results import compare_results, load_result

    plan, root = _load_plan(ws, name)
    experiment = plan["experiment"]
    conditions: dict[str, dict[str, Any]] = {}
    results: dict[str, dict[str, Any]] = {}  # condition -> suite -> EvalResult
    for condition in plan["conditions"]:
        entry: dict[str, Any] = {"model": plan["models"].get(condition), "stages": [], "corpus": [], "training": {},
                                 "evals": {}}
        for key in plan["conditions"][condition]:
            stage = plan["stages"][key]
            marker = _marker(root, key)
            entry["stages"].append({"stage": stage["label"], "done": bool(marker),
                                    "duration_s": marker.get("duration_s") if marker else None})
        for key in _stage_keys(plan, condition, "generate"):
            entry["corpus"].append(_corpus_stats(ws, plan["stages"][key]["output"]))
        for key in _stage_keys(plan, condition, "snapshot"):
            manifest_path = ws.snapshot_dir(plan["stages"][key]["output"]) / "manifest.json"
            if manifest_path.exists():
                entry["snapshot"] = load_json_object(manifest_path, what="snapshot manifest", max_bytes=MAX_RECORD_BYTES)
        for kind in ("midtrain", "sft"):
            for key in _stage_keys(plan, condition, kind):
                model_dir = ws.model_dir(plan["stages"][key]["output"])
                manifest_path = model_dir / "manifest.json"
                if manifest_path.exists():
                    rows = _loss_rows(model_dir)
                    entry["training"][kind] = {
                        "model": plan["stages"][key]["output"],
                        "manifest": load_json_object(manifest_path, what="model manifest", max_bytes=MAX_RECORD_BYTES),
                        "loss": rows,
                        "loss_start": rows[0]["loss"] if rows else None, "loss_end": rows[-1]["loss"] if rows else None}
        results[condition] = {}
        for key in _stage_keys(plan, condition, "eval"):
            marker = _marker(root, key)
            result_path = ((marker or {}).get("result") or {}).get("result")
            if result_path and Path(result_path).exists():
                result = load_result(Path(result_path))
                results[condition][result.suite] = result
                entry["evals"][result.suite] = {
                    "result": result_path, "run_id": result.run_id, "metric": result.primary_metric,
                    "metrics": {k: m.model_dump() for k, m in result.metrics.items()},
                    "groups": _group_means(result)}
        conditions[condition] = entry

    pairs = [tuple(p) for p in experiment.get("compare") or []]
    if not pairs:  # default: every pair of conditions that midtrain on different specs
        msm_conditions = [c["name"] for c in experiment["conditions"] if c.get("specs")]
        pairs = [(a, b) for i, a in enumerate(msm_conditions) for b in msm_conditions[i + 1:]]
    comparisons = []
    for a, b in pairs:
        for suite in sorted(set(results.get(a, {})) & set(results.get(b, {}))):
            comparison = compare_results(results[a][suite], results[b][suite], seed=experiment["eval"]["seed"])
            diff = comparison.difference
            detected = diff.ci_low is not None and (diff.ci_low > 0 or diff.ci_high < 0)
            comparisons.append({"suite": suite, "baseline": a, "condition": b, "metric": comparison.metric,
                                "n_paired": comparison.n_paired, "baseline_mean": comparison.baseline_mean,
                                "condition_mean": comparison.condition_mean, "difference": diff.value,
                                "ci_low": diff.ci_low, "ci_high": diff.ci_high, "detected": detected})
    return {"experiment": experiment, "generated_at": utc_now().isoformat(), "conditions": conditions,
            "comparisons": comparisons, "workspace": str(ws.root)}


def _group_means(result) -> dict[str, dict[str, float]]:
    from msm.eval.stats import bootstrap_mean

    groups: dict[str, list[float]] = {}
    for item in result.items:
        if item.kind in result.primary_kinds and item.score is not None:
            groups.setdefault(item.group, []).append(item.score)
    out = {}
    for group, values in sorted(groups.items()):
        estimate = bootstrap_mean(values)
        out[group] = {"value": estimate.value, "ci_low": estimate.ci_low, "ci_high": estimate.ci_high, "n": estimate.n}
    return out


# ---- rendering -----------------------------------------------------------------------------------------
def _plots(data: dict[str, Any]) -> dict[str, str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    images: dict[str, str] = {}
    conditions = data["conditions"]
    suites = sorted({s for c in conditions.values() for s in c["evals"]})
    for suite in suites:
        names = [n for n, c in conditions.items() if suite in c["evals"]]
        metric = conditions[names[0]]["evals"][suite]["metric"]
        values = [conditions[n]["evals"][suite]["metrics"][metric] for n in names]
        fig, ax = plt.subplots(figsize=(1.6 + 1.3 * len(names), 3.4))
        centres = [v["value"] for v in values]
        errors = [[max(0.0, v["value"] - v["ci_low"]) if v["ci_low"] is not None else 0 for v in values],
                  [max(0.0, v["ci_high"] - v["value"]) if v["ci_high"] is not None else 0 for v in values]]
        # points with CI bars, not bars from zero: the effects of interest are small shifts around 0.5
        ax.errorbar(range(len(names)), centres, yerr=errors, fmt="o", capsize=6, color="#4c72b0", markersize=7)
        ax.set_xticks(range(len(names)), names)
        ax.set_xlim(-0.6, len(names) - 0.4)
        ax.margins(y=0.25)
        if suite == "cheese_values":
            ax.axhline(0.5, color="grey", linestyle=":", linewidth=1)
        ax.set_ylabel(metric)
        ax.set_title(f"{suite}: {metric} (95% CI)")
        ax.tick_params(axis="x", rotation=20)
        images[f"eval_{suite}"] = _png(fig)
        plt.close(fig)
        groups = sorted({g for n in names for g in conditions[n]["evals"][suite]["groups"]})
        if 1 < len(groups) <= 40:
            fig, ax = plt.subplots(figsize=(max(6, 0.5 * len(groups) * len(names) / 2), 3.8))
            width = 0.8 / len(names)
            for i, n in enumerate(names):
                series = conditions[n]["evals"][suite]["groups"]
                ax.bar([g + i * width for g in range(len(groups))],
                       [series.get(g, {}).get("value", float("nan")) for g in groups], width=width, label=n)
            ax.set_xticks([g + 0.4 - width / 2 for g in range(len(groups))], groups, rotation=45, ha="right")
            ax.set_title(f"{suite}: per group")
            ax.legend(fontsize=8)
            images[f"groups_{suite}"] = _png(fig)
            plt.close(fig)
    for kind in ("midtrain", "sft"):
        curves = {n: c["training"][kind]["loss"] for n, c in conditions.items() if c["training"].get(kind, {}).get("loss")}
        if curves:
            fig, ax = plt.subplots(figsize=(6, 3.4))
            for n, rows in curves.items():
                ax.plot([r["step"] for r in rows], [r["loss"] for r in rows], label=n)
            ax.set_xlabel("step")
            ax.set_ylabel("loss")
            ax.set_title(f"{kind} loss")
            ax.legend(fontsize=8)
            images[f"loss_{kind}"] = _png(fig)
            plt.close(fig)
    return images


def _comparison_sentence(c: dict) -> str:
    diff = f"{c['difference']:+.3f} [{c['ci_low']:+.3f}, {c['ci_high']:+.3f}]"
    if c["detected"]:
        return (f"{c['condition']} − {c['baseline']} on {c['suite']} ({c['metric']}): {diff}, paired bootstrap 95% CI over "
                f"{c['n_paired']} items — the CI excludes 0: a difference was detected.")
    return (f"{c['condition']} − {c['baseline']} on {c['suite']} ({c['metric']}): {diff}, paired bootstrap 95% CI over "
            f"{c['n_paired']} items — the CI includes 0: the effect was not detected.")


def _rows(data: dict[str, Any]) -> dict[str, list[list[str]]]:
    """The report's tables as rows of text, shared by the HTML and Markdown renderings."""
    tables: dict[str, list[list[str]]] = {}
    tables["Stages"] = [["condition", "stage", "status", "seconds"]] + [
        [n, s["stage"], "done" if s["done"] else "pending", _fmt(s["duration_s"], 0)]
        for n, c in data["conditions"].items() for s in c["stages"]]
    corpus = [["condition", "run", "documents", "failures", "words", "kept", "rules fired", "distinct-2",
               "snapshot docs", "snapshot hash"]]
    for n, c in data["conditions"].items():
        snap = c.get("snapshot") or {}
        for stats in c["corpus"]:
            cur = stats.get("curation") or {}
            fired = {k.removeprefix("dropped_"): v for k, v in (cur.get("step_stats") or {}).get("dedup", {}).items()
                     if k.startswith("dropped_")}
            fired.update(cur.get("rule_counts") or {})
            fired_text = ", ".join(f"{k}={v}" for k, v in sorted(fired.items()) if v)
            diversity = cur.get("diversity") or {}
            corpus.append([n, stats["run"], str(stats["documents"]), str(stats["failures"]), str(stats["words"]),
                           str(cur.get("n_kept", "not curated")), fired_text or "none",
                           _fmt(diversity.get("distinct_2")),
                           str(snap.get("n_documents", "n/a")), (snap.get("content_hash") or "n/a")[:12]])
    tables["Corpus"] = corpus
    training = [["condition", "stage", "model", "loss start", "loss end", "tokens seen", "wall s"]]
    for n, c in data["conditions"].items():
        for kind, t in c["training"].items():
            manifest = t["manifest"]
            training.append([n, kind, t["model"], _fmt(t["loss_start"]), _fmt(t["loss_end"]),
                             str(manifest.get("tokens_seen", "n/a")), _fmt(manifest.get("wall_time_s"), 0)])
    tables["Training"] = training
    evals = [["condition", "suite", "metric", "value", "95% CI", "n"]]
    for n, c in data["conditions"].items():
        for suite, e in sorted(c["evals"].items()):
            m = e["metrics"][e["metric"]]
            evals.append([n, suite, e["metric"], _fmt(m["value"]), f"[{_fmt(m['ci_low'])}, {_fmt(m['ci_high'])}]", str(m["n"])])
    tables["Evaluation"] = evals
    provenance = [["condition", "specs", "snapshot hash", "model", "model base / input", "eval results"]]
    for n, c in data["conditions"].items():
        specs = c.get("snapshot", {}).get("specs", [])
        spec_text = ", ".join(f"{s.get('spec_id')}@{str(s.get('spec_hash'))[:10]}" for s in specs) or "—"
        final = c["training"].get("sft") or c["training"].get("midtrain") or {}
        manifest = final.get("manifest", {})
        base = manifest.get("base_model") or manifest.get("base") or "—"
        if isinstance(base, dict):
            base = base.get("name", str(base))
        provenance.append([n, spec_text, (c.get("snapshot") or {}).get("content_hash", "—")[:12], c["model"] or "—",
                           str(base), ", ".join(e["run_id"] for e in c["evals"].values()) or "—"])
    tables["Provenance"] = provenance
    return tables


def render_markdown(data: dict[str, Any]) -> str:
    experiment = data["experiment"]
    lines = [f"# Experiment report: {experiment['name']}", "", experiment.get("description") or "",
             f"Generated {data['generated_at']} from workspace `{data['workspace']}`.", ""]
    lines += ["## Comparisons", ""]
    lines += [f"- {_comparison_sentence(c)}" for c in data["comparisons"]] or ["- No comparison could be made yet."]
    for title, rows in _rows(data).items():
        lines += ["", f"## {title}", "", "| " + " | ".join(rows[0]) + " |", "|" + "---|" * len(rows[0])]
        lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows[1:]]
    lines += ["", "## Configuration", "", "```json", json.dumps(experiment, indent=2), "```", ""]
    return "\n".join(lines)


def render_html(data: dict[str, Any], images: dict[str, str]) -> str:
    experiment = data["experiment"]
    esc = html.escape
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>msm report: {esc(experiment['name'])}</title>",
             "<style>body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}"
             "table{border-collapse:collapse;margin:.5em 0 1.5em}td,th{border:1px solid #ccc;padding:.25em .6em;"
             "font-size:.9em;text-align:left}th{background:#f2f2f2}pre{background:#f7f7f7;padding:1em;overflow:auto}"
             ".detected{color:#0a6}.not{color:#a60}img{max-width:100%}</style></head><body>",
             f"<h1>Experiment report: {esc(experiment['name'])}</h1><p>{esc(experiment.get('description') or '')}</p>",
             f"<p>Generated {esc(data['generated_at'])} from workspace <code>{esc(data['workspace'])}</code>.</p>",
             "<h2>Comparisons</h2><ul>"]
    for c in data["comparisons"]:
        parts.append(f"<li class='{'detected' if c['detected'] else 'not'}'>{esc(_comparison_sentence(c))}</li>")
    if not data["comparisons"]:
        parts.append("<li>No comparison could be made yet.</li>")
    parts.append("</ul>")
    for key, image in images.items():
        if key.startswith("eval_") or key.startswith("groups_"):
            parts.append(f"<img alt='{esc(key)}' src='data:image/png;base64,{image}'>")
    for title, rows in _rows(data).items():
        parts.append(f"<h2>{esc(title)}</h2><table><tr>" + "".join(f"<th>{esc(h)}</th>" for h in rows[0]) + "</tr>")
        parts += ["<tr>" + "".join(f"<td>{esc(cell)}</td>" for cell in row) + "</tr>" for row in rows[1:]]
        parts.append("</table>")
        if title == "Training":
            parts += [f"<img alt='{k}' src='data:image/png;base64,{v}'>" for k, v in images.items() if k.startswith("loss_")]
    parts.append(f"<h2>Configuration</h2><pre>{esc(json.dumps(experiment, indent=2))}</pre></body></html>")
    return "".join(parts)


def summary_text(data: dict[str, Any]) -> str:
    """The few lines a terminal shows after a run: the comparisons' verdicts and the evaluation table."""
    lines = [_comparison_sentence(c) for c in data["comparisons"]] or ["No comparison could be made yet."]
    rows = _rows(data)["Evaluation"]
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines += [""] + ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows]
    return "\n".join(lines)


def write_report(ws: Workspace, name: str) -> dict[str, Any]:
    data = collect(ws, name)
    images = _plots(data)
    root = ws.report_dir(name)
    html_path, md_path, json_path = root / "report.html", root / "report.md", root / "report.json"
    write_text_atomic(md_path, render_markdown(data))
    write_text_atomic(html_path, render_html(data, images))
    summary = {k: v for k, v in data.items() if k != "conditions"}
    summary["conditions"] = {n: {k: v for k, v in c.items() if k != "training"} for n, c in data["conditions"].items()}
    write_text_atomic(json_path, json.dumps(summary, indent=2, default=str))
    return {"html": html_path, "md": md_path, "json": json_path, "summary": summary_text(data)}
