"""Typed records at the corpus seams. Each is written as one JSON line (append-only) or a Parquet row,
and carries `schema_version` so readers can refuse what they do not understand."""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

DOCUMENT_SCHEMA_VERSION = 1


class ChatMessage(BaseModel):
    """One turn of a chat record; an assistant turn may carry the reasoning it was written with."""

    model_config = ConfigDict(extra="forbid")

    role: Literal["system", "user", "assistant"]
    content: str
    reasoning: str | None = None


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
    messages: list[ChatMessage] | None = Field(default=None, description=(
        "A chat record's turns (runs of kind 'aft'); `text` is then a rendering of them for search and filters."))
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


RunKind = Literal["generated", "imported", "aft"]


# ---- a generated run's resume files (runs/<name>/stages.jsonl, calls.jsonl, batches.jsonl) ------------------------
RESUME_SCHEMA_VERSION = 1


class StageRecord(BaseModel):
    """One brainstorm answer (plan / types / ideas) or a kept draft awaiting its revise call. A rerun replays these
    instead of asking again; `key` names the piece of work (`<clause>#<attempt>`, `<clause>|<type>#<attempt>`,
    `<doc id>:<attempt>`)."""

    model_config = ConfigDict(extra="ignore")

    schema_version: int = RESUME_SCHEMA_VERSION
    stage: str
    key: str
    ok: bool
    output: dict[str, Any] = Field(default_factory=dict)
    raw: str | None = None
    reason: str | None = None
    parse_mode: str | None = None
    lm: str | None = None
    at: str | None = None
    batch_id: str | None = Field(default=None, description="The batch that answered (batch engine only).")
    usage: dict[str, float] | None = Field(default=None, description="prompt_tokens, completion_tokens and cost of "
                                                                     "the call that answered (chat runs keep it to "
                                                                     "account a finished chat across processes).")

    OMIT_WHEN_NONE: ClassVar[frozenset[str]] = frozenset({"batch_id", "usage"})


class CallRecord(BaseModel):
    """One LM call (or one batch result): what it cost and whether it failed."""

    model_config = ConfigDict(extra="ignore")

    schema_version: int = RESUME_SCHEMA_VERSION
    stage: str
    item: str
    rollout: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: float = 0.0
    cache_hit: bool = False
    error: str | None = None
    latency_s: float = 0.0
    at: str | None = None
    batch_id: str | None = None
    custom_id: str | None = None
    cost_basis: str | None = None

    OMIT_WHEN_NONE: ClassVar[frozenset[str]] = frozenset({"batch_id", "custom_id", "cost_basis"})


BatchEventKind = Literal["uploaded", "submitted", "finished", "ingested", "file_written", "abandoned"]


class BatchEvent(BaseModel):
    """One step in the life of a batch of requests (batch engine): uploaded (file id) → submitted (batch id) →
    finished → ingested; `file_written` for request files written for `vllm run-batch`."""

    model_config = ConfigDict(extra="ignore")

    schema_version: int = RESUME_SCHEMA_VERSION
    event: BatchEventKind
    at: str | None = None
    stage: str | None = None
    round: int | None = None
    part: int | None = None
    input_file_id: str | None = None
    batch_id: str | None = None
    status: str | None = None
    requests: int | None = None
    bytes: int | None = None
    output_file_id: str | None = None
    error_file_id: str | None = None
    request_counts: dict[str, Any] | None = None
    answered: int | None = None
    errors: int | None = None
    skipped: int | None = None
    path: str | None = None
    adopted: bool | None = None

    OMIT_WHEN_NONE: ClassVar[frozenset[str]] = frozenset(
        {"stage", "round", "part", "input_file_id", "batch_id", "status", "requests", "bytes", "output_file_id",
         "error_file_id", "request_counts", "answered", "errors", "skipped", "path", "adopted"})


def resume_line(record: StageRecord | CallRecord | BatchEvent) -> dict[str, Any]:
    """A resume record as the JSON line it is stored as: optional fields that only some engines fill are left out
    when empty, so the files read the same as before the records were typed."""
    omit = {name for name in record.OMIT_WHEN_NONE if getattr(record, name) is None}
    return record.model_dump(mode="json", exclude=omit)
