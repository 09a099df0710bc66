"""Experiment files and stage planning: validation errors name the field; stage keys change only downstream."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from msm.experiment.config import load_experiment
from msm.experiment.runner import plan_experiment
from msm.workspace import Workspace

REPO = Path(__file__).resolve().parents[1]
BASE = {
    "schema_version": 1, "name": "t", "base_model": "local:smollm2-135m",
    "generate": {"n_docs": 4}, "sft": {"data": "cheese", "lr": 0.001},
    "eval": {"suites": ["cheese_values"], "limit": 10},
    "conditions": [{"name": "a", "specs": ["cheese_america"]}, {"name": "b", "specs": ["cheese_affordability"]},
                   {"name": "aft", "specs": []}, {"name": "base", "sft": False}],
}


def _write(tmp_path: Path, data: dict) -> Path:
    path = tmp_path / "exp.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.mark.parametrize("path", sorted((REPO / "experiments").glob("*.yaml")), ids=lambda p: p.name)
def test_shipped_experiments_validate(path: Path, msm):
    result = msm("experiment", "validate", str(path))
    assert result.code == 0, result.err


@pytest.mark.parametrize("mutate,field", [
    (lambda d: d.pop("name"), "name"),
    (lambda d: d["conditions"].append({"name": "a"}), "conditions.4.name"),
    (lambda d: d.update(colour="red"), "colour"),
    (lambda d: d["generate"].update(n_docs=0), "generate.n_docs"),
    (lambda d: d.update(review="sometimes"), "review"),
    (lambda d: d.update(compare=[["a", "zzz"]]), "compare.0.1"),
    (lambda d: d.update(conditions=[]), "conditions"),
    (lambda d: d["conditions"][0].update(name="../x"), "conditions.0.name"),
])
def test_malformed_experiment_is_exit_2_naming_the_field(mutate, field, tmp_path: Path, msm):
    data = yaml.safe_load(yaml.safe_dump(BASE))
    mutate(data)
    path = _write(tmp_path, data)
    result = msm("experiment", "run", str(path))
    assert result.code == 2, result
    assert f"{path}: {field}" in result.err, result.err
    assert "Traceback" not in result.err
    assert not (tmp_path / "ws" / "reports" / "t").exists(), "nothing may be written for a bad file"


def test_not_yaml_and_missing_file(tmp_path: Path, msm):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: [oops\n")
    assert msm("experiment", "run", str(bad)).code == 2
    assert msm("experiment", "run", str(tmp_path / "missing.yaml")).code == 2


def test_shared_stages_are_planned_once(tmp_path: Path):
    ws = Workspace.open(tmp_path / "w", create=True)
    plan = plan_experiment(load_experiment(_write(tmp_path, BASE)), ws)
    kinds = [s.kind for s in plan.stages.values()]
    # two spec conditions: 2 generate, 2 curate, 2 snapshot, 2 midtrain; sft: 2 after MSM + 1 on the base model
    assert kinds.count("generate") == 2 and kinds.count("midtrain") == 2 and kinds.count("sft") == 3
    # `base` evaluates the base model itself
    assert plan.models["base"] == "local:smollm2-135m"
    assert kinds.count("eval") == 4


def test_changing_aft_lr_changes_only_sft_and_eval_keys(tmp_path: Path):
    ws = Workspace.open(tmp_path / "w", create=True)
    first = plan_experiment(load_experiment(_write(tmp_path, BASE)), ws)
    changed = yaml.safe_load(yaml.safe_dump(BASE))
    changed["sft"]["lr"] = 0.002
    second = plan_experiment(load_experiment(_write(tmp_path, changed)), ws)
    before = {(s.kind, s.label, tuple(sorted(c for c, ks in first.by_condition.items() if k in ks))): k
              for k, s in first.stages.items()}
    after = {(s.kind, s.label, tuple(sorted(c for c, ks in second.by_condition.items() if k in ks))): k
             for k, s in second.stages.items()}
    assert before.keys() == after.keys()
    for ident, key in before.items():
        same = after[ident] == key
        assert same == (ident[0] not in {"sft", "eval"}) or (ident[0] == "eval" and ident[2] == ("base",)), ident


def test_sft_data_aft_spec_plans_cached_aft_stages_before_sft(tmp_path: Path):
    ws = Workspace.open(tmp_path / "w", create=True)
    data = yaml.safe_load(yaml.safe_dump(BASE))
    data["sft"]["data"] = "aft:self_preservation"
    data["aft_generate"] = {"n": 8, "lm": "openai/served", "api_base": "http://127.0.0.1:9/v1", "style": "rule"}
    plan = plan_experiment(load_experiment(_write(tmp_path, data)), ws)
    aft = [s for s in plan.stages.values() if s.kind.startswith("aft_")]
    # one AFT data set shared by every condition that fine-tunes
    assert [s.kind for s in aft] == ["aft_generate", "aft_curate", "aft_snapshot"]
    generate, curate, snapshot = aft
    assert generate.argv[:2] == ["aft", "generate"] and "--style" in generate.argv and "rule" in generate.argv
    assert curate.depends == [generate.key] and snapshot.depends == [curate.key]
    sfts = [s for s in plan.stages.values() if s.kind == "sft"]
    assert len(sfts) == 3 and all(f"snapshot:{snapshot.output}" in s.argv and snapshot.key in s.depends for s in sfts)
    kinds = [s.kind for s in plan.stages.values()]
    assert kinds.index("aft_snapshot") < kinds.index("sft")
    # a change of the AFT generation settings changes the aft stages and everything that trains on them
    data["aft_generate"]["n"] = 9
    second = plan_experiment(load_experiment(_write(tmp_path, data)), ws)
    assert {s.key for s in second.stages.values() if s.kind == "midtrain"} == \
        {s.key for s in plan.stages.values() if s.kind == "midtrain"}
    assert not {s.key for s in second.stages.values() if s.kind in {"aft_generate", "sft"}} & \
        {s.key for s in plan.stages.values() if s.kind in {"aft_generate", "sft"}}


def test_sft_data_snapshot_needs_an_existing_snapshot(tmp_path: Path, msm):
    data = yaml.safe_load(yaml.safe_dump(BASE))
    data["sft"]["data"] = "snapshot:not-there"
    result = msm("experiment", "run", str(_write(tmp_path, data)))
    assert result.code == 2 and "not-there" in result.err
