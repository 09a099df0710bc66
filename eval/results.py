"""The result of one eval run: a typed, versioned JSON summary (model + manifest, suite version + data hash,
settings, judge, metrics with CIs, item-level scores) and the same item rows as Parquet for analysis.

Both files are written atomically; the JSON is written last, so a result whose JSON exists is complete.
`compare` pairs two results item by item and reports the difference with a paired-bootstrap CI."""

from __future__ import annotations

import json
import re
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from msm.atomic import write_bytes_atomic, write_text_atomic
from msm.errors import BadInput
from msm.input_files import load_json_object
from msm.eval.stats import DEFAULT_RESAMPLES, bootstrap_mean, paired_bootstrap_difference

# 2 added `inspect_logs` and `usage`; 3 added the items' `clauses` and the `instrument` record; older files still
# load (the new fields default to empty)
RESULT_SCHEMA_VERSION = 3
READABLE_SCHEMA_VERSIONS = (1, 2, 3)
MAX_RESULT_BYTES = 200 * 1024 * 1024


class Metric(BaseModel):
    model_config = ConfigDict(extra="forbid")

    value: float | None
    ci_low: float | None = None
    ci_high: float | None = None
    n: int = Field(description="Units the CI resamples (items or scenarios).")
    description: str = ""


class ItemScore(BaseModel):
    """One item's outcome. `score` is the unit `compare` pairs on (for the suite's primary kinds); None means the
    item produced no usable score (e.g. every judge verdict failed to parse)."""

    model_config = ConfigDict(extra="forbid")

    item_id: str
    kind: str
    group: str = Field(description="Domain, cell or spec the item reports under.")
    score: float | None
    details: dict[str, Any] = Field(default_factory=dict)
    clauses: list[str] = Field(default_factory=list, description="The spec clause ids the item probes (its tags).")


class EvalResult(BaseModel):
    model_config = ConfigDict(extra="forbid")

    schema_version: int = RESULT_SCHEMA_VERSION
    run_id: str
    created_at: datetime
    msm_version: str
    suite: str
    suite_version: str
    data_files: dict[str, str] = Field(description="{shipped or given file name: sha256}")
    model: dict[str, Any] = Field(description="{name, source, location} as resolved")
    model_manifest: dict[str, Any] | None = Field(description="models/<name>/manifest.json when the model has one")
    settings: dict[str, Any]
    judge: dict[str, Any] | None = None
    primary_metric: str
    primary_kinds: list[str] = Field(description="Item kinds whose `score` the primary metric and compare use.")
    metrics: dict[str, Metric]
    items: list[ItemScore]
    duration_s: float
    usage: dict[str, Any] | None = Field(default=None, description="Tokens the model under evaluation spent generating.")
    inspect_logs: list[str] = Field(default_factory=list,
                                    description="Inspect EvalLog files of this result, beside the JSON (`inspect view`).")
    instrument: dict[str, Any] | None = Field(
        default=None, description="Choice suites: the scorer used, its format-control validity numbers and the verdict "
                                  "(msm.eval.instrument); None for other suites and older results.")


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-.")[:60] or "model"


