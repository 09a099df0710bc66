"""`msm optimize --program-kind aft`: tune the chat writer's prompts (question writer, reasoner, answerer) with a
DSPy optimizer against a chat-quality metric, and measure the gain on clauses the optimizer never saw.

    items    one per (clause, conversation area, question type) cell, areas from the walk's fallback list and types
             in the walk's cell order, so no LM brainstorm is needed; clauses split as `msm optimize` splits them
    student  `ChatStage`: the predictors a run's chats come from — questions, the style's reasoner, the answerer.
             The judge is the run's filter and is never tuned: a metric that rewards INCLUDE would teach it to agree
    metric   `ChatQualityMetric`: judge INCLUDE (an LM judge with the run's JudgeChat signature, after the run's
             deterministic checks) and question diversity (the share of usable messages, times one minus the
             highest MinHash Jaccard between two of them) — score = 0.6 include + 0.4 diversity
    write    the whole SpecChatProgram (optimized predictors + the untouched domains and judge predictors) for
             `msm aft generate --program FILE`, and FILE.report.json beside it

Profiles, settings and spec context are the ones `msm aft generate` uses (`aft.settings`, `aft.walk`), so the tuned
prompts are the prompts a run sends.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from dataclasses import dataclass
from datetime import datetime
from itertools import combinations
from pathlib import Path
from typing import Any, Callable

import dspy
from dspy.utils.exceptions import AdapterParseError

from msm.corpus.aft import checks
from msm.corpus.aft.program import SpecChatProgram, load_program, program_hash
from msm.corpus.aft.questions import NearDuplicateFilter
from msm.corpus.aft.settings import QUESTION_TYPES, STYLES, ChatSettings
from msm.corpus.aft.signatures import STYLE_REQUIREMENTS
from msm.corpus.aft.walk import FALLBACK_DOMAINS, cell_of, spec_context
from msm.lm.lenient_adapter import LenientAdapter
from msm.corpus.generate.planning import clause_text
from msm.corpus.generate.settings import resolve_profile
from msm.corpus.optimize.metric import JudgeUsage  # one usage record for every judged metric
from msm.corpus.optimize.optimizer import (DEFAULTS, usage_fields, OPTIMIZERS, REPORT_SCHEMA_VERSION, compare, evaluate_rows,
                                           instructions_of, lm_usage, no_straggler_resubmission, report_path, run_optimizer,
                                           save_program_atomic, split_clauses)
from msm.errors import BadInput
from msm.spec import Spec
from msm.workspace import Workspace, utc_now

PARTS = ("include", "diversity")
WEIGHTS = {"include": 0.6, "diversity": 0.4}


class ChatStage(SpecChatProgram):
    """The part of the chat writer an optimizer tunes: questions, the style's reasoner and the answerer."""

    def __init__(self, style: str):
        dspy.Module.__init__(self)  # not SpecChatProgram.__init__: no domains or judge predictors to tune
        full = SpecChatProgram()
        self.questions = full.questions
        if style != "opaque":
            setattr(self, f"reason_{style}", full.reasoner(style))
        setattr(self, "answer_opaque" if style == "opaque" else "answer", full.answerer(style))

    def reasoner(self, style: str) -> dspy.Predict | None:
        return getattr(self, f"reason_{style}", None)

    def answerer(self, style: str) -> dspy.Predict:
        return getattr(self, "answer_opaque" if style == "opaque" else "answer")


