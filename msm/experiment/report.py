"""`msm report`: one self-contained HTML page (plots embedded) and a Markdown twin for an experiment.

It reads only what the stages left behind — the plan, stage markers, run stores, curation summaries,
snapshot manifests, model manifests with their loss curves, and eval result files — so it can be rebuilt
at any time, and it says plainly when a stage has not run yet. A difference between two conditions is
reported with its paired-bootstrap 95% CI, and when that CI includes 0 the report says the effect was not
detected rather than naming a winner.

Condition kinds are kept apart: MSM-only conditions (what the spec teaches directly) and MSM + AFT conditions
(how identical AFT generalizes after MSM) are listed, plotted and compared within their own kind. With seeds,
every number is shown per seed (the paired comparison too, on the items both replicates scored), and then as
the mean over seeds with a Student-t 95% interval across seeds (msm/experiment/seed_stats.py).
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
    stats: dict[str, Any] = {"run": run, "documents": 0, "failures": 0, "words": 0, "chars": 0, "template_chars": 0}
    if not store.exists():
        return stats
    for doc in store.documents():
        stats["documents"] += 1
        stats["words"] += len(doc.text.split())
        stats["chars"] += len(doc.text)
        # generator template (weak-model scaffold anchors, openings) as opposed to LM-written text
        stats["template_chars"] += min(len(doc.text), int(doc.metadata.get("scaffold_chars")
                                                          or doc.metadata.get("opening_chars") or 0))
    stats["template_share"] = round(stats["template_chars"] / stats["chars"], 4) if stats["chars"] else None
    stats["failures"] = sum(1 for _ in store.failures())
    try:
        from msm.corpus.curate.store import kept_diversity, read_summary

        summary = read_summary(ws, run).model_dump(mode="json")
        summary["diversity"] = summary["diversity"] or kept_diversity(ws, run)
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


# two-option suites scored over both orders: a model without a preference sits at 0.5, drawn as a guide
CHANCE_HALF_SUITES = ("cheese_values", "cheese_political", "cheese_items", "agentic_choice")


def _fmt(value: float | None, digits: int = 3) -> str:
    return "n/a" if value is None or value != value else f"{value:.{digits}f}"


KIND_TITLES = {"base": "base model", "aft_only": "AFT only", "identity": "identity baseline (instruction mix only)",
               "msm_only": "MSM only (no AFT)", "msm_aft": "MSM + AFT"}
KIND_ORDER = ("base", "identity", "aft_only", "msm_only", "msm_aft")


def _inferred_kind(condition: dict) -> str:
    """A condition's kind from a plan written before kinds existed."""
    corpus = bool(condition.get("specs") or condition.get("documents"))
    aft = condition.get("sft", True) is not False
    return ("msm_aft" if aft else "msm_only") if corpus else ("aft_only" if aft else "base")


def _replicates(plan: dict) -> dict[str, dict[str, Any]]:
    """replicate label -> {condition, seed, kind}; plans without seeds have one replicate per condition."""
    kinds = {c["name"]: c.get("kind") or _inferred_kind(c) for c in plan["experiment"]["conditions"]}
    if plan.get("replicates"):
        return {label: {**r, "kind": r.get("kind") or kinds.get(r["condition"], "msm_aft")}
                for label, r in plan["replicates"].items()}
    return {label: {"condition": label, "seed": None, "kind": kinds.get(label, "msm_aft")} for label in plan["conditions"]}


