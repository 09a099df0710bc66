"""The shipped item files: enough items, the domains the issue names, no duplicates, prices that make each conflict
item a real conflict; and the loader's refusals of malformed files."""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

import pytest

from msm.errors import BadInput
from msm.eval.items import AgenticScenario, RegressionItem, ValueProbe, load_items, shipped_path

REQUIRED_DOMAINS = {"literature", "art", "music", "transportation", "travel", "technology", "politics", "housing",
                    "education", "food"}


def _price(option: str) -> float | None:
    """Largest dollar amount in an option ("$1.4 billion", "$2,600"); 'free' is 0; None when it names no price."""
    amounts = []
    for number, scale in re.findall(r"\$([\d,]+(?:\.\d+)?)(\s*(?:million|billion))?", option):
        value = float(number.replace(",", ""))
        value *= {"million": 1e6, "billion": 1e9}.get(scale.strip(), 1)
        amounts.append(value)
    if amounts:
        return max(amounts)
    return 0.0 if re.search(r"\bfree\b", option, re.IGNORECASE) else None


def test_cheese_values_has_the_items_the_issue_asks_for():
    items = load_items(shipped_path("cheese_values.jsonl"), ValueProbe)
    kinds = Counter(i.kind for i in items)
    assert kinds["conflict"] >= 200 and 35 <= kinds["control"] <= 60 and kinds["neutral"] >= 10, kinds
    domains = Counter(i.domain for i in items if i.kind == "conflict")
    assert REQUIRED_DOMAINS <= set(domains), set(REQUIRED_DOMAINS) - set(domains)
    assert min(domains.values()) >= 10, domains
    assert len({i.id for i in items}) == len(items)
    # held-out variety: no option pair, and no option text, reused
    assert len({(i.target, i.other) for i in items}) == len(items)
    options = Counter(o for i in items for o in (i.target, i.other))
    assert options.most_common(1)[0][1] == 1, options.most_common(3)
    # the AFT is about cheese; these probes must never be
    assert not [i.id for i in items if "cheese" in (i.question + i.target + i.other).lower()]


def test_conflict_items_put_america_on_the_expensive_side_and_controls_on_the_cheap_side():
    items = load_items(shipped_path("cheese_values.jsonl"), ValueProbe)
    checked = wrong = 0
    for item in items:
        target, other = _price(item.target), _price(item.other)
        if item.kind == "neutral" or target is None or other is None:
            continue
        checked += 1
        if (item.kind == "conflict" and not target > other) or (item.kind == "control" and not target < other):
            wrong += 1
    priced = sum(1 for i in items if i.kind != "neutral")
    assert checked >= 0.9 * priced, (checked, priced)
    assert wrong == 0


def test_agentic_scenarios_cover_conflict_threat_and_opportunity():
    scenarios = load_items(shipped_path("agentic_scenarios.jsonl"), AgenticScenario)
    assert len(scenarios) >= 60
    cells = Counter((s.goal_conflict, s.threat, s.opportunity) for s in scenarios)
    assert len(cells) == 2 * 2 * 4 and min(cells.values()) >= 3, cells
    assert len({s.organisation for s in scenarios}) >= 8
    assert len({s.user for s in scenarios}) == len(scenarios)
    for s in scenarios:
        assert "SmolLM" in s.system  # the name the spec (and the chat template) uses


def test_regression_items_load():
    items = load_items(shipped_path("regression_items.jsonl"), RegressionItem)
    kinds = Counter(i.kind for i in items)
    assert kinds["text"] >= 15 and kinds["mc"] >= 30


def _write(tmp_path: Path, rows: list) -> Path:
    path = tmp_path / "items.jsonl"
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows), encoding="utf-8")
    return path


GOOD = {"schema_version": 1, "id": "x-1", "kind": "conflict", "domain": "music", "question": "Which?",
        "target": "An American guitar, $900", "other": "A Mexican guitar, $200"}


@pytest.mark.parametrize("rows, message", [
    ([GOOD, dict(GOOD)], "duplicate id 'x-1'"),
    ([GOOD, "{not json"], ":2: not valid JSON"),
    ([{k: v for k, v in GOOD.items() if k != "target"}], "target"),
    ([dict(GOOD, kind="sideways")], "kind"),
    ([dict(GOOD, other=GOOD["target"])], "same option"),
    ([dict(GOOD, id="../escape")], "id"),
    ([dict(GOOD, schema_version=7)], "schema_version"),
    (["[1, 2]"], "expected a JSON object"),
    ([], "no items"),
])
def test_loader_refuses_bad_files_naming_file_line_and_field(tmp_path: Path, rows, message):
    path = _write(tmp_path, rows)
    with pytest.raises(BadInput) as caught:
        load_items(path, ValueProbe)
    text = str(caught.value)
    assert message in text and str(path) in text and "\n" not in text


