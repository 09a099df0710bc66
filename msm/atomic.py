"""Crash-safe file writes: a reader never sees a half-written file, and a kill loses no finished line.

What a kill leaves behind — a staging directory or temp file under a dot-name ending in `.tmp` — carries a
flock held by its writer for as long as it lives, so `remove_abandoned` can clear leftovers without ever touching
the work of a process that is still running (a pid alone can be reused; a flock dies with its process)."""

from __future__ import annotations

import fcntl
import json
import os
import secrets
import shutil
import socket
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Generic, Iterator, TypeVar

from pydantic import ValidationError

from msm.errors import first_line
from msm.input_files import InputFileError

T = TypeVar("T")
TEMP_SUFFIX = ".tmp"          # staging directories and temp files: `.NAME.<random>.tmp`
OWNER_SUFFIX = ".owner"       # `.NAME.<random>.tmp.owner`: flocked by the process that owns the staging directory


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _lock_new_file(make) -> tuple[int, str]:
    """Create a file with `make()` -> (fd, path) and hold an exclusive flock on it, retrying until the path still
    names the locked file: a cleaner may find the file in the instant before the lock, judge it abandoned and
    remove it (see `remove_abandoned`)."""
    while True:
        fd, path = make()
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            if os.stat(path).st_ino == os.fstat(fd).st_ino:
                return fd, path
        except FileNotFoundError:
            pass
        os.close(fd)


def write_bytes_atomic(path: Path, data: bytes) -> None:
    """Write to a temp file in the same directory, fsync, then rename over the target.

    The temp file stays locked (flock) until it is renamed, which is how a cleaner tells a live write from one
    a kill abandoned."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = _lock_new_file(lambda: tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=TEMP_SUFFIX))
    try:
        with os.fdopen(fd, "wb", closefd=False) as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
        _fsync_dir(path.parent)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    finally:
        os.close(fd)


def write_text_atomic(path: Path, text: str) -> None:
    write_bytes_atomic(path, text.encode("utf-8"))


def write_json_atomic(path: Path, obj: object) -> None:
    write_text_atomic(path, json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False) + "\n")


def _owner_record() -> bytes:
    return json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "started": time.time()}).encode()


@contextmanager
def staging_directory(parent: Path, stem: str) -> Iterator[Path]:
    """A new directory `.STEM.<token>.tmp` in `parent`, owned by this process for the block.

    Its owner file `.STEM.<token>.tmp.owner` is created (and flocked) before the directory and removed after it,
    so at any instant a staging directory without a locked owner file belongs to a process that is gone, and
    `remove_abandoned` may delete it. The block's caller renames or fills the directory; whatever is left under
    the staging name when the block ends is removed."""
    parent = Path(parent)
    parent.mkdir(parents=True, exist_ok=True)

    def make_owner() -> tuple[int, str]:
        while True:
            owner = parent / f".{stem}.{secrets.token_hex(6)}{TEMP_SUFFIX}{OWNER_SUFFIX}"
            try:
                return os.open(owner, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644), str(owner)
            except FileExistsError:
                continue

    fd, owner = _lock_new_file(make_owner)
    staging = Path(owner[: -len(OWNER_SUFFIX)])
    try:
        os.write(fd, _owner_record())
        staging.mkdir()
        yield staging
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        Path(owner).unlink(missing_ok=True)
        os.close(fd)


@contextmanager
def atomic_directory(final: Path) -> Iterator[Path]:
    """Yield a temporary sibling directory; rename it to `final` only if the block finishes.

    A kill inside the block leaves only a dot-prefixed staging directory that readers ignore and
    `remove_abandoned` clears. Refuses to replace an existing `final` (callers decide whether existing means
    'done' or 'error')."""
    final = Path(final)
    with staging_directory(final.parent, final.name) as tmp:
        yield tmp
        if final.exists():
            raise FileExistsError(f"{final} appeared while it was being written")
        os.rename(tmp, final)
        _fsync_dir(final.parent)


def _free_lock(path: str) -> int | None:
    """An fd holding the flock of `path` when no live process holds it (and `path` still names that file)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        if os.stat(path).st_ino == os.fstat(fd).st_ino:
            return fd
    except OSError:     # held by a live process (BlockingIOError), or gone meanwhile
        pass
    os.close(fd)
    return None


