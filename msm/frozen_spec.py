"""A run carries its spec: a frozen copy of the spec file in the run, found from there by every later stage.

    runs/<name>/spec.yaml      the spec file's bytes as they were when the run was created
    run.json  "spec_file": {"spec_id", "content_hash", "source_path", "file", "file_sha256"}

A user's spec lives anywhere (its own file, its own model name); the path it was read from may move or change after
generation. The frozen copy is what the review app's guidelines pane, the snapshot manifest (a copy per spec, hashed
like every snapshot file), the train manifest (`spec_ids[].spec_path`) and `msm eval --suite spec_knowledge` read, so
none of them needs `--spec` again. Every read checks the copy's content hash against the record: an edited copy is
damage, reported, never silently used.
"""

from __future__ import annotations

import hashlib
import tempfile
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict

from msm.atomic import write_bytes_atomic
from msm.errors import MsmError
from msm.spec import Spec, load_spec

FROZEN_SPEC_FILE = "spec.yaml"


class FrozenSpec(BaseModel):
    """run.json's `spec_file`: which spec the run was made from and where its frozen copy is."""

    model_config = ConfigDict(extra="forbid")

    spec_id: str
    content_hash: str
    source_path: str | None = None  # where the user's file was (informational: it may have moved since)
    file: str = FROZEN_SPEC_FILE  # the copy, relative to the run (or snapshot) directory
    file_sha256: str


def spec_bytes(spec: Spec, source: Path | None) -> bytes:
    """The bytes to freeze: the source file as written (comments and all) when it still holds this spec, else the
    spec's own fields as YAML (a spec built in Python, or a file edited since it was loaded)."""
    if source is not None and source.is_file():
        data = source.read_bytes()
        if _hash_of(data) == spec.content_hash:
            return data
    fields = spec.model_dump(mode="json")
    if not spec.sections:
        fields.pop("sections", None)
    return yaml.safe_dump(fields, sort_keys=False, allow_unicode=True).encode("utf-8")


def _hash_of(data: bytes) -> str | None:
    """The content hash of spec file bytes (None if they are not a readable spec)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / FROZEN_SPEC_FILE
        path.write_bytes(data)
        try:
            return load_spec(path).content_hash
        except MsmError:
            return None


def freeze_spec(directory: Path, spec: Spec, source: str | Path | None) -> FrozenSpec:
    """Write `directory/spec.yaml` (atomically) and return the record that run.json keeps."""
    source_path = Path(source).resolve() if source else None
    data = spec_bytes(spec, source_path)
    directory.mkdir(parents=True, exist_ok=True)
    write_bytes_atomic(directory / FROZEN_SPEC_FILE, data)
    return FrozenSpec(spec_id=spec.id, content_hash=spec.content_hash,
                      source_path=str(source_path) if source_path else None,
                      file_sha256=hashlib.sha256(data).hexdigest())


def load_frozen(directory: Path, record: dict[str, Any] | FrozenSpec) -> Spec:
    """The spec frozen in `directory` by `record`; MsmError (exit 1) if the copy is missing or was changed."""
    frozen = record if isinstance(record, FrozenSpec) else FrozenSpec.model_validate(record)
    path = directory / frozen.file
    if not path.is_file():
        raise MsmError(f"{path}: the run's frozen spec copy is missing")
    spec = load_spec(path)
    if spec.content_hash != frozen.content_hash:
        raise MsmError(f"{path}: spec content hash {spec.content_hash[:12]}… differs from the "
                       f"{frozen.content_hash[:12]}… recorded when the run was made (the copy was edited)")
    return spec


def run_spec(run_dir: Path, run_record: dict[str, Any]) -> Spec | None:
    """The spec a run carries (None for runs made before runs carried one, or runs without a spec)."""
    record = run_record.get("spec_file")
    return load_frozen(run_dir, record) if record else None


def spec_from_entry(entry: dict[str, Any]) -> Spec | None:
    """A spec named by a train manifest's `spec_ids` entry: its frozen copy (`spec_path`) when the entry has one
    and it still holds that spec; None otherwise (the caller falls back to the shipped spec with that id)."""
    path = entry.get("spec_path")
    if not isinstance(path, str) or not Path(path).is_file():
        return None
    spec = load_spec(path)
    if entry.get("spec_hash") and spec.content_hash != entry["spec_hash"]:
        raise MsmError(f"{path}: spec content hash {spec.content_hash[:12]}… differs from the "
                       f"{str(entry['spec_hash'])[:12]}… the model's manifest records")
    return spec
