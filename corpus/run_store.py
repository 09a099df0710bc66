"""A run's documents on disk: append-only JSONL, so a kill at any moment loses no finished document and
nothing half-written is ever read back (torn tails are skipped on read and cut before the next append); a
damaged line anywhere else is an error naming the file and line, never skipped.

    runs/<name>/run.json          the run's settings (written atomically once, at creation)
    runs/<name>/documents.jsonl   DocumentRecord per line, appended as documents finish
    runs/<name>/failures.jsonl    FailureRecord per line
    runs/<name>/spec.json         the spec the run was generated from, frozen (canonical JSON; `msm spec diff
                                  run:NAME ...`, `msm generate --reuse-from`)

The catalog's `runs` table indexes runs so `msm runs list` and the review app can find them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterable, Iterator

from msm.atomic import JsonlRecords, append_jsonl, line_number, read_jsonl, repair_jsonl_tail, write_json_atomic
from msm.errors import BadInput
from msm.input_files import MAX_RECORD_BYTES, InputFileError, load_json_object
from msm.workspace import Workspace, utc_now
from msm.corpus.records import DocumentRecord, FailureRecord, RunKind


class RunStore:
    def __init__(self, ws: Workspace, name: str):
        self.ws = ws
        self.name = name
        self.dir = ws.run_dir(name)

    @property
    def documents_path(self) -> Path:
        return self.dir / "documents.jsonl"

    @property
    def failures_path(self) -> Path:
        return self.dir / "failures.jsonl"

    @property
    def config_path(self) -> Path:
        return self.dir / "run.json"

    def exists(self) -> bool:
        return self.config_path.exists()

    def config(self) -> dict[str, Any]:
        if not self.exists():
            raise BadInput(f"run {self.name!r}: no such run in {self.ws.root} (see `msm runs list`)")
        return load_json_object(self.config_path, what="run record", max_bytes=MAX_RECORD_BYTES)

    def create(self, *, kind: RunKind, config: dict[str, Any], spec_id: str | None = None,
               spec_hash: str | None = None, spec: Any = None, spec_source: str | Path | None = None) -> None:
        """Register a new run. The config is written once; reruns compare against it, never rewrite it.
        With `spec` (a `msm.spec.Spec`) the run carries a frozen copy of it (`msm.frozen_spec`)."""
        self.dir.mkdir(parents=True, exist_ok=True)
        record = {"name": self.name, "kind": kind, "spec_id": spec_id, "spec_hash": spec_hash,
                  "created_at": utc_now().isoformat(), "config": config}
        if spec is not None:
            from msm.frozen_spec import freeze_spec

            record["spec_file"] = freeze_spec(self.dir, spec, spec_source).model_dump(mode="json")
        write_json_atomic(self.config_path, record)
        with self.ws.catalog() as con:
            con.execute("INSERT OR REPLACE INTO runs VALUES (?, ?, ?, ?, ?, ?)",
                        [self.name, kind, spec_id, spec_hash, utc_now(), json.dumps(config, sort_keys=True)])

    def spec(self) -> Any:
        """The spec this run carries (its frozen copy), or None for runs made before runs carried one."""
        from msm.frozen_spec import run_spec

        return run_spec(self.dir, self.config())

    def append(self, documents: Iterable[DocumentRecord]) -> None:
        repair_jsonl_tail(self.documents_path)
        append_jsonl(self.documents_path, [d.model_dump(mode="json") for d in documents])

    def append_failures(self, failures: Iterable[FailureRecord]) -> None:
        repair_jsonl_tail(self.failures_path)
        append_jsonl(self.failures_path, [f.model_dump(mode="json") for f in failures])

    def documents(self) -> Iterator[DocumentRecord]:
        """Each finished document once. A line repeating an earlier document exactly (same text and turns) is
        skipped; one that reuses a doc_id with other content is refused naming both lines — "first wins" would let
        an earlier impostor line shadow the real document. A torn last line is skipped in a run still being
        written (a kill left it), but refused in an imported run, which was complete when it was committed; a
        damaged line before it raises InputFileError naming `documents.jsonl:LINE` (exit 2)."""
        import hashlib


        seen: dict[str, tuple[bytes, int]] = {}
        # Parsing and validating in one step in pydantic-core is ~4x faster than json.loads + validate,
        # which is most of the review app's first load of a 100k-document run.
        records = JsonlRecords(self.documents_path, DocumentRecord.model_validate_json)
        count = 0
        for offset, _length, doc in records:
            content = hashlib.blake2b(doc.text.encode("utf-8", "surrogatepass"), digest_size=12)
            if doc.messages:
                content.update(json.dumps([m.model_dump(mode="json") for m in doc.messages], sort_keys=True).encode())
            digest = content.digest()
            earlier = seen.get(doc.doc_id)
            if earlier is not None:
                if earlier[0] != digest:
                    raise reused_id_error(self.documents_path, doc.doc_id, earlier[1], offset)
                continue
            seen[doc.doc_id] = (digest, offset)
            count += 1
            yield doc
        self._check_complete(records.end, count)

    def _check_complete(self, end: int, count: int) -> None:
        """An imported run was written whole before it was committed: a torn tail or fewer documents than its
        record counted is damage, not an interrupted append."""
        if not self.exists() or self.config().get("kind") != "imported":
            return
        record = self.config()
        try:
            size = self.documents_path.stat().st_size
        except OSError:
            size = 0
        if end < size:
            raise InputFileError(self.documents_path, f"the last line (from byte {end}) is cut off: this imported "
                                 "run was complete when it was committed, so the file was damaged since; import "
                                 "it again", line=line_number(self.documents_path, end), scope="document")
        expected = (record.get("config") or {}).get("n_documents")
        if isinstance(expected, int) and count != expected:
            raise InputFileError(self.documents_path, f"{count} documents, but the import recorded {expected}: "
                                 "lines were lost or added since; import it again", scope="document")

    def done_ids(self) -> set[str]:
        return {raw["doc_id"] for raw in read_jsonl(self.documents_path) if "doc_id" in raw}

    def failures(self) -> Iterator[FailureRecord]:
        for raw in read_jsonl(self.failures_path):
            yield FailureRecord.model_validate(raw)


def reused_id_error(path: Path, doc_id: str, first_offset: int, offset: int) -> InputFileError:
    """A doc_id written a second time with other content: which line is the document would be a guess."""
    return InputFileError(path, f"doc_id {doc_id!r} is used again with other content (first at line "
                          f"{line_number(path, first_offset)}); refusing to pick one",
                          line=line_number(path, offset), scope="document")


def same_content(a: DocumentRecord, b: DocumentRecord) -> bool:
    return a.text == b.text and a.messages == b.messages


def run_spec(ws: Workspace, run: str) -> Any:
    """The spec run `run` was generated from: its frozen copy, else a shipped spec with the run's spec hash."""
    from msm.spec import load_spec, shipped_specs

    store = RunStore(ws, run)
    record = store.config()
    frozen = store.spec()   # the copy the run carries (msm.frozen_spec)
    if frozen is not None:
        return frozen
    wanted = record.get("spec_hash")
    for path in shipped_specs():
        spec = load_spec(path)
        if wanted and spec.content_hash == wanted:
            return spec
    raise BadInput(f"run {run!r}: no frozen spec (runs made before msm kept one) and no "
                   f"shipped spec has its hash {str(wanted)[:12]}")


