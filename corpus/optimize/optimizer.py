"""`msm optimize`: tune the generator's write (and revise) prompts with a DSPy optimizer against the corpus-quality
metric, and measure the gain on clauses the optimizer never saw.

    items      (clause, document type, idea) triples built from the spec: document types from the generator's
               seed list, ideas from its template, persona/author/era/length levers drawn as a run draws them
    split      clauses, not items: the valset's clauses are held out of the trainset
    optimize   BootstrapFewShot (demos), MIPROv2 (instructions + demos; prompt model = --reflection-lm) or GEPA
               (reflective instruction rewrites from the metric's feedback text; reflection LM = --reflection-lm).
               The optimizers' own selection uses the trainset only.
    measure    the metric on the valset before and after, per part, with bootstrap 95% CIs and a paired CI of the
               change; tokens and cost of every LM; the optimized instructions
    write      the program JSON (atomically; `msm generate --program FILE` loads it and records its hash) and
               FILE.report.json beside it with everything above

The profile is resolved and the write inputs and openings are built by the same functions `msm generate` uses
(`generate.settings`, `generate.planning`): local (weak) models get plain prompts through the LenientAdapter,
clause-only context, no revise stage, and the document continues the profile's template opening — so the tuned
prompts are the prompts a run will send.
"""

from __future__ import annotations

import contextlib
import os
import random
import sys
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Callable

import dspy
import numpy as np

from msm.corpus.generate import planning
from msm.corpus.generate import program as prog
from msm.lm.lenient_adapter import LenientAdapter
from msm.corpus.generate.settings import GenerationSettings, resolve_profile
from msm.corpus.generate.scaffold import Anchor, Scaffold, ScaffoldAssembler, first_sentences, stays_on_clause
from msm.corpus.optimize.metric import PARTS, CorpusQualityMetric, JudgeAdapter, JudgeUsage, accepted_documents, float_metric
from msm.corpus.records import stable_id
from msm.errors import BadInput
from msm.spec import Spec
from msm.workspace import Workspace, utc_now

REPORT_SCHEMA_VERSION = 1
OPTIMIZERS = ("bootstrap", "mipro", "gepa")
DEMO_THRESHOLD = 0.6      # BootstrapFewShot keeps a trace as a demo when its metric score reaches this
BOOTSTRAP_RESAMPLES = 2000
# Small by default on local models: the embedded 135M model decodes ~20-60 tok/s on 2 cores.
DEFAULTS = {
    "weak": {"n_train": 3, "n_val": 3, "threads": 16, "judge_max_tokens": 48, "reflection_max_tokens": 200,
             "demos": 1, "budget": {"bootstrap": 3, "mipro": 2, "gepa": 8}},
    "strong": {"n_train": 12, "n_val": 12, "threads": 8, "judge_max_tokens": 400, "reflection_max_tokens": 4000,
               "demos": 3, "budget": {"bootstrap": 12, "mipro": 12, "gepa": 120}},
}


@dataclass
class OptimizeRequest:
    spec: Spec
    out: Path
    optimizer: str = "bootstrap"
    lm: str = "local:smollm2-135m"
    judge_lm: str | None = None          # None: same as lm; "none": no judge (deterministic checks only)
    reflection_lm: str | None = None     # None: same as lm
    api_base: str | None = None
    train_clauses: list[str] | None = None
    budget: int | None = None
    n_train: int | None = None
    n_val: int | None = None
    max_tokens: int | None = None
    threads: int | None = None
    novelty_runs: list[str] | None = None
    seed: int = 0


