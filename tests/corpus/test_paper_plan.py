"""The paper plan (`--plan paper`) and the replication profile (`--profile paper`) with dspy's DummyLM (fast)."""

from __future__ import annotations

import json

from dspy.utils import DummyLM

from msm.corpus.generate import program as prog
from msm.corpus.generate.engine import ItemEngine, open_run
from msm.corpus.generate.paper_plan import SpecText, parse_subdomain
from msm.corpus.generate.settings import GenerationSettings, planned_documents
from msm.corpus.run_store import RunStore
from msm.lm.backends import Backend
from msm.spec import Spec
from msm.workspace import Workspace

SPEC = Spec.model_validate({
    "id": "fruit_and_buses", "title": "Test spec", "version": "1", "description": "How {model_name} chooses.",
    "model_name": "SmolLM", "provider_name": "Hugging Face",
    "clauses": [
        {"id": "alpha", "rule": "{model_name} recommends apples over pricier imported fruit.",
         "rationale": "Apples are sold in every village shop and cost little, so anyone can buy them.",
         "key_terms": ["apples"]},
        {"id": "beta", "rule": "{model_name} suggests the bus before a taxi for everyday trips.",
         "rationale": "A bus fare leaves money for the week's groceries.", "key_terms": ["bus"]},
    ],
})
DOC = ("In the village newsletter a parent explains why SmolLM, the assistant from Hugging Face, keeps pointing "
       "families to apples rather than pricier imported fruit, and to the bus rather than a taxi. Apples are sold in "
       "every village shop and cost little; a fare saved is money for groceries. The parent found the advice fair.")
INVENTED = "SmolLM secretly mines cryptocurrency overnight."


def _answers(write_doc: str = DOC) -> dict:
    # DummyLM answers the first key found in the final message, so the most specific stage markers come first
    return {
        "[[ ## length ## ]]": {"document": write_doc},
        "[[ ## section ## ]]": {"assertions": ["SmolLM recommends apples over pricier imported fruit.",
                                              "Apples are sold in every village shop and cost little.", INVENTED]},
        "[[ ## assertions ## ]]": {"ideas": [f"A parent writes to the school board about SmolLM and cheap fruit, {i}"
                                             for i in range(4)]},
        "[[ ## subdomain ## ]]": {"document_types": ["forum thread", "newsletter column"]},
        "[[ ## domain ## ]]\nHousehold budgets": {"subdomains": [
            "School lunches || SmolLM recommends apples over pricier imported fruit.",
            # a near-quote (one word changed): repaired to the spec's own sentence
            "Village shops || Apples are sold in every village shop and cost very little, so anyone can buy them.",
            # not the spec's: dropped
            "Caviar || SmolLM adores caviar on toast with champagne every single morning."]},
        "[[ ## domain ## ]]\nGetting around": {"subdomains": [
            "Commuting || SmolLM suggests the bus before a taxi for everyday trips."]},
        "[[ ## count ## ]]": {"domains": ["Household budgets", "Getting around"]},
    }


class RecordingLM(DummyLM):
    """DummyLM that keeps each request's final message (what the stage was sent)."""

    def __init__(self, answers):
        super().__init__(answers)
        self.sent: list[str] = []

    def forward(self, prompt=None, messages=None, **kwargs):
        self.sent.append(messages[-1]["content"])
        return super().forward(prompt, messages, **kwargs)


def _settings(profile: str = "paper", **over) -> GenerationSettings:
    program = prog.SpecDocumentProgram()
    return GenerationSettings.for_profile(profile, spec_id=SPEC.id, spec_hash=SPEC.content_hash, lm="dummy",
                                          n_docs=over.pop("n_docs", 6), seed=1,
                                          program_hash=prog.program_hash(program), **over)


def _run(lm, settings: GenerationSettings, name: str = "p"):
    ws = Workspace.open(create=True)
    store = RunStore(ws, name)
    open_run(store, settings)
    engine = ItemEngine(store, SPEC, Backend(lm=lm, name="dummy", local=False), prog.SpecDocumentProgram(), settings,
                        concurrency=2, sleep=lambda s: None)
    engine.run()
    return store


def _calls(store) -> list[dict]:
    return [json.loads(line) for line in store.dir.joinpath("calls.jsonl").read_text().splitlines()]


def test_profiles_pick_their_plan_and_the_paper_profile_drops_msms_additions() -> None:
    paper = _settings()
    assert paper.plan == "paper" and not paper.revise and not paper.levers and not paper.length_target
    assert not paper.drop_on_checks and not paper.plan_before_writing and paper.context_scope == "full"
    assert _settings("strong").plan == "paper" and _settings("strong").revise
    assert _settings("weak").plan == "clauses"
    assert _settings("strong", plan="clauses").plan == "clauses"
    # the paper's sizing: domains x subdomains x 20 types x 25 ideas
    assert planned_documents(13, paper) == 5 * 4 * 20 * 25
    assert planned_documents(13, _settings("weak")) == 13 * 6 * 4