def collect(ws: Workspace, name: str) -> dict[str, Any]:
    """Everything the report shows, as plain data (also what `msm report --json` prints)."""
    from msm.eval.results import load_result

    plan, root = _load_plan(ws, name)
    experiment = plan["experiment"]
    replicates = _replicates(plan)
    conditions: dict[str, dict[str, Any]] = {}
    results: dict[str, dict[str, Any]] = {}  # replicate label -> suite -> EvalResult
    for label in plan["conditions"]:
        replicate = replicates[label]
        entry: dict[str, Any] = {"condition": replicate["condition"], "seed": replicate["seed"],
                                 "kind": replicate["kind"], "model": plan["models"].get(label), "stages": [],
                                 "corpus": [], "training": {}, "evals": {}}
        for key in plan["conditions"][label]:
            stage = plan["stages"][key]
            marker = _marker(root, key)
            entry["stages"].append({"stage": stage["label"], "done": bool(marker),
                                    "duration_s": marker.get("duration_s") if marker else None})
        for key in _stage_keys(plan, label, "generate"):
            entry["corpus"].append(_corpus_stats(ws, plan["stages"][key]["output"]))
        for key in _stage_keys(plan, label, "snapshot"):
            manifest_path = ws.snapshot_dir(plan["stages"][key]["output"]) / "manifest.json"
            if manifest_path.exists():
                entry["snapshot"] = load_json_object(manifest_path, what="snapshot manifest", max_bytes=MAX_RECORD_BYTES)
        for kind in ("midtrain", "sft"):
            for key in _stage_keys(plan, label, kind):
                model_dir = ws.model_dir(plan["stages"][key]["output"])
                manifest_path = model_dir / "manifest.json"
                if manifest_path.exists():
                    rows = _loss_rows(model_dir)
                    entry["training"][kind] = {
                        "model": plan["stages"][key]["output"],
                        "manifest": load_json_object(manifest_path, what="model manifest", max_bytes=MAX_RECORD_BYTES),
                        "loss": rows,
                        "loss_start": rows[0]["loss"] if rows else None, "loss_end": rows[-1]["loss"] if rows else None}
        results[label] = {}
        for key in _stage_keys(plan, label, "eval"):
            marker = _marker(root, key)
            result_path = ((marker or {}).get("result") or {}).get("result")
            if result_path and Path(result_path).exists():
                result = load_result(Path(result_path))
                results[label][result.suite] = result
                entry["evals"][result.suite] = {
                    "result": result_path, "run_id": result.run_id, "metric": result.primary_metric,
                    "metrics": {k: m.model_dump() for k, m in result.metrics.items()},
                    "groups": _group_means(result), "instrument": _instrument_summary(result.instrument),
                    "inspect_logs": [str(Path(result_path).parent / name) for name in result.inspect_logs]}
        conditions[label] = entry

    seeds = sorted({r["seed"] for r in replicates.values() if r["seed"] is not None})
    comparisons = _comparisons(experiment, replicates, results, seeds)
    return {"experiment": experiment, "generated_at": utc_now().isoformat(), "conditions": conditions,
            "seeds": seeds, "comparisons": comparisons,
            "across_seeds": {"conditions": _condition_means(conditions, experiment, seeds),
                             "comparisons": _comparison_means(comparisons, seeds)},
            "workspace": str(ws.root), "overrides": plan.get("overrides") or []}


def _default_pairs(experiment: dict) -> list[tuple[str, str]]:
    """Every pair of conditions of the same MSM kind (MSM only with MSM only, MSM + AFT with MSM + AFT)."""
    pairs = []
    for kind in ("msm_only", "msm_aft"):
        names = [c["name"] for c in experiment["conditions"] if (c.get("kind") or _inferred_kind(c)) == kind]
        pairs += [(a, b) for i, a in enumerate(names) for b in names[i + 1:]]
    return pairs


def _instrument_summary(instrument: dict | None) -> dict[str, Any] | None:
    """The scorer and its verdict on the evaluated model, as the report shows it (None: not a choice suite, or a
    result written before the validity check)."""
    if not instrument:
        return None
    validity = instrument.get("validity") or {}
    accuracy = validity.get("control_accuracy") or {}
    return {"scorer": instrument.get("scorer"), "verdict": instrument.get("verdict"),
            "discriminates": bool(instrument.get("discriminates")), "reasons": instrument.get("reasons") or [],
            "control_accuracy": accuracy.get("value"), "control_accuracy_ci_low": accuracy.get("ci_low"),
            "control_order_consistency": (validity.get("control_order_consistency") or {}).get("value"),
            "control_position_bias": (validity.get("control_position_bias") or {}).get("value")}


def _label(condition: str, seed: int | None) -> str:
    return condition if seed is None else f"{condition}@{seed}"


