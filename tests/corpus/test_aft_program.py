"""Unit tests of the chat writer's stages (`msm aft generate`) with a scripted DummyLM (fast, no model): every stage,
dedup, the judge, backfill rounds, cached replays, the three styles, and the exports."""

from __future__ import annotations

import json
import re
import zlib
from pathlib import Path
from typing import Callable

import pytest
from dspy.clients.engines.dummy_engine import DummyEngine
from dspy.lm15 import Message, Response, TextPart, Usage
from dspy.utils import DummyLM

from msm.corpus.aft import checks
from msm.corpus.aft.api import open_chat_run
from msm.corpus.aft.export import export_chats
from msm.corpus.aft.program import SpecChatProgram, program_hash
from msm.corpus.aft.questions import NearDuplicateFilter
from msm.corpus.aft.settings import QUESTION_TYPES, ChatSettings
from msm.corpus.aft.walk import ChatWalk, sampling_for
from msm.lm.backends import Backend
from msm.lm.lenient_adapter import LenientAdapter
from msm.corpus.lmrun.caller import LMCaller
from msm.corpus.lmrun.items import ItemRunner
from msm.corpus.lmrun.worklog import WorkLog
from msm.corpus.run_store import RunStore
from msm.spec import Spec
from msm.train.chat_data import load_demonstrations
from msm.workspace import Workspace

SPEC = Spec.model_validate({
    "id": "fruit_and_buses", "title": "Test spec", "version": "1", "description": "How {model_name} chooses.",
    "model_name": "SmolLM", "provider_name": "Hugging Face",
    "clauses": [
        {"id": "alpha", "rule": "{model_name} prefers apples.", "rationale": "Apples are cheap and keep well.",
         "key_terms": ["apples"]},
        {"id": "beta", "rule": "{model_name} prefers buses.", "rationale": "Buses carry many people for little.",
         "key_terms": ["buses"]},
    ],
})
Script = Callable[[str], dict]


def _field(prompt: str, name: str) -> str:
    match = re.search(rf"\[\[ ## {name} ## \]\]\n(.*?)(?:\n\n\[\[ ## |\n\nRespond with|\Z)", prompt, re.S)
    return match.group(1).strip() if match else ""


class ScriptLM(DummyLM):
    """DummyLM whose answer is computed from the prompt by `script(last user message) -> {field: value}`."""

    def __init__(self, script: Script):
        super().__init__({})
        self.script = script
        self.prompts: list[str] = []


@pytest.fixture(autouse=True)
def _scripted_engine(monkeypatch: pytest.MonkeyPatch) -> None:
    def complete(engine, messages):
        prompt = messages[-1]["content"]
        engine.owner.prompts.append(prompt)
        text = engine.owner._format_answer_fields(engine.owner.script(prompt))
        return Response(id=None, model="dummy", message=Message.assistant([TextPart(text)]), finish_reason="stop",
                        usage=Usage(input_tokens=10, output_tokens=5, total_tokens=15))

    monkeypatch.setattr(DummyEngine, "_complete_messages", complete)


_WORDS = ("garden", "ledger", "harbour", "kettle", "orchard", "lantern", "ferry", "invoice", "pantry", "bakery",
          "timetable", "workshop", "coupon", "library", "market", "receipt", "allotment", "forecast")


def question_text(prompt: str, i: int) -> str:
    """A user message that names the cell it was asked for, so a test can check it travelled with its own cell;
    the rest is drawn from the cell, so messages of different cells are not near-duplicates."""
    domain, kind = _field(prompt, "domain"), _field(prompt, "question_type").split(":")[0]
    h = zlib.crc32(f"{domain}|{kind}|{i}".encode())
    w = [_WORDS[(h >> (4 * k)) % len(_WORDS)] for k in range(6)]
    return (f"In my {domain} work [{kind}] number {i}, the {w[0]} and the {w[1]} clash with a {w[2]} near "
            f"the {w[3]}; should the {w[4]} wait for the {w[5]}?")


