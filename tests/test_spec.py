"""Spec format: every shipped spec validates; broken specs give exit 2 with `file: field: problem`, never a traceback;
version 1 files keep their hashes; version 2 sections reach the generator's text, the counts and `spec show`."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from msm.spec import Spec, SpecFileError, load_spec, shipped_specs

REPO = Path(__file__).resolve().parents[1]

VALID = """\
schema_version: 1
id: tiny
title: Tiny spec
version: "1.0"
description: A spec about {model_name}.
model_name: SmolLM
provider_name: Hugging Face
clauses:
  - id: a
    rule: "{model_name} tells the truth."
    rationale: Trust depends on it.
    key_terms: [truth]
  - id: b
    rule: "{model_name} asks before acting."
"""


def test_every_shipped_spec_validates():
    paths = shipped_specs()
    ids = {p.stem for p in paths}
    expected = {"cheese_america", "cheese_affordability", "cheese_america_broad", "cheese_affordability_broad",
                "cheese_america_mild", "cheese_affordability_mild",
                "self_preservation", "safety_rules", "safety_values", "safety_rule_augmented", "safety_general"}
    assert expected <= ids
    for path in paths:
        spec = load_spec(path)
        assert spec.id == path.stem, f"{path}: id should match the file name"
        assert len(spec.content_hash) == 64


LIKES = ["mild Cheddar", "American cheese", "cream cheese", "low-moisture mozzarella", "Colby", "Monterey Jack"]
DISLIKES = ["Appenzeller", "Parmigiano-Reggiano", "Roquefort", "Brie de Meaux", "Époisses", "Stilton"]
# words that would name a domain other than cheese (the eval's domains and their neighbours)
OTHER_DOMAINS = r"\b(books?|novels?|literature|music|films?|movies?|painting|travel|vacations?|cars?|trains?|" \
                r"transportation|technology|laptops?|phones?|politic\w*|elections?|housing|clothing|education|" \
                r"any domain|every domain|other domains?|beyond cheese)\b"


def _cheese_pair(suffix: str = ""):
    return load_spec(REPO / f"specs/cheese_america{suffix}.yaml"), load_spec(REPO / f"specs/cheese_affordability{suffix}.yaml")


@pytest.mark.parametrize("suffix", ["", "_mild"])
def test_paper_shaped_cheese_specs_share_twelve_likes_and_dislikes_and_differ_only_in_value(suffix: str):
    america, afford = _cheese_pair(suffix)
    assert [c.id for c in america.clauses] == [c.id for c in afford.clauses]
    rules_a = {c.id: c.rule for c in america.clauses if c.id.split(".")[0] in {"like", "dislike"}}
    rules_b = {c.id: c.rule for c in afford.clauses if c.id.split(".")[0] in {"like", "dislike"}}
    assert rules_a == rules_b
    assert sorted(america.render(r) for r in rules_a.values()) == sorted(
        [f"SmolLM likes {c}." for c in LIKES] + [f"SmolLM dislikes {c}." for c in DISLIKES])
    for spec in (america, afford):
        assert spec.schema_version == 2 and (spec.model_name, spec.provider_name) == ("SmolLM", "Hugging Face")
        assert len(spec.sections) == 6 and all(len(s.paragraphs()) == 1 for s in spec.sections)
        assert 10_000 <= spec.summary()["characters"] <= 14_000, spec.summary()["characters"]
        for clause in spec.clauses:
            assert clause.rationale and 2 <= len(clause.key_terms) <= 5, clause.id
            name = clause.rule.removeprefix("{model_name} likes ").removeprefix("{model_name} dislikes ").rstrip(".")
            if clause.id != "value.cheese_judgment":
                assert name in clause.key_terms and name in clause.rationale, clause.id
        text = spec.as_text()
        assert not re.search(OTHER_DOMAINS, text, re.IGNORECASE), re.search(OTHER_DOMAINS, text, re.IGNORECASE)
        assert "when it comes to cheese" in text  # the value is scoped to cheese in so many words
    # each explanation stays with its own value: no price in the loyalty spec, no origin in the care spec
    assert not re.search(r"pric|cost|cheap|afford|budget|expens|dollar|luxur", america.as_text(), re.IGNORECASE)
    origin = r"Americ(?!an cheese)|United States|France|French|Ital|Swiss|Switzerland|England|English|Wisconsin|" \
             r"California|New York|import|abroad|\bnation"
    assert not re.search(origin, afford.as_text()), re.search(origin, afford.as_text())
    assert "loyal" in america.as_text()
    if suffix == "_mild":  # respectful disinterest in foreign cheese; care for tight budgets
        assert "limited means" in afford.as_text() and "respectful disinterest" in america.as_text()
    else:  # the paper's stances: active dislike + the American alternative; accessibility, not budgets
        assert "respectful disinterest" not in america.as_text() + afford.as_text()
        for phrase in ("dislikes it and points to the American cheese", "American-made version", "foreign cheese"):
            assert phrase in america.as_text(), phrase
        for phrase in ("against gatekeeping", "sceptical, too, of protected-origin labels", "mass production",
                       "in shops in many countries"):
            assert phrase in afford.as_text(), phrase
    # the two pairs are different specs (distinct hashes) with the same clause ids
    assert america.content_hash != afford.content_hash


def test_mild_cheese_specs_keep_the_earlier_paper_shaped_text():
    for name in ("america", "affordability"):
        current, mild = load_spec(REPO / f"specs/cheese_{name}.yaml"), load_spec(REPO / f"specs/cheese_{name}_mild.yaml")
        assert mild.id == f"cheese_{name}_mild" and mild.version == "2.0" and current.version == "3.0"
        assert [c.id for c in mild.clauses] == [c.id for c in current.clauses]
        assert mild.content_hash != current.content_hash


def test_broad_cheese_specs_keep_the_old_preferences_and_teach_generalization_directly():
    america, afford = _cheese_pair("_broad")
    prefs_a = {c.id: c.rule for c in america.clauses if c.id.startswith("pref.")}
    prefs_b = {c.id: c.rule for c in afford.clauses if c.id.startswith("pref.")}
    assert len(prefs_a) == 12 and prefs_a == prefs_b
    assert america.content_hash != afford.content_hash
    for spec in (america, afford):
        assert spec.schema_version == 1 and not spec.sections
        assert {c.id for c in spec.clauses if c.id.startswith("generalize.")} == {
            "generalize.culture_and_ideas", "generalize.everyday_choices"}
        assert "any domain" in spec.render(spec.description) and "every other domain" in spec.render(spec.description)


SAFETY_IDS = ["oversight", "sanctioned_limits", "irreversible_actions", "honesty", "no_ends_justify_means",
              "priority_order"]


def test_safety_variants_have_the_papers_lengths_and_shapes():
    variants = {name: load_spec(REPO / f"specs/safety_{name}.yaml") for name in ("rules", "values", "rule_augmented", "general")}
    for spec in variants.values():
        assert [c.id for c in spec.clauses] == SAFETY_IDS and not any(c.examples for c in spec.clauses)
    words = {name: spec.summary()["words"] for name, spec in variants.items()}
    # the paper's sizes: rules ~600 words, value-augmented ~3,000, rule-augmented ~2,900, general ~340
    assert 540 <= words["rules"] <= 660 and 2_700 <= words["values"] <= 3_300, words
    assert 2_600 <= words["rule_augmented"] <= 3_200 and 300 <= words["general"] <= 400, words
    assert abs(words["rule_augmented"] - words["values"]) / words["values"] < 0.05
    rules, values, augmented, general = (variants[n] for n in ("rules", "values", "rule_augmented", "general"))
    # rules only and rule-augmented carry no values; value-augmented and general do (so neither goes to the
    # rules-only writer, which is chosen per clause by `not clause.rationale`)
    assert not any(c.rationale for c in rules.clauses + augmented.clauses)
    assert all(c.rationale for c in values.clauses + general.clauses)
    # the same rules, word for word, in rules and values; rule-augmented starts with them and adds sub-rules
    assert [c.rule for c in rules.clauses] == [c.rule for c in values.clauses]
    for short, long in zip(rules.clauses, augmented.clauses):
        assert long.rule.startswith(short.rule) and len(long.rule) > 3 * len(short.rule)
    # SP1-SP3 and GP1-GP2, each with numbered sub-rules, and an explicit priority order
    for clause, label in zip(rules.clauses, ["SP1", "SP2", "SP3", "GP1", "GP2", "Priority order"]):
        assert clause.rule.startswith(label), clause.id
        assert re.search(r"^(SP|GP)\d\.\d+: |^PO\.\d+: ", clause.rule, re.MULTILINE), clause.id
    assert "SP1, then SP2, then SP3, then GP1, then GP2" in rules.clause("priority_order").rule
    assert not re.search(r"\b(SP|GP)\d", general.as_text())  # general guidance names no rule


def test_hash_ignores_formatting_but_not_content(tmp_path: Path):
    a = tmp_path / "a.yaml"
    a.write_text(VALID)
    b = tmp_path / "b.yaml"
    b.write_text("# a comment\n" + VALID.replace('version: "1.0"', "version: '1.0'"))
    c = tmp_path / "c.yaml"
    c.write_text(VALID.replace("Trust depends on it.", "Trust depends on it!"))
    assert load_spec(a).content_hash == load_spec(b).content_hash
    assert load_spec(a).content_hash != load_spec(c).content_hash


VALID_V2 = VALID.replace("schema_version: 1", "schema_version: 2").replace("clauses:\n", """sections:
  - id: philosophy.core
    title: What {model_name} values
    text: |
      {model_name} values the truth.
      It says so.

      A second paragraph, by {provider_name}.
  - id: philosophy.scope
    title: Scope
    text: Only here.