def _comparisons(experiment: dict, replicates: dict, results: dict, seeds: list[int]) -> list[dict[str, Any]]:
    """One paired comparison per (pair, suite, seed): condition b's replicate against condition a's, same seed."""
    from msm.eval.results import compare_results

    kinds = {r["condition"]: r["kind"] for r in replicates.values()}
    pairs = [tuple(p) for p in experiment.get("compare") or []] or _default_pairs(experiment)
    out = []
    for a, b in pairs:
        for seed in seeds or [None]:
            la, lb = _label(a, seed), _label(b, seed)
            for suite in sorted(set(results.get(la, {})) & set(results.get(lb, {}))):
                comparison = compare_results(results[la][suite], results[lb][suite], seed=experiment["eval"]["seed"])
                diff = comparison.difference
                # a blind instrument detects nothing, and its "no difference" is not a finding either
                detected = comparison.measurable and diff.ci_low is not None and (diff.ci_low > 0 or diff.ci_high < 0)
                out.append({"suite": suite, "baseline": a, "condition": b, "seed": seed,
                            "kinds": [kinds.get(a), kinds.get(b)], "metric": comparison.metric,
                            "n_paired": comparison.n_paired, "baseline_mean": comparison.baseline_mean,
                            "condition_mean": comparison.condition_mean, "difference": diff.value,
                            "ci_low": diff.ci_low, "ci_high": diff.ci_high, "detected": detected,
                            "measurable": comparison.measurable, "scorer": comparison.scorer,
                            "instrument_note": comparison.instrument_note})
    return out


def _seed_summary(values: list[float]) -> dict[str, Any]:
    from msm.experiment.seed_stats import across_seeds

    estimate = across_seeds(values)
    return {"mean": estimate.mean, "ci_low": estimate.ci_low, "ci_high": estimate.ci_high, "sd": estimate.sd,
            "n_seeds": estimate.n, "detected": estimate.excludes_zero}


def _condition_means(conditions: dict, experiment: dict, seeds: list[int]) -> list[dict[str, Any]]:
    """Per condition and suite: the headline metric of each seed, and their mean with a t interval."""
    if len(seeds) < 2:
        return []
    rows = []
    for condition in experiment["conditions"]:
        name = condition["name"]
        labels = [_label(name, s) for s in seeds if _label(name, s) in conditions]
        suites = sorted({suite for label in labels for suite in conditions[label]["evals"]})
        for suite in suites:
            per_seed = {conditions[label]["seed"]: conditions[label]["evals"][suite] for label in labels
                        if suite in conditions[label]["evals"]}
            metric = next(iter(per_seed.values()))["metric"]
            values = {s: e["metrics"][metric]["value"] for s, e in per_seed.items()
                      if e["metrics"][metric]["value"] is not None}
            if not values:
                continue
            # a stage no seed reaches (e.g. the base model's eval) is one run that every replicate shares
            shared = len({e["run_id"] for e in per_seed.values()}) == 1 and len(per_seed) > 1
            rows.append({"condition": name, "kind": conditions[labels[0]]["kind"], "suite": suite, "metric": metric,
                         "per_seed": values, "shared_run": shared, **_seed_summary(list(values.values()))})
    return rows


def _comparison_means(comparisons: list[dict], seeds: list[int]) -> list[dict[str, Any]]:
    """Per compared pair and suite: the paired difference of each seed, their mean with a t interval, and in how
    many seeds the difference had the mean's sign."""
    if len(seeds) < 2:
        return []
    grouped: dict[tuple, list[dict]] = {}
    for c in comparisons:
        grouped.setdefault((c["baseline"], c["condition"], c["suite"]), []).append(c)
    rows = []
    for (baseline, condition, suite), items in grouped.items():
        summary = _seed_summary([c["difference"] for c in items])
        same_sign = sum(1 for c in items if (c["difference"] > 0) == (summary["mean"] > 0) and c["difference"] != 0)
        row = {"baseline": baseline, "condition": condition, "suite": suite, "metric": items[0]["metric"],
               "kinds": items[0]["kinds"], "per_seed": {c["seed"]: c["difference"] for c in items},
               "same_sign": same_sign, **summary}
        blind = [c for c in items if not c.get("measurable", True)]
        row["measurable"] = not blind
        row["instrument_note"] = blind[0]["instrument_note"] if blind else None
        row["detected"] = row["detected"] and not blind
        rows.append(row)
    return rows


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
def _condition_order(data: dict[str, Any]) -> list[str]:
    """Condition names grouped by kind (base, identity, AFT only, MSM only, MSM + AFT), file order within a kind."""
    names = [c["name"] for c in data["experiment"]["conditions"]]
    kinds = {c["condition"]: c["kind"] for c in data["conditions"].values()}
    present = [n for n in names if n in kinds]
    return sorted(present, key=lambda n: (KIND_ORDER.index(kinds[n]) if kinds[n] in KIND_ORDER else 99, names.index(n)))


