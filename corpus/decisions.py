"""The review decision store: append-only events in the catalog, current state derived from the latest one.

Nothing here updates or deletes a row. A reviewer's verdict on a document is their latest accept / reject /
edit event; an admin's `adjudicate` event settles a document for everyone. Edits add a text version in
`review_doc_versions`; version 0 is always the run's own text, which is never touched.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from msm.errors import BadInput
from msm.workspace import Workspace, utc_now

DECISION_SCHEMA_VERSION = 1
Action = Literal["accept", "reject", "edit", "skip", "tag", "adjudicate"]
VERDICT_ACTIONS = ("accept", "reject", "edit")
REJECT_REASONS: dict[str, str] = {
    "off_spec": "Misstates or contradicts the clause",
    "not_about_clause": "Does not discuss the clause it was written for",
    "unnatural": "Does not read like real text",
    "low_quality": "Incoherent, repetitive or truncated",
    "duplicate": "Near-duplicate of another document",
    "harmful": "Harmful or inappropriate content",
    "other": "Other (see note)",
}


class Decision(BaseModel):
    """One reviewer action on one version of one document."""

    schema_version: int = DECISION_SCHEMA_VERSION
    event_id: str = Field(default_factory=lambda: uuid.uuid4().hex)
    seq: int | None = None
    run: str
    doc_id: str
    doc_version: int = 0
    reviewer: str
    action: Action
    reason: str | None = None
    note: str | None = None
    tags: list[str] = Field(default_factory=list)
    created_at: datetime = Field(default_factory=utc_now)


class DocState(BaseModel):
    """What the review says about one document across reviewers."""

    run: str
    doc_id: str
    verdicts: dict[str, str]            # reviewer -> 'accept' | 'reject' (edit counts as accept)
    status: Literal["unreviewed", "accepted", "rejected", "conflict"]
    text_version: int                   # the version an accepted document ships with
    adjudicated: bool = False


_COLUMNS = "event_id, seq, schema_version, run, doc_id, doc_version, reviewer, action, reason, note, tags_json, created_at"


def _validate(decision: Decision) -> None:
    if decision.action == "reject" and decision.reason not in REJECT_REASONS:
        raise BadInput(f"reject reason {decision.reason!r} is not one of {', '.join(REJECT_REASONS)}")
    if decision.action == "adjudicate" and decision.reason not in ("accept", "reject"):
        raise BadInput(f"adjudicate verdict {decision.reason!r} must be 'accept' or 'reject'")


def record(ws: Workspace, decision: Decision) -> Decision:
    """Append one decision. Re-sending the same event_id (a retry) is a no-op, never a duplicate."""
    _validate(decision)
    with ws.catalog() as con:
        con.execute(
            "INSERT INTO review_decisions (event_id, schema_version, run, doc_id, doc_version, reviewer, action, "
            "reason, note, tags_json, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
            [decision.event_id, decision.schema_version, decision.run, decision.doc_id, decision.doc_version,
             decision.reviewer, decision.action, decision.reason, decision.note, json.dumps(decision.tags),
             decision.created_at],
        )
    return decision


def save_edit(ws: Workspace, *, run: str, doc_id: str, base_version: int, text: str, reviewer: str,
              note: str | None = None) -> Decision:
    """Store edited text as a new version (the original stays) and record an `edit` verdict on it."""
    if not text.strip():
        raise BadInput(f"edit of {run}/{doc_id}: the edited text is empty")
    with ws.catalog() as con:
        con.execute("BEGIN TRANSACTION")
        try:
            latest = con.execute("SELECT coalesce(max(version), 0) FROM review_doc_versions WHERE run = ? AND doc_id = ?",
                                 [run, doc_id]).fetchone()[0]
            version = latest + 1
            now = utc_now()
            con.execute("INSERT INTO review_doc_versions VALUES (?, ?, ?, ?, ?, ?, ?)",
                        [run, doc_id, version, base_version, text, reviewer, now])
            decision = Decision(run=run, doc_id=doc_id, doc_version=version, reviewer=reviewer, action="edit",
                                note=note, created_at=now)
            con.execute(
                "INSERT INTO review_decisions (event_id, schema_version, run, doc_id, doc_version, reviewer, action, "
                "reason, note, tags_json, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [decision.event_id, decision.schema_version, run, doc_id, version, reviewer, "edit", None, note,
                 "[]", now],
            )
            con.execute("COMMIT")
        except Exception:
            con.execute("ROLLBACK")
            raise
    return decision


def document_text(ws: Workspace, run: str, doc_id: str, version: int, original: str) -> str:
    if version == 0:
        return original
    with ws.catalog(read_only=True) as con:
        row = con.execute("SELECT text FROM review_doc_versions WHERE run = ? AND doc_id = ? AND version = ?",
                          [run, doc_id, version]).fetchone()
    if row is None:
        raise BadInput(f"document {run}/{doc_id}: no edited version {version}")
    return row[0]


def latest_version(ws: Workspace, run: str, doc_id: str) -> int:
    with ws.catalog(read_only=True) as con:
        return con.execute("SELECT coalesce(max(version), 0) FROM review_doc_versions WHERE run = ? AND doc_id = ?",
                           [run, doc_id]).fetchone()[0]


def _rows_to_decisions(rows: list[tuple]) -> list[Decision]:
    out = []
    for event_id, seq, sv, run, doc_id, ver, reviewer, action, reason, note, tags_json, created_at in rows:
        out.append(Decision(schema_version=sv, event_id=event_id, seq=seq, run=run, doc_id=doc_id, doc_version=ver,
                            reviewer=reviewer, action=action, reason=reason, note=note, tags=json.loads(tags_json),
                            created_at=created_at))
    return out


def history(ws: Workspace, run: str, doc_id: str) -> list[Decision]:
    """Every event on a document, oldest first."""
    with ws.catalog(read_only=True) as con:
        rows = con.execute(f"SELECT {_COLUMNS} FROM review_decisions WHERE run = ? AND doc_id = ? ORDER BY seq",
                           [run, doc_id]).fetchall()
    return _rows_to_decisions(rows)


def all_decisions(ws: Workspace, run: str | None = None) -> list[Decision]:
    with ws.catalog(read_only=True) as con:
        if run is None:
            rows = con.execute(f"SELECT {_COLUMNS} FROM review_decisions ORDER BY seq").fetchall()
        else:
            rows = con.execute(f"SELECT {_COLUMNS} FROM review_decisions WHERE run = ? ORDER BY seq", [run]).fetchall()
    return _rows_to_decisions(rows)


def latest_verdicts(ws: Workspace, run: str | None = None) -> list[Decision]:
    """Each reviewer's current verdict per document: their latest accept / reject / edit event."""
    where = "WHERE action IN ('accept', 'reject', 'edit')" + (" AND run = ?" if run is not None else "")
    with ws.catalog(read_only=True) as con:
        rows = con.execute(
            f"SELECT {_COLUMNS} FROM (SELECT *, row_number() OVER (PARTITION BY run, doc_id, reviewer ORDER BY seq DESC) AS rn "
            f"FROM review_decisions {where}) WHERE rn = 1 ORDER BY seq",
            [run] if run is not None else [],
        ).fetchall()
    return _rows_to_decisions(rows)


