"""Where a ledger's numbers come from: an experiment's plan, stage markers and eval results, or a model's manifest
chain (sft → midtrained model → snapshot → runs); and the spec_knowledge results of a model for one spec, kept in
`ledger/knowledge/<model>-<spec hash>/` (measured by `msm ledger --measure`, reused afterwards)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from msm.errors import BadInput
from msm.input_files import MAX_RECORD_BYTES, load_json_object
from msm.spec import Spec
from msm.workspace import Workspace

from msm.ledger.table import KNOWLEDGE_SUITE, Ledger, build_ledger


def knowledge_dir(ws: Workspace, model: str, spec: Spec) -> Path:
    from msm.eval.results import slug

    return ws.root / "ledger" / "knowledge" / f"{slug(model)}-{spec.content_hash[:12]}"


def knowledge_result(ws: Workspace, model: str | None, spec: Spec, *, measure: bool,
                     log: Callable[[str], None] = lambda _m: None):
    """The newest spec_knowledge result of `model` on `spec`, measuring it first when asked and missing."""
    from msm.eval.results import load_result

    if not model:
        return None
    directory = knowledge_dir(ws, model, spec)
    found = sorted(directory.glob("spec_knowledge-*.json")) if directory.exists() else []
    if found:
        return load_result(found[-1])
    if not measure:
        return None
    from msm.atomic import write_text_atomic
    from msm.eval.runner import run_eval
    from msm.eval.suite_base import EvalSettings

    directory.mkdir(parents=True, exist_ok=True)
    spec_file = directory / "spec.yaml"  # JSON is YAML: the spec as it was, even one only a run still has
    write_text_atomic(spec_file, spec.canonical_json() + "\n")
    log(f"ledger: measuring spec_knowledge of {model} on {spec.id}")
    result, _path = run_eval(model, KNOWLEDGE_SUITE, EvalSettings(specs=(str(spec_file),)), ws=ws, out_dir=directory,
                             log=log)
    return result


def _spec_of_run(ws: Workspace, run: str, fallback: str | None) -> Spec | None:
    from msm.corpus.run_store import run_spec
    from msm.ledger.versions import load_ref

    try:
        return run_spec(ws, run)
    except BadInput:
        return load_ref(fallback, ws) if fallback else None


# ---- experiments ------------------------------------------------------------------------------------------------
def _argv_value(argv: list[str], flag: str) -> str | None:
    return argv[argv.index(flag) + 1] if flag in argv and argv.index(flag) + 1 < len(argv) else None


def experiment_ledgers(ws: Workspace, name: str, *, measure: bool = False,
                       log: Callable[[str], None] = lambda _m: None) -> list[Ledger]:
    from msm.eval.results import load_result

    root = ws.report_dir(name)
    plan_path = root / "plan.json"
    if not plan_path.exists():
        raise BadInput(f"experiment {name!r}: nothing has run in {ws.root} yet (run `msm experiment run FILE`)")
    plan = load_json_object(plan_path, what="plan", max_bytes=MAX_RECORD_BYTES)
    stages = plan["stages"]
    base_model = plan["experiment"].get("base_model")

    def of(label: str, kind: str) -> list[dict]:
        return [stages[k] | {"key": k} for k in plan["conditions"][label] if stages[k]["kind"] == kind]

    results: dict[str, dict[str, Any]] = {}
    for label in plan["conditions"]:
        results[label] = {}
        for stage in of(label, "eval"):
            marker_path = root / "stages" / f"{stage['key']}.json"
            marker = load_json_object(marker_path, what="stage marker", max_bytes=MAX_RECORD_BYTES) \
                if marker_path.exists() else {}
            path = ((marker or {}).get("result") or {}).get("result")
            if path and Path(path).exists():
                result = load_result(Path(path))
                results[label][result.suite] = result
    replicates = plan.get("replicates") or {}
    pairs = [tuple(p) for p in plan["experiment"].get("compare") or []]
    ledgers = []
    for label in plan["conditions"]:
        generates = of(label, "generate")
        if not generates:
            continue  # no corpus: nothing to trace clause by clause
        condition = (replicates.get(label) or {}).get("condition", label)
        seed = (replicates.get(label) or {}).get("seed")
        snapshot = next((s["output"] for s in of(label, "snapshot")), None)
        midtrained = next((s["output"] for s in of(label, "midtrain")), None)
        evaluated = plan["models"].get(label)
        compared = None
        for a, b in pairs:
            if condition in (a, b):
                other = b if condition == a else a
                other_label = other if seed is None else f"{other}@{seed}"
                if other_label in results:
                    compared = (other_label, results[other_label])
                break
        for stage in generates:
            run = stage["output"]
            spec = _spec_of_run(ws, run, _argv_value(stage["argv"], "--spec"))
            if spec is None:
                continue
            after = results[label].get(KNOWLEDGE_SUITE) if evaluated == midtrained else None
            after = after or knowledge_result(ws, midtrained, spec, measure=measure and bool(midtrained), log=log)
            # before: a condition that evaluates the base model itself (e.g. `base`) on this spec, else the cache
            before = next((r[KNOWLEDGE_SUITE] for other, r in results.items()
                           if plan["models"].get(other) == base_model and KNOWLEDGE_SUITE in r
                           and any(i.group == spec.id for i in r[KNOWLEDGE_SUITE].items)), None)
            before = before or knowledge_result(ws, base_model, spec, measure=measure, log=log)
            ledgers.append(build_ledger(ws, subject=label, spec=spec, snapshot=snapshot, runs=[run],
                                        base_model=base_model, midtrained_model=midtrained, evaluated_model=evaluated,
                                        knowledge_before=before, knowledge_after=after, behaviour=results[label],
                                        compared=compared))
    if not ledgers:
        raise BadInput(f"experiment {name!r}: no condition has a corpus (nothing to trace clause by clause)")
    return ledgers


# ---- models -----------------------------------------------------------------------------------------------------
def model_ledgers(ws: Workspace, model: str, *, result_files: tuple[Path, ...] = (), measure: bool = False,
                  log: Callable[[str], None] = lambda _m: None) -> list[Ledger]:
    from msm.corpus.snapshot.store import read_manifest
    from msm.eval.results import load_result
    from msm.ledger.versions import load_ref

    manifest_path = ws.model_dir(model) / "manifest.json"
    if not manifest_path.exists():
        raise BadInput(f"{model}: neither an experiment with a plan nor a model msm trained in {ws.root}")
    manifest = load_json_object(manifest_path, what="model manifest", max_bytes=MAX_RECORD_BYTES)
    midtrain, midtrained = manifest, model
    while midtrain.get("stage") == "sft":  # walk down to the midtrained model the AFT continued
        below = (midtrain.get("base_model") or {})
        midtrained = below.get("name")
        midtrain = below.get("manifest") or {}
        if not midtrain and midtrained and (ws.model_dir(midtrained) / "manifest.json").exists():
            midtrain = load_json_object(ws.model_dir(midtrained) / "manifest.json", what="model manifest",
                                        max_bytes=MAX_RECORD_BYTES)
        if not midtrain:
            break
    if midtrain.get("stage") != "midtrain":
        raise BadInput(f"model {model}: no midtraining stage in its manifest chain (nothing to trace by clause)")
    snapshot = (midtrain.get("data") or {}).get("snapshot_name")
    base_model = (midtrain.get("base_model") or {}).get("name")
    runs = read_manifest(ws, snapshot).runs if snapshot else []
    behaviour = {}
    for path in result_files:
        result = load_result(path)
        behaviour[result.suite] = result
    ledgers = []
    spec_ids = list(dict.fromkeys(e.get("spec_id") for e in manifest.get("spec_ids") or [] if e.get("spec_id")))
    for spec_id in spec_ids:
        entry = {"spec_id": spec_id}
        spec = None
        for run in runs:
            candidate = _spec_of_run(ws, run, None)
            if candidate is not None and candidate.id == entry.get("spec_id"):
                spec = candidate
                break
        spec = spec or load_ref(entry["spec_id"], ws)
        after = knowledge_result(ws, midtrained, spec, measure=measure, log=log)
        before = knowledge_result(ws, base_model, spec, measure=measure, log=log)
        ledgers.append(build_ledger(ws, subject=model, spec=spec, snapshot=snapshot, runs=runs, base_model=base_model,
                                    midtrained_model=midtrained, evaluated_model=model, knowledge_before=before,
                                    knowledge_after=after, behaviour=behaviour))
    if not ledgers:
        raise BadInput(f"model {model}: its manifest names no spec it learned")
    return ledgers
