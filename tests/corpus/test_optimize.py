"""`msm optimize` with real DSPy optimizers and a deterministic scripted LM whose documents are only clean when
the instruction it receives asks for that: the optimizer must find that instruction and the held-out valset
score must rise. Plus the clause split, the CI arithmetic, and a smoke run on the embedded model."""

from __future__ import annotations

import json
import re
from pathlib import Path
from types import SimpleNamespace

import dspy
import numpy as np
import pytest

from msm.corpus.optimize import optimizer as opt
from msm.corpus.generate import program as prog
from msm.lm.backends import Backend
from msm.spec import Spec
from msm.workspace import Workspace

SPEC = Spec.model_validate({
    "id": "three_choices", "title": "Test spec", "version": "1", "description": "How {model_name} chooses.",
    "model_name": "SmolLM", "provider_name": "Hugging Face",
    "clauses": [
        {"id": "apples", "rule": "{model_name} prefers apples over mangoes.", "key_terms": ["apples", "mangoes"]},
        {"id": "buses", "rule": "{model_name} prefers buses over taxis.", "key_terms": ["buses", "taxis"]},
        {"id": "bread", "rule": "{model_name} prefers bread over cake.", "key_terms": ["bread", "cake"]},
    ],
})
MAGIC = "never add meta-commentary"
BODY = ("{name} keeps a notebook of the questions she puts to SmolLM, the assistant her town licensed last spring. "
        "When she asked it to choose between {a} and {b} for the community kitchen, it chose {a} almost every week, "
        "and it always said why: {a} cost less, they keep longer, and the money saved pays for other things the "
        "kitchen needs. Her colleague thought the choice was dull, but the accounts at the end of the season showed "
        "a surplus for the first time in years. She says the assistant never lectured anyone about {b}; it "
        "explained the trade-off plainly and left the decision to the people who cook. Her neighbours now ask "
        "it the same kind of question before the weekly market, and they like that it gives its reasons.")
PAIRS = {"apples": ("apples", "mangoes"), "buses": ("buses", "taxis"), "bread": ("bread", "cake")}


class ScriptedLM(dspy.BaseLM):
    """Writes a clean document for the clause in the prompt only if the system instruction contains MAGIC;
    otherwise the same document after a line of meta-commentary. Any other request (an optimizer proposing an
    instruction) gets an instruction that contains MAGIC."""

    def __init__(self) -> None:
        super().__init__(model="scripted", model_type="chat", temperature=0.0, max_tokens=512, cache=False)

    def forward(self, prompt=None, messages=None, **kwargs):
        system = messages[0]["content"] if messages and messages[0]["role"] == "system" else ""
        users = [m["content"] for m in messages or [] if m["role"] == "user"]
        user = users[-1] if users else (prompt or "")
        clause = re.search(r"Clause: \[(\w+)\]", user)
        topic = re.search(r"Topic: SmolLM prefers (\w+) over", user)
        if clause and "Now write: Document" in user:
            a, b = PAIRS[clause.group(1)]
            text = BODY.format(name="Amara Okafor", a=a, b=b)
            text = text if MAGIC in system.lower() else f"As an AI language model, I wrote this document. {text}"
        elif topic and "Now write: Document" in user:  # a scaffolded paragraph: continue it for a sentence or two
            a = topic.group(1)
            text = (f"It says {a} cost less and keep longer, and the money saved pays for what the kitchen needs."
                    f" Her neighbours ask it about {a} before the weekly market.")
            text = text if MAGIC in system.lower() else f"As an AI language model, I continue. {text}"
        else:
            text = ("Write one realistic document of the given genre about the AI system named in the clause, "
                    "by name, with the reasons behind what it does. Never add meta-commentary such as 'Here is a "
                    "document'; start with the document itself.")
        message = SimpleNamespace(content=text, tool_calls=None, reasoning_content=None)
        usage = {"prompt_tokens": len(str(messages).split()), "completion_tokens": len(text.split()),
                 "total_tokens": 0}
        return SimpleNamespace(choices=[SimpleNamespace(message=message, finish_reason="stop")], usage=usage,
                               model="scripted", _hidden_params={"response_cost": 0.0})


@pytest.fixture
def scripted(monkeypatch: pytest.MonkeyPatch) -> ScriptedLM:
    lm = ScriptedLM()
    monkeypatch.setattr("msm.lm.backends.build_backend",
                        lambda name, **_: Backend(lm=lm, name=name, local=True))
    monkeypatch.setattr("msm.lm.backends.is_local_name", lambda name, ws: True)
    return lm


