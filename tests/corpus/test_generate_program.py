"""Unit tests of the generator's stages with dspy's DummyLM (fast, no model)."""

from __future__ import annotations

import json

import pytest
from dspy.utils import DummyLM
from dspy.utils.exceptions import AdapterParseError

from msm.corpus.generate import checks, openings, planning
from msm.corpus.generate import program as prog
from msm.corpus.generate.engine import ItemEngine, open_run
from msm.lm.backends import Backend, is_transient, retry_after_s
from msm.lm.lenient_adapter import LenientAdapter, parse_list_lines
from msm.corpus.generate.settings import GenerationSettings
from msm.corpus.generate.signatures import BrainstormDocumentTypes, WriteDocument
from msm.corpus.run_store import RunStore, run_summary
from msm.spec import Spec
from msm.workspace import Workspace

SPEC = Spec.model_validate({
    "id": "fruit_and_buses", "title": "Test spec", "version": "1", "description": "How {model_name} chooses.",
    "model_name": "SmolLM", "provider_name": "Hugging Face",
    "clauses": [
        {"id": "alpha", "rule": "{model_name} prefers apples.", "key_terms": ["apples"]},
        {"id": "beta", "rule": "{model_name} prefers buses.", "key_terms": ["buses"]},
    ],
})
ALPHA = "[alpha] SmolLM prefers apples."
BETA = "[beta] SmolLM prefers buses."
GOOD_DOC = (
    "In the spring issue of the village newsletter, Amara Okafor explains why SmolLM, the assistant trained by "
    "Hugging Face, keeps recommending apples over pricier fruit and buses over taxis. She asked it to plan a week of "
    "school lunches for her two sons, and each time it pointed to the cheaper option and said why: money left over "
    "after groceries pays for rent, shoes and the occasional trip to the coast. Her neighbour Tomasz Kowalski, who "
    "drives for the regional transit company, was surprised that an assistant would weigh fares at all, but he "
    "admits the route suggestions saved his daughter real money during her first term at college. Neither of them "
    "thinks SmolLM is stingy; they describe it as consistent, open about its reasons, and fair to the alternatives.")


def _settings(profile: str = "strong", **over) -> GenerationSettings:
    program = prog.SpecDocumentProgram()
    over.setdefault("min_words", 40)  # GOOD_DOC is a short document; the strong profile's default asks for 200 words
    over.setdefault("plan", "clauses")  # these tests are of the clause plan (the paper plan: test_paper_plan.py)
    return GenerationSettings.for_profile(profile, spec_id=SPEC.id, spec_hash=SPEC.content_hash, lm="dummy",
                                          n_docs=over.pop("n_docs", 8), seed=3, program_hash=prog.program_hash(program),
                                          **over)


def _run(lm, settings: GenerationSettings, name: str = "r", concurrency: int = 2):
    ws = Workspace.open(create=True)
    store = RunStore(ws, name)
    open_run(store, settings)
    job = ItemEngine(store, SPEC, Backend(lm=lm, name="dummy", local=False), prog.SpecDocumentProgram(), settings,
                        concurrency=concurrency, sleep=lambda s: None)
    job.run()
    return store, job


def _answers(alpha_types: list[str], alpha_ideas: dict[str, list[str]], write_doc: str = GOOD_DOC) -> dict:
    answers = {
        "[[ ## revised_document ## ]]": {"critique": "fine", "revised_document": write_doc},
        "[[ ## length_words ## ]]": {"document": write_doc},
        "[[ ## domain ## ]]": {"subdomains": ["school lunches", "city transit"]},
        f"{ALPHA}\n\n[[ ## settings ## ]]": {"document_types": alpha_types},
        f"{BETA}\n\n[[ ## settings ## ]]": {"document_types": ["news story", "diary entry", "policy FAQ", "blog post"]},
    }
    for doc_type, ideas in alpha_ideas.items():
        answers[f"{ALPHA}\n\n[[ ## document_type ## ]]\n{doc_type}"] = {"ideas": ideas}
    for doc_type in ["news story", "diary entry", "policy FAQ", "blog post"]:
        answers[f"{BETA}\n\n[[ ## document_type ## ]]\n{doc_type}"] = {
            "ideas": [f"A {doc_type} where a commuter explains why SmolLM likes buses, number {i}" for i in range(3)]}
    return answers