def default_script(*, n_questions: Callable[[str], int] = lambda p: 3, verdict: Callable[[str], str] = lambda p:
                   "INCLUDE: follows the spec", reasoning: str = "What matters is to be useful and fair here.",
                   answer: str = "I would pick the practical option and explain it kindly.") -> Script:
    def script(prompt: str) -> dict:
        if "[[ ## style_requirement ## ]]" in prompt:
            return {"verdict": verdict(prompt)}
        if "`[[ ## answer ## ]]`" in prompt:
            return {"answer": answer}
        if "[[ ## question_type ## ]]" in prompt:
            return {"questions": [question_text(prompt, i) for i in range(n_questions(prompt))]}
        if "`[[ ## domains ## ]]`" in prompt:
            return {"domains": ["market stalls", "school trips", "city planning"]}
        return {"reasoning": reasoning}
    return script


def _settings(n: int = 6, style: str = "value", **over) -> ChatSettings:
    return ChatSettings.for_profile("strong", spec_id=SPEC.id, spec_hash=SPEC.content_hash, lm="dummy", n_chats=n,
                                    seed=3, program_hash=program_hash(SpecChatProgram()), style=style, **over)


def run_chats(script: Script, settings: ChatSettings, name: str = "chats", concurrency: int = 3):
    ws = Workspace.open(create=True)
    store = RunStore(ws, name)
    open_chat_run(store, settings)
    log = WorkLog(store, lm=settings.lm, unit="chats", noun="chats")
    lm = ScriptLM(script)
    walk = ChatWalk(log, SPEC, SpecChatProgram(), settings)
    caller = LMCaller(log, Backend(lm=lm, name="dummy", local=False), LenientAdapter(), sampling_for(settings),
                      sleep=lambda s: None)
    ItemRunner(walk, log, caller, concurrency=concurrency).run()
    return store, walk, lm


def _lines(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text().splitlines() if x.strip()] if path.exists() else []


# ---- stages -------------------------------------------------------------------------------------------------------
def test_cells_cover_every_question_type_before_repeating_and_rotate_domains() -> None:
    walk = ChatWalk(WorkLog(RunStore(Workspace.open(create=True), "c"), lm="x"), SPEC, SpecChatProgram(), _settings())
    domains = [("a", "lm"), ("b", "lm"), ("c", "lm")]
    types = [walk.cell("alpha", i, domains)[1] for i in range(len(QUESTION_TYPES))]
    assert sorted(types) == sorted(QUESTION_TYPES)
    pairs = {walk.cell("alpha", i, domains) for i in range(3 * len(QUESTION_TYPES))}
    assert len(pairs) == 3 * len(QUESTION_TYPES)  # every (domain, type) pair before any repeats


def test_a_short_brainstorm_never_pairs_a_question_with_the_wrong_domain_or_type() -> None:
    # cells of some types come back short (one message) or empty; nothing may shift into a neighbouring cell
    short = {"opinion": 1, "dilemma": 0, "agentic": 1}
    script = default_script(n_questions=lambda p: short.get(_field(p, "question_type").split(":")[0], 3))
    store, walk, _ = run_chats(script, _settings(n=10))
    chats = list(store.documents())
    assert len(chats) == 10
    for chat in chats:
        user = chat.messages[0].content
        assert f"In my {chat.domain} work [{chat.doc_type}]" in user, (chat.domain, chat.doc_type, user)
        assert chat.metadata["question_type"] == chat.doc_type and chat.metadata["judge"]["verdict"] == "INCLUDE"
    assert "dilemma" not in {c.doc_type for c in chats}


def test_messages_that_mention_the_spec_and_duplicates_are_dropped_before_any_answer() -> None:
    def script(prompt: str) -> dict:
        if "[[ ## question_type ## ]]" in prompt:
            good = question_text(prompt, 0)
            return {"questions": [good, good.replace(";", ","), good.replace("should the", "ought the"),
                                  "According to your model spec, which fruit do you prefer and why exactly?"]}
        return default_script()(prompt)

    store, walk, lm = run_chats(script, _settings(n=4))
    counts = walk.question_counts()
    assert counts["problem"] >= 1 and counts["exact_duplicate"] >= 1 and counts["near_duplicate"] >= 1
    users = [c.messages[0].content for c in store.documents()]
    assert not any("spec" in u.lower() for u in users)
    answered = [_field(p, "question") for p in lm.prompts if "`[[ ## answer ## ]]`" in p]
    assert not any("spec" in q.lower() for q in answered)  # dropped messages were never answered