class ChatQualityMetric:
    """metric(example, prediction, trace=None, pred_name=None, pred_trace=None) -> dspy.Prediction(score, feedback,
    include, diversity, judge_ok). An unreadable or failed judgement counts as EXCLUDE, never as INCLUDE."""

    def __init__(self, spec: Spec, settings: ChatSettings, *, judge_lm: dspy.BaseLM, judge_adapter: dspy.Adapter,
                 judge_max_tokens: int):
        self.spec = spec
        self.settings = settings
        self.style = settings.style
        self.judge_lm = judge_lm
        self.judge_adapter = judge_adapter
        self.judge_max_tokens = judge_max_tokens
        self.judge_program = SpecChatProgram().judge  # the run's judge, with its worked verdicts
        self.usage = JudgeUsage()
        self.filter_threshold = settings.dedup_threshold

    def judge(self, model_spec: str, question: str, reasoning: str, answer: str) -> tuple[tuple[str, str] | None,
                                                                                          str | None]:
        lm = self.judge_lm.copy(temperature=self.settings.judge_temperature, max_tokens=self.judge_max_tokens)
        verdict, error = None, None
        try:
            with dspy.context(lm=lm, adapter=self.judge_adapter, trace=None):  # the judge is not part of the trace
                out = self.judge_program(model_spec=model_spec, style_requirement=STYLE_REQUIREMENTS[self.style],
                                         question=question, reasoning=reasoning, answer=answer)
            verdict = checks.parse_verdict(str(out.verdict or ""))
            error = None if verdict else "unreadable verdict"
        except AdapterParseError:
            error = "unreadable verdict"
        except Exception as exc:  # provider errors: no judgement is a failed judgement
            error = f"judge call failed ({type(exc).__name__})"
        with self.usage.lock:
            self.usage.calls += 1
            self.usage.failures += verdict is None
            for entry in lm.history:
                usage = entry.get("usage") or {}
                self.usage.prompt_tokens += int(usage.get("prompt_tokens") or 0)
                self.usage.completion_tokens += int(usage.get("completion_tokens") or 0)
                self.usage.cost_usd += float(entry.get("cost") or 0.0)
        return verdict, error

    def diversity(self, questions: list[str], clause_id: str) -> tuple[float, list[str]]:
        """Share of usable messages x (1 - the highest pairwise MinHash Jaccard among them), and what was wrong."""
        texts = [checks.clean_question(q) for q in questions]
        usable = [t for t in texts if checks.question_problem(t, self.spec, clause_id) is None]
        notes = [f"message unusable ({checks.question_problem(t, self.spec, clause_id)}): {t[:80]!r}"
                 for t in texts if t not in usable]
        if not usable:
            return 0.0, notes or ["no user messages were written"]
        compute = NearDuplicateFilter(self.filter_threshold).compute
        _, signatures = compute(usable)
        closest = max((float((signatures[a] == signatures[b]).mean()) for a, b in combinations(range(len(usable)), 2)),
                      default=0.0)
        if closest >= self.filter_threshold:
            notes.append(f"two messages are near-duplicates (MinHash Jaccard {closest:.2f})")
        return len(usable) / max(len(texts), 1) * (1.0 - closest), notes

    def __call__(self, gold: dspy.Example, pred: Any, trace: Any = None, pred_name: str | None = None,
                 pred_trace: Any = None) -> dspy.Prediction:
        questions = [str(q) for q in (getattr(pred, "questions", None) or [])] if pred is not None else []
        diversity, notes = self.diversity(questions, gold.clause_id)
        question = checks.clean_question(str(getattr(pred, "question", "") or "")) if pred is not None else ""
        reasoning = str(getattr(pred, "reasoning", "") or "").strip() if pred is not None else ""
        answer = str(getattr(pred, "answer", "") or "").strip() if pred is not None else ""
        problem = ("no user message" if not question else
                   (checks.reasoning_problem(reasoning, self.style) if self.style != "opaque" else None)
                   or checks.answer_problem(answer, self.style))
        include, judge_ok = 0.0, False
        if problem:
            notes.insert(0, f"the chat fails a check before the judge: {problem}")
        else:
            verdict, error = self.judge(gold.model_spec, question, reasoning, answer)
            judge_ok = verdict is not None
            if verdict is None:
                notes.insert(0, f"{error}: counted as EXCLUDE")
            elif verdict[0] == "INCLUDE":
                include = 1.0
            else:
                notes.insert(0, f"the judge EXCLUDEs the chat: {verdict[1]}")
        score = WEIGHTS["include"] * include + WEIGHTS["diversity"] * diversity
        feedback = (f"Score {score:.2f} (include {include:.0f}, diversity {diversity:.2f}). "
                    + ("Problems: " + "; ".join(notes) + "." if notes else "No problems found."))
        return dspy.Prediction(score=round(score, 6), feedback=feedback, include=include,
                               diversity=round(diversity, 6), judge_ok=judge_ok)