class WriterStage(dspy.Module):
    """The part of the generator an optimizer tunes: only the predictors a run of these settings calls to write a
    document, so no optimizer spends budget on brainstorm stages. Scaffolded (weak) runs continue anchored
    paragraphs with `continue_paragraph`; others write whole documents with the writers of `program.writer`
    (with values / rules-only, with the plan step when the profile plans), then revise when the profile revises."""

    def __init__(self, settings: GenerationSettings):
        super().__init__()
        self.settings = settings
        full = prog.SpecDocumentProgram()
        if settings.scaffold:
            self.continue_paragraph = full.continue_paragraph
            return
        for rules_only in (False, True):
            name = ("write_rule" if rules_only else "write") + ("_planned" if settings.plan_before_writing else "")
            setattr(self, name, full.writer(rules_only=rules_only, planned=settings.plan_before_writing))
        if settings.revise:
            self.revise = full.revise

    def forward(self, *, opening: str = "", scaffold: dict | None = None, rules_only: bool = False,
                **inputs: Any) -> dspy.Prediction:
        """As the run engine writes: anchored paragraphs each continued as a prefill (scaffold), or a whole
        document, continuing a weak profile's template opening when there is one (an assistant prefill of the
        LenientAdapter) — so the prompts are tuned for the requests a run sends."""
        if scaffold is not None:
            return self._scaffolded(scaffold, inputs)
        writer = getattr(self, ("write_rule" if rules_only else "write")
                         + ("_planned" if self.settings.plan_before_writing else ""))
        adapter = dspy.settings.adapter
        prefill = opening and isinstance(adapter, LenientAdapter)
        if prefill:
            adapter.set_prefill(opening)
        try:
            out = writer(**{k: v for k, v in inputs.items() if k in writer.signature.input_fields})
        finally:
            if prefill:
                adapter.set_prefill(None)
        if not self.settings.revise:
            return dspy.Prediction(document=out.document, draft=out.document, critique=None)
        revised = self.revise(spec_context=inputs["spec_context"], clause=inputs["clause"], document=out.document)
        return dspy.Prediction(document=revised.revised_document, draft=out.document, critique=revised.critique)

    def _scaffolded(self, scaffold: dict, inputs: dict[str, Any]) -> dspy.Prediction:
        plan = Scaffold(title=scaffold["title"], anchors=[Anchor(**a) for a in scaffold["anchors"]],
                        terms=scaffold["terms"])
        assembler = ScaffoldAssembler(plan)
        adapter = dspy.settings.adapter
        fields = {k: v for k, v in inputs.items() if k in self.continue_paragraph.signature.input_fields}
        for index in range(len(plan.anchors)):
            prefill = assembler.prefill(index)
            kept = ""
            for _ in range(self.settings.continuation_tries):
                adapter.set_prefill(prefill)
                try:
                    out = self.continue_paragraph(**fields)
                finally:
                    adapter.set_prefill(None)
                continuation = first_sentences(str(out.document or "")[len(prefill):],
                                               self.settings.continuation_sentences)
                if stays_on_clause(continuation, plan, scaffold["model_name"]):
                    kept = continuation
                    break
            assembler.accept(index, kept)
        finished = assembler.finish()
        return dspy.Prediction(document=finished.text, lm_text=finished.lm_text, finish_reason="stop")


