"""The report of a replicated experiment, built from eval results with known scores: per-seed tables and paired
comparisons, the mean over seeds with a Student-t interval, and MSM-only conditions kept apart from MSM + AFT."""

from __future__ import annotations

import json
import math
from datetime import datetime, timezone
from pathlib import Path

import pytest
import yaml

from msm.eval.results import EvalResult, ItemScore, Metric, write_result
from msm.experiment.config import load_experiment
from msm.experiment.report import collect, write_report
from msm.experiment.runner import ExperimentState, plan_experiment, write_plan
from msm.experiment.seed_stats import across_seeds, t_quantile_975
from msm.workspace import Workspace

N_ITEMS = 20
# per seed, the shift each condition's scores get over the base score of every item
SHIFTS = {"base": [0.0, 0.0, 0.0], "a_only": [0.01, 0.02, 0.0], "b_only": [0.02, 0.01, 0.0],
          "a": [0.0, 0.01, 0.02], "b": [0.02, 0.05, 0.05]}


def _experiment(tmp_path: Path, seeds: list[int] | None, headline: dict | None = None) -> Path:
    data = {"schema_version": 1, "name": "rep", "eval": {"suites": ["cheese_values"], **({"headline": headline}
                                                                                       if headline else {})},
            "conditions": [{"name": "base", "sft": False},
                           {"name": "a_only", "kind": "msm_only", "specs": ["cheese_america"]},
                           {"name": "b_only", "kind": "msm_only", "specs": ["cheese_affordability"]},
                           {"name": "a", "specs": ["cheese_america"]}, {"name": "b", "specs": ["cheese_affordability"]}]}
    if seeds is not None:
        data["seeds"] = seeds
    path = tmp_path / "rep.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def _result(run_id: str, shift: float) -> EvalResult:
    items = [ItemScore(item_id=f"i{k}", kind="conflict", group="art" if k % 2 else "travel",
                       score=0.4 + 0.01 * k + shift) for k in range(N_ITEMS)]
    mean = sum(i.score for i in items) / N_ITEMS
    return EvalResult(run_id=run_id, created_at=datetime.now(timezone.utc), msm_version="test", suite="cheese_values",
                      suite_version="1", data_files={}, model={"name": run_id}, model_manifest=None, settings={},
                      primary_metric="america_prob", primary_kinds=["conflict"],
                      metrics={"america_prob": Metric(value=mean, ci_low=mean - 0.01, ci_high=mean + 0.01, n=N_ITEMS)},
                      items=items, duration_s=1.0)


def _finished(tmp_path: Path, seeds: list[int] | None, headline: dict | None = None) -> Workspace:
    """A workspace where every eval stage of the experiment has finished with the scores of SHIFTS."""
    ws = Workspace.open(tmp_path / "ws", create=True)
    plan = plan_experiment(load_experiment(_experiment(tmp_path, seeds, headline)), ws)
    state = ExperimentState(ws, "rep")
    state.dir.mkdir(parents=True, exist_ok=True)
    write_plan(state, plan)
    for label, keys in plan.by_condition.items():
        replicate = plan.replicates[label]
        for key in keys:
            stage = plan.stages[key]
            if stage.kind != "eval" or state.marker(key):
                continue
            shift = SHIFTS[replicate.condition][replicate.seed or 0]
            path = write_result(_result(f"{label}-{key[:6]}", shift), Path(stage.output))
            state.mark(stage, {"kind": "eval", "key": key, "duration_s": 1.0, "result": {"result": str(path)}})
    return ws


def test_across_seeds_is_the_mean_with_a_student_t_interval():
    estimate = across_seeds([1.0, 2.0, 3.0])
    half = 4.303 * 1.0 / math.sqrt(3)
    assert (estimate.mean, estimate.sd, estimate.n) == (2.0, 1.0, 3)
    assert estimate.ci_low == pytest.approx(2 - half) and estimate.ci_high == pytest.approx(2 + half)
    assert not estimate.excludes_zero  # three seeds that disagree this much do not establish a sign
    assert across_seeds([1.0, 1.1, 0.9]).excludes_zero
    single = across_seeds([0.4])
    assert single.ci_low is None and not single.excludes_zero
    assert t_quantile_975(1) == 12.706 and t_quantile_975(200) == 1.96
    with pytest.raises(ValueError):
        across_seeds([])


