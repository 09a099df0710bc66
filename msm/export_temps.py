"""Temp files of exports, which live beside a user's --out path (outside the workspace), made findable again.

An export writes `.OUT.<random>.tmp` (a file, or for `snapshot export` a staging directory) next to OUT and renames it into place; a kill in between leaves that file in a
folder no workspace scan covers. So each export first appends {path, pid, host} to
`<workspace>/exports-pending.jsonl`, and reconcile (every workspace open, `msm init`, `msm doctor`) removes the
listed temp files whose process is gone — only those exact paths, never anything else in the user's folder — and
drops the entries that are settled.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import socket
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from msm.atomic import OWNER_SUFFIX, TEMP_SUFFIX

LEDGER = "exports-pending.jsonl"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@contextmanager
def _locked(path: Path) -> Iterator[int]:
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield fd
    finally:
        os.close(fd)


@contextmanager
def export_temp(ws_root: Path, out: Path) -> Iterator[Path]:
    """A new temp path beside `out`, listed in the workspace's pending-exports ledger; removed if the block fails
    (a kill leaves it to reconcile). The caller fills it and renames it over `out`."""
    out = Path(out)
    fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=TEMP_SUFFIX)
    os.close(fd)
    try:
        register_export_temp(ws_root, Path(tmp))
        yield Path(tmp)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def register_export_temp(ws_root: Path, temp: Path) -> None:
    """List `temp` (a temp file or staging directory of this process, outside the workspace) in the ledger."""
    with _locked(Path(ws_root) / LEDGER) as ledger:
        os.write(ledger, (json.dumps({"path": str(Path(temp).resolve()), "pid": os.getpid(),
                                      "host": socket.gethostname()}) + "\n").encode())


def clean_abandoned_exports(ws_root: Path) -> list[str]:
    """Remove listed temp files whose export process is gone; keep the entries of live ones. Returns removed paths."""
    path = Path(ws_root) / LEDGER
    if not path.is_file():
        return []
    removed, keep = [], []
    host = socket.gethostname()
    with _locked(path) as fd:
        with open(path, "rb") as handle:
            lines = handle.read().splitlines()
        for raw in lines:
            try:
                entry = json.loads(raw)
                temp, pid, entry_host = Path(entry["path"]), int(entry["pid"]), entry.get("host")
            except (ValueError, KeyError, TypeError):
                continue    # a torn or damaged line: nothing to act on safely
            if not ((temp.is_file() or temp.is_dir()) and not temp.is_symlink() and temp.name.endswith(TEMP_SUFFIX)):
                continue    # renamed into place, or already gone: settled
            if entry_host != host or _alive(pid):
                keep.append(raw)
                continue
            if temp.is_dir():     # a staging directory (`snapshot export`), with the owner file beside it
                shutil.rmtree(temp, ignore_errors=True)
                Path(str(temp) + OWNER_SUFFIX).unlink(missing_ok=True)
            else:
                temp.unlink(missing_ok=True)
            removed.append(str(temp))
        os.ftruncate(fd, 0)
        if keep:
            os.write(fd, b"\n".join(keep) + b"\n")
    return removed
