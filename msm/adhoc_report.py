"""`msm report RUN|MODEL`: a Markdown report of one run or one trained model, for work done outside an experiment.

    reports/runs/<name>.md      a run: spec it carries, documents per clause and type, failures, calls and cost,
                                curation (kept, counts per rule)
    reports/models/<name>.md    a model: stage, base chain, specs learned (with their frozen copies), data, training

The report is written atomically and also returned as text; it reads only the records the stages wrote.
"""

from __future__ import annotations

from pathlib import Path

from msm.atomic import write_text_atomic
from msm.errors import BadInput
from msm.workspace import Workspace


def report_target(ws: Workspace, name: str) -> str | None:
    """"run" or "model" when `name` is one in `ws` (a run first), else None."""
    from msm.corpus.run_store import RunStore

    if RunStore(ws, name).exists():
        return "run"
    if (ws.model_dir(name) / "manifest.json").is_file():
        return "model"
    return None


def write_adhoc_report(ws: Workspace, name: str) -> dict[str, str]:
    kind = report_target(ws, name)
    if kind is None:
        raise BadInput(f"{name}: not an experiment, run or model in {ws.root} (see `msm runs list`, "
                       f"`msm models list`)")
    text = _run_report(ws, name) if kind == "run" else _model_report(ws, name)
    path = ws.reports_dir / f"{kind}s" / f"{name}.md"
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(path, text)
    return {"kind": kind, "name": name, "md": str(path), "summary": text}


def _counts(title: str, counts: dict) -> list[str]:
    if not counts:
        return []
    lines = [f"| {title} | documents |", "|---|---:|"]
    lines += [f"| {key} | {n} |" for key, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))]
    return lines + [""]


def _run_report(ws: Workspace, name: str) -> str:
    from msm.corpus.curate.store import current_curation_dir, read_summary
    from msm.corpus.run_store import RunStore, run_summary

    store = RunStore(ws, name)
    s = run_summary(store)
    spec = store.spec()
    lines = [f"# Run {name}", "", f"- kind: {s['kind']}; created {s['created_at']}; lm: {s.get('lm') or '-'}",
             f"- spec: {s['spec_id'] or '-'} @ {(s['spec_hash'] or '')[:12]}"
             + (f" (frozen copy: {store.dir / 'spec.yaml'})" if spec is not None else ""),
             f"- documents: {s['documents']} of {s['target'] or '?'} planned; failed items: {s['failed_items']} "
             f"({s['failed_attempts']} failed attempts)",
             f"- LM calls: {s['calls']} ({s['errors']} errors, {s['cache_hits']} cache hits); tokens: "
             f"{s['prompt_tokens']:,} in + {s['completion_tokens']:,} out; cost ${s['cost_usd']:.4f}",
             f"- generator template share of the text: {s['template']['share']:.1%}", ""]
    if s["failure_reasons"]:
        lines += ["## Failures", ""] + [f"- {reason}: {n}" for reason, n in
                                        sorted(s["failure_reasons"].items(), key=lambda kv: -kv[1])] + [""]
    lines += ["## Documents", ""] + _counts("clause", s["per_clause"]) + _counts("document type", s["per_type"])
    if current_curation_dir(ws, name) is not None:
        c = read_summary(ws, name)
        lines += ["## Curation", "", f"- curation {c.curation_id}: kept {c.n_kept} of {c.n_documents}", "",
                  "| rule | documents |", "|---|---:|"]
        lines += [f"| {rule} | {n} |" for rule, n in sorted(c.rule_counts.items(), key=lambda kv: -kv[1]) if n]
        lines.append("")
    else:
        lines += ["## Curation", "", f"not curated yet (`msm curate --run {name}`)", ""]
    return "\n".join(lines)


def _model_report(ws: Workspace, name: str) -> str:
    from msm.train.provenance import read_manifest

    m = read_manifest(ws.model_dir(name))
    assert m is not None
    chain, base = [], m.base_model
    while base:
        chain.append(str(base.get("name") or base.get("location")))
        base = (base.get("manifest") or {}).get("base_model") if isinstance(base.get("manifest"), dict) else None
    lines = [f"# Model {name}", "", f"- stage: {m.stage}; created {m.created_at.isoformat()}; device {m.device}",
             f"- base: {' <- '.join(chain) or '-'}",
             f"- data: {m.data.kind} {m.data.snapshot_name or ''} ({m.data.n_examples} examples)",
             f"- training: {m.optimizer_steps} steps, {m.tokens_seen:,} tokens seen, loss {m.loss_first} -> "
             f"{m.loss_last}" + (f", held-out {m.eval_loss_first} -> {m.eval_loss_last}"
                                if m.eval_loss_last is not None else ""), "", "## Specs learned", ""]
    for entry in m.spec_ids or []:
        path = entry.get("spec_path")
        lines.append(f"- {entry.get('spec_id')} @ {str(entry.get('spec_hash'))[:12]}"
                     + (f" — frozen copy {path}" + ("" if Path(path).is_file() else " (missing)") if path else ""))
    if not m.spec_ids:
        lines.append("- none recorded")
    lines += ["", f"Evaluate: `msm eval --model {name} --suite spec_knowledge` (the spec comes from this manifest)", ""]
    return "\n".join(lines)
