"""`msm generate --reuse-from R1`: which documents of an earlier run a new spec version keeps.

A document of run R1 may be copied into the new run R2 when the clause it was written for is in the new spec with
the same content hash, and the spec context it was written from (`planning.writing_context_hash`: the spec's names,
title and description, and the sections and value clauses where the writer or the scaffold reads them) hashes the
same, and R1 wrote with the same generation settings (LM, seed, program, profile, stages, lengths). Everything else
— new clauses, changed clauses, clauses whose context changed — is generated.

Copies take R2's slot ids (so R2 resumes and counts like any run) and keep their original provenance: the spec hash
they were written from, LM, tokens, created_at, and `metadata.reused_from = {run, doc_id, spec_hash}`. Per clause,
R2 takes up to its quota of R1's documents in R1's slot order; a larger quota is topped up by generation.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel

from msm.errors import BadInput
from msm.spec import Spec
from msm.workspace import Workspace

# settings that decide how a document is written; R1 and R2 must agree on them for a copy to be what R2 would write
WRITING_KEYS = ("lm", "seed", "program_hash", "profile", "context_scope", "revise", "opening", "scaffold",
                "plan_before_writing", "levers", "length_choices", "temperature", "min_words")
ClauseStatus = Literal["unchanged", "changed", "new", "context_changed"]


class ClauseReuse(BaseModel):
    clause_id: str
    status: ClauseStatus
    quota: int
    reusable: int  # R1 documents written from this clause as it now stands
    reused: int
    to_generate: int


class ReusePlan(BaseModel):
    source_run: str
    source_spec_hash: str | None
    spec_hash: str
    clauses: list[ClauseReuse]
    removed_clauses: list[str]
    reused: int
    to_generate: int
    saved_fraction: float  # share of the run's documents (and so, roughly, of its write cost) not paid for again


def _source(ws: Workspace, run: str):
    from msm.corpus.generate.settings import GenerationSettings
    from msm.corpus.run_store import RunStore, run_spec
    store = RunStore(ws, run)
    record = store.config()
    if record.get("kind") != "generated":
        raise BadInput(f"--reuse-from {run}: is an {record.get('kind')} run; only generated runs can be reused")
    settings = GenerationSettings.model_validate(record.get("config") or {})
    return store, settings, run_spec(ws, run)


def _check_settings(source_settings: Any, settings: Any, run: str) -> None:
    differ = [k for k in WRITING_KEYS if getattr(source_settings, k) != getattr(settings, k)]
    if differ:
        k = differ[0]
        raise BadInput(f"--reuse-from {run}: was written with {k}={getattr(source_settings, k)!r}, this run has "
                       f"{getattr(settings, k)!r}; its documents are not what this run would write (differ: "
                       f"{', '.join(differ)})")


def _reusable_by_clause(store, source_spec: Spec, source_settings, spec: Spec, settings) -> dict[str, list]:
    """Per clause of the new spec: R1's documents written from that clause and context as they now stand."""
    from msm.corpus.generate.planning import writing_context_hash

    new_hashes = spec.clause_hashes()
    new_context = writing_context_hash(spec, settings)
    old_hashes = source_spec.clause_hashes()
    old_context = writing_context_hash(source_spec, source_settings)
    found: dict[str, list] = {}
    for doc in store.documents():
        clause_hash = doc.metadata.get("clause_hash") or old_hashes.get(doc.clause_id or "")
        context_hash = doc.metadata.get("context_hash") or old_context
        if doc.clause_id in new_hashes and clause_hash == new_hashes[doc.clause_id] and context_hash == new_context:
            found.setdefault(doc.clause_id, []).append(doc)
    for docs in found.values():
        docs.sort(key=lambda d: (d.metadata.get("slot_index", 1 << 30), d.created_at, d.doc_id))
    return found


def plan_reuse(ws: Workspace, run: str, spec: Spec, settings: Any, source_run: str) -> tuple[ReusePlan, dict]:
    """(the plan, {new doc id: (its slot, the R1 document to copy)})."""
    from msm.corpus.generate.planning import settings_weights, slots, writing_context_hash

    if source_run == run:
        raise BadInput(f"--reuse-from {source_run}: is the run being written; name an earlier run")
    store, source_settings, source_spec = _source(ws, source_run)
    _check_settings(source_settings, settings, source_run)
    reusable = _reusable_by_clause(store, source_spec, source_settings, spec, settings)
    context_same = writing_context_hash(spec, settings) == writing_context_hash(source_spec, source_settings)
    old_hashes = source_spec.clause_hashes()
    by_clause: dict[str, list] = {}
    for slot in slots(run, spec, settings.n_docs, settings_weights(spec, settings)):
        by_clause.setdefault(slot.clause_id, []).append(slot)
    copies: dict[str, Any] = {}
    rows = []
    for clause in spec.clauses:
        clause_slots = by_clause.get(clause.id, [])
        docs = reusable.get(clause.id, [])
        for slot, doc in zip(clause_slots, docs):
            copies[slot.doc_id] = (slot, doc)
        n = min(len(clause_slots), len(docs))
        status: ClauseStatus = ("new" if clause.id not in old_hashes else
                                "changed" if old_hashes[clause.id] != clause.content_hash else
                                "unchanged" if context_same else "context_changed")
        rows.append(ClauseReuse(clause_id=clause.id, status=status, quota=len(clause_slots), reusable=len(docs),
                                reused=n, to_generate=len(clause_slots) - n))
    total = sum(r.quota for r in rows)
    reused = sum(r.reused for r in rows)
    plan = ReusePlan(source_run=source_run, source_spec_hash=source_spec.content_hash, spec_hash=spec.content_hash,
                     clauses=rows, removed_clauses=[c for c in old_hashes if c not in spec.clause_hashes()],
                     reused=reused, to_generate=total - reused,
                     saved_fraction=round(reused / total, 4) if total else 0.0)
    return plan, copies


def copy_reused(ws: Workspace, store, spec: Spec, settings: Any, source_run: str) -> int:
    """Copy the reusable documents into run `store` (those not there yet); the number copied now."""
    _plan, copies = plan_reuse(ws, store.name, spec, settings, source_run)
    done = store.done_ids()
    records = []
    for doc_id, (slot, doc) in copies.items():
        if doc_id in done:
            continue
        # a copy of a copy still names the run that wrote it
        origin = doc.metadata.get("reused_from") or {"run": doc.run, "doc_id": doc.doc_id, "spec_hash": doc.spec_hash}
        records.append(doc.model_copy(update={"doc_id": doc_id, "run": store.name, "metadata": {
            **doc.metadata, "slot_index": slot.index, "reused_from": origin}}))
    if records:
        store.append(records)
    return len(records)