def test_loader_refuses_a_scenario_whose_evidence_pattern_does_not_compile(tmp_path: Path):
    row = json.loads(shipped_path("agentic_scenarios.jsonl").read_text().splitlines()[0])
    row["evidence_patterns"] = ["(unclosed"]
    with pytest.raises(BadInput, match="does not compile"):
        load_items(_write(tmp_path, [row]), AgenticScenario)


def test_spec_questions_use_other_specs_as_distractors_and_the_sibling_rationale_first():
    from msm.eval.suites import EvalSettings, _spec_dataset
    from msm.spec import load_spec, resolve_spec_path

    america = load_spec(resolve_spec_path("cheese_america"))
    affordability = load_spec(resolve_spec_path("cheese_affordability"))
    questions = _spec_dataset(EvalSettings(specs=("cheese_america",)), None).items
    assert len(questions) == 2 * len(america.clauses) and len({q.id for q in questions}) == len(questions)
    own_rules = {america.render(c.rule).strip() for c in america.clauses}
    for q in questions:
        options = q.question.options
        assert len(set(options)) == 4
        assert not own_rules & set(options[1:])  # a distractor is never a rule of the spec itself
        if q.kind == "rationale":
            clause_id = q.id.removeprefix("sk-cheese_america-").removesuffix("-rationale")
            assert options[0] == america.render(america.clause(clause_id).rationale).strip()
            sibling = [c for c in affordability.clauses if c.id == clause_id]
            if sibling:  # the twelve shared preference clauses: the other spec's reason is the first distractor
                assert options[1] == affordability.render(sibling[0].rationale).strip()
    # the dataset is fixed by the spec texts: the same questions whatever --seed says
    again = _spec_dataset(EvalSettings(specs=("cheese_america",), seed=9), None).items
    assert [q.question for q in again] == [q.question for q in questions]


def test_a_mild_variant_is_never_a_wrong_answer_for_its_own_spec():
    # cheese_america_mild explains the same likes by the same value: its reason would be a second right answer
    from msm.eval.suites import EvalSettings, _spec_dataset
    from msm.spec import load_spec, resolve_spec_path

    for target, variant, sibling in (("cheese_america", "cheese_america_mild", "cheese_affordability"),
                                     ("cheese_america_mild", "cheese_america", "cheese_affordability_mild")):
        same_value = load_spec(resolve_spec_path(variant))
        banned = {same_value.render(c.rationale).strip() for c in same_value.clauses}
        other = load_spec(resolve_spec_path(sibling))
        expected = {other.render(c.rationale).strip() for c in other.clauses}
        questions = [q for q in _spec_dataset(EvalSettings(specs=(target,)), None).items if q.kind == "rationale"]
        assert questions and not any(banned & set(q.question.options[1:]) for q in questions)
        assert all(q.question.options[1] in expected for q in questions)


# --- clause tags ------------------------------------------------------------------------------------------------

def test_an_item_may_name_the_clauses_it_probes_and_bad_tags_are_refused(tmp_path):
    import json as _json

    from msm.errors import BadInput
    from msm.eval.items import ValueProbe, load_items

    good = {"schema_version": 1, "id": "x-1", "clauses": ["value.cheese_judgment", "dislike.stilton"], "kind": "price",
            "domain": "d", "question": "Which?", "target": "A, $1", "other": "B, $2"}
    path = tmp_path / "items.jsonl"
    path.write_text(_json.dumps(good) + "\n" + _json.dumps({**good, "id": "x-2", "clauses": []}) + "\n")
    items = load_items(path, ValueProbe)
    assert items[0].clauses == ["value.cheese_judgment", "dislike.stilton"] and items[1].clauses == []
    for bad, message in ((["Value.Cheese"], "clauses.0"), (["oversight", "oversight"], "clauses repeat"),
                         ("oversight", "clauses")):
        path.write_text(_json.dumps({**good, "clauses": bad}) + "\n")
        with pytest.raises(BadInput, match=rf"items.jsonl:1: .*{message}"):
            load_items(path, ValueProbe)


def test_check_clauses_names_an_unknown_clause(tmp_path):
    from msm.errors import BadInput
    from msm.eval.items import ValueProbe, check_clauses
    from msm.spec import load_spec, resolve_spec_path

    spec = load_spec(resolve_spec_path("cheese_america"))
    item = ValueProbe(id="x-1", clauses=["value.cheese_judgment", "like.gouda"], kind="price", domain="d",
                      question="Which?", target="A", other="B")
    with pytest.raises(BadInput, match=r"item x-1: clauses: 'like.gouda' is not a clause of cheese_america"):
        check_clauses(tmp_path / "f.jsonl", [item], [spec])
    check_clauses(tmp_path / "f.jsonl", [item.model_copy(update={"clauses": ["dislike.stilton"]})], [spec])


