"""`msm experiment run`: every stage of every condition, each cached by the hash of its inputs.

The runner turns an Experiment into a graph of stages — generate → curate → snapshot → midtrain → sft →
eval, and for `sft.data: aft:SPEC` aft_generate → aft_curate → aft_snapshot before sft — and runs each as its own `msm` subprocess (the same commands a researcher would type, so a stage
behaves identically inside and outside an experiment, and each frees its memory when it ends).

Replicates: with `seeds`, every condition is planned once per seed under the label `condition@seed`; the seed
goes into the settings of the stages in `seed_stages` (see config.py), so those stages get one key
per seed while the others are shared by every seed.

Caching: a stage's key is sha256 over its settings, the content hashes of its inputs (spec, AFT data,
instruction mixes, curation config, program file) and its upstream stages' keys. Conditions and replicates
that share a stage (one corpus per spec, one AFT dataset, one base-model eval) share its key and run it once. When a stage finishes, a marker
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
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

from msm.atomic import sha256_file, write_json_atomic
from msm.errors import BadInput, MsmError
from msm.experiment.config import Condition, Experiment, replicate_label
from msm.input_files import MAX_RECORD_BYTES, load_json_object
from msm.settings import to_argv
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


@dataclass(frozen=True)
class Replicate:
    condition: str
    seed: int | None  # None: the experiment has no `seeds`
    kind: str  # the condition's kind (base, aft_only, identity, msm_only, msm_aft)


@dataclass
class Plan:
    experiment: Experiment
    stages: dict[str, Stage]  # key -> stage, in execution order
    by_condition: dict[str, list[str]]  # replicate label (`condition` or `condition@seed`) -> its stage keys in order
    models: dict[str, str]  # replicate label -> the model its evals read (name)
    replicates: dict[str, Replicate] = field(default_factory=dict)  # replicate label -> what it is


def _key(kind: str, payload: dict[str, Any]) -> str:
    blob = json.dumps({"kind": kind, **payload}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


def _curate_config_hash(config: str | None) -> str | None:
    """A curation config's content hash; `paper` (the shipped marks-only config) hashes as what it expands to."""
    from msm.corpus.curate.config import MARKS_ONLY, load_config

    if config == MARKS_ONLY:
        return load_config(MARKS_ONLY)[0].content_hash
    return _file_hash(config)


def _file_hash(path: str | None) -> str | None:
    if not path:
        return None
    from msm.data_refs import resolve_data_file

    file = resolve_data_file(path, option="file")  # an hf: dataset is hashed as the file it resolves to
    if not file.is_file():
        raise BadInput(f"{path}: no such file (named in the experiment)")
    return sha256_file(file)


def _aft_data_hash(data: str) -> str:
    from msm.train.chat_data import resolve_aft_path

    try:
        return sha256_file(resolve_aft_path(data))
    except BadInput:
        raise BadInput(f"sft.data: {data!r} is neither a file, a shipped set (cheese, safety, instruct), "
                       f"snapshot:NAME nor aft:SPEC") from None


def _mix_hashes(mixes: list[str]) -> list[str]:
    from msm.train.chat_data import resolve_aft_path

    hashes = []
    for mix in mixes:
        name = mix.rpartition(":")[0]
        try:
            hashes.append(sha256_file(resolve_aft_path(name)))
        except BadInput:
            raise BadInput(f"sft.mix: {name!r} is neither a file nor a shipped set (instruct)") from None
    return hashes


def _opt(flag: str, value: Any) -> list[str]:
    return [] if value is None else [flag, str(value)]