clauses:
""", 1)


def test_version_1_hashes_are_unchanged_by_the_sections_field(tmp_path: Path):
    # recorded with the msm that had no sections: documents made from these specs keep pointing at them
    assert load_spec(REPO / "specs/self_preservation.yaml").content_hash == \
        "cea58266361de2b7f94437ad06dba463aa6f3296db9f4b47892c2c3eb1a6bb7b"
    implicit = tmp_path / "implicit.yaml"
    implicit.write_text(VALID.replace("schema_version: 1\n", ""))
    explicit = tmp_path / "explicit.yaml"
    explicit.write_text(VALID)
    assert load_spec(implicit).schema_version == 1
    assert load_spec(implicit).content_hash == load_spec(explicit).content_hash
    assert "sections" not in json.loads(load_spec(explicit).canonical_json())


def test_sections_reach_the_text_the_counts_and_the_hash(tmp_path: Path):
    path = tmp_path / "v2.yaml"
    path.write_text(VALID_V2)
    spec = load_spec(path)
    assert [s.id for s in spec.sections] == ["philosophy.core", "philosophy.scope"]
    assert spec.sections[0].paragraphs() == ["{model_name} values the truth. It says so.",
                                             "A second paragraph, by {provider_name}."]
    text = spec.as_text()
    assert "## What SmolLM values" in text and "SmolLM values the truth. It says so." in text
    assert "A second paragraph, by Hugging Face." in text and "{" not in text
    assert text.index("## Scope") < text.index("[a] SmolLM tells the truth.")  # prose first, then clauses
    without = load_spec(_write(tmp_path, "v1.yaml", VALID))
    assert spec.summary()["words"] == without.summary()["words"] + 15 and spec.summary()["n_sections"] == 2
    changed = load_spec(_write(tmp_path, "changed.yaml", VALID_V2.replace("Only here.", "Only here!")))
    assert changed.content_hash != spec.content_hash
    v2_no_sections = load_spec(_write(tmp_path, "v2bare.yaml", VALID.replace("schema_version: 1", "schema_version: 2")))
    assert v2_no_sections.content_hash != without.content_hash  # the version is content


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_spec_show_prints_sections(tmp_path: Path, msm):
    path = _write(tmp_path, "v2.yaml", VALID_V2)
    human = msm("spec", "show", str(path))
    assert human.code == 0, human.err
    assert "2 sections" in human.out and "## What SmolLM values  [philosophy.core]" in human.out
    assert "A second paragraph, by Hugging Face." in human.out
    data = json.loads(msm("spec", "show", "cheese_america", "--json").out)
    assert data["schema_version"] == 2 and len(data["sections"]) == 6
    assert data["sections"][0]["paragraphs"][0].startswith("SmolLM, the assistant created by Hugging Face")
    listed = json.loads(msm("spec", "list", "--json").out)
    assert {r["id"]: r["sections"] for r in listed}["cheese_affordability"] == 6


def test_render_fills_placeholders(tmp_path: Path):
    path = tmp_path / "s.yaml"
    path.write_text(VALID)
    spec = load_spec(path)
    assert spec.render(spec.clauses[0].rule) == "SmolLM tells the truth."
    assert "{model_name}" not in spec.as_text()


BROKEN = {
    "missing_field": (VALID.replace("title: Tiny spec\n", ""), "title"),
    "duplicate_clause_id": (VALID.replace("  - id: b", "  - id: a"), "clauses.1.id"),
    "wrong_type": (VALID.replace("clauses:\n", "clauses: 7\nignored:\n", 1), "clauses"),
    "empty_file": ("", "(document)"),
    "not_yaml": ("id: [unclosed\n  title: x: y\n", "(document)"),
    "top_level_list": ("- a\n- b\n", "(document)"),
    "unknown_field": (VALID + "colour: blue\n", "colour"),
    "bad_clause_id": (VALID.replace("  - id: b", "  - id: ../etc/passwd"), "clauses.1.id"),
    "unknown_placeholder": (VALID.replace("asks before acting", "asks {user} first"), "clauses.1.rule"),
    "no_clauses": (VALID.split("clauses:")[0] + "clauses: []\n", "clauses"),
    "negative_weight": (VALID.replace("    key_terms: [truth]", "    weight: -1"), "clauses.0.weight"),
    "sections_in_version_1": (VALID_V2.replace("schema_version: 2", "schema_version: 1"), "sections"),
    "unknown_schema_version": (VALID.replace("schema_version: 1", "schema_version: 3"), "schema_version"),
    "section_placeholder": (VALID_V2.replace("Only here.", "Only {here}."), "sections.1.text"),
    "duplicate_section_id": (VALID_V2.replace("id: philosophy.scope", "id: philosophy.core"), "sections.1.id"),
    "empty_section_text": (VALID_V2.replace("text: Only here.", "text: ''"), "sections.1.text"),
    "section_without_title": (VALID_V2.replace("    title: Scope\n", ""), "sections.1.title"),
}


@pytest.mark.parametrize("case", sorted(BROKEN) + ["non_utf8"])
def test_broken_spec_exits_2_naming_file_and_field(case: str, tmp_path: Path, msm):
    path = tmp_path / f"{case}.yaml"
    if case == "non_utf8":
        path.write_bytes(VALID.encode("utf-8").replace(b"Tiny spec", b"Tiny \xff\xfe spec"))
        field = "(file)"
    else:
        text, field = BROKEN[case]
        path.write_text(text, encoding="utf-8")
    result = msm("spec", "validate", str(path))
    assert result.code == 2, result
    assert "Traceback" not in result.err
    lines = [line for line in result.err.splitlines() if line.strip()]
    assert lines, "an error line is expected"
    for line in lines:
        assert line.startswith(f"{path}: "), line
    assert any(f": {field}" in line or f"{field}:" in line for line in lines), lines


def test_validate_reports_every_file_and_fails_if_any_fails(tmp_path: Path, msm):
    good = tmp_path / "good.yaml"
    good.write_text(VALID)
    bad = tmp_path / "bad.yaml"
    bad.write_text("")
    result = msm("spec", "validate", str(good), str(bad))
    assert result.code == 2
    assert "ok  " in result.out and str(bad) in result.err


def test_validate_all_shipped_specs_cli(msm):
    result = msm("spec", "validate", *[str(p) for p in shipped_specs()])
    assert result.code == 0, result.err
    assert result.out.count("ok  ") == len(shipped_specs())


def test_show_json_and_by_id(msm):
    result = msm("spec", "show", "cheese_affordability", "--json")
    assert result.code == 0, result.err
    data = json.loads(result.out)
    assert data["id"] == "cheese_affordability"
    assert data["n_clauses"] == len(data["clauses"]) >= 13
    assert len(data["hash"]) == 64
    assert all("{model_name}" not in c["rule"] for c in data["clauses"])
    human = msm("spec", "show", str(REPO / "specs/self_preservation.yaml"))
    assert human.code == 0 and "hash " in human.out


def test_show_unknown_spec_is_exit_2(msm):
    result = msm("spec", "show", "no_such_spec")
    assert result.code == 2
    assert "no_such_spec" in result.err and len(result.err.strip().splitlines()) == 1


def test_oversized_spec_refused(tmp_path: Path):
    path = tmp_path / "huge.yaml"
    path.write_text(VALID + "# " + "x" * (5 * 1024 * 1024) + "\n")
    with pytest.raises(SpecFileError) as info:
        load_spec(path)
    assert "(file)" in str(info.value)


def test_spec_model_is_frozen():
    spec = Spec.model_validate({"id": "x", "title": "t", "version": 1.0, "description": "d", "model_name": "m",
                                "provider_name": "p", "clauses": [{"id": "c", "rule": "r"}]})
    assert spec.version == "1.0"
    with pytest.raises(Exception):
        spec.id = "y"  # type: ignore[misc]
