"""The push log: every Hub push appended to <workspace>/hub/pushes.jsonl (what, which hash, which repo and commit).
Its own module so the cards (which name the Hub datasets a model's snapshots went to) and the push read and write it
without importing each other."""

from __future__ import annotations

from typing import Any

from msm.atomic import append_jsonl, read_jsonl
from msm.workspace import Workspace, utc_now

PUSH_LOG = "pushes.jsonl"


def log_push(ws: Workspace, record: dict[str, Any]) -> None:
    path = ws.root / "hub" / PUSH_LOG
    path.parent.mkdir(parents=True, exist_ok=True)
    append_jsonl(path, [{"pushed_at": utc_now().isoformat(), **record}])


def pushes(ws: Workspace) -> list[dict[str, Any]]:
    path = ws.root / "hub" / PUSH_LOG
    return list(read_jsonl(path)) if path.is_file() else []
