"""The Hugging Face Hub push: snapshots and models out.

`msm snapshot push NAME --repo owner/name` makes one commit to a dataset repo — documents.parquet, manifest.json and
a dataset card (README.md) built from the manifest; `msm models push NAME --repo owner/name` makes one commit to a
model repo — the model directory as msm wrote it (weights, manifest, loss curve, TensorBoard events, LoRA adapter)
and a model card built from its manifest (`msm.hub.cards`). Every push is appended to the push log (`msm.hub.log`);
a model card names the Hub datasets its snapshots were pushed to from there. Reading `hf:` data references is
`msm.data_refs`, a layer below.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from msm.data_refs import check_repo_id
from msm.errors import BadInput, MsmError, first_line
from msm.hub.log import log_push
from msm.workspace import Workspace


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


def push_snapshot(ws: Workspace, name: str, repo: str, *, private: bool = False, license: str | None = None) -> dict[str, Any]:
    """Push a verified snapshot as a dataset repo with a card built from its manifest."""
    from msm.corpus.snapshot.store import DOCUMENTS_FILE, MANIFEST_FILE, load_verified_snapshot
    from msm.hub.cards import dataset_card

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
    from msm.hub.cards import model_card
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
