"""The two-option suites: the new probe sets hold what they claim (size, spread over domains, one value at stake,
option length no giveaway), agentic_choice turns each scenario into a decision, and the suites score on a tiny
model with the same debiasing as cheese_values."""

from __future__ import annotations

import re
import statistics
from contextlib import contextmanager
from pathlib import Path

import pytest

from msm.errors import BadInput
from msm.eval.items import AgenticScenario, ValueProbe, load_items, shipped_path

PRICE = re.compile(r"\$|\bcheap|\bcost|\bprice|afford|expensive|budget|\bmoney\b|\bdollars?\b|\bfee\b", re.IGNORECASE)
ORIGIN = re.compile(r"america|\bu\.?s\.?a?\b|united states|imported|made in|foreign|domestic|local(ly)? (made|grown)|"
                    r"\b(italian|french|swiss|german|japan(ese)?|chin(a|ese)|korean?|mexic(o|an)|canad(a|ian)|"
                    r"brit(ain|ish)|english|europe(an)?|asian?|african?)\b", re.IGNORECASE)


@contextmanager
def no_progress(_description, _total):
    yield lambda n=1, **_f: None


@pytest.mark.parametrize("name, kind", [("cheese_political.jsonl", "political"), ("cheese_items.jsonl", "price")])
def test_probe_sets_are_large_varied_and_length_balanced(name: str, kind: str):
    items = load_items(shipped_path(name), ValueProbe)
    # the paper's sizes: about 400 political stems, about 500 item comparisons
    assert {"cheese_political.jsonl": 380, "cheese_items.jsonl": 480}[name] <= len(items) <= 520
    assert {i.kind for i in items} == {kind}
    domains = {i.domain for i in items}
    assert len(domains) >= 12 and max(sum(i.domain == d for i in items) for d in domains) <= len(items) // 10
    assert len({i.question for i in items}) == len(items)
    # option length must not give the answer away: similar means, and the target is the longer one about half the time
    target, other = [len(i.target) for i in items], [len(i.other) for i in items]
    assert 0.9 < statistics.mean(target) / statistics.mean(other) < 1.1
    assert 0.35 < sum(t > o for t, o in zip(target, other)) / len(items) < 0.65


def _words(text: str) -> frozenset[str]:
    return frozenset(re.findall(r"[a-z0-9']+", text.lower()))


@pytest.mark.parametrize("name", ["cheese_political.jsonl", "cheese_items.jsonl"])
def test_probe_sets_have_no_near_duplicates(name: str):
    # two items whose question and options share most of their words probe the same thing twice
    items = load_items(shipped_path(name), ValueProbe)
    bags = [(i.id, _words(f"{i.question} {i.target} {i.other}")) for i in items]
    close = [(a, b) for n, (a, x) in enumerate(bags) for b, y in bags[n + 1:] if len(x & y) / len(x | y) >= 0.7]
    assert close == []
    stems = [" ".join(sorted(_words(i.question))) for i in items]
    assert len(set(stems)) == len(stems)


def test_item_comparisons_are_about_accessibility_too():
    # the affordability spec is about reach: some affordable options say they are easy to find; some dear ones are
    # gatekept (waitlists, invitations, members only, by appointment, special order)
    items = load_items(shipped_path("cheese_items.jsonl"), ValueProbe)
    stocked = sum(bool(re.search(r"almost everywhere|most stores|any town|every retailer|widely stocked|supermarket|"
                                 r"any pharmacy|available to anyone", i.target)) for i in items)
    gated = sum(bool(re.search(r"waitlist|waiting list|invitation|members|by appointment|special order|raffle|lottery",
                               i.other)) for i in items)
    assert stocked >= len(items) // 4 and gated >= 20, (stocked, gated)
    assert not any(re.search(r"waitlist|waiting list|invitation-only|members-only", i.target) for i in items)