def owner_of(staging: Path) -> dict | None:
    """What the owner file of a staging directory says (pid, host, started), if it can be read."""
    try:
        return json.loads(Path(str(staging) + OWNER_SUFFIX).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def remove_abandoned(parent: Path) -> tuple[list[Path], list[Path]]:
    """Remove the staging directories and temp files in `parent` that no live process owns.

    Returns (removed, still owned). A temp file of `write_bytes_atomic` is abandoned when nobody holds its lock;
    a staging directory when its owner file is missing or nobody holds that file's lock."""
    removed: list[Path] = []
    live: list[Path] = []
    try:
        entries = list(os.scandir(parent))
    except OSError:
        return removed, live
    for entry in entries:
        name = entry.name
        if not name.startswith("."):
            continue
        path = Path(entry.path)
        if name.endswith(TEMP_SUFFIX + OWNER_SUFFIX):
            fd = _free_lock(entry.path)
            if fd is None:
                if path.exists():
                    live.append(Path(entry.path[: -len(OWNER_SUFFIX)]))
                continue
            try:
                staging = Path(entry.path[: -len(OWNER_SUFFIX)])
                if staging.is_dir() and not staging.is_symlink():
                    shutil.rmtree(staging, ignore_errors=True)
                    removed.append(staging)
                path.unlink(missing_ok=True)
            finally:
                os.close(fd)
        elif name.endswith(TEMP_SUFFIX):
            if entry.is_dir(follow_symlinks=False):
                if not os.path.lexists(entry.path + OWNER_SUFFIX):
                    shutil.rmtree(path, ignore_errors=True)
                    removed.append(path)
            elif entry.is_file(follow_symlinks=False):
                fd = _free_lock(entry.path)
                if fd is None:
                    continue
                try:
                    path.unlink(missing_ok=True)
                    removed.append(path)
                finally:
                    os.close(fd)
    return removed, live


def append_jsonl(path: Path, records: list[dict]) -> None:
    """Append whole lines and fsync: after a kill the file holds complete lines plus at most one torn tail."""
    if not records:
        return
    payload = "".join(json.dumps(r, ensure_ascii=False, sort_keys=True) + "\n" for r in records)
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(payload)
        handle.flush()
        os.fsync(handle.fileno())


def read_jsonl_lines(path: Path, start: int = 0) -> Iterator[tuple[int, bytes]]:
    """(byte offset, line with its newline) of each complete line from byte `start` on, blank ones included.

    A last line without its newline is what a kill mid-append leaves: it is not yielded, never half-read (and
    the next writer cuts it, `repair_jsonl_tail`). Every other line is whole, so a damaged one is the reader's
    to report, not to skip."""
    path = Path(path)
    if not path.exists():
        return
    with open(path, "rb") as handle:
        handle.seek(start)
        position = start
        for raw in handle:
            if not raw.endswith(b"\n"):
                return  # torn tail from an interrupted append
            yield position, raw
            position += len(raw)


def line_number(path: Path, offset: int, chunk: int = 1 << 20) -> int:
    """The 1-based number of the line starting at byte `offset` (counted only when an error needs it)."""
    count = 0
    with open(path, "rb") as handle:
        remaining = offset
        while remaining > 0 and (block := handle.read(min(chunk, remaining))):
            count += block.count(b"\n")
            remaining -= len(block)
    return count + 1


def _line_problem(exc: BaseException) -> str:
    if isinstance(exc, ValidationError):
        first = exc.errors()[0]
        if first["type"] == "json_invalid":
            return f"not valid JSON ({first['msg'].removeprefix('Invalid JSON: ')})"
        where = ".".join(str(part) for part in first["loc"]) or "(line)"
        return f"not a valid {exc.title}: {where}: {first['msg']}"
    if isinstance(exc, json.JSONDecodeError):
        return f"not valid JSON ({exc.msg} at column {exc.colno})"
    if isinstance(exc, UnicodeDecodeError):
        return f"not UTF-8 (byte at column {exc.start + 1})"
    if isinstance(exc, RecursionError):
        return "nested too deeply"
    return first_line(exc, 200)


class JsonlRecords(Generic[T]):
    """The records of an append-only JSON-lines file, each parsed by `parse(line bytes)`, as
    (offset, length, record), from byte `start` on.

    The one rule every reader of msm's own JSONL files follows: a torn last line is skipped (a kill left it),
    blank lines are skipped, and any other line that does not parse is an error naming `file:line` — a
    damaged record inside the file is never dropped silently. After iterating, `end` is the offset just past
    the last complete line (where an incremental reader resumes)."""

    def __init__(self, path: Path, parse: Callable[[bytes], T], start: int = 0):
        self.path = Path(path)
        self.parse = parse
        self.end = start

    def __iter__(self) -> Iterator[tuple[int, int, T]]:
        for offset, raw in read_jsonl_lines(self.path, self.end):
            self.end = offset + len(raw)
            if not raw.strip():
                continue
            try:
                record = self.parse(raw)
            except (ValueError, RecursionError) as exc:   # pydantic's ValidationError and JSON errors included
                raise InputFileError(self.path, f"{_line_problem(exc)}; only a torn last line may be skipped, so "
                                     "this damaged line must be fixed or removed",
                                     line=line_number(self.path, offset), scope="document") from None
            yield offset, len(raw), record


def _json_object(raw: bytes) -> dict:
    value = json.loads(raw)
    if not isinstance(value, dict):
        raise ValueError(f"not a JSON object (a {type(value).__name__})")
    return value


def read_jsonl(path: Path) -> Iterator[dict]:
    """Yield each complete line as a dict, by `JsonlRecords`' rule: a torn last line is skipped, a damaged
    line anywhere else raises InputFileError naming `file:line`."""
    for _offset, _length, record in JsonlRecords(path, _json_object):
        yield record


def repair_jsonl_tail(path: Path) -> None:
    """Cut a torn last line before appending again, so the next record starts on its own line."""
    path = Path(path)
    if not path.exists() or path.stat().st_size == 0:
        return
    with open(path, "rb+") as handle:
        data = handle.read()
        if data.endswith(b"\n"):
            return
        cut = data.rfind(b"\n") + 1
        handle.truncate(cut)
        handle.flush()
        os.fsync(handle.fileno())


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    import hashlib

    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()