def plan_experiment(experiment: Experiment, ws: Workspace, only: Iterable[str] | None = None,
                    seeds: Iterable[int] | None = None) -> Plan:
    """Every stage of the selected conditions (`only`) and replicate seeds (`seeds`; default all)."""
    stages: dict[str, Stage] = {}
    by_condition: dict[str, list[str]] = {}
    models: dict[str, str] = {}
    replicates: dict[str, Replicate] = {}

    def add(stage: Stage, label: str) -> str:
        stages.setdefault(stage.key, stage)
        if stage.key not in by_condition[label]:
            by_condition[label].append(stage.key)
        return stage.key

    selected = list(only) if only else [c.name for c in experiment.conditions]
    replicate_seeds = experiment.replicate_seeds()
    if seeds is not None:
        wanted = list(seeds)
        unknown = [s for s in wanted if s not in replicate_seeds]
        if unknown:
            raise BadInput(f"--seed {unknown[0]}: experiment {experiment.name} runs seeds "
                           f"{', '.join(str(s) for s in replicate_seeds if s is not None) or '(none: it has no `seeds`)'}")
        replicate_seeds = [s for s in replicate_seeds if s in wanted]
    for name in selected:
        condition = experiment.condition(name)
        for seed in replicate_seeds:
            label = replicate_label(condition.name, seed)
            by_condition[label] = []
            replicates[label] = Replicate(condition.name, seed, condition.kind)
            models[label] = _plan_replicate(experiment, condition, seed, ws, lambda stage, lb=label: add(stage, lb),
                                            stages)
    ordered = {k: stages[k] for kind in STAGE_ORDER for k in stages if stages[k].kind == kind}
    check_output_names(experiment, ordered.values())
    return Plan(experiment, ordered, by_condition, models, replicates)


def check_output_names(experiment: Experiment, stages: Iterable[Stage]) -> None:
    """Every run, snapshot and model name the plan derives must be a name msm accepts (length, no '..'), so
    `msm experiment validate` refuses what would otherwise fail stages into the run."""
    from msm.workspace import check_name

    for stage in stages:
        if stage.kind == "eval":
            continue    # an eval result directory, not a workspace name
        try:
            check_name(stage.kind, stage.output)
        except BadInput as exc:
            raise BadInput(f"experiment {experiment.name}: stage {stage.label} would be named {stage.output!r} "
                           f"({len(stage.output)} characters), which msm refuses: {str(exc).split(': use ', 1)[-1]}; "
                           f"shorten the experiment name") from None


def _plan_replicate(experiment: Experiment, condition: Condition, seed: int | None, ws: Workspace,
                    add: Callable[[Stage], str], stages: dict[str, Stage]) -> str:
    """Add one replicate's stages; return the name of the model its evals read."""
    prefix = experiment.name
    model_key, model_name = None, experiment.base_model
    midtrained = False
    if condition.has_corpus:
        snapshot_key = _plan_corpus(experiment, condition, seed, add)
        snapshot_name = stages[snapshot_key].output
        mt = experiment.midtrain_for(condition, seed)
        mt_key = _key("midtrain", {"snapshot": snapshot_key, "base": experiment.base_model, **mt.key_payload()})
        model_name = f"{prefix}-mt-{mt_key[:10]}"
        argv = ["train", "midtrain", "--snapshot", snapshot_name, "--base", experiment.base_model, "--out", model_name,
                *to_argv(mt), *mt.extra_args]
        model_key = add(Stage("midtrain", mt_key, "midtrain", model_name, argv, [snapshot_key]))
        midtrained = True
    sft = experiment.sft_for(condition, seed)
    if sft is not None:
        data_hash, data_stage = None, None
        if sft.data.startswith(AFT_PREFIX):
            data_stage = _plan_aft_data(experiment, sft.data[len(AFT_PREFIX):], add)
            data_hash = data_stage
            sft = sft.model_copy(update={"data": f"{SNAPSHOT_PREFIX}{stages[data_stage].output}"})
        elif sft.data.startswith(SNAPSHOT_PREFIX):
            from msm.corpus.snapshot.store import read_manifest

            data_hash = read_manifest(ws, sft.data[len(SNAPSHOT_PREFIX):]).content_hash
        payload = {"model": model_key or experiment.base_model, "data_hash": data_hash or _aft_data_hash(sft.data),
                   **sft.key_payload()}
        if sft.mix:
            payload["mix_hashes"] = _mix_hashes(sft.mix)
        sft_key = _key("sft", payload)
        sft_name = f"{prefix}-sft-{sft_key[:10]}"
        # without a midtrained adapter there is nothing to continue: a fresh adapter of the given shape
        continues = sft.continue_adapter and midtrained
        argv = ["train", "sft", "--model", model_name, "--out", sft_name,
                *to_argv(sft, exclude=frozenset() if continues else frozenset({"continue_adapter"})), *sft.extra_args]
        model_key = add(Stage("sft", sft_key, "sft", sft_name, argv, [k for k in (model_key, data_stage) if k]))
        model_name = sft_name
    ev = experiment.eval_for(seed)
    for suite in ev.suites:
        eval_key = _key("eval", {"model": model_key or experiment.base_model, "suite": suite, **ev.key_payload(),
                                 **_identity_payload(experiment)})
        out_dir = str(ExperimentState(ws, prefix).dir / "evals" / f"{suite}-{eval_key[:10]}")
        argv = ["eval", "--model", model_name, "--suite", suite, "--out", out_dir, *to_argv(ev),
                *_identity_args(experiment), *ev.extra_args, *_spec_args(experiment, suite, ev.extra_args)]
        add(Stage("eval", eval_key, f"eval {suite}", out_dir, argv, [model_key] if model_key else [], {"suite": suite}))
    return model_name


