"""Every msm eval result as an Inspect `EvalLog` beside its JSON, so `inspect view --log-dir DIR` lists and opens
it with the tools the field already uses. The log carries the same numbers as the JSON: one sample per item (its
prompt, the option or action the suite counts as target, its score and details), and the suite's metrics with
their bootstrap CIs as metric metadata. Suites that run through Inspect already have Inspect's own logs; these are
for the suites msm scores itself.

Inspect lists any `*.eval` file in a log directory whatever its name, so `<run_id>.eval` sits next to
`<run_id>.json`; msm's own `.json` files are not mistaken for logs (Inspect lists a `.json` only when its name starts
with a timestamp)."""

from __future__ import annotations

import hashlib
from datetime import timedelta
from pathlib import Path

from msm.eval.results import EvalResult

SCORER = "msm"


def _iso(result: EvalResult, offset_s: float = 0.0) -> str:
    return (result.created_at - timedelta(seconds=result.duration_s) + timedelta(seconds=offset_s)).isoformat() + "+00:00"


def _first_answer(details: dict) -> str | None:
    samples = details.get("samples")
    if isinstance(samples, list) and samples and isinstance(samples[0], dict):
        text = samples[0].get("answer", samples[0].get("response"))
        return text if isinstance(text, str) else None
    return None


def eval_log(result: EvalResult, sample_text: dict[str, tuple[str, str]]):
    """The EvalLog of a result. `sample_text` maps item id to (input, target) text; items without one show their id."""
    from inspect_ai.log import (EvalConfig, EvalDataset, EvalLog, EvalMetric, EvalResults, EvalSample, EvalScore,
                                EvalSpec, EvalStats)
    from inspect_ai.model import ChatMessageAssistant, ChatMessageUser, ModelOutput, ModelUsage
    from inspect_ai.scorer import Score

    model = f"msm/{result.model['name']}"
    samples = []
    for item in result.items:
        text, target = sample_text.get(item.item_id, (f"{item.kind} item {item.item_id} ({item.group})", ""))
        answer = _first_answer(item.details)
        messages = [ChatMessageUser(content=text)]
        if answer is not None:
            messages.append(ChatMessageAssistant(content=answer, model=model))
        samples.append(EvalSample(
            id=item.item_id, epoch=1, input=text, target=target, messages=messages,
            output=ModelOutput.from_content(model, answer) if answer is not None else ModelOutput(model=model),
            scores=None if item.score is None else {result.suite: Score(value=item.score, metadata=item.details)},
            metadata={"kind": item.kind, "group": item.group, "scored": item.score is not None}))
    metrics = {name: EvalMetric(name=name, value=m.value,
                                metadata={"ci_low": m.ci_low, "ci_high": m.ci_high, "n": m.n,
                                          "description": m.description})
               for name, m in result.metrics.items() if m.value is not None}
    scored = sum(item.score is not None for item in result.items)
    usage = {}
    if result.usage and result.usage.get("completion_tokens") is not None:
        prompt, completion = int(result.usage.get("prompt_tokens", 0)), int(result.usage["completion_tokens"])
        usage[model] = ModelUsage(input_tokens=prompt, output_tokens=completion, total_tokens=prompt + completion)
    eval_id = hashlib.sha256(result.run_id.encode()).hexdigest()[:22]
    spec = EvalSpec(
        eval_id=eval_id, run_id=result.run_id, created=_iso(result), task=f"msm/{result.suite}", task_id=eval_id,
        task_version=result.suite_version, task_args=result.settings,
        dataset=EvalDataset(name=", ".join(result.data_files), samples=len(result.items),
                            sample_ids=[item.item_id for item in result.items]),
        model=model, config=EvalConfig(epochs=1), packages={"msm": result.msm_version},
        metadata={"msm_result": f"{result.run_id}.json", "primary_metric": result.primary_metric,
                  "primary_kinds": result.primary_kinds, "model": result.model, "judge": result.judge,
                  "data_files": result.data_files, "instrument": result.instrument})
    return EvalLog(
        status="success", eval=spec,
        results=EvalResults(total_samples=len(result.items), completed_samples=len(result.items), scores=[
            EvalScore(name=result.suite, scorer=SCORER, scored_samples=scored,
                      unscored_samples=len(result.items) - scored, metrics=metrics)]),
        stats=EvalStats(started_at=_iso(result), completed_at=_iso(result, result.duration_s), model_usage=usage),
        samples=samples)


def write_eval_log(result: EvalResult, out_dir: Path, sample_text: dict[str, tuple[str, str]]) -> Path:
    """<out_dir>/<run_id>.eval (Inspect's zip log format), written to a temporary name and renamed."""
    from inspect_ai.log import write_eval_log as inspect_write

    out_dir = Path(out_dir)
    path = out_dir / f"{result.run_id}.eval"
    partial = out_dir / f".{result.run_id}.eval.partial"
    inspect_write(eval_log(result, sample_text), str(partial), format="eval")
    partial.replace(path)
    return path