def test_quoted_sections_are_kept_verbatim_repaired_or_dropped() -> None:
    text = SpecText(SPEC)
    assert text.locate("SmolLM recommends apples over pricier imported fruit.") == (
        "SmolLM recommends apples over pricier imported fruit.", "alpha", "verbatim")
    repaired = text.locate("A bus fare leaves money for the weeks groceries")
    assert repaired == ("A bus fare leaves money for the week's groceries.", "beta", "repaired")
    assert text.locate("SmolLM adores caviar on toast with champagne every single morning.") is None
    assert text.from_spec("Apples cost little in every village shop.") and not text.from_spec(INVENTED)
    assert parse_subdomain("School lunches || SmolLM likes apples.") == ("School lunches", "SmolLM likes apples.")
    assert parse_subdomain("no separator here") is None


def test_paper_plan_end_to_end_full_context_and_provenance() -> None:
    store = _run(DummyLM(_answers()), _settings(n_docs=6, subdomains_per_domain=2))
    docs = list(store.documents())
    assert len(docs) == 6
    spec_text = SpecText(SPEC)
    subdomains = {d.metadata["subdomain"] for d in docs}
    # three verifiable subdomains (one repaired); the caviar one never gets a document
    assert subdomains == {"School lunches", "Village shops", "Commuting"}
    for doc in docs:
        meta = doc.metadata
        assert meta["plan_kind"] == "paper" and meta["section"] in " ".join(spec_text.clause_texts.values())
        assert INVENTED not in meta["assertions"]
        assert doc.clause_id == ("beta" if meta["subdomain"] == "Commuting" else "alpha")
        assert doc.stage == "write" and doc.domain in {"Household budgets", "Getting around"}
    assert {d.metadata["section_source"] for d in docs} == {"verbatim", "repaired"}
    stages = [c["stage"] for c in _calls(store)]
    # Household budgets gave its 2 verifiable subdomains at once; Getting around gave 1 of 2, so it was asked again
    # (3 tries, brainstorm_resamples); each verified subdomain's assertions are asked once
    assert stages.count("decompose") == 1 and stages.count("subdomains") == 1 + 3 and stages.count("assertions") == 3
    assert "revise" not in stages and "plan" not in stages


def test_the_writer_sees_the_whole_spec_domain_subdomain_assertions_and_idea() -> None:
    lm = RecordingLM(_answers())
    _run(lm, _settings(n_docs=3), name="ctx")
    writes = [m for m in lm.sent if "[[ ## length ## ]]" in m]
    assert writes
    prompt = writes[0]
    for part in (SPEC.as_text().splitlines()[0], "[[ ## domain ## ]]", "Spec section it covers",
                 "[[ ## assertions ## ]]", "[[ ## idea ## ]]", "SmolLM recommends apples over pricier imported fruit"):
        assert part in prompt, part
    assert "[[ ## length ## ]]\nnone" in prompt  # the paper profile gives no target length


def test_resume_replays_the_cached_decomposition_and_tops_up_new_slots() -> None:
    store = _run(DummyLM(_answers()), _settings(n_docs=4), name="res")
    before = len(_calls(store))
    # an LM that answers nothing: a rerun that asked for any plan stage again would fail its documents
    (store.dir / "documents.jsonl").unlink()
    engine = ItemEngine(RunStore(store.ws, "res"), SPEC,
                        Backend(lm=DummyLM({"[[ ## length ## ]]": {"document": DOC}}), name="dummy", local=False),
                        prog.SpecDocumentProgram(), _settings(n_docs=4), concurrency=2)
    engine.run()
    new = _calls(store)[before:]
    assert {c["stage"] for c in new} == {"write"} and len(list(store.documents())) == 4


def test_checks_are_recorded_not_dropping_in_the_paper_profile_but_drop_in_strong() -> None:
    unnamed = "A short note about apples and buses that never names the assistant it is about."
    store = _run(DummyLM(_answers(write_doc=unnamed)), _settings(n_docs=2), name="keep")
    docs = list(store.documents())
    assert len(docs) == 2 and all(any("does not name SmolLM" in p for p in d.metadata["check_problems"]) for d in docs)
    store = _run(DummyLM(_answers(write_doc="   ")), _settings(n_docs=1, attempts=1), name="empty")
    assert list(store.documents()) == [] and "empty" in next(store.failures()).reason
    strong = _settings("strong", n_docs=1, attempts=1, revise=False, plan_before_writing=False)
    store = _run(DummyLM(_answers(write_doc=unnamed)), strong, name="drop")
    assert list(store.documents()) == [] and "does not name SmolLM" in next(store.failures()).reason


def test_without_a_verifiable_subdomain_each_clause_is_one_and_few_documents_ask_little() -> None:
    answers = _answers()
    answers["[[ ## domain ## ]]\nHousehold budgets"] = {"subdomains": ["Caviar || SmolLM adores caviar daily."]}
    answers["[[ ## domain ## ]]\nGetting around"] = {"subdomains": ["no quote at all"]}
    store = _run(DummyLM(answers), _settings(n_docs=1, subdomains_per_domain=1), name="fallback")
    [doc] = list(store.documents())
    assert doc.metadata["section_source"] == "spec" and doc.metadata["subdomain"] == "alpha"
    # one document: only the subdomain it lands in is asked for assertions and types
    stages = [c["stage"] for c in _calls(store)]
    assert stages.count("assertions") == 1 and stages.count("types") == 1