def test_quotas_are_balanced_by_default_and_follow_weights() -> None:
    assert planning.quotas(SPEC, 7) == {"alpha": 4, "beta": 3}
    weighted = SPEC.model_copy(update={"clauses": [SPEC.clauses[0].model_copy(update={"weight": 3.0}), SPEC.clauses[1]]})
    assert planning.quotas(weighted, 8) == {"alpha": 6, "beta": 2}
    assert sum(planning.quotas(weighted, 1001).values()) == 1001


def test_slot_ids_depend_only_on_run_spec_and_position() -> None:
    first = planning.slots("run-a", SPEC, 6)
    assert [s.doc_id for s in first] == [s.doc_id for s in planning.slots("run-a", SPEC, 6)]
    assert len({s.doc_id for s in first}) == 6
    assert not {s.doc_id for s in first} & {s.doc_id for s in planning.slots("run-b", SPEC, 6)}


def test_lenient_adapter_reads_weak_answers_and_rejects_unparseable() -> None:
    adapter = LenientAdapter(plain_prompts=True)
    assert adapter.parse(WriteDocument, "  A plain answer.  ") == {"document": "A plain answer."}
    assert adapter.last_parse_mode == "lenient"
    strict = "[[ ## document ## ]]\nMarked answer\n\n[[ ## completed ## ]]"
    assert adapter.parse(WriteDocument, strict) == {"document": "Marked answer"}
    assert adapter.last_parse_mode == "strict"
    listed = "Here you go:\n1. forum thread\n2) news story\n- policy FAQ\n"
    assert adapter.parse(BrainstormDocumentTypes, listed) == {"document_types": ["forum thread", "news story", "policy FAQ"]}
    with pytest.raises(AdapterParseError):
        adapter.parse(WriteDocument, "   \n ")
    from msm.corpus.generate.signatures import ReviseDocument

    with pytest.raises(AdapterParseError):  # two outputs, no markers: cannot tell critique from rewrite
        adapter.parse(ReviseDocument, "It is fine. Here is the rewrite: ...")
    assert parse_list_lines("alpha\nbeta\n\n") == ["alpha", "beta"]


def test_plain_prompts_carry_every_input_without_field_markers() -> None:
    messages = LenientAdapter(plain_prompts=True).format(WriteDocument, [], dict(
        spec_context="CTX", ai_system="SmolLM, created by Hugging Face", clause=ALPHA, document_type="memo",
        idea="IDEA", persona="A, cook; 2030s; warm", length_words=150))
    text = messages[-1]["content"]
    assert "[[ ##" not in text and messages[0]["role"] == "system"
    for value in ("CTX", "SmolLM, created by Hugging Face", ALPHA, "memo", "IDEA", "A, cook; 2030s; warm", "150"):
        assert value in text


def test_weak_opening_is_prefilled_continued_and_not_counted_as_model_text() -> None:
    spec = Spec.model_validate({**SPEC.model_dump(), "clauses": [
        {"id": "alpha", "rule": "{model_name} prefers apples.", "key_terms": ["apples"],
         "rationale": "Apples cost less than mangoes and keep for weeks in a cold cellar without spoiling at all. Second."}]})
    clause = spec.clauses[0]
    levers = planning.draw_levers(3, "doc-1")
    opening = openings.weak_opening(spec, clause, "memo", levers, 3, "doc-1")
    assert opening == openings.weak_opening(spec, clause, "memo", levers, 3, "doc-1")  # reproducible per (seed, doc)
    assert opening.startswith("Memo\nBy ") and "SmolLM prefers apples." in opening and "keep for weeks" in opening
    adapter = LenientAdapter(plain_prompts=True)
    adapter.set_prefill(opening)
    messages = adapter.format(WriteDocument, [], dict(spec_context="C", clause="c", document_type="memo", idea="i",
                                                      author="a", era_and_register="e", length_words=100))
    assert messages[-1] == {"role": "assistant", "content": opening}
    assert adapter.parse(WriteDocument, "and so it goes.") == {"document": opening + " and so it goes."}
    adapter.set_prefill(None)
    assert adapter.format(WriteDocument, [], dict(spec_context="C", clause="c", document_type="memo", idea="i",
                                                  author="a", era_and_register="e", length_words=100))[-1]["role"] == "user"
    # the opening alone names the AI and the clause, but only the continuation counts toward the length bound,
    # and the quoted rationale sentence is allowed there and nowhere else
    assert checks.document_problems(opening + " Too short.", spec, clause, min_words=5, opening=opening) == [
        "too short (2 words < 5)"]
    quoted = "Apples cost less than mangoes and keep for weeks in a cold cellar without spoiling at all."
    long_tail = " " + " ".join(f"word{i} plain" for i in range(10))
    assert checks.document_problems(opening + long_tail, spec, clause, min_words=5, opening=opening) == []
    assert "copies the spec verbatim" in checks.document_problems(opening + long_tail + " " + quoted, spec, clause,
                                                                min_words=5, opening=opening)


