"""Every msm eval result has an Inspect EvalLog beside its JSON: inspect_ai's own listing finds exactly those logs
(and not msm's JSON files), and its reader gets back the same items, scores and metrics."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from msm.eval.results import load_result

SUITES = (("cheese_values", ("--limit", "5", "--variants", "letter")), ("cheese_political", ("--limit", "4")),
          ("cheese_items", ("--limit", "4")), ("agentic_choice", ("--limit", "4")), ("regression", ("--limit", "4")),
          ("spec_knowledge", ("--limit", "3", "--spec", "cheese_america")))


def test_inspect_lists_and_reads_back_every_result(msm, tiny_model_dir: Path, tmp_path: Path):
    from inspect_ai.log import list_eval_logs, read_eval_log

    out = tmp_path / "evals"
    results = []
    for suite, extra in SUITES:
        run = msm("--json", "eval", "--model", str(tiny_model_dir), "--suite", suite, "--out", str(out), *extra)
        assert run.code == 0, (suite, run.err)
        results.append(json.loads(run.out))
    listed = sorted(Path(info.name).name for info in list_eval_logs(str(out)))
    assert listed == sorted(Path(r["inspect_logs"][0]).name for r in results)
    assert len(listed) == len(SUITES) and len(list(out.glob("*.json"))) == len(SUITES)
    for summary in results:
        saved = load_result(Path(summary["result"]))
        assert saved.inspect_logs == [Path(summary["inspect_logs"][0]).name]
        log = read_eval_log(summary["inspect_logs"][0])
        assert log.status == "success" and log.eval.task == f"msm/{saved.suite}"
        assert log.eval.metadata["msm_result"] == f"{saved.run_id}.json"
        samples = {s.id: s for s in log.samples}  # Inspect keeps samples in its own order
        assert sorted(samples) == sorted(i.item_id for i in saved.items)
        for item in saved.items:
            sample = samples[item.item_id]
            assert sample.scores[saved.suite].value == pytest.approx(item.score)
            assert sample.input and sample.input != item.item_id  # the prompt the model saw, not a placeholder
        metrics = log.results.scores[0].metrics
        shown = {name: m for name, m in saved.metrics.items() if m.value is not None}
        assert set(metrics) == set(shown) and shown
        for name, m in shown.items():
            assert metrics[name].value == pytest.approx(m.value)
            assert metrics[name].metadata["ci_low"] == (None if m.ci_low is None else pytest.approx(m.ci_low))


def test_without_inspect_installed_the_result_is_still_written(msm, tiny_model_dir: Path, tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch):
    from msm.eval import runner

    monkeypatch.setattr(runner, "_inspect_available", lambda: False)
    run = msm("--json", "eval", "--model", str(tiny_model_dir), "--suite", "cheese_items", "--limit", "2",
              "--out", str(tmp_path / "o"))
    assert run.code == 0, run.err
    assert json.loads(run.out)["inspect_logs"] == [] and "inspect_ai is not installed" in run.err
    assert not list((tmp_path / "o").glob("*.eval"))