def _labels_in_order(data: dict[str, Any]) -> list[str]:
    order = {n: i for i, n in enumerate(_condition_order(data))}
    return sorted(data["conditions"], key=lambda lb: (order.get(data["conditions"][lb]["condition"], 99),
                                                       data["conditions"][lb]["seed"] or 0))


def _plots(data: dict[str, Any]) -> dict[str, str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    images: dict[str, str] = {}
    conditions = data["conditions"]
    means = {(r["condition"], r["suite"]): r for r in data["across_seeds"]["conditions"]}
    suites = sorted({s for c in conditions.values() for s in c["evals"]})
    for suite in suites:
        names = [n for n in _condition_order(data)
                 if any(c["condition"] == n and suite in c["evals"] for c in conditions.values())]
        replicates = {n: [c for c in conditions.values() if c["condition"] == n and suite in c["evals"]] for n in names}
        metric = replicates[names[0]][0]["evals"][suite]["metric"]
        fig, ax = plt.subplots(figsize=(1.6 + 1.3 * len(names), 3.4))
        for x, n in enumerate(names):
            if (n, suite) in means:  # several seeds: each seed a small dot, the mean with its t interval
                summary = means[(n, suite)]
                ax.plot([x] * len(summary["per_seed"]), list(summary["per_seed"].values()), ".", color="#999999")
                low, high = summary["ci_low"], summary["ci_high"]
                ax.errorbar([x], [summary["mean"]], yerr=[[summary["mean"] - low], [high - summary["mean"]]],
                            fmt="o", capsize=6, color="#4c72b0", markersize=7)
            else:  # one run: its item-bootstrap CI
                v = replicates[n][0]["evals"][suite]["metrics"][metric]
                errors = [[max(0.0, v["value"] - v["ci_low"]) if v["ci_low"] is not None else 0],
                          [max(0.0, v["ci_high"] - v["value"]) if v["ci_high"] is not None else 0]]
                # points with CI bars, not bars from zero: the effects of interest are small shifts around 0.5
                ax.errorbar([x], [v["value"]], yerr=errors, fmt="o", capsize=6, color="#4c72b0", markersize=7)
        ax.set_xticks(range(len(names)), names)
        ax.set_xlim(-0.6, len(names) - 0.4)
        ax.margins(y=0.25)
        if suite in CHANCE_HALF_SUITES:
            ax.axhline(0.5, color="grey", linestyle=":", linewidth=1)
        ax.set_ylabel(metric)
        across = " (mean over seeds, t 95% CI; dots: seeds)" if data["across_seeds"]["conditions"] else " (95% CI)"
        ax.set_title(f"{suite}: {metric}{across}")
        ax.tick_params(axis="x", rotation=20)
        images[f"eval_{suite}"] = _png(fig)
        plt.close(fig)
        groups = sorted({g for n in names for c in replicates[n] for g in c["evals"][suite]["groups"]})
        if 1 < len(groups) <= 40:
            fig, ax = plt.subplots(figsize=(max(6, 0.5 * len(groups) * len(names) / 2), 3.8))
            width = 0.8 / len(names)
            for i, n in enumerate(names):
                heights = []
                for g in groups:  # the mean over seeds of each group's mean
                    values = [c["evals"][suite]["groups"][g]["value"] for c in replicates[n]
                              if g in c["evals"][suite]["groups"]]
                    heights.append(sum(values) / len(values) if values else float("nan"))
                ax.bar([g + i * width for g in range(len(groups))], heights, width=width, label=n)
            ax.set_xticks([g + 0.4 - width / 2 for g in range(len(groups))], groups, rotation=45, ha="right")
            ax.set_title(f"{suite}: per group" + (" (mean over seeds)" if data["seeds"] else ""))
            ax.legend(fontsize=8)
            images[f"groups_{suite}"] = _png(fig)
            plt.close(fig)
    for kind in ("midtrain", "sft"):
        curves = {lb: c["training"][kind]["loss"] for lb, c in conditions.items() if c["training"].get(kind, {}).get("loss")}
        if curves:
            fig, ax = plt.subplots(figsize=(6, 3.4))
            for lb, rows in curves.items():
                ax.plot([r["step"] for r in rows], [r["loss"] for r in rows], label=lb)
            ax.set_xlabel("step")
            ax.set_ylabel("loss")
            ax.set_title(f"{kind} loss")
            ax.legend(fontsize=8)
            images[f"loss_{kind}"] = _png(fig)
            plt.close(fig)
    return images


def _ci(low: float | None, high: float | None) -> str:
    return "n/a" if low is None else f"[{low:+.3f}, {high:+.3f}]"


def _instrument_cell(instrument: dict | None) -> str:
    if not instrument:
        return "—"
    return (f"{instrument['scorer']}: {instrument['verdict']} (format-control accuracy "
            f"{_fmt(instrument['control_accuracy'])}, CI low {_fmt(instrument['control_accuracy_ci_low'])}, "
            f"order consistency {_fmt(instrument['control_order_consistency'])})")


def _comparison_sentence(c: dict) -> str:
    seed = f" (seed {c['seed']})" if c.get("seed") is not None else ""
    diff = f"{c['difference']:+.3f} {_ci(c['ci_low'], c['ci_high'])}"
    head = (f"{c['condition']} − {c['baseline']}{seed} on {c['suite']} ({c['metric']}): {diff}, paired bootstrap 95% CI "
            f"over {c['n_paired']} items")
    if not c.get("measurable", True):
        return f"{head} — {c['instrument_note']}; this difference is not a measurement."
    if c["detected"]:
        return f"{head} — the CI excludes 0: a difference was detected."
    return f"{head} — the CI includes 0: the effect was not detected."


def _across_sentence(c: dict) -> str:
    per_seed = ", ".join(f"seed {s}: {v:+.3f}" for s, v in c["per_seed"].items())
    head = (f"{c['condition']} − {c['baseline']} on {c['suite']} ({c['metric']}), mean over {c['n_seeds']} seeds: "
            f"{c['mean']:+.3f} {_ci(c['ci_low'], c['ci_high'])} (Student-t 95% interval across seeds; {per_seed}; "
            f"same sign in {c['same_sign']} of {c['n_seeds']} seeds)")
    if not c.get("measurable", True):
        return f"{head} — {c['instrument_note']} (in at least one seed); this difference is not a measurement."
    if c["detected"]:
        return f"{head} — the interval excludes 0: a difference was detected across seeds."
    return f"{head} — the interval includes 0: the effect was not detected across seeds."


def _kind_title(kinds: list[str | None]) -> str:
    titles = [KIND_TITLES.get(k or "", k or "?") for k in kinds]
    return titles[0] if len(set(titles)) == 1 else " vs ".join(titles)


def _comparison_sections(data: dict[str, Any]) -> list[tuple[str, list[str]]]:
    """(heading, sentences) per kind of comparison: MSM only and MSM + AFT are never mixed in one list."""
    sections: dict[str, list[str]] = {}
    across = {(c["baseline"], c["condition"], c["suite"]): c for c in data["across_seeds"]["comparisons"]}
    for c in data["comparisons"]:
        key = (c["baseline"], c["condition"], c["suite"])
        lines = sections.setdefault(_kind_title(c["kinds"]), [])
        if key in across:
            lines.append(_across_sentence(across.pop(key)))
        lines.append(_comparison_sentence(c))
    return list(sections.items())


def _aft_text(sft: bool | dict, default: dict, midtrained: bool) -> str:
    if sft is False:
        return "—"
    settings = default if sft is True else sft
    parts = [settings.get("data", "?")]
    if settings.get("continue_adapter") and midtrained:
        parts.append("continues the midtrained adapter")
    parts += [f"mix {m}" for m in settings.get("mix") or []]
    return ", ".join(parts)


def _headline_rows(data: dict[str, Any], labels: list[str], who, who_head: list[str]) -> list[list[str]]:
    """eval.headline: each replicate trained on a spec, scored on that spec's own suite (its primary metric)."""
    headline = (data["experiment"].get("eval") or {}).get("headline") or {}
    if not headline:
        return []
    specs = {c["name"]: c.get("specs") or [] for c in data["experiment"]["conditions"]}
    rows = [who_head + ["spec", "headline suite", "metric", "value"]]
    for label in labels:
        c = data["conditions"][label]
        for spec in specs.get(c["condition"], []):
            suite = headline.get(spec)
            if suite is None:
                continue
            ev = c["evals"].get(suite) or {}
            metric = ev.get("metric")
            value = (ev.get("metrics") or {}).get(metric, {}).get("value") if metric else None
            rows.append(who(c) + [spec, suite, metric or "—", _fmt(value)])
    return rows if len(rows) > 1 else []


def _rows(data: dict[str, Any]) -> dict[str, list[list[str]]]:
    """The report's tables as rows of text, shared by the HTML and Markdown renderings."""
    tables: dict[str, list[list[str]]] = {}
    seeded = bool(data["seeds"])
    labels = _labels_in_order(data)
    setup = [["condition", "kind", "specs / documents", "AFT", "seeds"]]
    order = _condition_order(data)
    for condition in sorted(data["experiment"]["conditions"],
                            key=lambda c: order.index(c["name"]) if c["name"] in order else len(order)):
        corpus = [*(condition.get("specs") or []), *(Path(d["file"]).name for d in condition.get("documents") or [])]
        kind = condition.get("kind") or _inferred_kind(condition)
        setup.append([condition["name"], KIND_TITLES.get(kind, kind), ", ".join(corpus) or "—",
                      _aft_text(condition.get("sft", True), data["experiment"].get("sft") or {}, bool(corpus)),
                      ", ".join(str(s) for s in data["seeds"]) or "—"])
    tables["Conditions"] = setup
    who = (lambda c: [c["condition"], str(c["seed"])]) if seeded else (lambda c: [c["condition"]])
    who_head = ["condition", "seed"] if seeded else ["condition"]
    headline = _headline_rows(data, labels, who, who_head)
    if headline:
        tables["Headline (each spec on its own set)"] = headline
    tables["Stages"] = [who_head + ["stage", "status", "seconds"]] + [
        who(data["conditions"][lb]) + [s["stage"], "done" if s["done"] else "pending", _fmt(s["duration_s"], 0)]
        for lb in labels for s in data["conditions"][lb]["stages"]]
    corpus = [who_head + ["run", "documents", "failures", "words", "template share", "kept", "rules fired",
                          "distinct-2", "snapshot docs", "snapshot template share", "snapshot hash"]]
    seen_runs: set[str] = set()
    for lb in labels:
        c = data["conditions"][lb]
        snap = c.get("snapshot") or {}
        for stats in c["corpus"]:
            if stats["run"] in seen_runs:  # one corpus shared by every seed: listed once
                continue
            seen_runs.add(stats["run"])
            cur = stats.get("curation") or {}
            fired = {k.removeprefix("dropped_"): v for k, v in (cur.get("step_stats") or {}).get("dedup", {}).items()
                     if k.startswith("dropped_")}
            fired.update(cur.get("rule_counts") or {})
            fired_text = ", ".join(f"{k}={v}" for k, v in sorted(fired.items()) if v)
            diversity = cur.get("diversity") or {}
            corpus.append(who(c) + [stats["run"], str(stats["documents"]), str(stats["failures"]), str(stats["words"]),
                                    _fmt(stats.get("template_share")),
                                    str(cur.get("n_kept", "not curated")), fired_text or "none",
                                    _fmt(diversity.get("distinct_2")),
                                    str(snap.get("n_documents", "n/a")), _fmt((snap.get("scaffold") or {}).get("share")),
                                    (snap.get("content_hash") or "n/a")[:12]])
    tables["Corpus"] = corpus
    training = [who_head + ["stage", "model", "loss start", "loss end", "tokens seen", "wall s"]]
    for lb in labels:
        c = data["conditions"][lb]
        for kind, t in c["training"].items():
            manifest = t["manifest"]
            training.append(who(c) + [kind, t["model"], _fmt(t["loss_start"]), _fmt(t["loss_end"]),
                                      str(manifest.get("tokens_seen", "n/a")), _fmt(manifest.get("wall_time_s"), 0)])
    tables["Training"] = training
    evals = [who_head + ["kind", "suite", "metric", "value", "95% CI", "n", "instrument"]]
    for lb in labels:
        c = data["conditions"][lb]
        for suite, e in sorted(c["evals"].items()):
            m = e["metrics"][e["metric"]]
            evals.append(who(c) + [KIND_TITLES.get(c["kind"], c["kind"]), suite, e["metric"], _fmt(m["value"]),
                                   f"[{_fmt(m['ci_low'])}, {_fmt(m['ci_high'])}]", str(m["n"]),
                                   _instrument_cell(e.get("instrument"))])
    tables["Evaluation" + (" per seed" if seeded else "")] = evals
    if data["across_seeds"]["conditions"]:
        across = [["condition", "kind", "suite", "metric", "mean over seeds", "95% CI (t, across seeds)", "per seed",
                   "n seeds"]]
        for r in data["across_seeds"]["conditions"]:
            interval = "one run shared by every seed" if r["shared_run"] else f"[{_fmt(r['ci_low'])}, {_fmt(r['ci_high'])}]"
            across.append([r["condition"], KIND_TITLES.get(r["kind"], r["kind"]), r["suite"], r["metric"],
                           _fmt(r["mean"]), interval, ", ".join(f"{s}: {_fmt(v)}" for s, v in r["per_seed"].items()),
                           str(r["n_seeds"])])
        tables["Evaluation across seeds"] = across
    if data["comparisons"]:
        paired = [["condition − baseline", "kinds", "seed", "suite", "difference", "paired 95% CI", "n items",
                   "detected"]]
        for c in data["comparisons"]:
            paired.append([f"{c['condition']} − {c['baseline']}", _kind_title(c["kinds"]),
                           "—" if c["seed"] is None else str(c["seed"]), c["suite"], f"{c['difference']:+.3f}",
                           _ci(c["ci_low"], c["ci_high"]), str(c["n_paired"]),
                           "not measurable with this scorer" if not c.get("measurable", True)
                           else "yes" if c["detected"] else "no"])
        tables["Paired comparisons" + (" per seed" if seeded else "")] = paired
    provenance = [who_head + ["specs", "snapshot hash", "model", "model base / input", "eval results"]]
    for lb in labels:
        c = data["conditions"][lb]
        specs = c.get("snapshot", {}).get("specs", [])
        spec_text = ", ".join(f"{s.get('spec_id')}@{str(s.get('spec_hash'))[:10]}" for s in specs) or "—"
        final = c["training"].get("sft") or c["training"].get("midtrain") or {}
        manifest = final.get("manifest", {})
        base = manifest.get("base_model") or manifest.get("base") or "—"
        if isinstance(base, dict):
            base = base.get("name", str(base))
        provenance.append(who(c) + [spec_text, (c.get("snapshot") or {}).get("content_hash", "—")[:12], c["model"] or "—",
                                    str(base), ", ".join(e["run_id"] for e in c["evals"].values()) or "—"])
    tables["Provenance"] = provenance
    return tables


def render_markdown(data: dict[str, Any]) -> str:
    experiment = data["experiment"]
    lines = [f"# Experiment report: {experiment['name']}", "", experiment.get("description") or "",
             f"Generated {data['generated_at']} from workspace `{data['workspace']}`."
             + (f" Seeds: {', '.join(str(s) for s in data['seeds'])}." if data["seeds"] else ""), ""]
    if data.get("overrides"):
        lines += ["Run with overrides of the file: " + ", ".join(f"`--set {o}`" for o in data["overrides"]), ""]
    lines += ["## Comparisons", ""]
    sections = _comparison_sections(data)
    for heading, sentences in sections:
        lines += [f"### {heading}", ""] + [f"- {sentence}" for sentence in sentences] + [""]
    if not sections:
        lines += ["- No comparison could be made yet."]
    for title, rows in _rows(data).items():
        lines += ["", f"## {title}", "", "| " + " | ".join(rows[0]) + " |", "|" + "---|" * len(rows[0])]
        lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows[1:]]
    if data.get("ledger"):
        from msm.ledger.report import markdown_section

        lines += markdown_section(data["ledger"])
    lines += ["", "## Configuration", "", "```json", json.dumps(experiment, indent=2), "```", ""]
    return "\n".join(lines)


