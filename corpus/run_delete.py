"""`msm runs delete NAME`: remove an abandoned run from disk and catalog, all or nothing.

A run a snapshot was made from is refused unless `force`: the snapshot keeps its own copy of the documents (and of
the spec), so deleting the run never breaks the snapshot — but its provenance would then name a run that is gone.

The run directory is first renamed into an owned staging directory (`msm.atomic.staging_directory`), which is one
atomic step: from then on the run is gone for every reader. The catalog row is deleted next, and the staging
directory removed last. A kill in between leaves a staging directory no live process owns, which the next command
(or `msm doctor`) removes, and a catalog row whose directory is gone, which reconciliation drops.
"""

from __future__ import annotations

import os
from typing import Any

from msm.atomic import staging_directory
from msm.corpus.run_store import RunStore
from msm.errors import BadInput
from msm.workspace import Workspace


def snapshots_using(ws: Workspace, run: str) -> list[str]:
    """Snapshots whose manifest lists `run` among its sources."""
    from msm.corpus.snapshot.store import list_snapshots, read_manifest

    using = []
    for row in list_snapshots(ws):
        try:
            if run in read_manifest(ws, row["name"]).runs:
                using.append(row["name"])
        except Exception:  # an unreadable manifest is `msm doctor`'s business, not a reason to refuse
            continue
    return using


def delete_run(ws: Workspace, name: str, *, force: bool = False) -> dict[str, Any]:
    store = RunStore(ws, name)
    if not store.dir.is_dir():
        raise BadInput(f"run {name!r}: no such run in {ws.root} (see `msm runs list`)")
    using = snapshots_using(ws, name)
    if using and not force:
        raise BadInput(f"run {name!r}: snapshot(s) {', '.join(using)} were made from it; pass --force to delete it "
                       f"anyway (the snapshots keep their own copy of the documents)")
    documents = sum(1 for _ in store.documents()) if store.documents_path.exists() else 0
    with staging_directory(ws.runs_dir(), f"deleting-{name}") as staging:
        os.rename(store.dir, staging / name)  # the one atomic step: from here the run is gone
        with ws.catalog() as con:
            con.execute("DELETE FROM runs WHERE name = ?", [name])
    return {"run": name, "deleted": True, "documents": documents, "snapshots_using": using}