def test_report_shows_each_seed_the_mean_over_seeds_and_keeps_msm_only_apart(tmp_path: Path):
    ws = _finished(tmp_path, [0, 1, 2])
    data = collect(ws, "rep")
    assert data["seeds"] == [0, 1, 2] and len(data["conditions"]) == 15
    assert data["conditions"]["a_only@1"]["kind"] == "msm_only" and data["conditions"]["b@2"]["kind"] == "msm_aft"

    # default comparisons stay within a kind: MSM only vs MSM only, MSM + AFT vs MSM + AFT, once per seed
    pairs = {(c["baseline"], c["condition"], c["seed"]) for c in data["comparisons"]}
    assert pairs == {(x, y, s) for x, y in (("a_only", "b_only"), ("a", "b")) for s in (0, 1, 2)}
    per_seed = {c["seed"]: c for c in data["comparisons"] if c["condition"] == "b"}
    for seed in (0, 1, 2):
        assert per_seed[seed]["difference"] == pytest.approx(SHIFTS["b"][seed] - SHIFTS["a"][seed])
        assert per_seed[seed]["n_paired"] == N_ITEMS and per_seed[seed]["kinds"] == ["msm_aft", "msm_aft"]

    across = {(c["baseline"], c["condition"]): c for c in data["across_seeds"]["comparisons"]}
    differences = [0.02, 0.04, 0.03]
    expected = across_seeds(differences)
    msm_aft = across[("a", "b")]
    assert msm_aft["mean"] == pytest.approx(0.03) and msm_aft["n_seeds"] == 3 and msm_aft["same_sign"] == 3
    assert msm_aft["ci_low"] == pytest.approx(expected.ci_low) and msm_aft["ci_high"] == pytest.approx(expected.ci_high)
    assert msm_aft["detected"] is True
    msm_only = across[("a_only", "b_only")]
    assert msm_only["mean"] == pytest.approx(0.0, abs=1e-12) and msm_only["detected"] is False

    means = {r["condition"]: r for r in data["across_seeds"]["conditions"]}
    assert means["b"]["per_seed"] == {s: pytest.approx(0.4 + 0.095 + SHIFTS["b"][s]) for s in (0, 1, 2)}
    assert means["base"]["shared_run"] is True and means["a"]["shared_run"] is False

    paths = write_report(ws, "rep")
    markdown = Path(paths["md"]).read_text(encoding="utf-8")
    assert markdown.index("### MSM only (no AFT)") < markdown.index("### MSM + AFT")
    assert "b − a on cheese_values (america_prob), mean over 3 seeds: +0.030 [" in markdown
    assert "Student-t 95% interval across seeds" in markdown and "difference was detected across seeds" in markdown
    assert "b_only − a_only on cheese_values (america_prob), mean over 3 seeds: +0.000" in markdown
    assert "b − a (seed 1) on cheese_values" in markdown
    for table in ("## Conditions", "## Evaluation per seed", "## Evaluation across seeds",
                  "## Paired comparisons per seed"):
        assert table in markdown
    assert "one run shared by every seed" in markdown  # the base model: no seed reaches it
    assert "| a_only | MSM only (no AFT) | cheese_america |" in markdown
    html = Path(paths["html"]).read_text(encoding="utf-8")
    assert "<h3>MSM only (no AFT)</h3>" in html and "data:image/png;base64," in html
    summary = json.loads(Path(paths["json"]).read_text(encoding="utf-8"))
    assert len(summary["across_seeds"]["comparisons"]) == 2
    assert paths["summary"].startswith("MSM only (no AFT):")


def test_report_without_seeds_reads_as_before_and_accepts_plans_without_replicates(tmp_path: Path):
    ws = _finished(tmp_path, None)
    plan_path = ws.reports_dir / "rep" / "plan.json"
    plan = json.loads(plan_path.read_text())
    del plan["replicates"]  # a plan written before replicates existed
    for condition in plan["experiment"]["conditions"]:
        del condition["kind"]
    plan_path.write_text(json.dumps(plan))
    data = collect(ws, "rep")
    assert data["seeds"] == [] and data["across_seeds"] == {"conditions": [], "comparisons": []}
    assert {c["condition"]: c["kind"] for c in data["conditions"].values()}["a_only"] == "msm_only"
    assert {(c["baseline"], c["condition"], c["seed"]) for c in data["comparisons"]} == {("a_only", "b_only", None),
                                                                                      ("a", "b", None)}
    markdown = Path(write_report(ws, "rep")["md"]).read_text(encoding="utf-8")
    assert "## Evaluation\n" in markdown and "across seeds" not in markdown
    assert "b − a on cheese_values (america_prob): +0.020 [+0.020, +0.020], paired bootstrap 95% CI over 20 items" \
        in markdown


def test_eval_headline_leads_with_each_specs_own_suite(tmp_path: Path):
    ws = _finished(tmp_path, None, headline={"cheese_america": "cheese_values"})
    markdown = Path(write_report(ws, "rep")["md"]).read_text(encoding="utf-8")
    table = markdown.split("## Headline (each spec on its own set)", 1)[1].split("\n## ", 1)[0]
    # conditions trained on cheese_america are listed with its headline suite; the affordability ones have none
    assert "| a | cheese_america | cheese_values | america_prob |" in table
    assert "| a_only | cheese_america | cheese_values |" in table and "cheese_affordability" not in table
    with pytest.raises(Exception, match="headline: cheese_america: suite 'regression' is not in suites"):
        load_experiment(_experiment(tmp_path, None, {"cheese_america": "regression"}))