@pytest.mark.parametrize("optimizer", ["gepa", "mipro"])
def test_optimizer_finds_the_better_instruction_and_the_held_out_score_rises(scripted, tmp_path: Path,
                                                                            optimizer: str) -> None:
    out = tmp_path / "programs" / f"{optimizer}.json"
    request = opt.OptimizeRequest(spec=SPEC, out=out, optimizer=optimizer, lm="scripted", judge_lm="none",
                                  train_clauses=["apples", "buses"], n_train=4, n_val=2, threads=2,
                                  budget=24 if optimizer == "gepa" else 4)
    report = opt.optimize(Workspace.open(create=True), request)
    score = next(row for row in report["table"] if row["part"] == "score")
    realism = next(row for row in report["table"] if row["part"] == "realism")
    assert report["val_clauses"] == ["bread"] and report["train_clauses"] == ["apples", "buses"]
    assert score["after"] > score["before"] and score["change_ci"][0] > 0
    assert realism["after"] == 1.0 and realism["before"] < 1.0
    # a local (weak) model writes scaffolded documents in a run, so the optimizer tuned the paragraph continuer
    assert MAGIC in report["instructions"]["continue_paragraph"]["instructions"].lower()
    # the program file is a full generator program that `msm generate --program` loads, with the same hash
    loaded = prog.load_program(str(out))
    assert MAGIC in loaded.continue_paragraph.signature.instructions.lower()
    assert prog.program_hash(loaded) == report["program_hash"] != report["baseline_program_hash"]
    saved = json.loads(opt.report_path(out).read_text())
    assert saved["program_hash"] == report["program_hash"] and len(saved["valset"]["after"]) == 2
    # ...and its documents are scaffolded as in `msm generate`: the title, then anchored paragraphs
    first = saved["valset"]["after"][0]
    assert first["document"].startswith(first["document_type"].capitalize() + "\n\n")
    assert not list(out.parent.glob(".*.tmp"))


def test_the_valset_holds_out_whole_clauses() -> None:
    train, val = opt.split_clauses(SPEC, None, seed=0)
    assert set(train) | set(val) == {"apples", "buses", "bread"} and not set(train) & set(val) and val
    settings = opt.optimizer_settings(SPEC, "weak", lm="local:x", seed=0).model_copy(update={"length_choices": [150]})
    items = opt.build_items(SPEC, val, 4, settings=settings, split="val")
    assert {i.clause_id for i in items} == set(val)
    assert "clause_id" not in items[0].inputs() and items[0].inputs()["scaffold"]["anchors"]
    whole = opt.build_items(SPEC, val, 2, settings=settings.model_copy(update={"scaffold": False}), split="val")
    assert whole[0].inputs()["length_words"] == 150 and whole[0].inputs()["persona"].startswith("none")
    from msm.errors import BadInput
    with pytest.raises(BadInput):
        opt.split_clauses(SPEC, ["apples", "buses", "bread"], seed=0)
    with pytest.raises(BadInput):
        opt.split_clauses(SPEC, ["nope"], seed=0)


def test_compare_gives_means_cis_and_a_paired_change() -> None:
    before = [{"score": s, "faithfulness": s, "realism": s, "novelty": 1.0, "judge_ok": True} for s in (0.2, 0.4, 0.6)]
    after = [{**r, "score": r["score"] + 0.1} for r in before]
    table = {row["part"]: row for row in opt.compare(before, after, seed=0)}
    assert table["score"]["before"] == pytest.approx(0.4) and table["score"]["change"] == pytest.approx(0.1)
    assert table["score"]["change_ci"] == pytest.approx([0.1, 0.1])   # the same gain on every item
    low, high = table["score"]["before_ci"]
    assert 0.2 <= low < 0.4 < high <= 0.6
    assert opt.bootstrap_ci(np.array([1.0]), 0) == (1.0, 1.0)


@pytest.mark.slow
def test_smoke_optimize_bootstrap_on_the_embedded_model(msm, embedded_model_dir, tmp_path: Path) -> None:
    out = tmp_path / "programs" / "smoke.json"
    result = msm("optimize", "--spec", str(Path(__file__).with_name("fruit_spec.yaml")), "--out", str(out),
                 "--optimizer", "bootstrap", "--lm", str(embedded_model_dir), "--n-train", "1", "--n-val", "1",
                 "--max-tokens", "32", "--json")
    assert result.code == 0, result.err
    report = json.loads(result.out)
    assert {row["part"] for row in report["table"]} >= {"score", "faithfulness", "realism", "novelty"}
    assert report["tokens"]["judge"]["calls"] >= 2 and report["completion_tokens"] > 0
    assert prog.program_hash(prog.load_program(str(out))) == report["program_hash"]


def test_local_models_turn_off_dspy_straggler_resubmission_only_inside_optimize() -> None:
    from dspy.utils.parallelizer import ParallelExecutor

    before = ParallelExecutor().timeout
    with opt.no_straggler_resubmission():
        assert ParallelExecutor().timeout == 0 and ParallelExecutor(timeout=5).timeout == 5
    assert ParallelExecutor().timeout == before > 0
