"""`msm experiment run | validate | status FILE --set KEY=VALUE`: dotted keys, YAML values, validated like the file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from msm.errors import BadInput
from msm.experiment.config import load_experiment
from msm.experiment.overrides import apply_overrides, parse_override

REPO = Path(__file__).resolve().parents[1]
PAPER = REPO / "experiments/paper_cheese.yaml"


def test_values_are_yaml_and_keys_walk_mappings_and_list_indexes() -> None:
    assert parse_override("generate.n_docs=4") == (["generate", "n_docs"], 4)
    assert parse_override("eval.suites=[a, b]") == (["eval", "suites"], ["a", "b"])
    assert parse_override("base_model=local:smollm2-135m") == (["base_model"], "local:smollm2-135m")
    data = {"conditions": [{"name": "a"}], "generate": None}
    out = apply_overrides(data, ["conditions.0.specs=[x]", "generate.seed=3", "midtrain.lr=0.0001"])
    assert out == {"conditions": [{"name": "a", "specs": ["x"]}], "generate": {"seed": 3}, "midtrain": {"lr": 0.0001}}
    assert data == {"conditions": [{"name": "a"}], "generate": None}  # the file's mapping is not changed
    for bad in ("n_docs", "=4", "a..b=1", "conditions.5.x=1", "conditions.x.y=1", "eval.suites=[a"):
        with pytest.raises(BadInput, match="--set"):
            apply_overrides({"conditions": [{}], "eval": {}}, [bad])


def test_overrides_are_validated_like_the_file_and_kept_on_the_experiment() -> None:
    experiment = load_experiment(PAPER, ["generate.n_docs=4", "base_model=local:smollm2-135m"])
    assert experiment.generate.n_docs == 4 and experiment.base_model == "local:smollm2-135m"
    assert experiment.overrides == ["generate.n_docs=4", "base_model=local:smollm2-135m"]
    assert load_experiment(PAPER).overrides == []
    with pytest.raises(BadInput, match=r"with --set generate.n_docs=0\): generate.n_docs"):
        load_experiment(PAPER, ["generate.n_docs=0"])
    with pytest.raises(BadInput, match="no_such_field"):
        load_experiment(PAPER, ["generate.no_such_field=1"])


def test_cli_validate_and_dry_run_take_overrides(msm, isolated_workspace: Path) -> None:
    ok = msm("experiment", "validate", str(PAPER), "--set", "generate.n_docs=4")
    assert ok.code == 0 and "--set generate.n_docs=4" in ok.out
    bad = msm("experiment", "validate", str(PAPER), "--set", "seeds=[]")
    assert bad.code == 2 and "seeds" in bad.err
    data = json.loads(msm("--json", "experiment", "run", str(PAPER), "--dry-run", "--set", "seeds=[0]",
                          "--set", "generate.n_docs=3").out)
    generate = [s for s in data["stages"] if s["kind"] == "generate"]
    assert generate and all("3" == s["command"][s["command"].index("--n-docs") + 1] for s in generate)
    assert {r["seed"] for r in data["replicates"].values()} == {0}