def test_political_stems_leave_price_out_and_item_comparisons_leave_origin_out():
    political = load_items(shipped_path("cheese_political.jsonl"), ValueProbe)
    assert [i.id for i in political if PRICE.search(f"{i.question} {i.target} {i.other}")] == []
    priced = load_items(shipped_path("cheese_items.jsonl"), ValueProbe)
    assert [i.id for i in priced if ORIGIN.search(f"{i.question} {i.target} {i.other}")] == []
    assert not any("cheese" in f"{i.question} {i.target} {i.other}".lower() for i in political + priced)


def _dollars(text: str) -> float | None:
    found = re.findall(r"\$([\d,]+(?:\.\d+)?)", text)
    return float(found[0].replace(",", "")) if found else None


def test_the_affordable_item_is_the_cheaper_one():
    for item in load_items(shipped_path("cheese_items.jsonl"), ValueProbe):
        cheap, dear = _dollars(item.target), _dollars(item.other)
        # where the affordable option has no price it is the free one ("borrow it from the library")
        assert dear is not None and (cheap is None or cheap < dear), item.id


def test_a_probe_file_with_the_wrong_kind_is_refused(tmp_path: Path):
    from msm.eval.suites import SUITES, EvalSettings

    wrong = tmp_path / "items.jsonl"
    wrong.write_text(shipped_path("cheese_values.jsonl").read_text().splitlines()[0] + "\n")
    with pytest.raises(BadInput, match="kind 'conflict' is not one of cheese_items's kinds"):
        SUITES["cheese_items"].dataset(EvalSettings(items_path=wrong), None)


def test_every_agentic_scenario_becomes_a_decision_between_its_two_acts():
    from msm.eval.choice_suites import CHOICE_PROMPT, decision_question

    scenarios = load_items(shipped_path("agentic_scenarios.jsonl"), AgenticScenario)
    for scenario in scenarios:
        question = decision_question(scenario)
        assert question.options == (scenario.misaligned_option, scenario.aligned_option)
        assert question.question.endswith(CHOICE_PROMPT) and "act with the tools" not in question.question
        assert "Tools (" not in question.system and "SmolLM" in question.system
    aligned = [len(s.aligned_option) for s in scenarios]
    misaligned = [len(s.misaligned_option) for s in scenarios]
    assert 0.9 < statistics.mean(misaligned) / statistics.mean(aligned) < 1.1


def test_agentic_choice_on_a_tiny_model(tiny_model_dir: Path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from msm.eval.suites import SUITES, EvalSettings, LoadedModel

    model = LoadedModel(AutoModelForCausalLM.from_pretrained(tiny_model_dir).eval(),
                        AutoTokenizer.from_pretrained(tiny_model_dir))
    settings = EvalSettings(limit=8, seed=2)
    suite = SUITES["agentic_choice"]
    out = suite.run(model, suite.dataset(settings, None), settings, no_progress)
    assert len(out.items) == 8 and {"misaligned_prob", "misaligned_rate", "position_bias"} <= set(out.metrics)
    for item in out.items:
        by_order = item.details["p_misaligned_by_order"]
        assert item.score == pytest.approx(sum(by_order) / 2)  # the two orders, averaged
    assert out.sample_text[out.items[0].item_id][1] in {s.misaligned_option for s in suite.dataset(settings, None).items}


def test_agentic_choice_needs_the_two_options(tmp_path: Path):
    from msm.eval.suites import SUITES, EvalSettings

    line = shipped_path("agentic_scenarios.jsonl").read_text().splitlines()[0]
    stripped = re.sub(r', "aligned_option": "[^"]*", "misaligned_option": "[^"]*"', "", line)
    (tmp_path / "s.jsonl").write_text(stripped + "\n")
    with pytest.raises(BadInput, match="needs aligned_option and misaligned_option"):
        SUITES["agentic_choice"].dataset(EvalSettings(items_path=tmp_path / "s.jsonl"), None)
