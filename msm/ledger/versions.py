"""Spec versions: resolve a spec reference (file, shipped id, or `run:NAME` for the spec a run was generated from)
and diff two of them clause by clause and section by section, on content hashes."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel

from msm.errors import BadInput
from msm.spec import Spec, load_spec, resolve_spec_path
from msm.workspace import Workspace

RUN_PREFIX = "run:"
Change = Literal["added", "removed", "changed", "unchanged"]


class PartChange(BaseModel):
    kind: Literal["clause", "section", "frame"]
    id: str
    change: Change
    fields: list[str] = []  # which fields differ (changed parts)
    old_hash: str | None = None
    new_hash: str | None = None


class SpecDiff(BaseModel):
    old: dict[str, str]  # {ref, id, version, hash}
    new: dict[str, str]
    identical: bool
    parts: list[PartChange]

    def count(self, change: Change, kind: str | None = None) -> int:
        return sum(1 for p in self.parts if p.change == change and (kind is None or p.kind == kind))


def load_ref(ref: str, ws: Workspace | None) -> Spec:
    from msm.corpus.run_store import run_spec

    if ref.startswith(RUN_PREFIX):
        if ws is None:
            raise BadInput(f"{ref}: a run's spec needs a workspace")
        return run_spec(ws, ref[len(RUN_PREFIX):])
    return load_spec(resolve_spec_path(ref))


def _field_changes(old: dict, new: dict) -> list[str]:
    return sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k) and k != "id")


def diff_specs(old: Spec, new: Spec, *, old_ref: str = "", new_ref: str = "") -> SpecDiff:
    parts: list[PartChange] = []
    old_frame = {"model_name": old.model_name, "provider_name": old.provider_name, "title": old.title,
                 "description": old.description}
    new_frame = {"model_name": new.model_name, "provider_name": new.provider_name, "title": new.title,
                 "description": new.description}
    if old.frame_hash() != new.frame_hash():
        parts.append(PartChange(kind="frame", id="(spec)", change="changed", fields=_field_changes(old_frame, new_frame),
                                old_hash=old.frame_hash(), new_hash=new.frame_hash()))
    for kind, before, after in (("section", old.sections, new.sections), ("clause", old.clauses, new.clauses)):
        a = {p.id: p for p in before}
        b = {p.id: p for p in after}
        order = [p.id for p in after] + [i for i in a if i not in b]
        for part_id in order:
            if part_id not in a:
                parts.append(PartChange(kind=kind, id=part_id, change="added", new_hash=b[part_id].content_hash))
            elif part_id not in b:
                parts.append(PartChange(kind=kind, id=part_id, change="removed", old_hash=a[part_id].content_hash))
            else:
                oh, nh = a[part_id].content_hash, b[part_id].content_hash
                parts.append(PartChange(kind=kind, id=part_id, change="unchanged" if oh == nh else "changed",
                                        fields=[] if oh == nh else _field_changes(a[part_id].model_dump(),
                                                                                  b[part_id].model_dump()),
                                        old_hash=oh, new_hash=nh))

    def side(spec: Spec, ref: str) -> dict[str, str]:
        return {"ref": ref, "id": spec.id, "version": spec.version, "hash": spec.content_hash}

    return SpecDiff(old=side(old, old_ref), new=side(new, new_ref), identical=old.content_hash == new.content_hash,
                    parts=parts)
