"""Integrity roots kept apart from the data they protect: an append-only ledger of snapshot manifest digests.

    <workspace>/anchors/snapshots.jsonl   one line per anchoring: {name, manifest_sha256, content_hash, how, at}

`msm snapshot create` records the sha256 of the manifest it froze both in the catalog row and here. When the
catalog row is lost (deleted, or the catalog rebuilt by `msm init`), reconcile takes the digest back from this
ledger — never from the manifest on disk, which is the very thing the digest protects: a snapshot whose Parquet
and manifest were edited consistently would otherwise verify clean. A snapshot with no ledger line either is
re-adopted *unverified* (NULL digest) and every reader refuses it until `msm snapshot accept NAME` anchors what is
on disk now, by a person's decision.

The ledger is append-only (the last line for a name wins, so `accept` can re-anchor); a torn last line from a kill is
skipped like every msm JSONL file. It raises the bar from "edit two files" to "edit three", not to cryptographic
proof: whoever can rewrite the whole workspace can rewrite this file too (push the snapshot, or copy this file
elsewhere, to anchor it outside the workspace).
"""

from __future__ import annotations

from pathlib import Path

from msm.atomic import append_jsonl, read_jsonl
from msm.errors import MsmError

ANCHOR_DIR = "anchors"
SNAPSHOT_LEDGER = "snapshots.jsonl"


def ledger_path(root: Path) -> Path:
    return Path(root) / ANCHOR_DIR / SNAPSHOT_LEDGER


def anchor_snapshot(root: Path, name: str, manifest_sha256: str, content_hash: str, *, how: str, at: str) -> None:
    """Append the digest of snapshot `name`'s manifest (`how`: "created" or "accepted")."""
    path = ledger_path(root)
    path.parent.mkdir(parents=True, exist_ok=True)
    append_jsonl(path, [{"name": name, "manifest_sha256": manifest_sha256, "content_hash": content_hash,
                         "how": how, "at": at}])


def anchored_digest(root: Path, name: str) -> str | None:
    """The manifest digest last anchored for snapshot `name`, or None."""
    path = ledger_path(root)
    if not path.is_file():
        return None
    found = None
    try:
        for record in read_jsonl(path):
            if record.get("name") == name and isinstance(record.get("manifest_sha256"), str):
                found = record["manifest_sha256"]
    except MsmError:    # a damaged ledger anchors nothing: the snapshot stays unverified (the safe side)
        return None
    return found