def _spec_args(experiment: Experiment, suite: str, given: list[str] | tuple[str, ...]) -> list[str]:
    """spec_knowledge asks every condition's model about the experiment's specs (the same questions for a baseline
    that learned none), so its eval command names them; a user's own spec file by its absolute path."""
    if suite != "spec_knowledge" or "--spec" in given:
        return []
    refs: list[str] = []
    for condition in experiment.conditions:
        for ref in condition.specs:
            path = resolve_spec_path(ref)
            shown = ref if path.parent == _shipped_dir() and path.stem == ref else str(path.resolve())
            if shown not in refs:
                refs.append(shown)
    return [arg for ref in refs for arg in ("--spec", ref)]


def _shipped_dir():
    from msm.specs import SPEC_DIR

    return SPEC_DIR


def _identity_args(experiment: Experiment) -> list[str]:
    """The experiment's identity as the options of generate, aft generate and eval (none: the specs' own)."""
    identity = experiment.identity
    return [] if identity is None else ["--model-name", identity.model_name, "--provider-name", identity.provider_name]


def _identity_payload(experiment: Experiment) -> dict[str, Any]:
    return {} if experiment.identity is None else {"identity": experiment.identity.model_dump()}


def _spec_for(experiment: Experiment, spec_ref: str):
    """The spec as the experiment's stages see it: its placeholders bound to the identity (so is its hash)."""
    from msm.identity import with_identity

    spec = load_spec(resolve_spec_path(spec_ref))
    identity = experiment.identity
    return spec if identity is None else with_identity(spec, identity.model_name, identity.provider_name)


def _plan_aft_data(experiment: Experiment, spec_ref: str, add: Callable[[Stage], str]) -> str:
    """aft_generate → aft_curate (the shipped chat config) → aft_snapshot for `sft.data: aft:SPEC`; the snapshot key."""
    spec = _spec_for(experiment, spec_ref)
    settings = experiment.aft_generate
    gen_key = _key("aft_generate", {"spec_hash": spec.content_hash, "program_hash": _file_hash(settings.program),
                                    **settings.key_payload()})
    run_name = f"{experiment.name}-aft-{spec.id}-{gen_key[:10]}"
    argv = ["aft", "generate", "--spec", spec_ref, "--run", run_name, *to_argv(settings), *_identity_args(experiment),
            *settings.extra_args]
    add(Stage("aft_generate", gen_key, f"aft_generate {spec.id}", run_name, argv))
    cur_key = _key("aft_curate", {"generate": gen_key, "steps": experiment.curate.steps})
    add(Stage("aft_curate", cur_key, f"aft_curate {spec.id}", run_name,
              ["curate", "--run", run_name, *to_argv(experiment.curate, exclude={"config"})], [gen_key]))
    snap_key = _key("aft_snapshot", {"curate": cur_key, "review": experiment.review})
    snap_name = f"{experiment.name}-aftsnap-{snap_key[:10]}"
    argv = ["snapshot", "create", snap_name, "--from", run_name]
    if experiment.review == "required":
        argv.append("--require-review")
    return add(Stage("aft_snapshot", snap_key, f"aft_snapshot {spec.id}", snap_name, argv, [cur_key]))


