"""Curation marks as the review app shows them: kept/dropped, rules fired, quality signals, cluster id.

Reads the current curation of a run (`runs/<run>/curation/<id>/marks.parquet` and `signals.parquet`,
found through `msm.corpus.curate.store.curation_files`); a run that was never curated has no marks (None)."""

from __future__ import annotations

from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from pydantic import BaseModel, Field

from msm.corpus.curate.store import curation_files
from msm.workspace import Workspace


class CurationMark(BaseModel):
    doc_id: str
    kept: bool
    rules: list[str] = Field(default_factory=list, description="Rules that dropped the document.")
    flagged: list[str] = Field(default_factory=list, description="Rules that fired without dropping it.")
    signals: dict[str, Any] = Field(default_factory=dict)
    cluster_id: str | None = None
    duplicate_of: str | None = None


class CurationMarks:
    """A run's current curation marks, held as columns: 100k rows load in a fraction of a second, and a
    CurationMark object is built only for the documents on screen (building all of them took ~2.5 s)."""

    def __init__(self, marks: pa.Table, signals: pa.Table | None):
        self._ids: list[str] = marks.column("doc_id").to_pylist()
        self._index = {doc_id: i for i, doc_id in enumerate(self._ids)}
        self._kept: list[bool] = marks.column("kept").to_pylist()
        names = marks.column_names
        empty = [None] * len(self._ids)
        self._dropped = marks.column("dropped_by").to_pylist() if "dropped_by" in names else empty
        self._flagged = marks.column("flagged_by").to_pylist() if "flagged_by" in names else empty
        self._cluster = marks.column("cluster_id").to_pylist() if "cluster_id" in names else empty
        self._duplicate_of = marks.column("duplicate_of").to_pylist() if "duplicate_of" in names else empty
        self._signals = signals
        self._signal_index = ({d: i for i, d in enumerate(signals.column("doc_id").to_pylist())}
                              if signals is not None else {})
        self._clusters: dict[str, list[str]] | None = None

    def __len__(self) -> int:
        return len(self._ids)

    def __contains__(self, doc_id: object) -> bool:
        return doc_id in self._index

    def get(self, doc_id: str) -> CurationMark | None:
        i = self._index.get(doc_id)
        if i is None:
            return None
        signals: dict[str, Any] = {}
        j = self._signal_index.get(doc_id)
        if j is not None and self._signals is not None:
            signals = self._signals.slice(j, 1).to_pylist()[0]
            signals.pop("doc_id", None)
        return CurationMark(doc_id=doc_id, kept=bool(self._kept[i]), rules=list(self._dropped[i] or []),
                            flagged=list(self._flagged[i] or []), signals=signals, cluster_id=self._cluster[i],
                            duplicate_of=self._duplicate_of[i])

    def cluster_members(self, cluster_id: str) -> list[str]:
        if self._clusters is None:
            clusters: dict[str, list[str]] = {}
            for doc_id, cluster in zip(self._ids, self._cluster):
                if cluster:
                    clusters.setdefault(cluster, []).append(doc_id)
            self._clusters = clusters
        return self._clusters.get(cluster_id, [])

    def rules_fired(self) -> list[str]:
        return sorted({r for rules in (*self._dropped, *self._flagged) for r in (rules or [])})

    def frame(self) -> pd.DataFrame:
        """The columns the browse query joins on (rules fired comma-joined, so the SQL can split them)."""
        rules = [",".join([*(d or []), *(f or [])]) for d, f in zip(self._dropped, self._flagged)]
        return pd.DataFrame({"doc_id": self._ids, "kept": [bool(k) for k in self._kept], "rules": rules,
                             "cluster_id": self._cluster}, columns=["doc_id", "kept", "rules", "cluster_id"])


def load_curation(ws: Workspace, run: str) -> CurationMarks | None:
    """The run's current marks, or None when the run has not been curated."""
    files = curation_files(ws, run)
    if files is None or not files[0].exists():
        return None
    marks_path, signals_path = files
    return CurationMarks(pq.read_table(marks_path), pq.read_table(signals_path) if signals_path.exists() else None)
