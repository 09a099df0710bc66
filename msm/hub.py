"""The Hugging Face Hub round-trip: snapshots and models out, data files in.

Out: `msm snapshot push NAME --repo owner/name` makes one commit to a dataset repo — documents.parquet,
     manifest.json and a dataset card (README.md) built from the manifest; `msm models push NAME --repo
     owner/name` makes one commit to a model repo — the model directory as msm wrote it (weights, manifest,
     loss curve, TensorBoard events, LoRA adapter) and a model card built from its manifest (`msm.hub_cards`).
     Every push is appended to <workspace>/hub/pushes.jsonl (what, which hash, which repo and commit); a model
     card names the Hub datasets its snapshots were pushed to from there.
In:  `hf:<owner>/<dataset>[/<file in the repo>][@<revision>]` is accepted wherever msm reads a data file
     (`msm corpus import`, `--mix` replay files, `msm train sft --data`, experiment files). The dataset's
     .parquet/.jsonl files are downloaded once into the cache — `$MSM_CACHE/hub` when set, else
     huggingface_hub's own cache — and read from there afterwards, offline too. Without a file in the
     reference, the train split its card's `configs` names is used (a pushed snapshot names
     documents.parquet), else its only data file; several files of one split are merged once into
     `<cache>/msm-merged/`.

Authentication is huggingface_hub's own: `hf auth login` or $HF_TOKEN; $HF_ENDPOINT points at another hub.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from msm.atomic import append_jsonl, read_jsonl, write_bytes_atomic
from msm.errors import BadInput, MsmError, first_line
from msm.workspace import Workspace, utc_now

HUB_PREFIX = "hf:"
DATA_SUFFIXES = (".parquet", ".jsonl")
PUSH_LOG = "pushes.jsonl"
_REPO_PART = r"[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?"
_REPO_ID = re.compile(rf"^{_REPO_PART}/{_REPO_PART}$")


def is_hub_ref(value: str) -> bool:
    return str(value).startswith(HUB_PREFIX)


def check_repo_id(repo: str, option: str = "--repo") -> str:
    if not _REPO_ID.match(repo or "") or ".." in repo or len(repo) > 200:
        raise BadInput(f"{option} {repo!r}: expected <owner>/<name> (letters, digits, '-', '_', '.')")
    return repo


@dataclass(frozen=True, slots=True)
class HubDataRef:
    """`hf:<owner>/<dataset>[/<file>][@<revision>]` taken apart."""

    text: str
    repo_id: str
    path: str | None = None
    revision: str | None = None

    @classmethod
    def parse(cls, text: str) -> HubDataRef:
        body = text.removeprefix(HUB_PREFIX)
        body, at, revision = body.partition("@")
        parts = body.split("/")
        if len(parts) < 2 or (at and not revision):
            raise BadInput(f"{text}: expected hf:<owner>/<dataset>[/<file>][@<revision>]")
        repo_id = check_repo_id("/".join(parts[:2]), option=text + ":")
        path = "/".join(parts[2:]) or None
        if path and (".." in path.split("/") or path.startswith("/")):
            raise BadInput(f"{text}: the file path must stay inside the dataset repo")
        return cls(text, repo_id, path, revision or None)


def hub_cache_dir() -> Path | None:
    """`$MSM_CACHE/hub`, or None for huggingface_hub's own cache (shared with `datasets` and transformers)."""
    env = os.environ.get("MSM_CACHE")
    return Path(env) / "hub" if env else None


def resolve_data_file(value: str, *, option: str = "data file") -> Path:
    """A local path for `value`: unchanged unless it is an `hf:` reference, which is downloaded (once) and
    resolved to one .parquet or .jsonl file. BadInput (exit 2) for a reference that cannot mean a file;
    MsmError (exit 1) when the Hub cannot be reached and nothing is cached."""
    if not is_hub_ref(value):
        return Path(value)
    ref = HubDataRef.parse(value)
    folder = _download(ref, option)
    files = _data_files(folder, ref, option)
    if len(files) == 1:
        return files[0]
    return _merged(files, folder, ref)


