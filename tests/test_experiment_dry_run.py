"""`msm experiment run FILE --dry-run`: the stage plan and the generation projections, with nothing run or written."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

from msm.experiment.config import load_experiment
from msm.experiment.runner import PROJECTION_FIELDS, dry_run, plan_experiment, project_generation
from msm.workspace import Workspace

REPO = Path(__file__).resolve().parents[1]
PAPER = REPO / "experiments/paper_cheese.yaml"


def test_dry_run_prints_the_stage_plan_and_writes_nothing(msm, isolated_workspace: Path):
    result = msm("experiment", "run", str(PAPER), "--dry-run")
    assert result.code == 0, result.err
    out = result.out
    assert "paper_cheese: 6 conditions x 3 seeds" in out and "= 18 replicates" in out
    assert ("2 generate, 2 curate, 2 snapshot, 1 aft_generate, 1 aft_curate, 1 aft_snapshot, 6 midtrain, 12 sft, "
            "54 eval") in out
    assert "--profile paper" in out and "--config paper" in out and "--style opaque" in out
    assert "--model-name SmolLM --provider-name 'Hugging Face'" in out
    assert "$ msm generate --spec cheese_america" in out and "--lm openai/gpt-4.1" in out
    assert "--base hf:meta-llama/Llama-3.1-8B" in out and "--lora-rank 64 --lora-alpha 128" in out
    assert "--block-size 8192" in out and "--continue-adapter" in out and "--mix instruct:0.8" in out
    assert "for: msm_only_america@0,1,2  msm_america@0,1,2" in out  # one corpus for both kinds and every seed
    # each generate stage is projected by `msm generate --plan-only` (in a scratch workspace: none exists here)
    projections = [line.strip() for line in out.splitlines() if line.strip().startswith("projected:")]
    assert len(projections) == 2 and all(p.startswith("projected: 5,000 documents, ") for p in projections)
    assert "generation total: 10,000 documents, " in out and "$" in out.split("generation total:")[1]
    assert not isolated_workspace.exists(), "a dry run must not create the workspace"


def test_dry_run_json_lists_every_stage_with_its_replicates(msm, isolated_workspace: Path):
    data = json.loads(msm("--json", "experiment", "run", str(REPO / "experiments/cheese.yaml"), "--dry-run").out)
    assert data["experiment"] == "cheese" and data["seeded_stages"] == ["midtrain", "sft"]
    assert len(data["replicates"]) == 6 * 3
    # evals: base 2 suites once (shared by the seeds) + 5 trained conditions x 3 seeds x 2 suites
    assert data["stage_counts"] == {"generate": 2, "curate": 2, "snapshot": 2, "midtrain": 6, "sft": 9, "eval": 32}
    base_evals = [s for s in data["stages"] if s["kind"] == "eval" and s["replicates"][0].startswith("base@")]
    assert len(base_evals) == 2 and all(s["replicates"] == ["base@0", "base@1", "base@2"] for s in base_evals)
    for stage in data["stages"]:
        assert stage["command"][0] == "msm" and ("projection" in stage) == (stage["kind"] == "generate")
    assert not isolated_workspace.exists()


def test_projection_of_a_generate_stage_runs_msm_generate_plan_only(tmp_path: Path):
    ws = Workspace.open(tmp_path / "w", create=True)
    plan = plan_experiment(load_experiment(PAPER), ws, only=["msm_america"], seeds=[0])
    [stage] = [s for s in plan.stages.values() if s.kind == "generate"]
    projection = project_generation(ws, stage)
    assert set(PROJECTION_FIELDS) <= set(projection) and projection["documents"] == 5000, projection
    assert projection["input_tokens"] > projection["output_tokens"] > 5000 * 500  # long documents, full spec in context
    assert projection["priced"] is True and projection["cost_usd"] > 0
    assert not any((ws.root / "runs").iterdir())  # a projection writes no run

    broken = replace(stage, argv=[*stage.argv[:2], "no_such_spec", *stage.argv[3:]])
    failed = project_generation(ws, broken)
    assert failed["unavailable"].startswith("`msm generate --plan-only` failed (exit 2)") and "no_such_spec" in \
        failed["unavailable"]


def test_generation_totals_add_up_the_stages_that_could_be_projected(tmp_path: Path):
    ws = Workspace(tmp_path / "w")
    plan = plan_experiment(load_experiment(PAPER), ws)
    answers = iter([{"documents": 5000, "input_tokens": 4_000_000, "output_tokens": 9_000_000, "cost_usd": 80.0,
                     "priced": True},
                    {"unavailable": "no price"}])
    data = dry_run(ws, plan, project=lambda _ws, _stage: next(answers))
    assert data["generation_totals"] == {"documents": 5000, "input_tokens": 4_000_000, "output_tokens": 9_000_000,
                                         "cost_usd": 80.0, "priced": True, "complete": False}
    answers = iter([{"documents": 10, "input_tokens": 1, "output_tokens": 2, "cost_usd": None, "priced": False}] * 2)
    totals = dry_run(ws, plan, project=lambda _ws, _stage: next(answers))["generation_totals"]
    assert totals["documents"] == 20 and totals["priced"] is False and totals["complete"] is True
