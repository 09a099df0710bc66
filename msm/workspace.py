"""The workspace: one DuckDB catalog file plus folders for runs, snapshots, models, reports and a cache.

Layout (created by `msm init`):

    <workspace>/
      catalog.duckdb      indexes runs, snapshots, models (schema versioned by numbered migrations)
      runs/<name>/        generated or imported documents (append-only JSONL) and curation marks
      snapshots/<name>/   frozen Parquet + manifest.json (immutable)
      models/<name>/      trained model directories with manifest.json
      reports/            experiment reports
      cache/              pulled models of workspaces made before the cache was shared (now $MSM_CACHE, else
                          ~/.cache/msm, one for all workspaces)

The workspace is `--workspace DIR`, else `$MSM_WORKSPACE`, else `./msm-workspace`.

The files are the truth and the catalog their index: opening a workspace (every command does), `msm init` and
`msm doctor` reconcile the two (`msm.catalog_sync`), so a command killed between committing its files and writing
its row leaves nothing that a later command does not set right.
"""

from __future__ import annotations

import os
import re
import time
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import datetime, timezone
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Iterator

import duckdb

from msm.errors import BadInput, MsmError

if TYPE_CHECKING:
    from msm.catalog_sync import RepairReport

CATALOG_FILE = "catalog.duckdb"
DUCKDB_MAGIC = b"DUCK"     # bytes 8-11 of every DuckDB database file
CATALOG_CONFIG = {"autoinstall_known_extensions": False, "autoload_known_extensions": False}
SUBDIRS = ("runs", "snapshots", "models", "reports", "cache")
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
# (catalog path, connection) of the read-only connection `Workspace.shared_reads` holds in this thread/context.
_SHARED_READ: ContextVar[tuple[str, duckdb.DuckDBPyConnection] | None] = ContextVar("msm_shared_read", default=None)


def default_workspace_path() -> Path:
    return Path(os.environ.get("MSM_WORKSPACE") or "msm-workspace")


def check_name(kind: str, name: str) -> str:
    """Names of runs, snapshots and models become directory names: refuse anything path-like."""
    if not _NAME_RE.match(name or "") or name in {".", ".."} or ".." in name:
        raise BadInput(
            f"{kind} name {name!r} is not allowed: use 1-100 letters, digits, '_', '-', '.' (no '/', no leading dot, no '..')"
        )
    return name


def utc_now() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def _migrations() -> list[tuple[int, str, str]]:
    found = []
    for entry in resources.files("msm.migrations").iterdir():
        match = re.match(r"^(\d{4})_(\w+)\.sql$", entry.name)
        if match:
            found.append((int(match.group(1)), match.group(2), entry.read_text(encoding="utf-8")))
    return sorted(found)


def check_known_migrations(catalog: Path, applied: set[int]) -> None:
    """Refuse a catalog a newer msm migrated: its tables may mean what this msm does not know, and writing to it
    would corrupt the newer msm's records."""
    known = {version for version, _name, _sql in _migrations()}
    unknown = sorted(v for v in applied if v not in known)
    if unknown:
        raise MsmError(f"catalog {catalog}: written by a newer msm (schema migration {unknown[-1]}; this msm knows up "
                       f"to {max(known)}); upgrade msm to use this workspace")


def user_cache_dir() -> Path:
    """The per-user cache msm shares across workspaces: $XDG_CACHE_HOME/msm, else ~/.cache/msm."""
    base = os.environ.get("XDG_CACHE_HOME")
    return (Path(base) if base else Path.home() / ".cache") / "msm"


