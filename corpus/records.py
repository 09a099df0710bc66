"""Typed records at the corpus seams. Each is written as one JSON line (append-only) or a Parquet row,
and carries `schema_version` so readers can refuse what they do not understand."""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

DOCUMENT_SCHEMA_VERSION = 1


class DocumentRecord(BaseModel):
    """One document in a run, with the provenance needed to trace it back to its spec clause and LM call."""

    model_config = ConfigDict(extra="forbid")

    schema_version: int = DOCUMENT_SCHEMA_VERSION
    doc_id: str = Field(description="Stable id: derived from the run and the item it was written for.")
    run: str
    text: str
    created_at: datetime
    stage: str = Field(description="What produced the text: 'write', 'revise' or 'import'.")
    spec_id: str | None = None
    spec_hash: str | None = None
    clause_id: str | None = None
    domain: str | None = None
    doc_type: str | None = None
    idea: str | None = None
    persona: str | None = None
    lm: str | None = None
    program_hash: str | None = None
    seed: int | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    finish_reason: str | None = None
    source_id: str | None = Field(default=None, description="The id an imported document had in its source file.")
    metadata: dict[str, Any] = Field(default_factory=dict)


class FailureRecord(BaseModel):
    """An item the generator could not turn into a document; the raw LM output is kept for inspection."""

    model_config = ConfigDict(extra="forbid")

    schema_version: int = DOCUMENT_SCHEMA_VERSION
    run: str
    item_id: str
    stage: str
    reason: str
    raw: str | None = None
    created_at: datetime
    permanent: bool = True


def stable_id(*parts: object, length: int = 16) -> str:
    """A short, deterministic id from the parts that define an item (same inputs → same id, across machines)."""
    joined = "\x1f".join("" if p is None else str(p) for p in parts)
    return hashlib.sha256(joined.encode("utf-8")).hexdigest()[:length]


RunKind = Literal["generated", "imported"]