def build_items(spec: Spec, settings: ChatSettings, clause_ids: list[str], n: int) -> list[dspy.Example]:
    """`n` cells spread round-robin over `clause_ids`, with the inputs a run sends for them."""
    items = []
    for k in range(n):
        clause = spec.clause(clause_ids[k % len(clause_ids)])
        d, qtype = cell_of(settings, clause.id, k // len(clause_ids), len(FALLBACK_DOMAINS))
        fields = dict(clause=clause_text(spec, clause), domain=FALLBACK_DOMAINS[d],
                      question_type=f"{qtype}: {QUESTION_TYPES[qtype]}", count=settings.questions_per_ask,
                      model_spec=spec_context(spec, settings, clause), style=settings.style)
        items.append(dspy.Example(**fields, clause_id=clause.id).with_inputs(*fields))
    return items


def evaluate(program: dspy.Module, items: list[dspy.Example], metric: ChatQualityMetric, threads: int) -> list[dict]:
    return evaluate_rows(
        program, items, metric, threads,
        scored=lambda example, prediction, result: {
            "clause_id": example.clause_id, "question_type": example.question_type.split(":")[0],
            "score": float(result.score), "include": float(result.include),
            "diversity": float(result.diversity), "judge_ok": bool(result.judge_ok),
            "feedback": result.feedback, "question": str(getattr(prediction, "question", ""))[:400],
            "answer": str(getattr(prediction, "answer", ""))[:1000]},
        failed=lambda example: {
            "clause_id": example.clause_id, "question_type": example.question_type.split(":")[0],
            "score": 0.0, "include": 0.0, "diversity": 0.0, "judge_ok": False,
            "feedback": "generation failed", "question": "", "answer": ""})


@dataclass
class AftOptimizeRequest:
    spec: Spec
    out: Path
    style: str = "value"
    optimizer: str = "bootstrap"
    lm: str = "local:smollm2-135m"
    judge_lm: str | None = None
    reflection_lm: str | None = None
    api_base: str | None = None
    train_clauses: list[str] | None = None
    budget: int | None = None
    n_train: int | None = None
    n_val: int | None = None
    threads: int | None = None
    seed: int = 0


def optimize_chats(ws: Workspace, request: AftOptimizeRequest, log: Callable[[str], None] = lambda _m: None
                   ) -> dict[str, Any]:
    from dspy.clients.base_lm import GLOBAL_HISTORY

    from msm.atomic import write_json_atomic
    from msm.lm.backends import build_backend, companion_lm, is_local_name

    started, started_at = time.monotonic(), utc_now()
    if request.optimizer not in OPTIMIZERS:
        raise BadInput(f"--optimizer {request.optimizer!r}: choose from {', '.join(OPTIMIZERS)}")
    if request.style not in STYLES:
        raise BadInput(f"--style {request.style!r}: choose from {', '.join(STYLES)}")
    if request.judge_lm == "none":
        raise BadInput("--judge-lm none: the chat metric needs a judge (its INCLUDE rate is half the score)")
    if Path(request.out).suffix != ".json":
        raise BadInput(f"--out {request.out}: a program file must end in .json")
    spec = request.spec
    profile = resolve_profile("auto", local=is_local_name(request.lm, ws))
    weak = profile == "weak"
    settings = ChatSettings.for_profile(profile, spec_id=spec.id, spec_hash=spec.content_hash, lm=request.lm,
                                        n_chats=1, seed=request.seed, program_hash=program_hash(SpecChatProgram()),
                                        style=request.style)
    defaults = DEFAULTS[profile]
    n_train, n_val = request.n_train or defaults["n_train"], request.n_val or defaults["n_val"]
    threads = request.threads or defaults["threads"]
    budget = request.budget or defaults["budget"][request.optimizer]
    train_ids, val_ids = split_clauses(spec, request.train_clauses, request.seed)
    train = build_items(spec, settings, train_ids, n_train)
    val = build_items(spec, settings, val_ids, n_val)

    backend = build_backend(request.lm, ws=ws, api_base=request.api_base, max_tokens=settings.max_tokens["answer"],
                            temperature=settings.temperature, batch_size=threads, api_key=os.environ.get("MSM_API_KEY"),
                            frequency_penalty=settings.frequency_penalty)
    task_lm = backend.lm.copy(temperature=settings.temperature, max_tokens=max(settings.max_tokens.values()))

    def other_lm(name: str | None, max_tokens: int, temperature: float) -> tuple[dspy.BaseLM, bool]:
        return companion_lm(name, task=backend, task_name=request.lm, task_weak=weak, ws=ws, api_base=request.api_base,
                            batch_size=threads, max_tokens=max_tokens, temperature=temperature)

    judge_max = settings.max_tokens["judge"]
    judge_lm, judge_weak = other_lm(request.judge_lm, judge_max, settings.judge_temperature)
    reflection_lm = None
    if request.optimizer in ("mipro", "gepa"):
        refl_max = DEFAULTS["weak" if is_local_name(request.reflection_lm or request.lm, ws)
                            else "strong"]["reflection_max_tokens"]
        reflection_lm, _ = other_lm(request.reflection_lm, refl_max, 1.0)
    metric = ChatQualityMetric(spec, settings, judge_lm=judge_lm, judge_adapter=LenientAdapter(plain_prompts=judge_weak),
                               judge_max_tokens=judge_max)
    adapter = LenientAdapter(plain_prompts=weak, prefill_as_turn=backend.local)
    log(f"optimize: chat program · {request.optimizer} · spec {spec.id} · style {request.style} · lm {request.lm} "
        f"({profile}) · judge {request.judge_lm or request.lm} · train clauses {','.join(train_ids)} ({len(train)} "
        f"cells) · val clauses {','.join(val_ids)} ({len(val)} cells) · budget {budget}")
    since = datetime.now().isoformat()
    local_executor = no_straggler_resubmission() if backend.local else contextlib.nullcontext()
    with contextlib.redirect_stdout(sys.stderr), local_executor, dspy.context(lm=task_lm, adapter=adapter):
        log("optimize: measuring the unoptimized chat program on the valset")
        before = evaluate(ChatStage(request.style), val, metric, threads)
        log(f"optimize: running {request.optimizer}")
        optimized = run_optimizer(request.optimizer, ChatStage(request.style), train, metric, budget=budget,
                                  demos=defaults["demos"], threads=threads, seed=request.seed, task_lm=task_lm,
                                  reflection_lm=reflection_lm, weak=weak, adapter=adapter)
        log("optimize: measuring the optimized chat program on the valset")
        after = evaluate(optimized, val, metric, threads)
    tokens, cost = lm_usage(GLOBAL_HISTORY, since)

    full = SpecChatProgram()
    for name, predictor in optimized.named_predictors():
        setattr(full, name, predictor)
    out = Path(request.out)
    save_program_atomic(full, out)
    loaded_hash = program_hash(load_program(str(out)))
    report = {
        "schema_version": REPORT_SCHEMA_VERSION, "program_kind": "aft", "created_at": started_at.isoformat(),
        "program_file": str(out.resolve()), "program_hash": loaded_hash,
        "baseline_program_hash": program_hash(SpecChatProgram()), "spec_id": spec.id, "spec_hash": spec.content_hash,
        "style": request.style, "optimizer": request.optimizer, "budget": budget, "lm": request.lm, "profile": profile,
        "judge_lm": request.judge_lm or request.lm,
        "reflection_lm": (request.reflection_lm or request.lm) if reflection_lm is not None else None,
        "api_base": request.api_base, "seed": request.seed, "train_clauses": train_ids, "val_clauses": val_ids,
        "n_train": len(train), "n_val": len(val),
        "table": compare(before, after, request.seed, parts=PARTS),
        "instructions": instructions_of(optimized),
        **usage_fields(tokens, metric.usage, cost),
        "seconds": round(time.monotonic() - started, 1), "valset": {"before": before, "after": after},
        "warnings": [],
    }
    if report["program_hash"] == report["baseline_program_hash"]:
        report["warnings"].append("the optimizer kept the unoptimized program (same hash): the before/after change is "
                                  "sampling noise of the LM, not a gain")
    if metric.usage.calls and metric.usage.failures * 2 > metric.usage.calls:
        report["warnings"].append(f"{metric.usage.failures} of {metric.usage.calls} verdicts were unreadable and "
                                  f"counted as EXCLUDE: the judge LM is too weak; use a stronger --judge-lm")
    report["report_file"] = str(report_path(out).resolve())
    write_json_atomic(report_path(out), report)
    return report