def _plan_corpus(experiment: Experiment, condition: Condition, seed: int | None, add: Callable[[Stage], str]) -> str:
    gen = experiment.generate_for(condition, seed)
    curate_keys, run_names = [], []
    corpora: list[tuple[str, str, str, list[str]]] = []  # (key, label, run name, argv) of each corpus stage
    for spec_ref in condition.specs:
        spec = _spec_for(experiment, spec_ref)
        gen_key = _key("generate", {"spec_hash": spec.content_hash, "program_hash": _file_hash(gen.program),
                                    **gen.key_payload()})
        run_name = f"{experiment.name}-{spec.id}-{gen_key[:10]}"
        argv = ["generate", "--spec", spec_ref, "--run", run_name, *to_argv(gen), *_identity_args(experiment),
                *gen.extra_args]
        corpora.append((gen_key, f"generate {spec.id}", run_name, argv))
    for source in condition.documents:
        spec_hash = load_spec(resolve_spec_path(source.spec)).content_hash if source.spec else None
        import_key = _key("generate", {"import": _file_hash(source.file), "spec_hash": spec_hash})
        run_name = f"{experiment.name}-import-{import_key[:10]}"
        argv = ["corpus", "import", source.file, "--run", run_name, *_opt("--spec", source.spec)]
        corpora.append((import_key, f"import {Path(source.file).name}", run_name, argv))
    for gen_key, label, run_name, argv in corpora:
        add(Stage("generate", gen_key, label, run_name, argv))
        spec_label = label.split(" ", 1)[1]
        cur = experiment.curate
        cur_key = _key("curate", {"generate": gen_key, "config_hash": _curate_config_hash(cur.config),
                                  **cur.key_payload()})
        argv = ["curate", "--run", run_name, *to_argv(cur)]
        curate_keys.append(add(Stage("curate", cur_key, f"curate {spec_label}", run_name, argv, [gen_key])))
        run_names.append(run_name)
    snap_key = _key("snapshot", {"curate": sorted(curate_keys), "review": experiment.review})
    snap_name = f"{experiment.name}-snap-{snap_key[:10]}"
    argv = ["snapshot", "create", snap_name, "--from", ",".join(run_names)]
    if experiment.review == "required":
        argv.append("--require-review")
    return add(Stage("snapshot", snap_key, "snapshot", snap_name, argv, curate_keys))


# ---- dry run ---------------------------------------------------------------------------------------
PROJECTION_FIELDS = ("documents", "input_tokens", "output_tokens", "cost_usd", "priced")
PROJECTION_EXTRAS = ("batch_cost_usd", "cost_basis", "profile")
PROJECTION_TIMEOUT_S = 300