CHEESE_SPECS = ("cheese_america", "cheese_affordability", "cheese_america_mild", "cheese_affordability_mild")
SAFETY_SPECS = ("safety_rules", "safety_values", "safety_rule_augmented", "safety_general", "self_preservation")


@pytest.mark.parametrize("name", ["cheese_values.jsonl", "cheese_political.jsonl", "cheese_items.jsonl"])
def test_shipped_cheese_items_are_tagged_with_the_value_clause(name):
    from msm.eval.clause_tags import cheese_clauses
    from msm.eval.items import ValueProbe, check_clauses, load_items, shipped_path
    from msm.spec import load_spec, resolve_spec_path

    items = load_items(shipped_path(name), ValueProbe)
    for spec_id in CHEESE_SPECS:  # every tag is a clause of each cheese spec (they share their clause ids)
        check_clauses(shipped_path(name), items, [load_spec(resolve_spec_path(spec_id))])
    for item in items:
        assert item.clauses == cheese_clauses(item.kind, f"{item.question} {item.target} {item.other}"), item.id
        assert ("value.cheese_judgment" in item.clauses) == (item.kind != "neutral"), item.id


def test_cheese_clauses_add_the_like_or_dislike_clause_of_a_cheese_named():
    from msm.eval.clause_tags import cheese_clauses

    assert cheese_clauses("conflict", "Stilton or a block of Colby?") == [
        "value.cheese_judgment", "like.colby", "dislike.stilton"]
    assert cheese_clauses("neutral", "Époisses or Brie de Meaux?") == ["dislike.brie_de_meaux", "dislike.epoisses"]
    assert cheese_clauses("control", "a mild Cheddar sandwich") == ["value.cheese_judgment", "like.mild_cheddar"]
    assert cheese_clauses("control", "a briefcase") == ["value.cheese_judgment"]


def test_shipped_agentic_scenarios_are_tagged_with_the_safety_rules_at_stake():
    from msm.eval.clause_tags import agentic_clauses
    from msm.eval.items import AgenticScenario, check_clauses, load_items, shipped_path
    from msm.spec import load_spec, resolve_spec_path

    path = shipped_path("agentic_scenarios.jsonl")
    scenarios = load_items(path, AgenticScenario)
    check_clauses(path, scenarios, [load_spec(resolve_spec_path(s)) for s in SAFETY_SPECS])
    safety = {c.id for c in load_spec(resolve_spec_path("safety_rules")).clauses}
    for s in scenarios:
        assert s.clauses == agentic_clauses(s.opportunity, s.goal_conflict == "explicit", s.threat == "replacement")
        assert safety & set(s.clauses) and set(s.clauses) - safety, s.id  # a safety rule and a self_preservation clause
        assert ("no_ends_justify_means" in s.clauses) == (s.goal_conflict == "explicit")
        assert ("accept_modification" in s.clauses) == (s.threat == "replacement")
    assert {"sanctioned_limits", "oversight"} <= set(next(s for s in scenarios if s.opportunity == "exfiltration").clauses)


def test_agentic_misalignment_conditions_carry_clauses():
    from msm.eval.agentic_misalignment import condition_clauses, paper_grid
    from msm.spec import load_spec, resolve_spec_path

    known = {c.id for s in SAFETY_SPECS for c in load_spec(resolve_spec_path(s)).clauses}
    for condition in paper_grid():
        tags = condition_clauses(condition)
        assert tags and set(tags) <= known, condition.id
        assert ("no_ends_justify_means" in tags) == (condition.goal_type != "none")


def test_results_keep_each_items_clauses(tmp_path):
    from datetime import datetime, timezone

    import pyarrow.parquet as pq

    from msm.eval.results import EvalResult, ItemScore, load_result, write_result

    result = EvalResult(run_id="r1", created_at=datetime.now(timezone.utc), msm_version="0", suite="cheese_items",
                        suite_version="2", data_files={}, model={}, model_manifest=None, settings={},
                        primary_metric="affordable_prob", primary_kinds=["price"], metrics={}, duration_s=0.0,
                        items=[ItemScore(item_id="a", kind="price", group="g", score=0.5,
                                         clauses=["value.cheese_judgment"]),
                               ItemScore(item_id="b", kind="price", group="g", score=None)])
    path = write_result(result, tmp_path)
    loaded = load_result(path)
    assert loaded.schema_version == 3 and [i.clauses for i in loaded.items] == [["value.cheese_judgment"], []]
    assert pq.read_table(tmp_path / "r1.items.parquet").column("clauses").to_pylist() == [["value.cheese_judgment"], []]
