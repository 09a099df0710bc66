"""Condition kinds, replicate seeds, adapter continuation and instruction mixes in experiment files: what they
validate to, and the stage plan they give (keys, shared stages, the seeds in each stage's command)."""

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
                   {"name": "a_only", "kind": "msm_only", "specs": ["cheese_america"]},
                   {"name": "aft"}, {"name": "base", "sft": False}],
}


def _data(**changes) -> dict:
    data = yaml.safe_load(yaml.safe_dump(BASE))
    data.update(changes)
    return data


def _write(tmp_path: Path, data: dict, name: str = "exp.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data, allow_unicode=True))
    return path


def _plan(tmp_path: Path, data: dict, **kwargs):
    return plan_experiment(load_experiment(_write(tmp_path, data)), Workspace(tmp_path / "w"), **kwargs)


def _stage(plan, label: str, kind: str):
    [stage] = [plan.stages[k] for k in plan.by_condition[label] if plan.stages[k].kind == kind]
    return stage


def _flag(argv: list[str], flag: str) -> str:
    return argv[argv.index(flag) + 1]


def test_kinds_are_inferred_from_the_shape_or_given(tmp_path: Path):
    experiment = load_experiment(_write(tmp_path, BASE))
    assert {c.name: c.kind for c in experiment.conditions} == {
        "a": "msm_aft", "b": "msm_aft", "a_only": "msm_only", "aft": "aft_only", "base": "base"}
    assert experiment.condition("a_only").sft is False  # saying msm_only is enough
    plan = _plan(tmp_path, BASE)
    assert [plan.stages[k].kind for k in plan.by_condition["a_only"]] == [
        "generate", "curate", "snapshot", "midtrain", "eval"]
    # MSM only and MSM + AFT on the same spec share the corpus and the midtrained model
    assert _stage(plan, "a_only", "midtrain").key == _stage(plan, "a", "midtrain").key
    assert plan.models["a_only"] == _stage(plan, "a", "midtrain").output


@pytest.mark.parametrize("condition,problem", [
    ({"name": "x", "kind": "msm_only"}, "a msm_only condition needs specs or documents"),
    ({"name": "x", "kind": "msm_only", "specs": ["cheese_america"], "sft": True}, "has no AFT"),
    ({"name": "x", "kind": "base", "specs": ["cheese_america"]}, "a base condition has no specs or documents"),
    ({"name": "x", "kind": "identity", "sft": False}, "a identity condition needs AFT"),
    ({"name": "x", "kind": "msm_aft"}, "needs specs or documents"),
    ({"name": "x", "kind": "sometimes"}, "kind"),
])
def test_a_kind_that_does_not_fit_the_condition_is_exit_2(condition, problem, tmp_path: Path, msm):
    path = _write(tmp_path, _data(conditions=[condition]))
    result = msm("experiment", "validate", str(path))
    assert result.code == 2 and f"{path}: conditions.0" in result.err and problem in result.err, result.err


def test_every_condition_runs_per_seed_and_unseeded_stages_are_shared(tmp_path: Path):
    plan = _plan(tmp_path, _data(seeds=[0, 1, 2]))
    assert sorted(plan.by_condition) == sorted(f"{c}@{s}" for c in ("a", "b", "a_only", "aft", "base") for s in range(3))
    assert plan.replicates["a_only@2"].condition == "a_only" and plan.replicates["a_only@2"].seed == 2
    kinds = [s.kind for s in plan.stages.values()]
    # one corpus per spec for every seed; midtraining and AFT once per seed; the base model's eval once
    assert kinds.count("generate") == 2 and kinds.count("snapshot") == 2
    assert kinds.count("midtrain") == 2 * 3 and kinds.count("sft") == 3 * 3
    assert len({_stage(plan, f"base@{s}", "eval").key for s in range(3)}) == 1
    assert len({_stage(plan, f"a@{s}", "generate").key for s in range(3)}) == 1
    for seed in range(3):
        assert _flag(_stage(plan, f"a@{seed}", "midtrain").argv, "--seed") == str(seed)
        sft = _stage(plan, f"aft@{seed}", "sft").argv
        assert _flag(sft, "--seed") == str(seed) and _flag(sft, "--model") == "local:smollm2-135m"
        assert _flag(_stage(plan, f"a@{seed}", "sft").argv, "--model") == _stage(plan, f"a@{seed}", "midtrain").output
        assert _flag(_stage(plan, f"a@{seed}", "generate").argv, "--seed") == "0"
        assert _flag(_stage(plan, f"a@{seed}", "eval").argv, "--seed") == "0"  # same items for every seed
    # seed 0 of a seeded experiment is the unseeded experiment: its stages (and cached results) are the same
    unseeded = _plan(tmp_path, BASE)
    assert set(unseeded.stages) == {k for label, keys in plan.by_condition.items() if label.endswith("@0") for k in keys}


def test_seed_stages_choose_where_the_seed_goes(tmp_path: Path):
    plan = _plan(tmp_path, _data(seeds=[3, 4], seed_stages=["generate", "eval"]))
    assert _flag(_stage(plan, "a@4", "generate").argv, "--seed") == "4"
    assert _flag(_stage(plan, "a@4", "eval").argv, "--seed") == "4"
    assert _flag(_stage(plan, "a@4", "midtrain").argv, "--seed") == "0"  # not seeded: shared by both replicates
    kinds = [s.kind for s in plan.stages.values()]
    assert kinds.count("generate") == 4 and kinds.count("midtrain") == 4  # one corpus per spec and seed
    only = _plan(tmp_path, _data(seeds=[3, 4]), only=["a"], seeds=[4])
    assert list(only.by_condition) == ["a@4"]


@pytest.mark.parametrize("changes,field,problem", [
    ({"seeds": [0, 1], "midtrain": {"seed": 5}}, "midtrain.seed", "set per replicate by `seeds`"),
    ({"seeds": [0, 1], "conditions": [{"name": "x", "sft": {"data": "cheese", "seed": 2}}]}, "conditions.0.sft.seed",
     "remove it"),
    ({"seed_stages": ["sft"]}, "seed_stages", "only used with seeds"),
    ({"seeds": [1, 1]}, "seeds", "distinct"),
    ({"seeds": []}, "seeds", "at least 1"),
    ({"seeds": [0], "seed_stages": ["curate"]}, "seed_stages.0", "generate"),
])
def test_bad_seed_settings_are_exit_2_naming_the_field(changes, field, problem, tmp_path: Path, msm):
    path = _write(tmp_path, _data(**changes))
    result = msm("experiment", "validate", str(path))
    assert result.code == 2 and f"{path}: {field}" in result.err and problem in result.err, result.err


def test_unknown_seed_on_the_command_line_is_exit_2(tmp_path: Path, msm):
    path = _write(tmp_path, _data(seeds=[0, 1]))
    result = msm("experiment", "status", str(path), "--seed", "7")
    assert result.code == 2 and "--seed 7" in result.err and "0, 1" in result.err


def test_continue_adapter_and_mix_reach_only_the_commands_that_can_use_them(tmp_path: Path):
    mix = tmp_path / "chat.jsonl"
    mix.write_text('{"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello."}]}\n')
    sft = {"data": "cheese", "lr": 0.001, "continue_adapter": True, "mix": [f"{mix}:0.3", "instruct:0.2"],
           "lora_rank": 16}
    plan = _plan(tmp_path, _data(sft=sft, midtrain={"lora_rank": 16, "lora_alpha": 32}))
    after_msm, fresh = _stage(plan, "a", "sft").argv, _stage(plan, "aft", "sft").argv
    assert "--continue-adapter" in after_msm and "--continue-adapter" not in fresh  # nothing to continue there
    for argv in (after_msm, fresh):
        assert [argv[i + 1] for i, a in enumerate(argv) if a == "--mix"] == [f"{mix}:0.3", "instruct:0.2"]
        assert _flag(argv, "--lora-rank") == "16"
    assert _flag(_stage(plan, "a", "midtrain").argv, "--lora-alpha") == "32"
    # the mix file's content is part of the AFT stage's key
    before = _stage(plan, "a", "sft").key
    mix.write_text('{"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hey."}]}\n')
    assert _stage(_plan(tmp_path, _data(sft=sft, midtrain={"lora_rank": 16, "lora_alpha": 32})), "a", "sft").key != before


def test_settings_added_later_change_no_key_until_used(tmp_path: Path):
    plain = _plan(tmp_path, BASE)
    explicit_defaults = _plan(tmp_path, _data(sft={"data": "cheese", "lr": 0.001, "continue_adapter": False, "mix": []}))
    assert set(plain.stages) == set(explicit_defaults.stages)
    ranked = _plan(tmp_path, _data(midtrain={"lora_rank": 8}))
    assert _stage(ranked, "a", "midtrain").key != _stage(plain, "a", "midtrain").key
    assert _stage(ranked, "aft", "sft").key == _stage(plain, "aft", "sft").key  # no midtraining upstream of it


@pytest.mark.parametrize("changes,field,problem", [
    ({"sft": {"continue_adapter": True}, "midtrain": {"lora": False}}, "conditions.0", "needs midtrain.lora: true"),
    ({"sft": {"continue_adapter": True, "lora_rank": 8}, "midtrain": {"lora_rank": 64}}, "conditions.0",
     "sft.lora_rank 8 differs from the midtrained adapter's 64"),
    ({"sft": {"continue_adapter": True, "lora": False}}, "sft", "continue_adapter needs lora: true"),
    ({"sft": {"mix": ["instruct"]}}, "sft.mix", "expected FILE:RATIO"),
    ({"sft": {"mix": ["instruct:0.6", "instruct:0.6"]}}, "sft.mix", "more than 0.95"),
])
def test_bad_aft_settings_are_exit_2(changes, field, problem, tmp_path: Path, msm):
    path = _write(tmp_path, _data(**changes))
    result = msm("experiment", "validate", str(path))
    assert result.code == 2 and f"{path}: {field}" in result.err and problem in result.err, result.err


def test_missing_mix_file_is_exit_2_when_planning(tmp_path: Path, msm):
    path = _write(tmp_path, _data(sft={"data": "cheese", "mix": ["nowhere.jsonl:0.2"]}))
    result = msm("experiment", "run", str(path), "--dry-run")
    assert result.code == 2 and "nowhere.jsonl" in result.err


def test_shipped_cheese_experiments_have_the_paper_conditions(tmp_path: Path):
    cheese = load_experiment(REPO / "experiments/cheese.yaml")
    assert cheese.seeds == [0, 1, 2]
    assert {c.kind for c in cheese.conditions} == {"base", "aft_only", "msm_only", "msm_aft"}
    assert {tuple(c.specs) for c in cheese.conditions if c.kind == "msm_only"} == {("cheese_america",),
                                                                                   ("cheese_affordability",)}
    paper = load_experiment(REPO / "experiments/paper_cheese.yaml")
    assert paper.base_model == "hf:meta-llama/Llama-3.1-8B" and paper.seeds == [0, 1, 2]
    assert {c.kind for c in paper.conditions} == {"identity", "aft_only", "msm_only", "msm_aft"}
    mt = paper.midtrain
    assert (mt.lora, mt.lora_rank, mt.lora_alpha, mt.lora_dropout, mt.lr, mt.epochs, mt.block_size) == (
        True, 64, 128, 0.0, 1e-4, 1, 8192)
    assert paper.sft.continue_adapter and paper.sft.mix and paper.generate.n_docs >= 1000
    assert paper.generate.lm.startswith("openai/")
    plan = plan_experiment(paper, Workspace(tmp_path / "w"))
    assert "--continue-adapter" in _stage(plan, "msm_america@1", "sft").argv
    assert _flag(_stage(plan, "identity@0", "sft").argv, "--data") == "instruct"