def project_generation(ws: Workspace, stage: Stage, *, timeout: float = PROJECTION_TIMEOUT_S) -> dict[str, Any]:
    """What a generate stage would cost: its own `msm generate` argv with `--plan-only --json` appended, run
    without network (LiteLLM's bundled price table, Hugging Face offline) in workspace `ws`. Returns the
    projection's fields, or {"unavailable": reason} when the projection fails (e.g. a spec or program file that does
    not load) — a dry run still shows the stage plan then."""
    if stage.kind != "generate" or stage.argv[:1] != ["generate"]:
        return {"unavailable": "documents are imported, not generated"}
    command = [sys.executable, "-m", "msm", "--workspace", str(ws.root), "--quiet", *stage.argv, "--plan-only", "--json"]
    env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True", "HF_HUB_OFFLINE": "1"}
    try:
        proc = subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=env)
    except subprocess.TimeoutExpired:
        return {"unavailable": f"`msm generate --plan-only` took longer than {timeout:.0f}s"}
    if proc.returncode != 0:
        lines = [line for line in proc.stderr.splitlines() if line.strip()]
        return {"unavailable": f"`msm generate --plan-only` failed (exit {proc.returncode}): "
                               f"{lines[-1] if lines else 'no message'}"}
    try:
        data = json.loads(proc.stdout)
    except json.JSONDecodeError:
        return {"unavailable": "`msm generate --plan-only --json` did not print JSON"}
    missing = [f for f in PROJECTION_FIELDS if not isinstance(data, dict) or f not in data]
    if missing:
        return {"unavailable": f"`msm generate --plan-only --json` gave no {', '.join(missing)}"}
    return {f: data[f] for f in PROJECTION_FIELDS + PROJECTION_EXTRAS if f in data}


@contextmanager
def _projection_workspace(ws: Workspace) -> Iterator[Workspace]:
    """`ws` when it is initialised (a projection there counts documents a run already has); otherwise a throwaway
    workspace, so that a dry run never creates or changes the user's."""
    if ws.exists():
        yield ws
        return
    with tempfile.TemporaryDirectory(prefix="msm-dry-run-") as scratch:
        yield Workspace.open(Path(scratch) / "ws", create=True)


def dry_run(ws: Workspace, plan: Plan, *, project: Callable[[Workspace, Stage], dict] = project_generation) -> dict:
    """The stage plan of an experiment — every stage once, with the replicates that use it and the `msm` command
    it would run — plus each generate stage's projected documents, tokens and cost. Nothing is run or written."""
    owners = {key: [label for label, keys in plan.by_condition.items() if key in keys] for key in plan.stages}
    stages = []
    with _projection_workspace(ws) as projection_ws:
        for key, stage in plan.stages.items():
            row = {"key": key[:10], "kind": stage.kind, "label": stage.label, "output": stage.output,
                   "command": ["msm", *stage.argv], "replicates": owners[key]}
            if stage.kind == "generate":
                row["projection"] = project(projection_ws, stage)
            stages.append(row)
    projections = [s["projection"] for s in stages if "projection" in s and "unavailable" not in s["projection"]]
    generate_count = sum(1 for s in stages if s["kind"] == "generate")
    totals = None
    if projections:
        totals = {"documents": sum(p["documents"] for p in projections),
                  "input_tokens": sum(p["input_tokens"] for p in projections),
                  "output_tokens": sum(p["output_tokens"] for p in projections),
                  "cost_usd": sum(p["cost_usd"] or 0 for p in projections),
                  "priced": all(p["priced"] for p in projections),
                  "complete": len(projections) == generate_count}
        if all(p.get("batch_cost_usd") is not None for p in projections):
            totals["batch_cost_usd"] = sum(p["batch_cost_usd"] for p in projections)
    # only the kinds the plan has: an experiment without `aft:SPEC` data lists no aft_* stages
    counts = {kind: n for kind in STAGE_ORDER if (n := sum(1 for s in stages if s["kind"] == kind))}
    return {"experiment": plan.experiment.name, "replicates": {label: {"condition": r.condition, "seed": r.seed,
                                                                      "kind": r.kind}
                                                               for label, r in plan.replicates.items()},
            "seeded_stages": list(plan.experiment.stage_seeded), "stage_counts": counts, "stages": stages,
            "generation_totals": totals}


# ---- execution ---------------------------------------------------------------------------------------
class ExperimentState:
    """Where an experiment keeps its stage markers, logs and report in the workspace."""

    def __init__(self, ws: Workspace, name: str):
        self.ws = ws
        self.dir = ws.report_dir(name)
        self.stages_dir = self.dir / "stages"
        self.logs_dir = self.dir / "logs"

    def marker(self, key: str) -> dict | None:
        path = self.stages_dir / f"{key}.json"
        return load_json_object(path, what="stage marker", max_bytes=MAX_RECORD_BYTES) if path.exists() else None

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