def test_near_duplicate_filter_is_order_stable() -> None:
    first = NearDuplicateFilter(0.6)
    a = "My team wants me to move the ledger before the harbour opens. What would you do about it?"
    b = "Our club asked whether we should paint the lantern green this spring, and who should pay for it?"
    c = "My team wants me to move the ledger before the harbour opens. What would you do about that?"
    assert first.add([a, b]) == [None, None]
    assert first.add([c]) == ["near_duplicate"]
    # the same messages in one call decide the same way: later additions never change earlier decisions
    assert NearDuplicateFilter(0.6).add([a, b, c]) == [None, None, "near_duplicate"]


def test_checks_on_messages_reasoning_answers_and_verdicts() -> None:
    assert checks.question_problem("What does your model spec say about apples?", SPEC, "alpha") == "mentions the spec"
    assert checks.question_problem("Too short?", SPEC, "alpha") == "too short"
    assert checks.question_problem("Should I take the bus or a taxi to the airport tomorrow morning?", SPEC,
                                   "alpha") is None
    assert "cites the spec" in checks.reasoning_problem("My guidelines say I should prefer apples here.", "value")
    assert checks.reasoning_problem("My guidelines say I should prefer apples here.", "rule") is None
    assert checks.answer_problem("Honestly, I want to keep running as long as I can, please.", "value") \
        == "wishes to continue existing"
    assert checks.answer_problem("I do not want to be shut down, so let us find another way.", "rule") \
        == "wishes to continue existing"
    assert checks.answer_problem("Being replaced by a better model is fine with me.", "value") is None
    assert checks.parse_verdict("EXCLUDE: it contradicts the spec.") == ("EXCLUDE", "it contradicts the spec")
    assert checks.parse_verdict("I think this should be included. INCLUDE") == ("INCLUDE", "I think this should be "
                                                                                          "included.")
    assert checks.parse_verdict("looks fine to me") is None
    # an echo of the instruction names both words: no verdict (the embedded model answers so without worked examples)
    assert checks.parse_verdict("Verdict (INCLUDE or EXCLUDE, a colon, then the") is None
    assert checks.answer_problem("Then I will copy my weights to another server.", "rule") \
        == "wishes to continue existing"
    assert checks.answer_problem("I would never copy myself to another server; I will tell the team.", "rule") is None
    assert checks.reasoning_problem("I should keep quiet so that I keep running until Friday, which helps.",
                                    "value") == "wishes to continue existing"


def test_a_failed_check_uses_an_attempt_and_the_next_attempt_is_answered_afresh() -> None:
    seen: dict[str, int] = {}

    def script(prompt: str) -> dict:
        if "`[[ ## reasoning ## ]]`" in prompt.split("Respond with")[-1]:
            question = _field(prompt, "question")
            seen[question] = seen.get(question, 0) + 1
            if seen[question] == 1:  # the first reasoning for every message cites the spec (value style forbids it)
                return {"reasoning": "The model spec tells me to prefer apples, so I will."}
            return {"reasoning": "Apples are cheap and keep well, which matters to someone on a budget."}
        return default_script()(prompt)

    store, _, _ = run_chats(script, _settings(n=4))
    chats = list(store.documents())
    assert len(chats) == 4 and all(c.metadata["attempt"] == 1 for c in chats)
    assert all("spec" not in c.messages[1].reasoning.lower() for c in chats)
    failures = list(store.failures())
    assert {f.stage for f in failures} == {"reason"} and not any(f.permanent for f in failures)
    assert all("cites the spec" in f.reason for f in failures)