def list_runs(ws: Workspace) -> list[dict[str, Any]]:
    with ws.catalog(read_only=True) as con:
        rows = con.execute("SELECT name, kind, spec_id, spec_hash, created_at FROM runs ORDER BY created_at").fetchall()
    return [{"name": n, "kind": k, "spec_id": s, "spec_hash": h, "created_at": c} for n, k, s, h, c in rows]


def run_summary(store: RunStore) -> dict[str, Any]:
    """What `msm runs show` prints: counts per clause and type, failures, LM calls, tokens and cost."""
    from msm.corpus.records import CallRecord

    config = store.config()
    per_clause: dict[str, int] = {}
    per_type: dict[str, int] = {}
    per_stage: dict[str, int] = {}
    sources: dict[str, dict[str, int]] = {}
    n_docs = 0
    template = {"templated_documents": 0, "template_chars": 0, "chars": 0, "paragraphs": 0, "paragraphs_cut": 0}
    for doc in store.documents():
        n_docs += 1
        declared = int(doc.metadata.get("scaffold_chars") or doc.metadata.get("opening_chars") or 0)
        template["chars"] += len(doc.text)
        if declared:
            template["templated_documents"] += 1
            template["template_chars"] += min(declared, len(doc.text))
        template["paragraphs"] += int(doc.metadata.get("scaffold_paragraphs") or 0)
        template["paragraphs_cut"] += int(doc.metadata.get("paragraphs_cut") or 0)
        per_clause[doc.clause_id or "-"] = per_clause.get(doc.clause_id or "-", 0) + 1
        per_type[doc.doc_type or "-"] = per_type.get(doc.doc_type or "-", 0) + 1
        per_stage[doc.stage] = per_stage.get(doc.stage, 0) + 1
        for part, source in (doc.metadata.get("sources") or {}).items():
            sources.setdefault(part, {})[source] = sources.setdefault(part, {}).get(source, 0) + 1
    failures = list(store.failures())
    reasons: dict[str, int] = {}
    for f in failures:
        reasons[f.reason.split(" (")[0]] = reasons.get(f.reason.split(" (")[0], 0) + 1
    calls = {"calls": 0, "errors": 0, "cache_hits": 0, "prompt_tokens": 0, "completion_tokens": 0, "cost_usd": 0.0}
    for raw in read_jsonl(store.dir / "calls.jsonl"):
        call = CallRecord.model_validate(raw)
        calls["calls"] += 1
        calls["errors"] += bool(call.error)
        calls["cache_hits"] += call.cache_hit
        calls["prompt_tokens"] += call.prompt_tokens
        calls["completion_tokens"] += call.completion_tokens
        calls["cost_usd"] += call.cost
    settings = config.get("config", {})
    return {"name": store.name, "kind": config.get("kind"), "spec_id": config.get("spec_id"),
            "spec_hash": config.get("spec_hash"), "created_at": config.get("created_at"), "lm": settings.get("lm"),
            "target": settings.get("n_docs", settings.get("n_chats")), "documents": n_docs, "per_clause": per_clause,
            "per_type": per_type,
            "per_stage": per_stage, "sources": sources,
            "failed_items": len({f.item_id for f in failures if f.permanent}), "failed_attempts": len(failures),
            "failure_reasons": reasons,
            "template": {**template, "share": round(template["template_chars"] / template["chars"], 4)
                         if template["chars"] else 0.0}, **calls}