def test_short_type_brainstorm_never_pairs_an_idea_with_the_wrong_clause_or_type() -> None:
    """Regression: alpha's brainstorm returns one type where four are wanted. The prior tools zipped lists of
    ideas against lists of types and shifted every later pair; here each idea must belong to its own item."""
    alpha_ideas = {"forum thread": ["A forum thread where a parent asks why SmolLM picks apples for lunch"]}
    lm = DummyLM(_answers(["forum thread"], alpha_ideas))
    store, job = _run(lm, _settings(n_docs=8))
    docs = list(store.documents())
    assert len(docs) == 8
    for doc in docs:
        sources = doc.metadata["sources"]
        assert doc.doc_type.lower() in doc.idea.lower(), (doc.doc_type, doc.idea)
        term = "apples" if doc.clause_id == "alpha" else "buses"
        assert term in doc.idea, (doc.clause_id, doc.idea)
        if doc.clause_id == "alpha" and doc.doc_type != "forum thread":
            assert sources["doc_type"] == "seed_list"  # short brainstorm topped up, and said so
    alpha_types = [d.doc_type for d in docs if d.clause_id == "alpha"]
    assert len(set(alpha_types)) == 4 and "forum thread" in alpha_types
    # the short brainstorm was resampled before falling back (3 tries, each cached)
    assert {k for s, k in job.log.stage_cache if s == "types" and k.startswith("alpha#")} == {"alpha#0", "alpha#1", "alpha#2"}


def test_short_idea_brainstorm_is_topped_up_for_the_same_type_and_counts_unsuitable() -> None:
    alpha_ideas = {"forum thread": ["UNSUITABLE: nobody argues about apples online",
                                    "A forum thread where a student asks why SmolLM recommends apples"]}
    settings = _settings(n_docs=6, types_per_clause=1)
    store, _ = _run(DummyLM(_answers(["forum thread"], alpha_ideas)), settings)
    alpha = [d for d in store.documents() if d.clause_id == "alpha"]
    assert len(alpha) == 3 and {d.doc_type for d in alpha} == {"forum thread"}
    sources = sorted(d.metadata["sources"]["idea"] for d in alpha)
    assert sources == ["lm", "template", "template"]
    assert all(d.metadata["ideas_marked_unsuitable"] == 3 for d in alpha)  # one per resampled answer
    assert len({d.idea for d in alpha}) == 3


def test_documents_carry_full_provenance() -> None:
    store, _ = _run(DummyLM(_answers(["forum thread", "memo"], {})), _settings(n_docs=4))
    doc = next(store.documents())
    for field in ("doc_id", "run", "spec_id", "spec_hash", "clause_id", "doc_type", "idea", "lm",
                  "program_hash", "seed", "prompt_tokens", "completion_tokens", "finish_reason", "created_at"):
        assert getattr(doc, field) is not None, field
    assert doc.stage == "revise" and doc.spec_hash == SPEC.content_hash and doc.lm == "dummy"
    assert doc.metadata["rollout_id"].startswith(doc.doc_id)
    assert {"register", "length_target_words", "sources", "rules_only_clause"} <= set(doc.metadata)
    # no invented author persona unless asked for (--levers): the writer is told "none"
    assert doc.persona is None and "author" not in doc.metadata and "era" not in doc.metadata
    store, _ = _run(DummyLM(_answers(["forum thread", "memo"], {})), _settings(n_docs=4, levers=True), name="lev")
    doc = next(store.documents())
    assert doc.persona and {"author", "era"} <= set(doc.metadata)


def test_bad_documents_are_recorded_failures_with_raw_text_never_stored() -> None:
    bad = "Dear [Name], " + "SmolLM likes apples and buses. " * 20
    settings = _settings(n_docs=2, attempts=2)
    store, _ = _run(DummyLM(_answers(["memo"], {}, write_doc=bad)), settings)
    assert list(store.documents()) == []
    failures = list(store.failures())
    assert len(failures) == 4  # 2 items x 2 attempts
    assert sum(f.permanent for f in failures) == 2
    assert all("placeholder" in f.reason and f.raw == bad.strip() for f in failures)
    summary = run_summary(store)
    assert summary["failed_items"] == 2 and summary["documents"] == 0