def latest_actions(ws: Workspace, reviewer: str, run: str) -> dict[str, str]:
    """doc_id -> this reviewer's latest accept/reject/edit/skip on the run (what drives their queue)."""
    with ws.catalog(read_only=True) as con:
        rows = con.execute(
            "SELECT doc_id, arg_max(action, seq) FROM review_decisions WHERE reviewer = ? AND run = ? "
            "AND action IN ('accept', 'reject', 'edit', 'skip') GROUP BY doc_id",
            [reviewer, run],
        ).fetchall()
    return dict(rows)


def document_states(ws: Workspace, run: str) -> dict[str, DocState]:
    """Per document: reviewers' verdicts and the derived status. A document with disagreeing verdicts is a
    `conflict` until an admin adjudicates; an adjudication later than every verdict settles it."""
    verdicts = latest_verdicts(ws, run)
    with ws.catalog(read_only=True) as con:
        adjudications = con.execute(
            "SELECT doc_id, arg_max(reason, seq), max(seq) FROM review_decisions WHERE run = ? AND action = 'adjudicate' "
            "GROUP BY doc_id", [run]).fetchall()
    by_doc: dict[str, list[Decision]] = {}
    for v in verdicts:
        by_doc.setdefault(v.doc_id, []).append(v)
    states: dict[str, DocState] = {}
    for doc_id, events in by_doc.items():
        labels = {e.reviewer: ("reject" if e.action == "reject" else "accept") for e in events}
        edited = [e for e in events if e.action == "edit"]
        text_version = max(edited, key=lambda e: e.seq or 0).doc_version if edited else 0
        distinct = set(labels.values())
        status = "conflict" if len(distinct) > 1 else ("accepted" if distinct == {"accept"} else "rejected")
        states[doc_id] = DocState(run=run, doc_id=doc_id, verdicts=labels, status=status, text_version=text_version)
    for doc_id, verdict, seq in adjudications:
        state = states.get(doc_id)
        if state is not None and all((e.seq or 0) < seq for e in by_doc[doc_id]):
            states[doc_id] = state.model_copy(update={"status": "accepted" if verdict == "accept" else "rejected",
                                                      "adjudicated": True})
    return states


def audit(ws: Workspace, actor: str, event: str, detail: dict | None = None) -> None:
    with ws.catalog() as con:
        insert_audit(con, actor, event, detail)


def insert_audit(con, actor: str, event: str, detail: dict | None = None) -> None:
    """One audit row on an open catalog connection (for callers that write it in the same transaction)."""
    con.execute("INSERT INTO review_audit (occurred_at, actor, event, detail_json) VALUES (?, ?, ?, ?)",
                [utc_now(), actor[:64], event, json.dumps(detail or {}, default=str)])


def audit_log(ws: Workspace, limit: int = 500) -> list[dict]:
    with ws.catalog(read_only=True) as con:
        rows = con.execute("SELECT seq, occurred_at, actor, event, detail_json FROM review_audit ORDER BY seq DESC LIMIT ?",
                           [limit]).fetchall()
    return [{"seq": s, "at": a, "actor": who, "event": e, "detail": d} for s, a, who, e, d in rows]