class Workspace:
    def __init__(self, root: Path):
        self.root = Path(root)
        self.last_repair: RepairReport | None = None   # what the reconcile at open / init found and did

    # ---- layout ----------------------------------------------------------------------------------
    @property
    def catalog_path(self) -> Path:
        return self.root / CATALOG_FILE

    def runs_dir(self) -> Path:
        return self.root / "runs"

    def run_dir(self, name: str) -> Path:
        return self.root / "runs" / check_name("run", name)

    def snapshot_dir(self, name: str) -> Path:
        return self.root / "snapshots" / check_name("snapshot", name)

    def model_dir(self, name: str) -> Path:
        return self.root / "models" / check_name("model", name)

    @property
    def reports_dir(self) -> Path:
        return self.root / "reports"

    def report_dir(self, experiment: str) -> Path:
        return self.root / "reports" / check_name("experiment", experiment)

    @property
    def cache_dir(self) -> Path:
        """Where pulled models live: $MSM_CACHE, else one cache for every workspace of this user
        (`user_cache_dir()`, e.g. ~/.cache/msm) so a second workspace does not pull and convert the model again. A
        workspace that already holds its own pulled models (made before the cache was shared) keeps using them."""
        env = os.environ.get("MSM_CACHE")
        if env:
            return Path(env)
        legacy = self.root / "cache"
        if (legacy / "models").is_dir() and any((legacy / "models").iterdir()):
            return legacy
        return user_cache_dir()

    def exists(self) -> bool:
        return self.catalog_path.exists()

    # ---- lifecycle -------------------------------------------------------------------------------
    @classmethod
    def open(cls, root: Path | None = None, *, create: bool = False) -> "Workspace":
        ws = cls(Path(root) if root else default_workspace_path())
        if ws.root.exists() and not ws.root.is_dir():
            raise BadInput(f"workspace {ws.root}: exists and is not a directory")
        if not ws.exists():
            if not create:
                raise BadInput(f"workspace {ws.root}: not initialised (run `msm init` or pass --workspace DIR)")
            ws.init()
        elif not ws.writable():
            ws.check_read_only()    # a read-only workspace still answers read commands; nothing is repaired
        else:
            ws.migrate(repair=True)
        return ws

    def writable(self) -> bool:
        """Whether this process may write the catalog (and the folder its write-ahead log goes in)."""
        return os.access(self.root, os.W_OK) and os.access(self.catalog_path, os.W_OK)

    def check_read_only(self) -> None:
        """For a workspace this process cannot write: the catalog must be one this msm knows, fully migrated."""
        with self.catalog(read_only=True) as con:
            applied = {row[0] for row in con.execute("SELECT version FROM schema_migrations").fetchall()}
        check_known_migrations(self.catalog_path, applied)
        pending = sorted({version for version, _name, _sql in _migrations()} - applied)
        if pending:
            raise MsmError(f"catalog {self.catalog_path}: read-only, and it needs schema migration {pending[0]} "
                           f"first; open the workspace once with write access")

    def init(self) -> list[int]:
        self.root.mkdir(parents=True, exist_ok=True)
        for sub in SUBDIRS:
            (self.root / sub).mkdir(exist_ok=True)
        return self.migrate(repair=True)

    def repair(self) -> "RepairReport":
        """Bring the catalog into agreement with the files (see `msm.catalog_sync`); also kept in `last_repair`."""
        with self.catalog() as con:
            return self._repair(con)

    def _repair(self, con: duckdb.DuckDBPyConnection) -> "RepairReport":
        from msm.catalog_sync import reconcile

        self.last_repair = reconcile(self, con)
        return self.last_repair

    def migrate(self, *, repair: bool = False) -> list[int]:
        """Apply numbered migrations not yet recorded; each runs in its own transaction. With `repair`, reconcile
        the catalog with the files on the same connection (opening one costs ~10-20 ms)."""
        applied_now: list[int] = []
        with self.catalog() as con:
            con.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name VARCHAR, applied_at TIMESTAMP)"
            )
            done = {row[0] for row in con.execute("SELECT version FROM schema_migrations").fetchall()}
            check_known_migrations(self.catalog_path, done)
            for version, name, sql in _migrations():
                if version in done:
                    continue
                con.execute("BEGIN TRANSACTION")
                try:
                    con.execute(sql)
                    con.execute("INSERT INTO schema_migrations VALUES (?, ?, ?)", [version, name, utc_now()])
                    con.execute("COMMIT")
                except Exception:
                    con.execute("ROLLBACK")
                    raise
                applied_now.append(version)
            if repair:
                self._repair(con)
        return applied_now

    def schema_version(self) -> int:
        with self.catalog(read_only=True) as con:
            return con.execute("SELECT coalesce(max(version), 0) FROM schema_migrations").fetchone()[0]

    @contextmanager
    def catalog(self, *, read_only: bool = False, wait_s: float = 30.0) -> Iterator[duckdb.DuckDBPyConnection]:
        """A short-lived connection. DuckDB lets one process write a file at a time, so the CLI and the
        review app each connect only for the statements they run, and wait briefly for the lock."""
        shared = _SHARED_READ.get()
        if shared is not None and shared[0] == str(self.catalog_path):
            if read_only:
                yield shared[1]     # inside shared_reads(): reuse its connection, the block closes it
                return
            # A write inside a shared-read block: DuckDB refuses a read-write and a read-only connection to
            # one file in one process, so the shared one is closed and later reads connect on their own.
            shared[1].close()
            _SHARED_READ.set(None)
        con = self._connect(read_only=read_only, wait_s=wait_s)
        try:
            yield con
        finally:
            con.close()

    @contextmanager
    def shared_reads(self, *, wait_s: float = 30.0) -> Iterator[None]:
        """Serve every `catalog(read_only=True)` inside the block from one connection.

        Opening a DuckDB file costs ~10-20 ms; a page that runs ten small queries would spend most of its time
        connecting. The connection is held only for the block, so other processes can write right after.
        """
        if _SHARED_READ.get() is not None or not self.catalog_path.exists():
            yield
            return
        con = self._connect(read_only=True, wait_s=wait_s)
        token = _SHARED_READ.set((str(self.catalog_path), con))
        try:
            yield
        finally:
            current = _SHARED_READ.get()
            _SHARED_READ.reset(token)
            if current is not None:
                current[1].close()

    def _check_catalog_file(self) -> None:
        """A catalog that is a FIFO would block DuckDB's open forever; one that is a device or directory fails
        obscurely. Say what it is instead."""
        from msm.input_files import check_input_path

        if self.catalog_path.exists() or self.catalog_path.is_symlink():
            check_input_path(self.catalog_path, what="catalog", max_bytes=1 << 62)

    def _check_catalog_format(self) -> None:
        """A file at catalog.duckdb that is not a DuckDB database (a SQLite file, anything else) is refused before
        DuckDB sees it: DuckDB would otherwise try to load — and download — an extension to read it."""
        try:
            with open(self.catalog_path, "rb") as handle:
                header = handle.read(16)
        except FileNotFoundError:
            return
        except OSError as exc:
            raise MsmError(f"catalog {self.catalog_path}: cannot be read: {exc.strerror or exc}") from None
        if header and header[8:12] != DUCKDB_MAGIC:
            kind = "a SQLite database" if header.startswith(b"SQLite format 3") else "not a DuckDB database"
            raise MsmError(f"catalog {self.catalog_path}: not an msm catalog ({kind}); move it away and run "
                           f"`msm init` to rebuild the catalog from the workspace's files")

    def _connect(self, *, read_only: bool, wait_s: float) -> duckdb.DuckDBPyConnection:
        self._check_catalog_file()
        self._check_catalog_format()
        deadline = time.monotonic() + wait_s
        while True:
            try:
                # never reach for the network from a catalog open: no extension is installed or loaded on demand
                return duckdb.connect(str(self.catalog_path), read_only=read_only and self.catalog_path.exists(),
                                      config=CATALOG_CONFIG)
            except (duckdb.IOException, duckdb.ConnectionException) as exc:
                # IOException "lock": another process holds the file. ConnectionException "different
                # configuration": another thread of this process (a second review session) has it open read-only
                # while we want to write, or the reverse. Both clear when that connection closes.
                message = str(exc).lower()
                busy = "lock" in message or "different configuration" in message
                if not busy or time.monotonic() > deadline:
                    raise MsmError(f"catalog {self.catalog_path}: {str(exc).splitlines()[0]}") from None
                time.sleep(0.05 if "different configuration" in message else 0.2)