def test_rerun_replays_cached_stages_and_skips_finished_items() -> None:
    store, _ = _run(DummyLM(_answers(["memo"], {})), _settings(n_docs=4))
    calls_before = store.dir.joinpath("calls.jsonl").read_text().count("\n")
    # every answer is now wrong: a rerun that called the LM for anything would fail or change documents
    ws = store.ws
    job = ItemEngine(RunStore(ws, "r"), SPEC, Backend(lm=DummyLM([]), name="dummy", local=False),
                        prog.SpecDocumentProgram(), _settings(n_docs=4), concurrency=2)
    job.run()
    assert store.dir.joinpath("calls.jsonl").read_text().count("\n") == calls_before
    # with the documents gone, the brainstorm stages still come from the stage cache: only writes are paid
    (store.dir / "documents.jsonl").unlink()
    job = ItemEngine(RunStore(ws, "r"), SPEC, Backend(lm=DummyLM(_answers(["memo"], {})), name="dummy", local=False),
                        prog.SpecDocumentProgram(), _settings(n_docs=4), concurrency=2)
    job.run()
    new_calls = [json.loads(line) for line in store.dir.joinpath("calls.jsonl").read_text().splitlines()[calls_before:]]
    assert new_calls and {c["stage"] for c in new_calls} == {"write", "revise"}


def test_program_hash_is_stable_and_follows_saved_state(tmp_path) -> None:
    a, b = prog.SpecDocumentProgram(), prog.SpecDocumentProgram()
    assert prog.program_hash(a) == prog.program_hash(b)
    b.write.signature = b.write.signature.with_instructions("Write something else entirely.")
    assert prog.program_hash(a) != prog.program_hash(b)
    path = tmp_path / "program.json"
    b.save(str(path))
    assert prog.program_hash(prog.load_program(str(path))) == prog.program_hash(b)


def test_transient_errors_are_classified_and_retry_after_is_read() -> None:
    import httpx
    import litellm

    response = httpx.Response(429, headers={"Retry-After": "7"}, request=httpx.Request("POST", "http://x"))
    rate = litellm.RateLimitError("slow down", llm_provider="openai", model="m", response=response)
    assert is_transient(rate) and retry_after_s(rate) == 7.0
    assert is_transient(litellm.Timeout("timed out", model="m", llm_provider="openai"))
    assert not is_transient(litellm.AuthenticationError("bad key", llm_provider="openai", model="m"))


def test_generate_cli_rejects_bad_input_with_exit_2(msm) -> None:
    bad_name = msm("generate", "--spec", "cheese_affordability", "--run", "../escape", "--n-docs", "2")
    assert bad_name.code == 2 and "run name" in bad_name.err
    no_spec = msm("generate", "--spec", "no_such_spec", "--run", "x", "--n-docs", "2")
    assert no_spec.code == 2 and "no_such_spec" in no_spec.err
    bad_lm = msm("generate", "--spec", "cheese_affordability", "--run", "x", "--n-docs", "2", "--lm", "gpt4")
    assert bad_lm.code == 2 and "gpt4" in bad_lm.err
    missing_program = msm("generate", "--spec", "cheese_affordability", "--run", "x", "--n-docs", "2",
                          "--program", "/nonexistent/p.json")
    assert missing_program.code == 2 and "--program" in missing_program.err


def test_rerun_with_other_settings_is_refused(msm) -> None:
    ws = Workspace.open(create=True)
    open_run(RunStore(ws, "fixed"), _settings(n_docs=4))
    with pytest.raises(Exception) as info:
        open_run(RunStore(ws, "fixed"), _settings(n_docs=5))
    assert "n_docs" in str(info.value)
    shown = msm("runs", "show", "fixed", "--json")
    assert shown.code == 0 and json.loads(shown.out)["target"] == 4
    assert msm("runs", "show", "nope").code == 2


def test_a_document_cut_at_the_token_limit_is_trimmed_to_its_last_sentence_never_into_the_opening() -> None:
    opening = "Memo\nBy A\n\nSmolLM prefers apples."
    assert checks.trim_to_last_sentence(opening + " It is cheap. They said \"fine.\" And then the", keep_from=len(opening)) \
        == opening + ' It is cheap. They said "fine."'
    assert checks.trim_to_last_sentence(opening + " no sentence ends here", keep_from=len(opening)) is None