def _download(ref: HubDataRef, option: str) -> Path:
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import (HfHubHTTPError, LocalEntryNotFoundError, RepositoryNotFoundError,
                                        RevisionNotFoundError)
    from huggingface_hub.utils import disable_progress_bars

    disable_progress_bars()  # msm reports in one line; per-file bars would interleave with its own output
    patterns = [ref.path] if ref.path else ["README.md", *(f"*{suffix}" for suffix in DATA_SUFFIXES)]
    try:
        return Path(snapshot_download(ref.repo_id, repo_type="dataset", revision=ref.revision,
                                      allow_patterns=patterns, cache_dir=hub_cache_dir()))
    except RevisionNotFoundError:
        raise BadInput(f"{option} {ref.text}: the dataset has no revision {ref.revision!r}") from None
    except RepositoryNotFoundError:
        raise BadInput(f"{option} {ref.text}: no such dataset on the Hub (a private one needs `hf auth login`)") from None
    except LocalEntryNotFoundError:
        raise MsmError(f"{option} {ref.text}: not in the cache and the Hub cannot be reached (offline?)") from None
    except HfHubHTTPError as exc:
        raise MsmError(f"{option} {ref.text}: the Hub answered: {first_line(exc)}") from None


def _data_files(folder: Path, ref: HubDataRef, option: str) -> list[Path]:
    if ref.path:
        target = folder / ref.path
        if not target.is_file():
            raise BadInput(f"{option} {ref.text}: the dataset has no file {ref.path!r}")
        if target.suffix not in DATA_SUFFIXES:
            raise BadInput(f"{option} {ref.text}: msm reads {' or '.join(DATA_SUFFIXES)} files, not {target.suffix or target.name}")
        return [target]
    files = _card_split_files(folder) or sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix in DATA_SUFFIXES)
    if not files:
        raise BadInput(f"{option} {ref.text}: the dataset has no {' or '.join(DATA_SUFFIXES)} files msm can read")
    suffixes = sorted({p.suffix for p in files})
    if len(suffixes) > 1:
        names = ", ".join(p.relative_to(folder).as_posix() for p in files[:4])
        raise BadInput(f"{option} {ref.text}: several kinds of data files ({names}); name one: "
                       f"{HUB_PREFIX}{ref.repo_id}/<file>")
    return files


def _card_split_files(folder: Path) -> list[Path]:
    """The files of the default config's train split (or its first split), as the dataset card's `configs`
    names them; [] when the card names none msm can read."""
    readme = folder / "README.md"
    if not readme.is_file():
        return []
    from huggingface_hub import DatasetCard

    configs = DatasetCard.load(readme).data.to_dict().get("configs") or []
    config = next((c for c in configs if c.get("config_name") == "default"), configs[0] if configs else None)
    if not isinstance(config, dict):
        return []
    data_files = config.get("data_files")
    if isinstance(data_files, list) and data_files and isinstance(data_files[0], dict):
        split = next((d for d in data_files if d.get("split") == "train"), data_files[0])
        patterns = split.get("path")
    else:
        patterns = data_files
    patterns = [patterns] if isinstance(patterns, str) else list(patterns or [])
    found = sorted({p for pattern in patterns for p in folder.glob(pattern) if p.is_file() and p.suffix in DATA_SUFFIXES})
    return found


def _merged(files: list[Path], folder: Path, ref: HubDataRef) -> Path:
    """Several files of one split as one file msm can read, written once per dataset commit and file list."""
    from huggingface_hub import constants

    listing = "\n".join(p.relative_to(folder).as_posix() for p in files)
    key = hashlib.sha256(f"{folder.name}\n{listing}".encode()).hexdigest()[:16]
    root = hub_cache_dir() or Path(constants.HF_HUB_CACHE)
    target = root / "msm-merged" / f"{ref.repo_id.replace('/', '--')}--{key}{files[0].suffix}"
    if target.is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    if files[0].suffix == ".jsonl":
        chunks = [p.read_bytes() for p in files]
        write_bytes_atomic(target, b"".join(c if c.endswith(b"\n") or not c else c + b"\n" for c in chunks))
    else:
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pa.concat_tables([pq.read_table(p) for p in files], promote_options="default")
        staging = target.with_name(f".{target.name}.tmp")
        pq.write_table(table, staging)
        os.replace(staging, target)
    return target