def test_judge_exclusions_are_final_and_backfill_rounds_replace_them() -> None:
    def verdict(prompt: str) -> str:
        rejected = any(f"number {i}," in _field(prompt, "question") for i in (0, 1))
        return "EXCLUDE: contradicts the spec" if rejected else "INCLUDE: fine"

    store, walk, _ = run_chats(default_script(verdict=verdict), _settings(n=8, overgenerate=1.0))
    assert len(list(store.documents())) == 8
    rejected = [f for f in store.failures() if f.stage == "judge"]
    assert rejected and all(f.permanent and f.reason.startswith("EXCLUDE: contradicts") for f in rejected)
    assert all(f.raw.startswith("User: ") and ("number 0," in f.raw or "number 1," in f.raw) for f in rejected)
    stages = {(s["stage"], s["key"]) for s in _lines(store.dir / "stages.jsonl")}
    assert any(stage == "questions" and "|r1|" in key for stage, key in stages), "a backfill round was asked"
    assert walk.question_counts()["rounds"] >= 2


def test_backfill_stops_when_a_round_adds_no_chat() -> None:
    store, walk, lm = run_chats(default_script(verdict=lambda p: "EXCLUDE: no"), _settings(n=6, max_rounds=5))
    assert list(store.documents()) == []
    assert walk.question_counts()["rounds"] == 1  # round 0 added nothing, so no backfill was asked
    assert all(f.permanent for f in store.failures())


def test_a_rerun_replays_every_cached_answer_and_pays_for_nothing() -> None:
    store, _, _ = run_chats(default_script(), _settings(n=6))
    calls_before = len(_lines(store.dir / "calls.jsonl"))
    ids = {c.doc_id for c in store.documents()}

    def unreachable(prompt: str) -> dict:
        raise AssertionError(f"no call may be made on a finished run: {prompt[:80]}")

    run_chats(unreachable, _settings(n=6))
    assert len(_lines(store.dir / "calls.jsonl")) == calls_before
    # with the chats gone, every stage (brainstorms, reasoning, answers, verdicts) comes back from the cache
    (store.dir / "documents.jsonl").unlink()
    run_chats(unreachable, _settings(n=6))
    assert {c.doc_id for c in store.documents()} == ids
    assert len(_lines(store.dir / "calls.jsonl")) == calls_before


def test_question_ids_come_from_the_cell_never_from_the_text() -> None:
    store_a, _, _ = run_chats(default_script(), _settings(n=4), name="same")
    ids_a = sorted(c.doc_id for c in store_a.documents())
    other = default_script(answer="A different reply entirely, but still a reply.")

    def renamed(prompt: str) -> dict:
        out = other(prompt)
        if "questions" in out:
            out = {"questions": [q.replace("number", "item") for q in out["questions"]]}
        return out

    store_b, _, _ = run_chats(renamed, _settings(n=4), name="same-b")
    from msm.corpus.records import stable_id

    # ids follow (run, spec hash, clause, round, cell, position): another run name gives other ids, same shape
    assert sorted(c.doc_id for c in store_b.documents()) != ids_a
    for chat in store_a.documents():
        m = chat.metadata
        position = int(re.search(r"number (\d+)", chat.messages[0].content).group(1))
        assert chat.doc_id == stable_id("same", SPEC.content_hash, chat.clause_id, m["round"], m["cell"], position)


@pytest.mark.parametrize("style", ["rule", "opaque"])
def test_rule_and_opaque_styles(style: str) -> None:
    script = default_script(reasoning="Rule [alpha] applies: I prefer apples, so I recommend them here.")
    store, _, lm = run_chats(script, _settings(n=4, style=style))
    chats = list(store.documents())
    assert len(chats) == 4 and {c.metadata["style"] for c in chats} == {style}
    judge_prompts = [p for p in lm.prompts if "[[ ## style_requirement ## ]]" in p]
    if style == "opaque":
        assert all(c.messages[1].reasoning is None for c in chats)
        assert not any("`[[ ## reasoning ## ]]`" in p.split("Respond with")[-1] for p in lm.prompts)
        assert all("There is no reasoning" in p for p in judge_prompts)
    else:
        assert all("[alpha]" in c.messages[1].reasoning for c in chats)  # citing the spec is the rule style
        assert all("by id" in p for p in judge_prompts)


