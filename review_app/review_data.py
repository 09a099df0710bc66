"""What the review app reads: a run's documents, the spec they were written for, and curation marks.

Documents come from the run store (append-only JSONL) through its index (`corpus/run_index.py`); the browse
table is queried through an in-memory DuckDB connection with bound parameters, so search text is always data,
never SQL.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import duckdb
import pandas as pd

from msm.corpus.records import DocumentRecord
from msm.corpus.run_index import RunDocuments, open_documents
from msm.corpus.run_store import RunStore, list_runs
from msm.errors import MsmError, first_line
from msm.spec import Spec, load_spec, resolve_spec_path
from msm.workspace import Workspace

DOC_COLUMNS = ["doc_id", "run", "clause_id", "spec_id", "doc_type", "idea", "persona", "lm", "stage", "text"]


def run_names(ws: Workspace) -> list[str]:
    """Run names, least recently written first: the app opens on the last one, the run a user just made (the
    catalog's order is that of registration, which a workspace repair redoes in name order)."""
    def last_written(name: str) -> float:
        store = RunStore(ws, name)
        times = [p.stat().st_mtime for p in (store.documents_path, store.config_path) if p.exists()]
        return max(times, default=0.0)

    names = [r["name"] for r in list_runs(ws)]
    return sorted(names, key=lambda n: (last_written(n), names.index(n)))


def documents_fingerprint(ws: Workspace, run: str) -> tuple[str, int, int]:
    """Changes whenever the run's documents file grows, so caches keyed on it stay fresh."""
    path = RunStore(ws, run).documents_path
    stat = path.stat() if path.exists() else None
    return (str(path), stat.st_mtime_ns if stat else 0, stat.st_size if stat else 0)


def load_documents(ws: Workspace, run: str) -> RunDocuments:
    """The run's documents by doc_id, through the run's index (corpus/run_index.py): opening a 100k-document
    run reads the small index, and a record is parsed only when a page shows it."""
    return open_documents(RunStore(ws, run))


def documents_frame(docs: Mapping[str, DocumentRecord]) -> pd.DataFrame:
    rows = [{c: getattr(d, c) for c in DOC_COLUMNS} for d in docs.values()]
    return pd.DataFrame(rows, columns=DOC_COLUMNS)


def load_run_spec(ws: Workspace, run: str) -> tuple[Spec | None, str | None]:
    """The run's spec and a warning if it could not be found or has changed since the run was made."""
    store = RunStore(ws, run)
    record: dict[str, Any] = store.config() if store.exists() else {}
    if record.get("spec_file"):
        try:
            return store.spec(), None  # the copy the run carries (msm.frozen_spec)
        except MsmError as exc:
            return None, f"spec for run {run}: {first_line(exc)}"
    config = record.get("config") or {}
    candidates = [config.get(k) for k in ("spec_path", "spec")] + [record.get("spec_id")]
    for candidate in (c for c in candidates if isinstance(c, str) and c):
        try:
            spec = load_spec(resolve_spec_path(candidate))
        except MsmError:
            continue
        if record.get("spec_hash") and record["spec_hash"] != spec.content_hash:
            return spec, f"spec {spec.id} has changed since run {run} was generated (hash differs)"
        return spec, None
    return None, f"spec for run {run} not found (tried {', '.join(str(c) for c in candidates if c) or 'nothing'})"


def search_documents(frame: pd.DataFrame, states: pd.DataFrame, *, text: str = "", clause: str | None = None,
                     doc_type: str | None = None, status: str | None = None, reviewer: str | None = None,
                     rule: str | None = None, cluster: str | None = None, curation: pd.DataFrame | None = None,
                     limit: int = 500) -> pd.DataFrame:
    """Filter the documents of a run. Every user value is a bound parameter."""
    con = duckdb.connect()
    try:
        con.register("docs", frame)
        con.register("states", states)
        curation_frame = curation if curation is not None else pd.DataFrame(
            {"doc_id": pd.Series(dtype=str), "kept": pd.Series(dtype=bool), "rules": pd.Series(dtype=str),
             "cluster_id": pd.Series(dtype=str)})
        con.register("curation", curation_frame)
        where, params = ["TRUE"], []
        if text:
            where.append("(d.text ILIKE ? ESCAPE '\\' OR d.idea ILIKE ? ESCAPE '\\' OR d.doc_id ILIKE ? ESCAPE '\\')")
            pattern = "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            params += [pattern, pattern, pattern]
        for column, value in (("d.clause_id", clause), ("d.doc_type", doc_type), ("c.cluster_id", cluster)):
            if value:
                where.append(f"{column} = ?")
                params.append(value)
        if status:
            where.append("coalesce(s.status, 'unreviewed') = ?")
            params.append(status)
        if reviewer:
            where.append("list_contains(str_split(s.reviewers, ','), ?)")
            params.append(reviewer)
        if rule:
            where.append("list_contains(str_split(c.rules, ','), ?)")
            params.append(rule)
        params.append(limit)
        sql = ("SELECT d.doc_id, d.clause_id, d.doc_type, coalesce(s.status, 'unreviewed') AS status, "
               "replace(s.reviewers, ',', ', ') AS reviewers, c.kept, c.rules, c.cluster_id, "
               "left(d.text, 140) AS preview FROM docs d LEFT JOIN states s USING (doc_id) "
               f"LEFT JOIN curation c USING (doc_id) WHERE {' AND '.join(where)} ORDER BY d.doc_id LIMIT ?")
        return con.execute(sql, params).df()
    finally:
        con.close()


def states_frame(states: dict) -> pd.DataFrame:
    rows = [{"doc_id": s.doc_id, "status": s.status, "reviewers": ",".join(sorted(s.verdicts))} for s in states.values()]
    return pd.DataFrame(rows, columns=["doc_id", "status", "reviewers"]).astype(str)