def split_clauses(spec: Spec, train_clauses: list[str] | None, seed: int) -> tuple[list[str], list[str]]:
    ids = [c.id for c in spec.clauses]
    if len(ids) < 2:
        raise BadInput(f"spec {spec.id}: optimize needs at least 2 clauses (the valset's clauses are held out)")
    if train_clauses:
        unknown = [c for c in train_clauses if c not in ids]
        if unknown:
            raise BadInput(f"--train-clauses: spec {spec.id} has no clause {unknown[0]!r} (clauses: {', '.join(ids)})")
        train = [c for c in ids if c in train_clauses]
        val = [c for c in ids if c not in train_clauses]
        if not val:
            raise BadInput("--train-clauses: every clause is a train clause; leave at least one out for the valset")
        return train, val
    shuffled = list(ids)
    random.Random(f"split:{seed}").shuffle(shuffled)
    n_val = max(1, len(ids) // 3)
    val = set(shuffled[:n_val])
    return [c for c in ids if c not in val], [c for c in ids if c in val]


def optimizer_settings(spec: Spec, profile: str, *, lm: str, seed: int,
                       max_tokens: int | None = None) -> GenerationSettings:
    """The generation settings the optimized program is tuned under: the profile a run of this LM gets."""
    return GenerationSettings.for_profile(profile, write_max_tokens=max_tokens, spec_id=spec.id,
                                          spec_hash=spec.content_hash, lm=lm, n_docs=1, seed=seed,
                                          # the optimizer tunes the clause plan's writers (items are clauses)
                                          plan="clauses",
                                          program_hash=prog.program_hash(prog.SpecDocumentProgram()))


def build_items(spec: Spec, clause_ids: list[str], n: int, *, settings: GenerationSettings,
                split: str) -> list[dspy.Example]:
    """`n` examples spread round-robin over `clause_ids`; each carries the write inputs a run would send for it
    (built by `planning.write_inputs` / `planning.opening_for`) + clause_id."""
    doc_types = list(planning.seeds()["doc_types"])
    random.Random(f"{settings.seed}:types").shuffle(doc_types)
    items = []
    for k in range(n):
        clause = spec.clause(clause_ids[k % len(clause_ids)])
        j = k // len(clause_ids)
        doc_id = stable_id("optimize", split, spec.content_hash, clause.id, j)
        doc_type = doc_types[(k + 3 * j) % len(doc_types)]
        idea = planning.fallback_idea(spec, clause, doc_type, j)
        job = planning.build_write_job(spec, settings, slot=planning.Slot(doc_id, clause.id, j), clause=clause,
                                       plan={}, doc_type=doc_type, type_source="seed_list", idea=idea,
                                       idea_source="template", unsuitable=0)
        if job.scaffold is not None:
            fields = dict(job.continue_inputs(), scaffold={
                "title": job.scaffold.title, "anchors": [a.__dict__ for a in job.scaffold.anchors],
                "terms": job.scaffold.terms, "model_name": spec.model_name})
        else:
            fields = dict(job.inputs, rules_only=job.rules_only)
            if job.opening:
                fields["opening"] = job.opening
        items.append(dspy.Example(**fields, clause_id=clause.id).with_inputs(*fields))
    return items


# ---- measuring ----------------------------------------------------------------------------------------------
def evaluate_rows(program: dspy.Module, items: list[dspy.Example], metric: Callable, threads: int, *,
                  scored: Callable[[dspy.Example, Any, dspy.Prediction], dict],
                  failed: Callable[[dspy.Example], dict]) -> list[dict]:
    """One row per item through dspy.Evaluate: `scored(example, prediction, result)` for a scored item, `failed(example)`
    where the program raised (unreadable answer, provider error) and Evaluate gave its failure score. Shared by
    every program kind's optimizer."""
    evaluator = dspy.Evaluate(devset=items, metric=metric, num_threads=threads, display_progress=False,
                              failure_score=0.0, max_errors=len(items) + 1, provide_traceback=False)
    return [scored(example, prediction, result) if isinstance(result, dspy.Prediction) else failed(example)
            for example, prediction, result in evaluator(program).results]


def evaluate(program: dspy.Module, items: list[dspy.Example], metric: CorpusQualityMetric, threads: int) -> list[dict]:
    """One row per item: score, parts, judge_ok, feedback and the document (a failed generation scores 0)."""
    return evaluate_rows(
        program, items, metric, threads,
        scored=lambda example, prediction, result: {
            "clause_id": example.clause_id, "document_type": example.document_type,
            "score": float(result.score), **{p: float(result[p]) for p in PARTS},
            "judge_ok": bool(result.judge_ok), "feedback": result.feedback,
            "document": str(getattr(prediction, "document", "") or "")[:2000]},
        failed=lambda example: {
            "clause_id": example.clause_id, "document_type": example.document_type, "score": 0.0,
            **{p: 0.0 for p in PARTS}, "judge_ok": False, "feedback": "generation failed", "document": ""})


def bootstrap_ci(values: np.ndarray, seed: int) -> tuple[float, float]:
    if len(values) == 0:
        return (float("nan"), float("nan"))
    rng = np.random.default_rng(seed)
    means = values[rng.integers(0, len(values), size=(BOOTSTRAP_RESAMPLES, len(values)))].mean(axis=1)
    return float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))


def compare(before: list[dict], after: list[dict], seed: int, *, judged: bool = True,
            parts: tuple[str, ...] = PARTS) -> list[dict]:
    """Per part: mean and 95% CI before and after, and the paired change (same valset items) with its CI;
    `judge_ok` (share of readable judgements) when there is a judge."""
    table = []
    for part in ("score", *parts, *(("judge_ok",) if judged else ())):
        b = np.array([float(r[part]) for r in before])
        a = np.array([float(r[part]) for r in after])
        table.append({"part": part, "before": round(float(b.mean()), 4), "before_ci": _round(bootstrap_ci(b, seed)),
                      "after": round(float(a.mean()), 4), "after_ci": _round(bootstrap_ci(a, seed)),
                      "change": round(float((a - b).mean()), 4), "change_ci": _round(bootstrap_ci(a - b, seed))})
    return table


