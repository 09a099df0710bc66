"""Chat records (runs of kind `aft`): a `DocumentRecord` whose `messages` hold the turns and whose `text` is their
rendering. One place for how a chat is rendered, which turn a reviewer edits, and how turns travel as JSON through
run exports and snapshots (a JSON string column: document runs have none, and Parquet tables of both kinds concat)."""

from __future__ import annotations

import json
from typing import Iterable

from msm.corpus.records import ChatMessage

ROLE_LABELS = {"system": "System", "user": "User", "assistant": "Assistant"}


def reasoning_answer(reasoning: str, answer: str) -> str:
    """An assistant turn that reasons before it answers: the reasoning in a <think> block, then the answer — the
    deliberative-alignment baseline's format, for `msm aft export --with-reasoning` and `msm train sft
    --with-reasoning` alike."""
    return f"<think>\n{reasoning.strip()}\n</think>\n\n{answer.strip()}"


def render_chat(messages: Iterable[ChatMessage]) -> str:
    """The turns as one text for search, filters and curation signals; reasoning is not part of it."""
    return "\n\n".join(f"{ROLE_LABELS[m.role]}: {m.content.strip()}" for m in messages)


def user_turns(messages: Iterable[ChatMessage]) -> str:
    return "\n".join(m.content for m in messages if m.role == "user")


def reply_of(messages: list[ChatMessage]) -> str:
    """The last assistant turn: what a reviewer's edit of a chat replaces."""
    return next(m.content for m in reversed(messages) if m.role == "assistant")


def with_reply(messages: list[ChatMessage], reply: str) -> list[ChatMessage]:
    """The turns with the last assistant turn's content replaced (its reasoning is kept)."""
    last = max(i for i, m in enumerate(messages) if m.role == "assistant")
    return [m.model_copy(update={"content": reply}) if i == last else m for i, m in enumerate(messages)]


def messages_json(messages: list[ChatMessage] | None) -> str | None:
    if messages is None:
        return None
    return json.dumps([m.model_dump(exclude_none=True) for m in messages], ensure_ascii=False)


def messages_from_json(text: str | None) -> list[ChatMessage] | None:
    if text is None:
        return None
    return [ChatMessage.model_validate(m) for m in json.loads(text)]