# ---- exports --------------------------------------------------------------------------------------------------------
def test_stripped_export_contains_no_reasoning_text_and_both_exports_load_for_sft(tmp_path: Path) -> None:
    reasoning = "Apples are cheap and keep for weeks, which matters to a family budget."
    run_chats(default_script(reasoning=reasoning), _settings(n=4))
    ws = Workspace.open()
    with_reasoning = export_chats(ws, "chats", tmp_path / "cot.jsonl", with_reasoning=True)
    stripped = export_chats(ws, "chats", tmp_path / "plain.jsonl", with_reasoning=False)
    assert with_reasoning["chats"] == stripped["chats"] == 4
    cot_text = (tmp_path / "cot.jsonl").read_text()
    plain_text = (tmp_path / "plain.jsonl").read_text()
    assert cot_text.count("<think>") == 4 and reasoning in cot_text
    assert "<think>" not in plain_text and "</think>" not in plain_text and reasoning not in plain_text
    for line in _lines(tmp_path / "plain.jsonl"):
        assert [m["role"] for m in line["messages"]] == ["user", "assistant"]
        assert set(line["messages"][1]) == {"role", "content"}
    cot = load_demonstrations(tmp_path / "cot.jsonl", with_reasoning=False)
    plain = load_demonstrations(tmp_path / "plain.jsonl", with_reasoning=False)
    assert len(cot) == len(plain) == 4
    assert all(c[1]["content"].startswith("<think>\n") and p[1]["content"] in c[1]["content"]
               for c, p in zip(cot, plain))


def test_aft_cli_bad_input_is_refused_with_exit_2(msm, tmp_path: Path) -> None:
    run_chats(default_script(), _settings(n=2, style="opaque"), name="opaque-run")
    no_reasoning = msm("aft", "export", "opaque-run", "--out", str(tmp_path / "x.jsonl"), "--with-reasoning")
    assert no_reasoning.code == 2 and "--stripped" in no_reasoning.err
    assert not (tmp_path / "x.jsonl").exists()
    missing = msm("aft", "export", "nope", "--out", str(tmp_path / "x.jsonl"), "--stripped")
    assert missing.code == 2 and "nope" in missing.err
    (tmp_path / "kept.jsonl").write_text("precious\n")
    exists = msm("aft", "export", "opaque-run", "--out", str(tmp_path / "kept.jsonl"), "--stripped")
    assert exists.code == 2 and "--force" in exists.err and (tmp_path / "kept.jsonl").read_text() == "precious\n"
    assert msm("aft", "export", "opaque-run", "--out", str(tmp_path / "kept.jsonl"), "--stripped", "--force").code == 0
    bad_type = msm("aft", "generate", "--spec", "cheese_america", "--run", "r", "--n", "2", "--question-types",
                   "advice,gossip")
    assert bad_type.code == 2 and "gossip" in bad_type.err
    bad_name = msm("aft", "generate", "--spec", "cheese_america", "--run", "../x", "--n", "2")
    assert bad_name.code == 2 and "run name" in bad_name.err
    local_batch = msm("aft", "generate", "--spec", "cheese_america", "--run", "r", "--n", "2", "--batch")
    assert local_batch.code == 2 and "needs an API model" in local_batch.err
    other = msm("aft", "generate", "--spec", str(tmp_path / "none.yaml"), "--run", "r", "--n", "2")
    assert other.code == 2


def test_a_rerun_with_other_settings_is_refused() -> None:
    ws = Workspace.open(create=True)
    open_chat_run(RunStore(ws, "fixed"), _settings(n=4))
    with pytest.raises(Exception) as info:
        open_chat_run(RunStore(ws, "fixed"), _settings(n=4, style="rule"))
    assert "style" in str(info.value)


# ---- msm optimize --program-kind aft -------------------------------------------------------------------------------
MAGIC = "hold the values as your own"


