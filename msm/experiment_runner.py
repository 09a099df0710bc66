"""`msm experiment run`: every stage of every condition, each cached by the hash of its inputs.

The runner turns an Experiment into a graph of stages — generate → curate → snapshot → midtrain → sft →
eval, and for `sft.data: aft:SPEC` aft_generate → aft_curate → aft_snapshot before sft — and runs each as its own `msm` subprocess (the same commands a researcher would type, so a stage
behaves identically inside and outside an experiment, and each frees its memory when it ends).

Caching: a stage's key is sha256 over its settings, the content hashes of its inputs (spec, AFT data,
curation config, program file) and its upstream stages' keys. Conditions that share a stage (one AFT
dataset, one base-model eval) share its key and run it once. When a stage finishes, a marker
`reports/<experiment>/stages/<key>.json` is written atomically; a rerun skips marked stages, and changing
a setting changes only the keys downstream of it. A killed stage leaves no marker and is rerun; the stage
commands themselves resume (generation, training checkpoints) or are atomic (snapshots, model dirs).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

from msm.atomic import sha256_file, write_json_atomic
from msm.errors import BadInput, MsmError
from msm.experiment_config import Condition, Experiment
from msm.spec import load_spec, resolve_spec_path
from msm.workspace import Workspace, utc_now

STAGE_ORDER = ("generate", "curate", "snapshot", "aft_generate", "aft_curate", "aft_snapshot", "midtrain", "sft", "eval")
AFT_PREFIX, SNAPSHOT_PREFIX = "aft:", "snapshot:"


@dataclass
class Stage:
    kind: str
    key: str
    label: str  # what the live view shows, e.g. "generate cheese_america"
    output: str  # run / snapshot / model name, or eval result directory
    argv: list[str]
    depends: list[str] = field(default_factory=list)
    inputs: dict[str, Any] = field(default_factory=dict)


@dataclass
class Plan:
    experiment: Experiment
    stages: dict[str, Stage]  # key -> stage, in execution order
    by_condition: dict[str, list[str]]  # condition -> its stage keys in order
    models: dict[str, str]  # condition -> the model its evals read (name)


def _key(kind: str, payload: dict[str, Any]) -> str:
    blob = json.dumps({"kind": kind, **payload}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


def _file_hash(path: str | None) -> str | None:
    if not path:
        return None
    file = Path(path)
    if not file.is_file():
        raise BadInput(f"{path}: no such file (named in the experiment)")
    return sha256_file(file)


def _aft_data_hash(data: str) -> str:
    if Path(data).is_file():
        return sha256_file(Path(data))
    from importlib import resources

    shipped = resources.files("msm.train") / f"data_{data}_aft.jsonl"
    if shipped.is_file():
        return hashlib.sha256(shipped.read_bytes()).hexdigest()
    raise BadInput(f"sft.data: {data!r} is neither a file, a shipped AFT set (cheese, safety), snapshot:NAME nor aft:SPEC")


def _opt(flag: str, value: Any) -> list[str]:
    return [] if value is None else [flag, str(value)]


def plan_experiment(experiment: Experiment, ws: Workspace, only: Iterable[str] | None = None) -> Plan:
    stages: dict[str, Stage] = {}
    by_condition: dict[str, list[str]] = {}
    models: dict[str, str] = {}
    prefix = experiment.name

    def add(stage: Stage, condition: str) -> str:
        stages.setdefault(stage.key, stage)
        if stage.key not in by_condition[condition]:
            by_condition[condition].append(stage.key)
        return stage.key

    selected = list(only) if only else [c.name for c in experiment.conditions]
    for name in selected:
        condition = experiment.condition(name)
        by_condition[condition.name] = []
        model_key, model_name = None, experiment.base_model
        if condition.specs or condition.documents:
            snapshot_key = _plan_corpus(experiment, condition, add)
            snapshot_name = stages[snapshot_key].output
            mt = experiment.midtrain_for(condition)
            mt_key = _key("midtrain", {"snapshot": snapshot_key, "base": experiment.base_model, **mt.model_dump()})
            model_name = f"{prefix}-mt-{mt_key[:10]}"
            argv = ["train", "midtrain", "--snapshot", snapshot_name, "--base", experiment.base_model, "--out", model_name,
                    "--lora" if mt.lora else "--full", "--epochs", str(mt.epochs), "--block-size", str(mt.block_size),
                    "--batch-size", str(mt.batch_size), "--seed", str(mt.seed), *_opt("--lr", mt.lr),
                    *_opt("--max-steps", mt.max_steps)]
            for mix in mt.mix:
                argv += ["--mix", mix]
            model_key = add(Stage("midtrain", mt_key, "midtrain", model_name, argv + mt.extra_args, [snapshot_key]),
                            condition.name)
        sft = experiment.sft_for(condition)
        if sft is not None:
            data, data_hash, data_stage = sft.data, None, None
            if sft.data.startswith(AFT_PREFIX):
                data_stage = _plan_aft_data(experiment, condition, sft.data[len(AFT_PREFIX):], add)
                data, data_hash = f"{SNAPSHOT_PREFIX}{stages[data_stage].output}", data_stage
            elif sft.data.startswith(SNAPSHOT_PREFIX):
                from msm.corpus.snapshot.store import read_manifest

                data_hash = read_manifest(ws, sft.data[len(SNAPSHOT_PREFIX):]).content_hash
            sft_key = _key("sft", {"model": model_key or experiment.base_model,
                                   "data_hash": data_hash or _aft_data_hash(sft.data), **sft.model_dump()})
            sft_name = f"{prefix}-sft-{sft_key[:10]}"
            argv = ["train", "sft", "--model", model_name, "--data", data, "--out", sft_name,
                    "--lora" if sft.lora else "--full", "--epochs", str(sft.epochs), "--batch-size", str(sft.batch_size),
                    "--max-length", str(sft.max_length), "--seed", str(sft.seed), *_opt("--lr", sft.lr),
                    *_opt("--max-steps", sft.max_steps), *(["--with-reasoning"] if sft.with_reasoning else [])]
            model_key = add(Stage("sft", sft_key, "sft", sft_name, argv + sft.extra_args,
                                  [k for k in (model_key, data_stage) if k]), condition.name)
            model_name = sft_name
        models[condition.name] = model_name
        ev = experiment.eval
        for suite in ev.suites:
            eval_key = _key("eval", {"model": model_key or experiment.base_model, "suite": suite, **ev.model_dump()})
            out_dir = str(ExperimentState(ws, prefix).dir / "evals" / f"{suite}-{eval_key[:10]}")
            argv = ["eval", "--model", model_name, "--suite", suite, "--out", out_dir, "--seed", str(ev.seed),
                    *_opt("--limit", ev.limit), *ev.extra_args]
            add(Stage("eval", eval_key, f"eval {suite}", out_dir, argv, [model_key] if model_key else [],
                      {"suite": suite}), condition.name)
    ordered = {k: stages[k] for kind in STAGE_ORDER for k in stages if stages[k].kind == kind}
    return Plan(experiment, ordered, by_condition, models)


def _plan_corpus(experiment: Experiment, condition: Condition, add: Callable[[Stage, str], str]) -> str:
    gen = experiment.generate_for(condition)
    curate_keys, run_names = [], []
    corpora: list[tuple[str, str, str, list[str]]] = []  # (key, label, run name, argv) of each corpus stage
    for spec_ref in condition.specs:
        spec = load_spec(resolve_spec_path(spec_ref))
        gen_key = _key("generate", {"spec_hash": spec.content_hash, "program_hash": _file_hash(gen.program),
                                    **gen.model_dump()})
        run_name = f"{experiment.name}-{spec.id}-{gen_key[:10]}"
        argv = ["generate", "--spec", spec_ref, "--run", run_name, "--n-docs", str(gen.n_docs), "--lm", gen.lm,
                "--seed", str(gen.seed), *_opt("--api-base", gen.api_base), *_opt("--program", gen.program),
                *_opt("--concurrency", gen.concurrency), *_opt("--max-tokens", gen.max_tokens), *gen.extra_args]
        corpora.append((gen_key, f"generate {spec.id}", run_name, argv))
    for source in condition.documents:
        spec_hash = load_spec(resolve_spec_path(source.spec)).content_hash if source.spec else None
        import_key = _key("generate", {"import": _file_hash(source.file), "spec_hash": spec_hash})
        run_name = f"{experiment.name}-import-{import_key[:10]}"
        argv = ["corpus", "import", source.file, "--run", run_name, *_opt("--spec", source.spec)]
        corpora.append((import_key, f"import {Path(source.file).name}", run_name, argv))
    for gen_key, label, run_name, argv in corpora:
        add(Stage("generate", gen_key, label, run_name, argv), condition.name)
        spec_label = label.split(" ", 1)[1]
        cur = experiment.curate
        cur_key = _key("curate", {"generate": gen_key, "config_hash": _file_hash(cur.config), **cur.model_dump()})
        argv = ["curate", "--run", run_name, "--steps", cur.steps, *_opt("--config", cur.config)]
        curate_keys.append(add(Stage("curate", cur_key, f"curate {spec_label}", run_name, argv, [gen_key]),
                               condition.name))
        run_names.append(run_name)
    snap_key = _key("snapshot", {"curate": sorted(curate_keys), "review": experiment.review})
    snap_name = f"{experiment.name}-snap-{snap_key[:10]}"
    argv = ["snapshot", "create", snap_name, "--from", ",".join(run_names)]
    if experiment.review == "required":
        argv.append("--require-review")
    return add(Stage("snapshot", snap_key, "snapshot", snap_name, argv, curate_keys), condition.name)


def _plan_aft_data(experiment: Experiment, condition: Condition, spec_ref: str,
                   add: Callable[[Stage, str], str]) -> str:
    """aft_generate → aft_curate (the shipped chat config) → aft_snapshot for `sft.data: aft:SPEC`; the snapshot key."""
    spec = load_spec(resolve_spec_path(spec_ref))
    settings = experiment.aft_generate
    gen_key = _key("aft_generate", {"spec_hash": spec.content_hash, "program_hash": _file_hash(settings.program),
                                    **settings.model_dump()})
    run_name = f"{experiment.name}-aft-{spec.id}-{gen_key[:10]}"
    argv = ["aft", "generate", "--spec", spec_ref, "--run", run_name, "--n", str(settings.n), "--lm", settings.lm,
            "--style", settings.style, "--profile", settings.profile, "--seed", str(settings.seed),
            *_opt("--api-base", settings.api_base), *_opt("--program", settings.program),
            *_opt("--concurrency", settings.concurrency), *settings.extra_args]
    add(Stage("aft_generate", gen_key, f"aft_generate {spec.id}", run_name, argv), condition.name)
    cur_key = _key("aft_curate", {"generate": gen_key, "steps": experiment.curate.steps})
    add(Stage("aft_curate", cur_key, f"aft_curate {spec.id}", run_name,
              ["curate", "--run", run_name, "--steps", experiment.curate.steps], [gen_key]), condition.name)
    snap_key = _key("aft_snapshot", {"curate": cur_key, "review": experiment.review})
    snap_name = f"{experiment.name}-aftsnap-{snap_key[:10]}"
    argv = ["snapshot", "create", snap_name, "--from", run_name]
    if experiment.review == "required":
        argv.append("--require-review")
    return add(Stage("aft_snapshot", snap_key, f"aft_snapshot {spec.id}", snap_name, argv, [cur_key]), condition.name)


# ---- execution ---------------------------------------------------------------------------------------
class ExperimentState:
    """Where an experiment keeps its stage markers, logs and report in the workspace."""

    def __init__(self, ws: Workspace, name: str):
        self.ws = ws
        self.dir = ws.reports_dir / name
        self.stages_dir = self.dir / "stages"
        self.logs_dir = self.dir / "logs"

    def marker(self, key: str) -> dict | None:
        path = self.stages_dir / f"{key}.json"
        return json.loads(path.read_text()) if path.exists() else None

    def mark(self, stage: Stage, record: dict) -> None:
        write_json_atomic(self.stages_dir / f"{stage.key}.json", record)

    def forget(self, key: str) -> None:
        (self.stages_dir / f"{key}.json").unlink(missing_ok=True)


def _existing_output(ws: Workspace, stage: Stage) -> bool:
    """A finished output whose marker was lost (killed between finishing and marking) is adopted, not redone."""
    if stage.kind in {"snapshot", "aft_snapshot"}:
        return (ws.snapshot_dir(stage.output) / "manifest.json").exists()
    if stage.kind in {"midtrain", "sft"}:
        return (ws.model_dir(stage.output) / "manifest.json").exists()
    return False


def _remove_output(ws: Workspace, stage: Stage) -> None:
    """For --from: drop this experiment's own output of a stage so it is rebuilt."""
    if stage.kind in {"snapshot", "aft_snapshot"}:
        shutil.rmtree(ws.snapshot_dir(stage.output), ignore_errors=True)
        with ws.catalog() as con:
            con.execute("DELETE FROM snapshots WHERE name = ?", [stage.output])
    elif stage.kind in {"midtrain", "sft"}:
        shutil.rmtree(ws.model_dir(stage.output), ignore_errors=True)
        with ws.catalog() as con:
            con.execute("DELETE FROM models WHERE name = ?", [stage.output])
    elif stage.kind == "eval":
        shutil.rmtree(stage.output, ignore_errors=True)
    elif stage.kind in {"generate", "aft_generate"}:
        shutil.rmtree(ws.run_dir(stage.output), ignore_errors=True)
        with ws.catalog() as con:
            con.execute("DELETE FROM runs WHERE name = ?", [stage.output])