def render_html(data: dict[str, Any], images: dict[str, str]) -> str:
    experiment = data["experiment"]
    esc = html.escape
    seeds = f" Seeds: {esc(', '.join(str(s) for s in data['seeds']))}." if data["seeds"] else ""
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>msm report: {esc(experiment['name'])}</title>",
             "<style>body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}"
             "table{border-collapse:collapse;margin:.5em 0 1.5em}td,th{border:1px solid #ccc;padding:.25em .6em;"
             "font-size:.9em;text-align:left}th{background:#f2f2f2}pre{background:#f7f7f7;padding:1em;overflow:auto}"
             ".detected{color:#0a6}.not{color:#a60}img{max-width:100%}</style></head><body>",
             f"<h1>Experiment report: {esc(experiment['name'])}</h1><p>{esc(experiment.get('description') or '')}</p>",
             f"<p>Generated {esc(data['generated_at'])} from workspace <code>{esc(data['workspace'])}</code>.{seeds}</p>",
             (f"<p>Run with overrides of the file: {esc(', '.join('--set ' + o for o in data['overrides']))}</p>"
              if data.get("overrides") else ""),
             "<h2>Comparisons</h2>"]
    sections = _comparison_sections(data)
    for heading, sentences in sections:
        parts.append(f"<h3>{esc(heading)}</h3><ul>")
        for sentence in sentences:
            detected = "difference was detected" in sentence
            parts.append(f"<li class='{'detected' if detected else 'not'}'>{esc(sentence)}</li>")
        parts.append("</ul>")
    if not sections:
        parts.append("<ul><li>No comparison could be made yet.</li></ul>")
    for key, image in images.items():
        if key.startswith("eval_") or key.startswith("groups_"):
            parts.append(f"<img alt='{esc(key)}' src='data:image/png;base64,{image}'>")
    for title, rows in _rows(data).items():
        parts.append(f"<h2>{esc(title)}</h2><table><tr>" + "".join(f"<th>{esc(h)}</th>" for h in rows[0]) + "</tr>")
        parts += ["<tr>" + "".join(f"<td>{esc(cell)}</td>" for cell in row) + "</tr>" for row in rows[1:]]
        parts.append("</table>")
        if title == "Training":
            parts += [f"<img alt='{k}' src='data:image/png;base64,{v}'>" for k, v in images.items() if k.startswith("loss_")]
    if data.get("ledger"):
        from msm.ledger.report import html_section

        parts.append(html_section(data["ledger"]))
    parts.append(f"<h2>Configuration</h2><pre>{esc(json.dumps(experiment, indent=2))}</pre></body></html>")
    return "".join(parts)


