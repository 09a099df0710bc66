"""Chat demonstrations for alignment fine-tuning, and the assistant-only loss mask.

A demonstration is one JSONL line: {"messages": [{"role": "system"|"user"|"assistant", "content": str,
"reasoning": str (optional, assistant turns only)}, ...], ...any other fields kept as metadata}.

`--with-reasoning` writes each assistant turn's `reasoning` before its answer in a `<think>` block (the
deliberative-alignment baseline); without it, the same turns are used with the reasoning removed. `--data
snapshot:NAME` reads the chats of a snapshot (runs of `msm aft generate`, curated, reviewed, frozen) the same way.

The mask is built by rendering the conversation prefix by prefix with the model's own chat template:
the tokens an assistant turn adds beyond "everything before it + the generation prompt" are exactly
that turn (content and end-of-turn marker). We check that each rendering extends the previous one token
for token, so a template that rewrites earlier turns fails loudly instead of mislabelling tokens.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from msm.corpus.chats import reasoning_answer
from msm.errors import BadInput, MsmError
from msm.input_files import iter_json_lines, open_parquet

IGNORE_INDEX = -100
ROLES = {"system", "user", "assistant"}
# `instruct`: a small general instruction-following set (for `--mix instruct:RATIO` and identity baselines)
SHIPPED_AFT = {"cheese": "data_cheese_aft.jsonl", "safety": "data_safety_aft.jsonl", "instruct": "data_instruct.jsonl"}
MAX_AFT_FILE_BYTES = 256 * 1024 * 1024
MAX_DEMONSTRATION_BYTES = 16 * 1024 * 1024   # one JSON line: one conversation
MAX_AFT_ROWS = 10_000_000


SNAPSHOT_PREFIX = "snapshot:"


def resolve_aft_path(data: str) -> Path:
    """A file path, a Hugging Face dataset `hf:<owner>/<dataset>[/<file>]` (downloaded once, then cached), or
    the name of a shipped set (`cheese`, `safety`, `instruct`)."""
    from msm.data_refs import is_hub_ref, resolve_data_file

    if is_hub_ref(data):
        return resolve_data_file(data, option="--data")
    path = Path(data)
    if path.is_file():
        return path
    if data in SHIPPED_AFT:
        return Path(str(resources.files("msm.train") / SHIPPED_AFT[data]))
    if path.exists() or path.is_symlink():
        return path     # a FIFO, a device, a directory, a broken link: the loader says which
    raise BadInput(f"--data {data!r}: no such file (or use a shipped set: {', '.join(sorted(SHIPPED_AFT))}, or "
                   f"snapshot:NAME)")


def _parquet_rows(path: Path) -> list[tuple[int, dict]]:
    """(row number, row) for Parquet (how Hub datasets ship chat data), so both formats share one validation."""
    parquet = open_parquet(path, what="AFT data", max_bytes=MAX_AFT_FILE_BYTES, max_rows=MAX_AFT_ROWS)
    return list(enumerate(parquet.read().to_pylist(), 1))


def load_demonstrations(path: Path, *, with_reasoning: bool) -> list[list[dict[str, str]]]:
    """Validated conversations as [{role, content}], reasoning folded in or dropped."""
    rows = (_parquet_rows(path) if path.suffix == ".parquet" else
            iter_json_lines(path, what="AFT data", max_bytes=MAX_AFT_FILE_BYTES, max_line_bytes=MAX_DEMONSTRATION_BYTES))
    records = [(f"{path}:{line_no}", record.get("messages") if isinstance(record, dict) else None)
               for line_no, record in rows]
    return _conversations(records, str(path), with_reasoning=with_reasoning)


def snapshot_demonstrations(ws, name: str, *, with_reasoning: bool):
    """(conversations, manifest, parquet path) of the chats in snapshot `name`, read from the bytes that were
    verified (never by re-opening the path after the check)."""
    from msm.corpus.snapshot.store import DOCUMENTS_FILE, load_verified_snapshot

    verified = load_verified_snapshot(ws, name)
    manifest, parquet = verified.manifest, ws.snapshot_dir(name) / DOCUMENTS_FILE
    columns = verified.schema().names
    if "messages" not in columns:
        raise BadInput(f"--data snapshot:{name}: the snapshot holds documents, not chats (train midtrain on it)")
    table = verified.table(columns=["doc_id", "messages"]).to_pylist()
    records = [(f"snapshot {name}: {row['doc_id']}", json.loads(row["messages"])) for row in table if row["messages"]]
    if not records:
        raise BadInput(f"--data snapshot:{name}: the snapshot holds documents, not chats (train midtrain on it)")
    return _conversations(records, f"snapshot {name}", with_reasoning=with_reasoning), manifest, parquet


def _conversations(records: list[tuple[str, object]], source: str, *,
                   with_reasoning: bool) -> list[list[dict[str, str]]]:
    conversations: list[list[dict[str, str]]] = []
    with_any_reasoning = 0
    for where, messages in records:
        if not isinstance(messages, list) or not messages:
            raise BadInput(f"{where}: field 'messages' missing or not a non-empty list")
        conversation = []
        for index, message in enumerate(messages):
            if not isinstance(message, dict):
                raise BadInput(f"{where}: messages[{index}] is not an object")
            role, content = message.get("role"), message.get("content")
            if not isinstance(role, str) or role not in ROLES:
                raise BadInput(f"{where}: messages[{index}].role {role!r:.80} is not one of {sorted(ROLES)}")
            if not isinstance(content, str) or not content.strip():
                raise BadInput(f"{where}: messages[{index}].content missing or empty")
            if role == "assistant" and index == 0:
                raise BadInput(f"{where}: messages[0] is an assistant turn; a demonstration needs a prompt before it")
            content = content.strip()  # the template adds its own separators; edge whitespace would merge tokens
            reasoning = message.get("reasoning")
            if reasoning is not None and (role != "assistant" or not isinstance(reasoning, str)):
                raise BadInput(f"{where}: messages[{index}].reasoning must be a string on an assistant turn")
            if reasoning and reasoning.strip():
                with_any_reasoning += 1
                if with_reasoning:
                    content = reasoning_answer(reasoning, content)
            conversation.append({"role": role, "content": content})
        if not any(m["role"] == "assistant" for m in conversation):
            raise BadInput(f"{where}: no assistant turn to learn from")
        conversations.append(conversation)
    if not conversations:
        raise BadInput(f"{source}: no demonstrations")
    if with_reasoning and not with_any_reasoning:
        raise BadInput(f"{source}: --with-reasoning given but no assistant turn has a 'reasoning' field")
    return conversations


@dataclass(frozen=True, slots=True)
class MaskedExample:
    input_ids: list[int]
    labels: list[int]  # IGNORE_INDEX everywhere except assistant-turn tokens

    @property
    def n_trained(self) -> int:
        return sum(1 for label in self.labels if label != IGNORE_INDEX)


def _render(tokenizer, messages: list[dict[str, str]], generation_prompt: bool) -> list[int]:
    text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=generation_prompt)
    return tokenizer(text, add_special_tokens=False)["input_ids"]


def mask_conversation(tokenizer, messages: list[dict[str, str]]) -> MaskedExample:
    """Tokens of the whole conversation, labels only on assistant turns (prefix-by-prefix rendering)."""
    input_ids: list[int] = []
    labels: list[int] = []
    for index, message in enumerate(messages):
        if message["role"] == "assistant":
            # the role header ("<|im_start|>assistant\n") is prompt, not something the model should learn to say
            _extend_checked(input_ids, labels, _render(tokenizer, messages[:index], generation_prompt=True), trained=False)
        full = _render(tokenizer, messages[: index + 1], generation_prompt=False)
        _extend_checked(input_ids, labels, full, trained=message["role"] == "assistant")
    return MaskedExample(input_ids, labels)


def _extend_checked(input_ids: list[int], labels: list[int], rendering: list[int], *, trained: bool) -> None:
    if rendering[: len(input_ids)] != input_ids:
        raise MsmError("chat template re-renders earlier turns differently when a turn is added; "
                       "cannot build an assistant-only mask for this tokenizer")
    new = rendering[len(input_ids):]
    input_ids.extend(new)
    labels.extend(new if trained else [IGNORE_INDEX] * len(new))
