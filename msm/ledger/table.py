"""The ledger rows: per spec clause, what the corpus, curation, review and the model made of it.

For one *subject* — an experiment condition (replicate) or a model — and each spec it was midtrained on:

    documents, tokens      in the snapshot the model was trained on (whitespace tokens, as the manifest counts them),
                           split by the spec version (hash) each document was written from, and how many were reused
    curation_dropped       documents of the clause in the source runs that the current curation dropped
    review                 accepted / (accepted + rejected) among the clause's reviewed documents
    knowledge_before/after spec_knowledge on the clause's items (its rule and its rationale question) for the base
                           model and the midtrained model: accuracy with a bootstrap CI, and the mean probability of the
                           right option; from results the experiment has, or measured by `msm ledger --measure`
    behaviour              per eval suite, the mean score of the items that name the clause (`clauses: [...]`)
    change                 per suite, this subject minus the compared condition on those items (paired bootstrap CI)

A clause with no documents or no probing items keeps its row, with the gap named in `notes`.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, Field

from msm.spec import Spec
from msm.workspace import Workspace

LEDGER_SCHEMA_VERSION = 1
KNOWLEDGE_SUITE = "spec_knowledge"
NOT_BEHAVIOUR = (KNOWLEDGE_SUITE, "regression")


class Estimate(BaseModel):
    value: float | None
    ci_low: float | None = None
    ci_high: float | None = None
    n: int = 0
    p_correct: float | None = None  # knowledge only: mean probability of the right option


class ClauseRow(BaseModel):
    clause_id: str
    clause_hash: str
    documents: int = 0
    tokens: int = 0
    spec_versions: dict[str, int] = Field(default_factory=dict, description="spec hash -> documents in the snapshot")
    reused: int = 0
    generated: int = 0  # documents of this clause in the source runs, before curation
    curation_dropped: int = 0
    reviewed: int = 0
    accepted: int = 0
    acceptance: float | None = None
    knowledge_before: Estimate | None = None
    knowledge_after: Estimate | None = None
    behaviour: dict[str, Estimate] = Field(default_factory=dict)
    change: dict[str, Estimate] = Field(default_factory=dict)
    notes: list[str] = Field(default_factory=list)


class Ledger(BaseModel):
    subject: str
    spec_id: str
    spec_hash: str
    snapshot: str | None
    runs: list[str]
    base_model: str | None
    midtrained_model: str | None
    evaluated_model: str | None
    compared_with: str | None = None
    rows: list[ClauseRow]


class LedgerFile(BaseModel):
    schema_version: int = LEDGER_SCHEMA_VERSION
    source: str
    kind: str  # experiment | model
    ledgers: list[Ledger]


def _clean(x: float | None) -> float | None:
    return None if x is None or x != x else float(x)


def estimate(values: list[float], p_correct: list[float] | None = None, seed: int = 0) -> Estimate | None:
    from msm.eval.stats import bootstrap_mean

    if not values:
        return None
    e = bootstrap_mean(values, seed=seed)
    return Estimate(value=_clean(e.value), ci_low=_clean(e.ci_low), ci_high=_clean(e.ci_high), n=e.n,
                    p_correct=_clean(sum(p_correct) / len(p_correct)) if p_correct else None)


# ---- corpus side ------------------------------------------------------------------------------------------------
def snapshot_counts(ws: Workspace, snapshot: str, spec_id: str) -> dict[str, dict[str, Any]]:
    import pyarrow.parquet as pq

    path = ws.snapshot_dir(snapshot) / "documents.parquet"
    if not path.exists():
        return {}
    table = pq.read_table(path)
    n = table.num_rows

    def column(name: str) -> list:  # snapshots from before a column existed lack it
        return table.column(name).to_pylist() if name in table.column_names else [None] * n

    out: dict[str, dict[str, Any]] = {}
    for clause, sid, shash, text, metadata in zip(*(column(c) for c in ("clause_id", "spec_id", "spec_hash", "text",
                                                                        "metadata"))):
        if sid != spec_id or clause is None:
            continue
        meta = json.loads(metadata) if isinstance(metadata, str) else (metadata or {})
        row = out.setdefault(clause, {"documents": 0, "tokens": 0, "spec_versions": {}, "reused": 0})
        row["documents"] += 1
        row["tokens"] += len(str(text).split())
        row["spec_versions"][shash or ""] = row["spec_versions"].get(shash or "", 0) + 1
        row["reused"] += bool(meta.get("reused_from"))
    return out


def run_counts(ws: Workspace, runs: list[str], spec_id: str) -> dict[str, dict[str, int]]:
    """Per clause over the source runs: documents generated, dropped by the current curation, reviewed, accepted."""
    import pyarrow.parquet as pq

    from msm.corpus.curate.store import current_curation_dir
    from msm.corpus.exporter import review_states
    from msm.corpus.run_store import RunStore

    out: dict[str, dict[str, int]] = {}
    for run in runs:
        store = RunStore(ws, run)
        if not store.exists():
            continue
        clause_of = {d.doc_id: d.clause_id for d in store.documents() if d.spec_id == spec_id and d.clause_id}
        for clause in clause_of.values():
            out.setdefault(clause, {"generated": 0, "curation_dropped": 0, "reviewed": 0, "accepted": 0})
            out[clause]["generated"] += 1
        curation = current_curation_dir(ws, run)
        if curation is not None and (curation / "marks.parquet").exists():
            marks = pq.read_table(curation / "marks.parquet", columns=["doc_id", "kept"])
            for doc_id, kept in zip(marks.column("doc_id").to_pylist(), marks.column("kept").to_pylist()):
                if not kept and doc_id in clause_of:
                    out[clause_of[doc_id]]["curation_dropped"] += 1
        states = review_states(ws, run)
        for doc_id, status in zip(states.column("doc_id").to_pylist(), states.column("review_status").to_pylist()):
            if doc_id in clause_of and status in ("accepted", "rejected"):
                out[clause_of[doc_id]]["reviewed"] += 1
                out[clause_of[doc_id]]["accepted"] += status == "accepted"
    return out


# ---- model side -------------------------------------------------------------------------------------------------
def knowledge_by_clause(result, spec: Spec) -> dict[str, Estimate]:
    per: dict[str, tuple[list[float], list[float]]] = {}
    for item in result.items:
        if item.group != spec.id or item.score is None:
            continue
        clauses = item.clauses or [_clause_from_id(item.item_id, spec)]
        for clause in clauses:
            if clause:
                scores, probs = per.setdefault(clause, ([], []))
                scores.append(item.score)
                if isinstance(item.details.get("p_correct"), (int, float)):
                    probs.append(float(item.details["p_correct"]))
    return {c: estimate(s, p) for c, (s, p) in per.items() if s}


def _clause_from_id(item_id: str, spec: Spec) -> str | None:
    """spec_knowledge results written before items carried clauses: `sk-<spec>-<clause>-<rule|rationale>`."""
    prefix = f"sk-{spec.id}-"
    if not item_id.startswith(prefix):
        return None
    middle = item_id[len(prefix):].rsplit("-", 1)[0]
    return middle if middle in spec.clause_hashes() else None


def behaviour_by_clause(result) -> dict[str, Estimate]:
    per: dict[str, list[float]] = {}
    for item in result.items:
        if item.kind in result.primary_kinds and item.score is not None:
            for clause in item.clauses:
                per.setdefault(clause, []).append(item.score)
    return {c: estimate(v) for c, v in per.items()}


def change_by_clause(this, other) -> dict[str, Estimate]:
    from msm.eval.results import compare_by_clause

    out = {}
    for c in compare_by_clause(other, this):
        if c.clause != "(none)":
            d = c.difference
            out[c.clause] = Estimate(value=_clean(d.value), ci_low=_clean(d.ci_low), ci_high=_clean(d.ci_high), n=d.n)
    return out


def build_ledger(ws: Workspace, *, subject: str, spec: Spec, snapshot: str | None, runs: list[str],
                 base_model: str | None, midtrained_model: str | None, evaluated_model: str | None,
                 knowledge_before=None, knowledge_after=None, behaviour: dict[str, Any] | None = None,
                 compared: tuple[str, dict[str, Any]] | None = None) -> Ledger:
    """One subject's ledger for `spec`. `behaviour`: suite -> EvalResult of the evaluated model; `compared`:
    (name, suite -> EvalResult) of the condition it is compared with."""
    snap = snapshot_counts(ws, snapshot, spec.id) if snapshot else {}
    runs_c = run_counts(ws, runs, spec.id)
    before = knowledge_by_clause(knowledge_before, spec) if knowledge_before is not None else {}
    after = knowledge_by_clause(knowledge_after, spec) if knowledge_after is not None else {}
    behaviour = {s: r for s, r in (behaviour or {}).items() if s not in NOT_BEHAVIOUR}
    per_suite = {suite: behaviour_by_clause(result) for suite, result in behaviour.items()}
    changes: dict[str, dict[str, Estimate]] = {}
    if compared:
        for suite, other in compared[1].items():
            if suite in behaviour:
                changes[suite] = change_by_clause(behaviour[suite], other)
    rows = []
    for clause in spec.clauses:
        row = ClauseRow(clause_id=clause.id, clause_hash=clause.content_hash, **snap.get(clause.id, {}),
                        **runs_c.get(clause.id, {}))
        if row.reviewed:
            row.acceptance = round(row.accepted / row.reviewed, 4)
        row.knowledge_before, row.knowledge_after = before.get(clause.id), after.get(clause.id)
        row.behaviour = {s: e for s, values in per_suite.items() if (e := values.get(clause.id))}
        row.change = {s: e for s, values in changes.items() if (e := values.get(clause.id))}
        if snapshot and not row.documents:
            row.notes.append("no documents in the snapshot")
        if knowledge_after is not None and row.knowledge_after is None:
            row.notes.append("no spec_knowledge items")
        if behaviour and not row.behaviour:
            row.notes.append("no behaviour items name this clause")
        rows.append(row)
    return Ledger(subject=subject, spec_id=spec.id, spec_hash=spec.content_hash, snapshot=snapshot, runs=runs,
                  base_model=base_model, midtrained_model=midtrained_model, evaluated_model=evaluated_model,
                  compared_with=compared[0] if compared else None, rows=rows)