def run_stage(ws: Workspace, state: ExperimentState, stage: Stage, *, debug: bool = False) -> dict:
    state.logs_dir.mkdir(parents=True, exist_ok=True)
    log_path = state.logs_dir / f"{stage.kind}-{stage.key[:10]}.log"
    command = [sys.executable, "-m", "msm", "--workspace", str(ws.root), "--quiet", "--json", *stage.argv]
    started = time.time()
    with open(log_path, "a", encoding="utf-8") as log:
        log.write(f"\n=== {utc_now().isoformat()} msm {' '.join(stage.argv)}\n")
        log.flush()
        proc = subprocess.run(command, stdout=subprocess.PIPE, stderr=log, text=True,
                              env={**os.environ, "MSM_DEBUG": "1" if debug else os.environ.get("MSM_DEBUG", "")})
        log.write(proc.stdout)
    if proc.returncode != 0:
        tail = [line for line in log_path.read_text(encoding="utf-8", errors="replace").splitlines() if line.strip()]
        reason = next((line for line in reversed(tail) if line.startswith("msm: ")), tail[-1] if tail else "")
        error = MsmError(f"stage `{stage.label}` failed (exit {proc.returncode}): {reason} — log: {log_path}")
        error.exit_code = 2 if proc.returncode == 2 else 1
        raise error
    try:
        output = json.loads(proc.stdout) if proc.stdout.strip() else None
    except json.JSONDecodeError:
        output = None
    if stage.kind == "generate" and isinstance(output, dict) and output.get("documents") == 0:
        raise MsmError(f"stage `{stage.label}` wrote no documents ({output.get('failed_items', '?')} items failed; "
                       f"see `msm runs show {stage.output}`) — log: {log_path}")
    if stage.kind == "aft_generate" and isinstance(output, dict) and output.get("chats") == 0:
        raise MsmError(f"stage `{stage.label}` kept no chats ({output.get('judged', 0)} judged, "
                       f"{output.get('failed_items', '?')} failed; see `msm aft report {stage.output}`) — log: {log_path}")
    return {"kind": stage.kind, "key": stage.key, "label": stage.label, "output": stage.output, "argv": stage.argv,
            "finished_at": utc_now().isoformat(), "duration_s": round(time.time() - started, 2), "result": output}


