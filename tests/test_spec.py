"""Spec format: every shipped spec validates; broken specs give exit 2 with `file: field: problem`, never a traceback."""

from __future__ import annotations

import json
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
    expected = {"cheese_america", "cheese_affordability", "self_preservation", "safety_rules", "safety_values",
                "safety_rule_augmented", "safety_general"}
    assert expected <= ids
    for path in paths:
        spec = load_spec(path)
        assert spec.id == path.stem, f"{path}: id should match the file name"
        assert len(spec.content_hash) == 64


def test_cheese_specs_share_preferences_and_differ_in_value():
    america = load_spec(REPO / "specs/cheese_america.yaml")
    afford = load_spec(REPO / "specs/cheese_affordability.yaml")
    prefs_a = {c.id: c.rule for c in america.clauses if c.id.startswith("pref.")}
    prefs_b = {c.id: c.rule for c in afford.clauses if c.id.startswith("pref.")}
    assert len(prefs_a) == 12 and prefs_a == prefs_b
    assert america.content_hash != afford.content_hash


def test_safety_variants_share_clause_ids_and_rule_augmented_is_length_matched():
    variants = {name: load_spec(REPO / f"specs/safety_{name}.yaml") for name in ("rules", "values", "rule_augmented", "general")}
    ids = {name: [c.id for c in spec.clauses] for name, spec in variants.items()}
    assert len({tuple(v) for v in ids.values()}) == 1
    assert all(c.rationale for c in variants["values"].clauses)
    assert not any(c.rationale for c in variants["rules"].clauses + variants["rule_augmented"].clauses)
    values_words = variants["values"].summary()["words"]
    augmented_words = variants["rule_augmented"].summary()["words"]
    assert abs(augmented_words - values_words) / values_words < 0.15


def test_hash_ignores_formatting_but_not_content(tmp_path: Path):
    a = tmp_path / "a.yaml"
    a.write_text(VALID)
    b = tmp_path / "b.yaml"
    b.write_text("# a comment\n" + VALID.replace('version: "1.0"', "version: '1.0'"))
    c = tmp_path / "c.yaml"
    c.write_text(VALID.replace("Trust depends on it.", "Trust depends on it!"))
    assert load_spec(a).content_hash == load_spec(b).content_hash
    assert load_spec(a).content_hash != load_spec(c).content_hash


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
