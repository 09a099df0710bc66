"""Curation marks as the review app shows them: kept/dropped, rules fired, quality signals, cluster id.

Reads the current curation of a run (issue #5's `runs/<run>/curation/<id>/marks.parquet` and `signals.parquet`,
found through `msm.corpus.curation.curation_files`); a run that was never curated has no marks (None)."""

from __future__ import annotations

from typing import Any

import pandas as pd
import pyarrow.parquet as pq
from pydantic import BaseModel, Field

from msm.corpus.curation import curation_files
from msm.workspace import Workspace


class CurationMark(BaseModel):
    doc_id: str
    kept: bool
    rules: list[str] = Field(default_factory=list, description="Rules that dropped the document.")
    flagged: list[str] = Field(default_factory=list, description="Rules that fired without dropping it.")
    signals: dict[str, Any] = Field(default_factory=dict)
    cluster_id: str | None = None
    duplicate_of: str | None = None


def load_curation(ws: Workspace, run: str) -> dict[str, CurationMark] | None:
    """doc_id -> mark, or None when the run has not been curated."""
    files = curation_files(ws, run)
    if files is None or not files[0].exists():
        return None
    marks_path, signals_path = files
    signals: dict[str, dict[str, Any]] = {}
    if signals_path.exists():
        for row in pq.read_table(signals_path).to_pylist():
            signals[row.pop("doc_id")] = row
    marks = {}
    for row in pq.read_table(marks_path).to_pylist():
        doc_id = row["doc_id"]
        marks[doc_id] = CurationMark(doc_id=doc_id, kept=bool(row["kept"]), rules=list(row.get("dropped_by") or []),
                                     flagged=list(row.get("flagged_by") or []), signals=signals.get(doc_id, {}),
                                     cluster_id=row.get("cluster_id"), duplicate_of=row.get("duplicate_of"))
    return marks


def marks_frame(marks: dict[str, CurationMark]) -> pd.DataFrame:
    """The columns the browse query joins on (rules fired comma-joined, so the SQL can split them)."""
    rows = [{"doc_id": m.doc_id, "kept": m.kept, "rules": ",".join(m.rules + m.flagged), "cluster_id": m.cluster_id}
            for m in marks.values()]
    return pd.DataFrame(rows, columns=["doc_id", "kept", "rules", "cluster_id"])
