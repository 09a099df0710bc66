"""`msm aft export`: a chat run as `{"messages": [...]}` JSONL for `msm train sft --data FILE`.

    --with-reasoning   each assistant turn is `<think>\\n{reasoning}\\n</think>\\n\\n{answer}` (corpus.chats.
                       reasoning_answer, as `msm train sft --with-reasoning` renders a `reasoning` field): the
                       deliberative-alignment baseline's data (the model learns to reason before it answers)
    --stripped         each assistant turn is the answer alone: plain AFT data

One line per chat of the run (every chat the judge included), single turn, no system prompt; `id`, `clause_id`,
`question_type` and `spec_id` ride along as metadata fields that training keeps but does not learn from. Written
atomically: FILE is either the old file or the complete new one.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from msm.corpus.chats import reasoning_answer
from msm.corpus.exporter import check_output_file
from msm.corpus.records import DocumentRecord
from msm.corpus.run_store import RunStore
from msm.errors import BadInput
from msm.export_temps import export_temp
from msm.workspace import Workspace

def chat_line(chat: DocumentRecord, *, with_reasoning: bool) -> dict[str, Any]:
    messages = []
    for m in chat.messages or []:
        content = reasoning_answer(m.reasoning, m.content) if with_reasoning and m.reasoning else m.content
        messages.append({"role": m.role, "content": content})
    return {"messages": messages, "id": chat.doc_id, "clause_id": chat.clause_id, "question_type": chat.doc_type,
            "spec_id": chat.spec_id}


def export_chats(ws: Workspace, run: str, out: Path, *, with_reasoning: bool, force: bool = False) -> dict[str, Any]:
    store = RunStore(ws, run)
    config = store.config()
    if config.get("kind") != "aft":
        raise BadInput(f"run {run!r} is a {config.get('kind')} run, not a chat run of `msm aft generate`")
    chats = [c for c in store.documents() if c.messages]
    if not chats:
        raise BadInput(f"run {run!r} has no chats to export")
    if with_reasoning and not any(m.reasoning for c in chats for m in c.messages or []):
        raise BadInput(f"run {run!r}: --with-reasoning, but its chats have no reasoning "
                       f"(style {config.get('config', {}).get('style')!r}); use --stripped")
    out = Path(out)
    check_output_file(out, force=force)
    lines = [json.dumps(chat_line(c, with_reasoning=with_reasoning), ensure_ascii=False) + "\n" for c in chats]
    out.parent.mkdir(parents=True, exist_ok=True)
    with export_temp(ws.root, out) as temp:     # listed in the workspace: a kill leaves nothing doctor misses
        with open(temp, "w", encoding="utf-8") as handle:
            handle.write("".join(lines))
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, out)
    return {"run": run, "chats": len(chats), "out": str(out), "with_reasoning": with_reasoning}
