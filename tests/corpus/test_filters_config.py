"""Curation configs are validated before any work: bad rules exit 2 naming the rule; values are parameters."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from msm.corpus.curate.config import compile_rules, load_config
from msm.corpus.curate.signals import SIGNAL_COLUMNS
from msm.errors import BadInput


def write_config(tmp_path: Path, rules: list[dict]) -> Path:
    path = tmp_path / "curation.yaml"
    path.write_text(json.dumps({"filters": rules}), encoding="utf-8")   # JSON is YAML
    return path


@pytest.mark.parametrize("expr, params, message", [
    ("no_such_signal > 3", {}, "no_such_signal"),
    ("word_count <", {}, "does not parse"),
    ("(SELECT count(*) FROM read_csv('/etc/passwd')) > 0", {}, "not allowed"),
    ("word_count < 5; DROP TABLE signals", {}, "does not parse"),
    ("getenv('HOME') = 'x'", {}, "not allowed"),
    ("word_count < $min_words", {}, "params has no 'min_words'"),
    ("word_count < 5", {"unused": 1}, "params.unused is not used"),
    ("word_count < ?", {}, "named parameters"),
])
def test_bad_rule_is_bad_input_naming_the_rule(tmp_path: Path, expr: str, params: dict, message: str) -> None:
    path = write_config(tmp_path, [{"name": "ok_rule", "expr": "word_count < 10"},
                                   {"name": "broken_rule", "expr": expr, "params": params}])
    config, source = load_config(path)
    with pytest.raises(BadInput) as info:
        compile_rules(config, SIGNAL_COLUMNS, source)
    assert "broken_rule" in str(info.value) and message in str(info.value) and str(path) in str(info.value)


def test_cli_exits_2_on_a_bad_config(tmp_path: Path, msm) -> None:
    docs = tmp_path / "d.jsonl"
    docs.write_text(json.dumps({"text": "one two three"}) + "\n")
    assert msm("corpus", "import", str(docs), "--run", "r").code == 0
    path = write_config(tmp_path, [{"name": "typo_rule", "expr": "wordcount < 3"}])
    result = msm("curate", "--run", "r", "--config", str(path))
    assert result.code == 2 and "typo_rule" in result.err and len(result.err.strip().splitlines()) == 1
    bad_yaml = tmp_path / "bad.yaml"
    bad_yaml.write_text("filters: [unclosed\n")
    assert msm("curate", "--run", "r", "--config", str(bad_yaml)).code == 2
    unknown_field = write_config(tmp_path, [{"name": "x", "expr": "true", "threshold": 3}])
    result = msm("curate", "--run", "r", "--config", str(unknown_field))
    assert result.code == 2 and "filters.0" in result.err


def test_parameter_values_are_data_not_sql(tmp_path: Path) -> None:
    path = write_config(tmp_path, [{"name": "by_marker", "expr": "prompt_marker_count > $n OR $label = 'x'",
                                    "params": {"n": 0, "label": "x' OR 1=1; DROP TABLE signals; --"}}])
    config, source = load_config(path)
    (rule,) = compile_rules(config, SIGNAL_COLUMNS, source)
    assert "DROP" not in rule.sql and rule.params["r0_label"].startswith("x'")
    assert "$r0_n" in rule.sql   # renamed per rule so two rules' parameters never collide


def test_shipped_default_config_compiles_and_every_rule_cites_a_source() -> None:
    config, source = load_config()
    rules = compile_rules(config, SIGNAL_COLUMNS, source)
    assert len(rules) == len(config.filters) >= 20
    assert all(r.source for r in config.filters)


@pytest.mark.parametrize("expr, params", [
    ("word_count > 'abc'", {}),                 # a number compared to a string constant
    ("word_count > $x", {"x": "lots"}),         # ... or to a string parameter
])
def test_number_compared_to_a_string_exits_2_naming_file_and_rule(tmp_path: Path, msm, expr: str,
                                                                   params: dict) -> None:
    docs = tmp_path / "d.jsonl"
    docs.write_text(json.dumps({"text": "one two three"}) + "\n")
    assert msm("corpus", "import", str(docs), "--run", "r").code == 0
    path = write_config(tmp_path, [{"name": "ok_rule", "expr": "word_count < 1"},
                                   {"name": "string_rule", "expr": expr, "params": params}])
    result = msm("curate", "--run", "r", "--config", str(path))
    assert result.code == 2, result.err
    assert "string_rule" in result.err and str(path) in result.err and len(result.err.strip().splitlines()) == 1


def test_rule_that_fails_only_on_the_documents_exits_2_naming_it(tmp_path: Path, msm) -> None:
    """A cast that holds for the one-row check (counts of 1) and overflows on a 3-word document: still exit 2
    naming the file and the rule, not a DuckDB error."""
    docs = tmp_path / "d.jsonl"
    docs.write_text(json.dumps({"text": "one two three"}) + "\n")
    assert msm("corpus", "import", str(docs), "--run", "r").code == 0
    path = write_config(tmp_path, [{"name": "log_rule", "expr": "CAST(2 - word_count AS UTINYINT) > 0"}])
    result = msm("curate", "--run", "r", "--config", str(path))
    assert result.code == 2, result.err
    assert "log_rule" in result.err and str(path) in result.err and len(result.err.strip().splitlines()) == 1