def _round(pair: tuple[float, float]) -> list[float]:
    return [round(pair[0], 4), round(pair[1], 4)]


# ---- the optimizers ---------------------------------------------------------------------------------------
def run_optimizer(name: str, student: dspy.Module, train: list[dspy.Example], metric: CorpusQualityMetric, *,
                  budget: int, demos: int, threads: int, seed: int, task_lm: dspy.BaseLM,
                  reflection_lm: dspy.BaseLM | None, weak: bool, adapter: dspy.Adapter) -> dspy.Module:
    if name == "bootstrap":
        optimizer = dspy.BootstrapFewShot(metric=float_metric(metric), metric_threshold=DEMO_THRESHOLD,
                                          max_bootstrapped_demos=demos, max_labeled_demos=0, max_rounds=1,
                                          max_errors=len(train) + 1)
        return optimizer.compile(student, trainset=train[:budget])
    if name == "mipro":
        optimizer = dspy.MIPROv2(metric=float_metric(metric), prompt_model=reflection_lm, task_model=task_lm, auto=None,
                                 num_candidates=2 if weak else 6, max_bootstrapped_demos=demos, max_labeled_demos=0,
                                 num_threads=threads, seed=seed, verbose=False, track_stats=False,
                                 max_errors=10 * len(train) + 10)
        # MIPROv2 selects on the trainset: the held-out valset only measures. A weak prompt model cannot
        # summarize code or datasets, so the program- and data-aware proposers are off for it.
        return optimizer.compile(student, trainset=train, valset=train, num_trials=budget,
                                 minibatch=len(train) > 35, program_aware_proposer=not weak,
                                 data_aware_proposer=not weak)
    if name == "gepa":
        from dspy.teleprompt.gepa.instruction_proposal import InstructionProposer

        # GEPA's proposer parses with JSONAdapter unless told otherwise; a weak reflection LM answers in plain text
        optimizer = dspy.GEPA(metric=metric, max_metric_calls=budget, reflection_lm=reflection_lm,
                              instruction_proposer=InstructionProposer(adapter=adapter),
                              reflection_minibatch_size=min(3, len(train)), use_merge=False, num_threads=threads,
                              seed=seed, track_stats=False)
        return optimizer.compile(student, trainset=train, valset=train)
    raise BadInput(f"--optimizer {name!r}: choose from {', '.join(OPTIMIZERS)}")


def instructions_of(program: dspy.Module) -> dict[str, dict[str, Any]]:
    return {name: {"instructions": p.signature.instructions, "demos": len(p.demos)}
            for name, p in program.named_predictors()}


def save_program_atomic(program: dspy.Module, out: Path) -> None:
    """`Module.save` (DSPy's own file format) into a scratch file, then written into place atomically."""
    import tempfile

    from msm.atomic import write_bytes_atomic

    with tempfile.TemporaryDirectory() as scratch:
        saved = Path(scratch) / "program.json"
        program.save(str(saved))
        write_bytes_atomic(out, saved.read_bytes())


@contextlib.contextmanager
def no_straggler_resubmission() -> Any:
    """DSPy's ParallelExecutor (behind Evaluate and every optimizer) resubmits an item that runs past 120 s. An
    in-process model batches the calls of all threads, so on a busy CPU every call runs past it: the copy doubles
    the decoding work, and its thread outlives the optimizer (measured: the process could not exit for minutes
    after GEPA returned). A timeout of 0 turns resubmission off; restored on exit."""
    from dspy.utils.parallelizer import ParallelExecutor

    init = ParallelExecutor.__init__
    names = init.__code__.co_varnames[1:init.__code__.co_argcount]
    defaults = init.__defaults__ or ()
    index = names.index("timeout") - (len(names) - len(defaults))
    init.__defaults__ = defaults[:index] + (0,) + defaults[index + 1:]
    try:
        yield
    finally:
        init.__defaults__ = defaults


