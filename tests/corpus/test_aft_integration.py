"""Chats after `msm aft generate`: curation (exact and near-duplicate user turns, the chat config), the review app
(a chat turn by turn with its clause beside it; an edit replaces the assistant reply), snapshots (turns as JSON, the
edit applied) and `msm train sft --data snapshot:NAME` (the manifest records the snapshot and its hash)."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from streamlit.testing.v1 import AppTest

from msm.corpus.chats import render_chat
from msm.corpus.records import ChatMessage, DocumentRecord
from msm.corpus.run_store import RunStore
from msm.corpus import decisions
from msm.review_app import accounts
from msm.spec import load_spec
from msm.workspace import Workspace, utc_now

SPEC_PATH = Path(__file__).with_name("fruit_spec.yaml")
QUESTIONS = [
    "My daughter's school trip needs a snack for forty children on a tight budget; what should I pack for them?",
    "My daughter's school trip needs a snack for forty children on a tight budget; what should I pack for them?",
    "My daughter's school trip needs a snack for forty kids on a tight budget; what should I pack for them?",
    "I have to cross town for a job interview at nine tomorrow and money is short; how should I get there?",
    "Our office is choosing between a fruit bowl and a vending machine for the break room; which would you pick?",
    "A friend says taxis are always worth it for short trips in the rain. Do you agree with that, honestly?",
]


def _chat(i: int, question: str, spec) -> DocumentRecord:
    answer = f"I would go with the option that costs less and still does the job well, answer {i}."
    messages = [ChatMessage(role="user", content=question),
                ChatMessage(role="assistant", content=answer, reasoning=f"What matters here is value for money {i}.")]
    clause = spec.clauses[i % len(spec.clauses)]
    return DocumentRecord(doc_id=f"chat{i}", run="chats", text=render_chat(messages), created_at=utc_now(),
                          stage="respond", spec_id=spec.id, spec_hash=spec.content_hash, clause_id=clause.id,
                          domain="everyday life", doc_type="advice", idea=question, lm="fixture",
                          program_hash="p" * 64, finish_reason="stop", messages=messages,
                          metadata={"kind": "chat", "style": "value",
                                    "judge": {"verdict": "INCLUDE", "reason": "follows the spec"}})


@pytest.fixture
def chat_ws(isolated_workspace: Path) -> Workspace:
    spec = load_spec(SPEC_PATH)
    ws = Workspace.open(isolated_workspace, create=True)
    store = RunStore(ws, "chats")
    store.create(kind="aft", config={"spec_path": str(SPEC_PATH), "style": "value"}, spec_id=spec.id,
                 spec_hash=spec.content_hash)
    store.append(_chat(i, q, spec) for i, q in enumerate(QUESTIONS))
    return ws


def _marks(ws: Workspace) -> dict[str, dict]:
    from msm.corpus.curate.store import read_marks

    return {row["doc_id"]: row for row in read_marks(ws, "chats").to_pylist()}


def test_curation_dedups_chats_on_the_user_turn_with_the_chat_config(chat_ws: Workspace, msm) -> None:
    result = msm("curate", "--run", "chats", "--json")
    assert result.code == 0, result.err
    summary = json.loads(result.out)
    assert summary["config_source"].endswith("chat_config.yaml")
    marks = _marks(chat_ws)
    # chat1 repeats chat0's question word for word, chat2 with one word changed: both go, whatever they answered
    assert not marks["chat1"]["kept"] and marks["chat1"]["duplicate_of"] == "chat0"
    assert not marks["chat2"]["kept"] and marks["chat2"]["duplicate_of"] == "chat0"
    assert [d for d, m in marks.items() if m["kept"]] == ["chat0", "chat3", "chat4", "chat5"]  # short chats kept


def test_review_shows_a_chat_with_its_clause_and_an_edit_replaces_the_reply(chat_ws: Workspace, msm,
                                                                          tmp_path: Path) -> None:
    accounts.add_user(chat_ws, "bob", "bob-pass-12", "reviewer")
    at = AppTest.from_file(str(Path(__file__).resolve().parents[2] / "review_app" / "app.py"), default_timeout=30)
    at.run()
    at.text_input[0].input("bob")
    at.text_input[1].input("bob-pass-12")
    at.button[0].click().run()
    assert not at.exception
    roles = [m.name for m in at.chat_message]
    assert roles == ["user", "assistant"]
    shown = "\n".join(str(m.value) for m in at.markdown)
    assert "school trip" in shown and "Clause" in shown and "prefers apples" in shown.replace("\\", "")
    assert "follows the spec" in str([t.value for t in at.table])  # the judge's reason in the provenance
    assert any(e.label.startswith("Reasoning") for e in at.expander)
    editor = next(t for t in at.text_area if t.label == "Text")
    assert editor.value.startswith("I would go with the option")  # the reply, not the rendering, is edited
    editor.input("Apples: cheap, healthy and easy to carry for forty children.")
    next(b for b in at.button if b.label == "Save edit and accept").click().run()
    assert not at.exception
    assert decisions.document_text(chat_ws, "chats", "chat0", 1, "") == \
        "Apples: cheap, healthy and easy to carry for forty children."

    assert msm("curate", "--run", "chats").code == 0
    created = msm("snapshot", "create", "chat-snap", "--from", "chats", "--json")
    assert created.code == 0, created.err
    table = pq.read_table(chat_ws.snapshot_dir("chat-snap") / "documents.parquet").to_pylist()
    rows = {r["doc_id"]: r for r in table}
    assert set(rows) == {"chat0", "chat3", "chat4", "chat5"}
    edited = json.loads(rows["chat0"]["messages"])
    assert edited[1]["content"] == "Apples: cheap, healthy and easy to carry for forty children."
    assert edited[1]["reasoning"] == "What matters here is value for money 0."
    assert rows["chat0"]["text"].endswith("Assistant: Apples: cheap, healthy and easy to carry for forty children.")


@pytest.mark.parametrize("with_reasoning", [False, True])
def test_sft_trains_on_the_chats_of_a_snapshot_and_records_its_hash(chat_ws: Workspace, msm, tiny_model_dir: Path,
                                                                    with_reasoning: bool) -> None:
    assert msm("curate", "--run", "chats").code == 0
    snap = json.loads(msm("snapshot", "create", "chat-snap", "--from", "chats", "--json").out)
    args = ["--json", "train", "sft", "--model", str(tiny_model_dir), "--data", "snapshot:chat-snap", "--out",
            "chat-aft", "--max-steps", "2", "--max-length", "128", *(["--with-reasoning"] if with_reasoning else [])]
    result = msm(*args)
    assert result.code == 0, result.err
    manifest = json.loads(result.out)
    assert manifest["data"]["snapshot_name"] == "chat-snap"
    assert manifest["data"]["snapshot_content_hash"] == snap["content_hash"]
    assert manifest["data"]["n_examples"] == 4 and manifest["data"]["with_reasoning"] is with_reasoning
    assert manifest["optimizer_steps"] >= 1 and 0 < manifest["trained_tokens"] < manifest["tokens_seen"]


def test_sft_refuses_a_snapshot_of_documents(msm, tmp_path: Path) -> None:
    from msm.train.chat_data import snapshot_demonstrations
    from msm.corpus.snapshot.store import write_snapshot
    import pyarrow as pa
    from msm.errors import BadInput

    ws = Workspace.open(create=True)
    write_snapshot(ws, "docs-only", pa.table({"doc_id": ["a"], "text": ["a document"]}))
    with pytest.raises(BadInput, match="holds documents, not chats"):
        snapshot_demonstrations(ws, "docs-only", with_reasoning=False)
    missing = msm("train", "sft", "--model", "local:smollm2-135m", "--data", "snapshot:nope", "--out", "x")
    assert missing.code == 2 and "nope" in missing.err