# ---- push ------------------------------------------------------------------------------------------------
def push_files(repo_id: str, repo_type: str, files: dict[str, Path | bytes], *, private: bool, message: str) -> dict[str, Any]:
    """Create the repo if needed (private when asked; otherwise the account's default) and add `files`
    (path in repo -> local file or bytes) in one commit."""
    from huggingface_hub import CommitOperationAdd, HfApi
    from huggingface_hub.errors import HfHubHTTPError

    api = HfApi()
    operations = [CommitOperationAdd(path_in_repo=path, path_or_fileobj=str(src) if isinstance(src, Path) else src)
                  for path, src in sorted(files.items())]
    try:
        url = api.create_repo(repo_id, repo_type=repo_type, private=True if private else None, exist_ok=True)
        commit = api.create_commit(repo_id, operations=operations, commit_message=message, repo_type=repo_type)
    except HfHubHTTPError as exc:
        raise MsmError(f"--repo {repo_id}: the Hub refused the push ({first_line(exc)}); "
                       f"log in with `hf auth login` or set HF_TOKEN") from None
    except OSError as exc:
        raise MsmError(f"--repo {repo_id}: could not reach the Hub (offline?): {first_line(exc)}") from None
    except Exception as exc:  # the HTTP client's connection errors are not OSErrors
        if "connect" not in type(exc).__name__.lower() and "timeout" not in type(exc).__name__.lower():
            raise
        raise MsmError(f"--repo {repo_id}: could not reach the Hub (offline?): {first_line(exc)}") from None
    return {"repo": repo_id, "repo_type": repo_type, "url": str(url), "commit": commit.oid,
            "commit_url": commit.commit_url, "files": sorted(files)}


def log_push(ws: Workspace, record: dict[str, Any]) -> None:
    path = ws.root / "hub" / PUSH_LOG
    path.parent.mkdir(parents=True, exist_ok=True)
    append_jsonl(path, [{"pushed_at": utc_now().isoformat(), **record}])


def pushes(ws: Workspace) -> list[dict[str, Any]]:
    path = ws.root / "hub" / PUSH_LOG
    return list(read_jsonl(path)) if path.is_file() else []


def push_snapshot(ws: Workspace, name: str, repo: str, *, private: bool = False, license: str | None = None) -> dict[str, Any]:
    """Push a verified snapshot as a dataset repo with a card built from its manifest."""
    from msm.corpus.snapshot.store import DOCUMENTS_FILE, MANIFEST_FILE, load_verified_snapshot
    from msm.hub_cards import dataset_card

    check_repo_id(repo)
    # MsmError (exit 1) if it no longer matches its hashes; the bytes pushed are the bytes verified
    verified = load_verified_snapshot(ws, name)
    manifest, parquet = verified.manifest, ws.snapshot_dir(name) / DOCUMENTS_FILE
    card = dataset_card(ws, manifest, parquet, repo_id=repo, license=license)
    files: dict[str, Path | bytes] = {DOCUMENTS_FILE: verified.documents, MANIFEST_FILE: verified.manifest_bytes,
                                      "README.md": str(card).encode()}
    result = push_files(repo, "dataset", files, private=private,
                        message=f"msm snapshot {name} (content hash {manifest.content_hash[:16]})")
    log_push(ws, {"kind": "snapshot", "name": name, "content_hash": manifest.content_hash, **result})
    return {"snapshot": name, "content_hash": manifest.content_hash, **result}


def push_model(ws: Workspace, name: str, repo: str, *, private: bool = False, license: str | None = None) -> dict[str, Any]:
    """Push a model msm trained (the directory as written) with a card built from its manifest."""
    from msm.hub_cards import model_card
    from msm.train.provenance import read_manifest

    check_repo_id(repo)
    model_dir = ws.model_dir(name)
    if not model_dir.is_dir():
        raise BadInput(f"model {name!r}: no such model in {ws.root} (see `msm models list`)")
    try:
        manifest = read_manifest(model_dir)
    except ValueError as exc:
        raise MsmError(f"{model_dir}/manifest.json: unreadable: {first_line(exc)}") from None
    if manifest is None:
        raise BadInput(f"model {name!r}: {model_dir} has no manifest.json; only models msm trained can be pushed")
    card = model_card(ws, model_dir, manifest, license=license)
    files: dict[str, Path | bytes] = {p.relative_to(model_dir).as_posix(): p
                                      for p in sorted(model_dir.rglob("*")) if p.is_file()}
    files["README.md"] = str(card).encode()
    result = push_files(repo, "model", files, private=private, message=f"msm model {name} ({manifest.stage})")
    log_push(ws, {"kind": "model", "name": name, **{k: v for k, v in result.items() if k != "files"}})
    return {"model": name, **result}