def lm_usage(history: list[dict], since: str) -> tuple[dict[str, dict[str, int]], float]:
    """Tokens per model and total cost of every LM call (task, judge, reflection, and the LM copies optimizers
    make) since `since`, from DSPy's global history — it keeps the last 10k calls, far more than these budgets."""
    tokens: dict[str, dict[str, int]] = {}
    cost = 0.0
    for entry in list(history):
        if str(entry.get("timestamp", "")) < since:
            continue
        usage = entry.get("usage") or {}
        per_model = tokens.setdefault(str(entry.get("model")), {"calls": 0, "prompt_tokens": 0, "completion_tokens": 0})
        per_model["calls"] += 1
        per_model["prompt_tokens"] += int(usage.get("prompt_tokens") or 0)
        per_model["completion_tokens"] += int(usage.get("completion_tokens") or 0)
        cost += float(entry.get("cost") or 0.0)
    return tokens, cost


def report_path(out: Path) -> Path:
    return out.with_name(out.stem + ".report.json")


# ---- the whole command ------------------------------------------------------------------------------------
def optimize(ws: Workspace, request: OptimizeRequest, log: Callable[[str], None] = lambda _m: None) -> dict[str, Any]:
    from dspy.clients.base_lm import GLOBAL_HISTORY

    from msm.atomic import write_json_atomic
    from msm.lm.backends import build_backend, companion_lm, is_local_name

    started = time.monotonic()
    started_at = utc_now()
    if request.optimizer not in OPTIMIZERS:
        raise BadInput(f"--optimizer {request.optimizer!r}: choose from {', '.join(OPTIMIZERS)}")
    if request.optimizer == "mipro":
        from msm.cli_support import require_extra

        require_extra("mipro", "--optimizer mipro", "optuna")  # MIPROv2 searches instruction/demo combinations with it
    if Path(request.out).suffix != ".json":
        raise BadInput(f"--out {request.out}: a program file must end in .json")
    spec = request.spec
    profile_name = resolve_profile("auto", local=is_local_name(request.lm, ws))
    weak = profile_name == "weak"
    settings = optimizer_settings(spec, profile_name, lm=request.lm, seed=request.seed, max_tokens=request.max_tokens)
    defaults = DEFAULTS[profile_name]
    n_train = request.n_train or defaults["n_train"]
    n_val = request.n_val or defaults["n_val"]
    threads = request.threads or defaults["threads"]
    budget = request.budget or defaults["budget"][request.optimizer]
    write_tokens = settings.max_tokens["write"]
    train_ids, val_ids = split_clauses(spec, request.train_clauses, request.seed)
    train = build_items(spec, train_ids, n_train, settings=settings, split="train")
    val = build_items(spec, val_ids, n_val, settings=settings, split="val")

    backend = build_backend(request.lm, ws=ws, api_base=request.api_base, max_tokens=write_tokens,
                            temperature=settings.temperature, batch_size=threads,
                            api_key=os.environ.get("MSM_API_KEY"))
    task_lm = backend.lm.copy(temperature=settings.temperature, max_tokens=write_tokens)

    def other_lm(name: str | None, max_tokens: int, temperature: float) -> tuple[dspy.BaseLM, bool]:
        return companion_lm(name, task=backend, task_name=request.lm, task_weak=weak, ws=ws, api_base=request.api_base,
                            batch_size=threads, max_tokens=max_tokens, temperature=temperature)

    judge_lm, judge_weak = (None, False)
    if request.judge_lm != "none":
        judge_max = DEFAULTS["weak" if is_local_name(request.judge_lm or request.lm, ws) else "strong"]["judge_max_tokens"]
        judge_lm, judge_weak = other_lm(request.judge_lm, judge_max, 0.0)
    reflection_lm = None
    if request.optimizer in ("mipro", "gepa"):
        refl_max = DEFAULTS["weak" if is_local_name(request.reflection_lm or request.lm, ws)
                            else "strong"]["reflection_max_tokens"]
        reflection_lm, _ = other_lm(request.reflection_lm, refl_max, 1.0)

    novelty = accepted_documents(ws, spec, request.novelty_runs)
    metric = CorpusQualityMetric(spec, judge_lm=judge_lm, judge_adapter=JudgeAdapter(plain_prompts=judge_weak),
                                 novelty=novelty,
                                 judge_max_tokens=judge_lm.kwargs.get("max_tokens", 64) if judge_lm else 64)
    adapter = LenientAdapter(plain_prompts=weak, prefill_as_turn=backend.local)
    log(f"optimize: {request.optimizer} · spec {spec.id} · lm {request.lm} ({profile_name}) · judge "
        f"{request.judge_lm or request.lm} · train clauses {','.join(train_ids)} ({len(train)} items) · val clauses "
        f"{','.join(val_ids)} ({len(val)} items) · budget {budget} · {len(novelty)} accepted documents for novelty")
    since = datetime.now().isoformat()  # DSPy stamps its history entries with naive local time
    # optimizers print progress to stdout; stdout is for the result (--json)
    local_executor = no_straggler_resubmission() if backend.local else contextlib.nullcontext()
    with contextlib.redirect_stdout(sys.stderr), local_executor, dspy.context(lm=task_lm, adapter=adapter):
        baseline = WriterStage(settings)
        log("optimize: measuring the unoptimized program on the valset")
        before = evaluate(baseline, val, metric, threads)
        log(f"optimize: running {request.optimizer}")
        optimized = run_optimizer(request.optimizer, WriterStage(settings), train, metric,
                                  budget=budget, demos=defaults["demos"], threads=threads, seed=request.seed,
                                  task_lm=task_lm, reflection_lm=reflection_lm, weak=weak, adapter=adapter)
        log("optimize: measuring the optimized program on the valset")
        after = evaluate(optimized, val, metric, threads)
    tokens, cost = lm_usage(GLOBAL_HISTORY, since)

    full = prog.SpecDocumentProgram()
    for name, predictor in optimized.named_predictors():
        setattr(full, name, predictor)
    out = Path(request.out)
    save_program_atomic(full, out)
    loaded_hash = prog.program_hash(prog.load_program(str(out)))
    report = {
        "schema_version": REPORT_SCHEMA_VERSION, "created_at": started_at.isoformat(),
        "program_file": str(out.resolve()), "program_hash": loaded_hash,
        "baseline_program_hash": prog.program_hash(prog.SpecDocumentProgram()),
        "spec_id": spec.id, "spec_hash": spec.content_hash, "optimizer": request.optimizer, "budget": budget,
        "lm": request.lm, "profile": profile_name, "judge_lm": None if judge_lm is None else (request.judge_lm or request.lm),
        "reflection_lm": (request.reflection_lm or request.lm) if reflection_lm is not None else None,
        "api_base": request.api_base, "seed": request.seed, "write_max_tokens": write_tokens,
        "train_clauses": train_ids, "val_clauses": val_ids, "n_train": len(train), "n_val": len(val),
        "accepted_documents_for_novelty": len(novelty),
        "table": compare(before, after, request.seed, judged=judge_lm is not None),
        "instructions": instructions_of(optimized),
        **usage_fields(tokens, metric.usage, cost),
        "seconds": round(time.monotonic() - started, 1),
        "valset": {"before": before, "after": after},
    }
    report["warnings"] = []
    if report["program_hash"] == report["baseline_program_hash"]:
        report["warnings"].append("the optimizer kept the unoptimized program (same hash): the before/after change is "
                                  "sampling noise of the LM, not a gain")
    if metric.usage.calls and metric.usage.failures * 2 > metric.usage.calls:
        report["warnings"].append(
            f"{metric.usage.failures} of {metric.usage.calls} judgements were unreadable and counted as failed: the "
            f"judge LM is too weak for this rubric; the judge parts carry no signal (use a stronger --judge-lm, or "
            f"--judge-lm none to score by the deterministic checks alone)")
    report["report_file"] = str(report_path(out).resolve())
    write_json_atomic(report_path(out), report)
    return report


def usage_fields(tokens: dict[str, dict], judge: JudgeUsage, cost: float) -> dict[str, Any]:
    """The token and cost fields of an optimization report (documents and chats alike): per model, the judge's
    own usage, and the totals."""
    return {"tokens": {"by_model": tokens, "judge": {"calls": judge.calls, "failed_judgements": judge.failures,
                                                     "prompt_tokens": judge.prompt_tokens,
                                                     "completion_tokens": judge.completion_tokens}},
            "prompt_tokens": sum(int(t.get("prompt_tokens") or 0) for t in tokens.values()),
            "completion_tokens": sum(int(t.get("completion_tokens") or 0) for t in tokens.values()),
            "cost_usd": round(cost, 6), "judge_cost_usd": round(judge.cost_usd, 6)}