def run_stage(ws: Workspace, state: ExperimentState, stage: Stage, *, debug: bool = False,
              on_progress: Callable[[str], None] = lambda _line: None) -> dict:
    """Run one stage's command; `on_progress(line)` hears what it is doing inside the stage (its progress bar's
    stage and counts, through MSM_PROGRESS_FILE), about once a second while it changes."""
    from msm.cli_support import PROGRESS_FILE_ENV, progress_line

    state.logs_dir.mkdir(parents=True, exist_ok=True)
    log_path = state.logs_dir / f"{stage.kind}-{stage.key[:10]}.log"
    progress_path = state.logs_dir / f"{stage.kind}-{stage.key[:10]}.progress.json"
    progress_path.unlink(missing_ok=True)
    command = [sys.executable, "-m", "msm", "--workspace", str(ws.root), "--quiet", "--json", *stage.argv]
    started = time.time()
    with open(log_path, "a", encoding="utf-8") as log:
        log.write(f"\n=== {utc_now().isoformat()} msm {' '.join(stage.argv)}\n")
        log.flush()
        proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=log, text=True,
                                env={**os.environ, "MSM_DEBUG": "1" if debug else os.environ.get("MSM_DEBUG", ""),
                                     PROGRESS_FILE_ENV: str(progress_path)})
        shown = None
        try:
            while True:
                try:
                    stdout, _ = proc.communicate(timeout=1.0)
                    break
                except subprocess.TimeoutExpired:
                    line = progress_line(progress_path)
                    if line and line != shown:
                        shown = line
                        on_progress(line)
        except BaseException:
            proc.kill()      # Ctrl-C (or anything else) here: the stage's own process must not outlive the runner
            proc.wait()
            raise
        log.write(stdout)
    if proc.returncode != 0:
        tail = [line for line in log_path.read_text(encoding="utf-8", errors="replace").splitlines() if line.strip()]
        reason = next((line for line in reversed(tail) if line.startswith("msm: ")), tail[-1] if tail else "")
        error = MsmError(f"stage `{stage.label}` failed (exit {proc.returncode}): {reason} — log: {log_path}")
        error.exit_code = 2 if proc.returncode == 2 else 1
        raise error
    try:
        output = json.loads(stdout) if stdout.strip() else None
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


def write_plan(state: ExperimentState, plan: Plan) -> None:
    """reports/<experiment>/plan.json: what the report reads to find every replicate's stages."""
    write_json_atomic(state.dir / "plan.json", {
        "experiment": plan.experiment.model_dump(mode="json"), "overrides": plan.experiment.overrides,
        "models": plan.models,
        "conditions": plan.by_condition,
        "replicates": {label: {"condition": r.condition, "seed": r.seed, "kind": r.kind}
                       for label, r in plan.replicates.items()},
        "stages": {k: {"kind": s.kind, "label": s.label, "output": s.output, "argv": s.argv, "depends": s.depends,
                       "inputs": s.inputs} for k, s in plan.stages.items()}})


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
    write_plan(state, plan)
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
                record = run_stage(ws, state, stage, debug=debug,
                                   on_progress=lambda line, owners=owners[key], label=stage.label: [
                                       on_update(condition, label, f"running {line}") for condition in owners])
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
    for label, keys in plan.by_condition.items():
        replicate = plan.replicates[label]
        for key in keys:
            stage = plan.stages[key]
            marker = state.marker(key)
            rows.append({"condition": replicate.condition, "seed": replicate.seed, "kind": replicate.kind,
                         "stage": stage.label, "output": stage.output,
                         "status": "done" if marker else "pending",
                         "duration_s": marker.get("duration_s") if marker else None, "key": key[:10]})
    return rows