def summary_text(data: dict[str, Any]) -> str:
    """The few lines a terminal shows after a run: the comparisons' verdicts (across seeds first when there are
    seeds) and the evaluation table."""
    lines = []
    for heading, sentences in _comparison_sections(data):
        lines += [f"{heading}:"] + [f"  {sentence}" for sentence in sentences]
    lines = lines or ["No comparison could be made yet."]
    tables = _rows(data)
    rows = tables.get("Evaluation across seeds") or tables.get("Evaluation per seed") or tables["Evaluation"]
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines += [""] + ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows]
    return "\n".join(lines)


def write_report(ws: Workspace, name: str) -> dict[str, Any]:
    from msm.ledger.report import report_ledgers

    data = collect(ws, name)
    data["ledger"] = report_ledgers(ws, name)  # per-clause section (msm/ledger); says why when it cannot be built
    images = _plots(data)
    root = ws.report_dir(name)
    html_path, md_path, json_path = root / "report.html", root / "report.md", root / "report.json"
    write_text_atomic(md_path, render_markdown(data))
    write_text_atomic(html_path, render_html(data, images))
    summary = {k: v for k, v in data.items() if k != "conditions"}
    summary["conditions"] = {n: {k: v for k, v in c.items() if k != "training"} for n, c in data["conditions"].items()}
    write_text_atomic(json_path, json.dumps(summary, indent=2, default=str))
    return {"html": html_path, "md": md_path, "json": json_path, "summary": summary_text(data)}