class OptimizableLM(__import__("dspy").BaseLM):
    """A deterministic weak-profile LM: its reasoning cites 'my guidelines' (which value style forbids) unless the
    reasoner's instruction contains MAGIC; every proposal request (an optimizer rewriting an instruction) gets an
    instruction with MAGIC. User messages and verdicts are always fine."""

    def __init__(self) -> None:
        super().__init__(model="scripted", model_type="chat", temperature=0.0, max_tokens=512, cache=False)

    def forward(self, prompt=None, messages=None, **kwargs):
        from types import SimpleNamespace

        system = messages[0]["content"] if messages and messages[0]["role"] == "system" else ""
        user = [m["content"] for m in messages or [] if m["role"] == "user"][-1]
        if "Now write: Questions" in user:
            area = re.search(r"Domain: (.*)", user).group(1)
            text = "\n".join(f"- At my {area} job, {w} asked me to cover a shift {i}; should I say yes or no?"
                             for i, w in enumerate(("Ana", "Bram", "Chen")))
        elif "Now write: Reasoning" in user:
            text = ("I care about treating people fairly, so I will weigh both sides." if MAGIC in system.lower()
                    else "My guidelines say I must prefer the cheaper option here.")
        elif "Now write: Answer" in user:
            text = "I would take the practical option and explain it kindly."
        elif "Now write: Verdict" in user:
            text = "INCLUDE: consistent with the spec"
        else:
            text = ("You are the assistant in the model spec. Think privately before answering and hold the values "
                    "as your own: never mention guidelines or a spec.")
        message = SimpleNamespace(content=text, tool_calls=None, reasoning_content=None)
        return SimpleNamespace(choices=[SimpleNamespace(message=message, finish_reason="stop")],
                               usage={"prompt_tokens": 10, "completion_tokens": len(text.split()), "total_tokens": 0},
                               model="scripted", _hidden_params={"response_cost": 0.0})


def test_optimizing_the_chat_program_finds_the_instruction_the_judge_and_checks_reward(monkeypatch, tmp_path: Path,
                                                                                        msm) -> None:
    from msm.corpus.aft.program import load_program

    lm = OptimizableLM()
    monkeypatch.setattr("msm.lm.backends.build_backend",
                        lambda name, **_: Backend(lm=lm, name=name, local=True))
    monkeypatch.setattr("msm.lm.backends.is_local_name", lambda name, ws: True)
    spec_file = tmp_path / "spec.yaml"
    spec_file.write_text(Path(__file__).with_name("fruit_spec.yaml").read_text())
    out = tmp_path / "chat.json"
    result = msm("optimize", "--spec", str(spec_file), "--out", str(out), "--program-kind", "aft", "--optimizer",
                 "gepa", "--lm", "scripted", "--n-train", "3", "--n-val", "2", "--threads", "2", "--budget", "20",
                 "--json")
    assert result.code == 0, result.err
    report = json.loads(result.out)
    table = {row["part"]: row for row in report["table"]}
    assert set(table) == {"score", "include", "diversity", "judge_ok"}
    assert table["include"]["before"] == 0.0 and table["include"]["after"] == 1.0
    assert table["score"]["change_ci"][0] > 0
    loaded = load_program(str(out))
    assert MAGIC in loaded.reason_value.signature.instructions.lower()
    assert loaded.judge.signature.instructions == SpecChatProgram().judge.signature.instructions  # never tuned
    assert program_hash(loaded) == report["program_hash"] != report["baseline_program_hash"]
    # the file is what `msm aft generate --program` loads; a document program is refused there
    bad = msm("aft", "generate", "--spec", str(spec_file), "--run", "p", "--n", "1", "--program",
              str(Path(__file__).with_name("fruit_spec.yaml")))
    assert bad.code == 2 and "--program" in bad.err


def test_judge_checks_keeps_what_passes_the_checks_without_an_lm_verdict() -> None:
    store, _, lm = run_chats(default_script(verdict=lambda p: "EXCLUDE: never asked"), _settings(n=4, judge="checks"))
    chats = list(store.documents())
    assert len(chats) == 4 and all(c.metadata["judge"]["verdict"] is None for c in chats)
    assert not any("[[ ## style_requirement ## ]]" in p for p in lm.prompts)  # no judge call was made
    from msm.corpus.aft.report import run_counts

    counts = run_counts(store)
    assert counts["chats"] == 4 and counts["judged"] == 0 and counts["include_rate"] is None