def run_experiment(ws: Workspace, plan: Plan, *, from_stage: str | None = None,
                   on_update: Callable[[str, str, str], None] = lambda *_: None, debug: bool = False) -> dict:
    """Run what is not cached; call on_update(condition, stage_label, status) as things change."""
    state = ExperimentState(ws, plan.experiment.name)
    state.dir.mkdir(parents=True, exist_ok=True)
    if from_stage:
        first = STAGE_ORDER.index(from_stage)
        for key, stage in plan.stages.items():
            if STAGE_ORDER.index(stage.kind) >= first and state.marker(key):
                state.forget(key)
                _remove_output(ws, stage)
    write_json_atomic(state.dir / "plan.json", {
        "experiment": plan.experiment.model_dump(mode="json"), "models": plan.models,
        "conditions": plan.by_condition,
        "stages": {k: {"kind": s.kind, "label": s.label, "output": s.output, "argv": s.argv, "depends": s.depends,
                       "inputs": s.inputs} for k, s in plan.stages.items()}})
    owners = {key: [c for c, keys in plan.by_condition.items() if key in keys] for key in plan.stages}
    summary = {"ran": [], "cached": []}
    for key, stage in plan.stages.items():
        if state.marker(key):
            summary["cached"].append(key)
            for condition in owners[key]:
                on_update(condition, stage.label, "cached")
            continue
        for condition in owners[key]:
            on_update(condition, stage.label, "running")
        if _existing_output(ws, stage):
            record = {"kind": stage.kind, "key": key, "label": stage.label, "output": stage.output,
                      "argv": stage.argv, "finished_at": utc_now().isoformat(), "duration_s": 0, "adopted": True,
                      "result": None}
        else:
            try:
                record = run_stage(ws, state, stage, debug=debug)
            except MsmError:
                for condition in owners[key]:
                    on_update(condition, stage.label, "failed")
                raise
        state.mark(stage, record)
        summary["ran"].append(key)
        for condition in owners[key]:
            on_update(condition, stage.label, f"done {record['duration_s']:.0f}s")
    return summary


def experiment_status(ws: Workspace, plan: Plan) -> list[dict]:
    state = ExperimentState(ws, plan.experiment.name)
    rows = []
    for condition, keys in plan.by_condition.items():
        for key in keys:
            stage = plan.stages[key]
            marker = state.marker(key)
            rows.append({"condition": condition, "stage": stage.label, "output": stage.output,
                         "status": "done" if marker else "pending",
                         "duration_s": marker.get("duration_s") if marker else None, "key": key[:10]})
    return rows
