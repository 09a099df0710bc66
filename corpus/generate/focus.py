"""`msm generate --focus-from LEDGER.json`: clause shares for a coverage-driven round.

    lag_c    = 1 − K_c, where K_c is clause c's spec-knowledge after midtraining in the ledger (mean probability of
               the right option, `knowledge_after.p_correct`; its accuracy when that is missing). A clause the ledger
               has no knowledge number for gets the mean lag of the others.
    share_c  = (1 − λ) · u_c  +  λ · u_c · lag_c / Σ_j u_j · lag_j,      λ = FOCUS_STRENGTH = 0.5

u_c is the clause's share by the spec's weights (what a uniform round gives it). Half the budget stays where the
weights put it — no clause is starved, a clause the model already knows keeps being written about — and half goes
to clauses in proportion to how much they lag. The total number of documents is unchanged (`--n-docs`); only the
split between clauses moves. Behaviour columns are not used: which direction of a behaviour score is "the spec's"
depends on the suite and the spec, while knowledge of a clause is always higher-is-better.
"""

from __future__ import annotations

from pathlib import Path

from msm.errors import BadInput
from msm.input_files import MAX_RECORD_BYTES, load_json_object
from msm.spec import Spec

FOCUS_STRENGTH = 0.5


def _knowledge(row: dict) -> float | None:
    after = row.get("knowledge_after") or {}
    for key in ("p_correct", "value"):
        value = after.get(key)
        if isinstance(value, (int, float)) and value == value:
            return float(value)
    return None


def ledger_rows_for(ledger: dict, spec: Spec, path: str) -> list[dict]:
    sections = ledger.get("ledgers")
    if not isinstance(sections, list):
        raise BadInput(f"{path}: not a ledger (expected `ledgers: [...]`; write one with `msm ledger ... --json`)")
    for section in sections:
        if isinstance(section, dict) and section.get("spec_id") == spec.id:
            return [r for r in section.get("rows") or [] if isinstance(r, dict)]
    found = sorted({str(s.get("spec_id")) for s in sections if isinstance(s, dict)})
    raise BadInput(f"{path}: has no ledger for spec {spec.id!r} (it has: {', '.join(found) or 'none'})")


def shares_from_rows(rows: list[dict], spec: Spec, strength: float = FOCUS_STRENGTH) -> dict[str, float]:
    total_weight = sum(c.weight for c in spec.clauses)
    uniform = {c.id: c.weight / total_weight for c in spec.clauses}
    known = {r.get("clause_id"): _knowledge(r) for r in rows}
    lags = {cid: 1.0 - k for cid, k in known.items() if cid in uniform and k is not None}
    if not lags:
        raise BadInput(f"the ledger has no spec-knowledge numbers for spec {spec.id}'s clauses (run `msm ledger "
                       f"... --measure` first)")
    mean_lag = sum(lags.values()) / len(lags)
    lag = {cid: max(0.0, lags.get(cid, mean_lag)) for cid in uniform}
    weighted = sum(uniform[c] * lag[c] for c in uniform)
    if weighted <= 0:  # every clause fully known: nothing to focus on
        return uniform
    return {c: (1 - strength) * uniform[c] + strength * uniform[c] * lag[c] / weighted for c in uniform}


def focus_shares(path: str | Path, spec: Spec) -> dict[str, float]:
    ledger = load_json_object(Path(path), what="ledger", max_bytes=MAX_RECORD_BYTES)
    shares = shares_from_rows(ledger_rows_for(ledger, spec, str(path)), spec)
    return {c: round(v, 6) for c, v in shares.items()}