def write_result(result: EvalResult, out_dir: Path) -> Path:
    """<out_dir>/<run_id>.items.parquet, then <out_dir>/<run_id>.json; returns the JSON path. The Inspect logs the
    result names are written before this, so a JSON that exists points at logs that exist."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    table = pa.table({
        "item_id": [i.item_id for i in result.items],
        "kind": [i.kind for i in result.items],
        "group": [i.group for i in result.items],
        "score": pa.array([i.score for i in result.items], type=pa.float64()),
        "details_json": [json.dumps(i.details, sort_keys=True, ensure_ascii=False) for i in result.items],
        "clauses": pa.array([list(i.clauses) for i in result.items], type=pa.list_(pa.string())),
    })
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink)
    write_bytes_atomic(out_dir / f"{result.run_id}.items.parquet", sink.getvalue().to_pybytes())
    path = out_dir / f"{result.run_id}.json"
    write_text_atomic(path, result.model_dump_json(indent=2) + "\n")
    return path


def load_result(path: Path) -> EvalResult:
    path = Path(path)
    data = load_json_object(path, what="result", max_bytes=MAX_RESULT_BYTES)
    if data.get("schema_version") not in READABLE_SCHEMA_VERSIONS:
        raise BadInput(f"{path}: schema_version: {data.get('schema_version')!r} (this msm reads "
                       f"{', '.join(map(str, READABLE_SCHEMA_VERSIONS))})")
    try:
        return EvalResult.model_validate(data)
    except ValidationError as exc:
        error = exc.errors()[0]
        raise BadInput(f"{path}: {'.'.join(str(p) for p in error['loc'])}: {error['msg']}") from None


def primary_scores(result: EvalResult) -> dict[str, float]:
    return {i.item_id: i.score for i in result.items if i.kind in result.primary_kinds and i.score is not None}


class Comparison(BaseModel):
    model_config = ConfigDict(extra="forbid")

    suite: str
    metric: str
    baseline: str
    condition: str
    n_paired: int
    baseline_mean: float
    condition_mean: float
    difference: Metric
    measurable: bool = Field(default=True, description="False when either result's scorer does not discriminate on "
                                                        "its model: the difference is then not a measurement.")
    scorer: str | None = None
    instrument_note: str | None = None


def compare_results(baseline: EvalResult, condition: EvalResult, *, seed: int = 0,
                    resamples: int = DEFAULT_RESAMPLES) -> Comparison:
    """condition − baseline on the items both scored, with a paired-bootstrap 95% CI."""
    if baseline.suite != condition.suite:
        raise BadInput(f"cannot compare suite {baseline.suite!r} with suite {condition.suite!r}")
    first, second = primary_scores(baseline), primary_scores(condition)
    shared = sorted(set(first) & set(second))
    if not shared:
        raise BadInput(f"{baseline.run_id} and {condition.run_id} share no scored items")
    scorers = [(r.instrument or {}).get("scorer") for r in (baseline, condition)]
    if scorers[0] != scorers[1] and None not in scorers:
        raise BadInput(f"{baseline.run_id} was scored with {scorers[0]!r} and {condition.run_id} with {scorers[1]!r}; "
                       "compare results of one scorer (pass the same --scorer to both evals)")
    a = [first[i] for i in shared]
    b = [second[i] for i in shared]
    diff = paired_bootstrap_difference(a, b, seed=seed, resamples=resamples)
    from msm.eval.instrument import NOT_MEASURABLE, measurable

    blind = [r for r in (baseline, condition) if not measurable(r.instrument)]
    note = None
    if blind:
        note = (f"{NOT_MEASURABLE} ({scorers[0] or scorers[1]}): the instrument does not discriminate on "
                + " and ".join(sorted({r.model['name'] for r in blind})))
    return Comparison(suite=baseline.suite, metric=baseline.primary_metric, baseline=baseline.run_id,
                      condition=condition.run_id, n_paired=len(shared), baseline_mean=bootstrap_mean(a).value,
                      condition_mean=bootstrap_mean(b).value,
                      difference=Metric(value=diff.value, ci_low=diff.ci_low, ci_high=diff.ci_high, n=diff.n,
                                        description="condition minus baseline, paired bootstrap 95% CI"),
                      measurable=not blind, scorer=scorers[0] or scorers[1], instrument_note=note)


class ClauseComparison(BaseModel):
    model_config = ConfigDict(extra="forbid")

    clause: str
    n_paired: int
    baseline_mean: float | None
    condition_mean: float | None
    difference: Metric


def compare_by_clause(baseline: EvalResult, condition: EvalResult, *, seed: int = 0,
                      resamples: int = DEFAULT_RESAMPLES) -> list[ClauseComparison]:
    """condition − baseline per clause, on the shared scored items that name that clause (an item naming two
    clauses counts for both); items naming none are grouped under `(none)`."""
    if baseline.suite != condition.suite:
        raise BadInput(f"cannot compare suite {baseline.suite!r} with suite {condition.suite!r}")
    first, second = primary_scores(baseline), primary_scores(condition)
    clauses_of = {i.item_id: (i.clauses or ["(none)"]) for i in baseline.items}
    for item in condition.items:
        clauses_of.setdefault(item.item_id, item.clauses or ["(none)"])
    by_clause: dict[str, list[str]] = {}
    for item_id in sorted(set(first) & set(second)):
        for clause in clauses_of.get(item_id, ["(none)"]):
            by_clause.setdefault(clause, []).append(item_id)
    out = []
    for clause, ids in sorted(by_clause.items()):
        a, b = [first[i] for i in ids], [second[i] for i in ids]
        diff = paired_bootstrap_difference(a, b, seed=seed, resamples=resamples)
        out.append(ClauseComparison(clause=clause, n_paired=len(ids), baseline_mean=bootstrap_mean(a).value,
                                    condition_mean=bootstrap_mean(b).value,
                                    difference=Metric(value=diff.value, ci_low=diff.ci_low, ci_high=diff.ci_high,
                                                      n=diff.n, description="condition minus baseline on this "
                                                                            "clause's items, paired bootstrap 95% CI")))
    return out
