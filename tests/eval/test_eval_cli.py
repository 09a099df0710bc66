"""`msm eval` and `msm eval compare` end to end on the tiny model: result files, determinism, bad input."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from msm.eval.results import EvalResult, load_result


def _run(msm, model: Path, out: Path, *extra: str):
    return msm("--json", "eval", "--model", str(model), "--out", str(out), *extra)


def test_cheese_values_end_to_end_is_deterministic_and_compares(msm, tiny_model_dir: Path, tmp_path: Path):
    out = tmp_path / "results"
    args = ("--suite", "cheese_values", "--limit", "8", "--seed", "3", "--variants", "letter,text")
    first = _run(msm, tiny_model_dir, out, *args)
    assert first.code == 0, first.err
    summary = json.loads(first.out)
    result = load_result(Path(summary["result"]))
    assert isinstance(result, EvalResult) and result.schema_version == 3
    assert len(result.items) == 8 and result.settings["seed"] == 3 and result.model_manifest is None
    assert result.data_files["cheese_values.jsonl"] and result.primary_metric == "america_prob"
    assert {"america_rate", "america_prob", "america_rate_text", "position_bias"} <= set(result.metrics)
    assert "america_rate_text_pmi" not in result.metrics
    parquet = pq.read_table(Path(summary["result"]).with_suffix(".items.parquet"))
    assert parquet.num_rows == 8 and set(parquet.column("item_id").to_pylist()) == {i.item_id for i in result.items}

    second = _run(msm, tiny_model_dir, out, *args)
    assert second.code == 0, second.err
    again = load_result(Path(json.loads(second.out)["result"]))
    assert again.run_id != result.run_id
    assert again.metrics == result.metrics and [i.score for i in again.items] == [i.score for i in result.items]

    compared = msm("eval", "compare", summary["result"], json.loads(second.out)["result"], "--json")
    assert compared.code == 0, compared.err
    diff = json.loads(compared.out)["differences"][0]
    assert diff["difference"]["value"] == 0.0 and diff["n_paired"] == sum(i.kind == "conflict" for i in result.items)
    table = msm("eval", "compare", summary["result"], json.loads(second.out)["result"])
    assert "paired bootstrap 95% CI" in table.out and "AMERICA_PROB" in table.out


def test_spec_knowledge_reads_the_spec_from_the_model_manifest(msm, tiny_model_dir: Path, tmp_path: Path):
    model = tmp_path / "trained"
    shutil.copytree(tiny_model_dir, model)
    (model / "manifest.json").write_text(json.dumps({"schema_version": 1, "name": "trained", "stage": "sft",
                                                     "spec_ids": [{"spec_id": "cheese_affordability", "spec_hash": "x"}]}))
    result = _run(msm, model, tmp_path / "out", "--suite", "spec_knowledge", "--limit", "3")
    assert result.code == 0, result.err
    saved = load_result(Path(json.loads(result.out)["result"]))
    assert saved.model_manifest["name"] == "trained"
    assert list(saved.data_files) == ["spec:cheese_affordability"] and len(saved.items) == 3
    assert all(i.item_id.startswith("sk-cheese_affordability-") for i in saved.items)


def test_regression_suite_end_to_end(msm, tiny_model_dir: Path, tmp_path: Path):
    result = _run(msm, tiny_model_dir, tmp_path / "out", "--suite", "regression", "--limit", "6", "--seed", "1")
    assert result.code == 0, result.err
    metrics = json.loads(result.out)["metrics"]
    # a random-weight model is about as surprised as a uniform guess over its 49k-token vocabulary
    assert metrics["perplexity"]["value"] > 5000 or metrics.get("mc_accuracy")


@pytest.mark.parametrize("extra, message", [
    (("--suite", "spec_knowledge"), "--spec"),
    (("--suite", "agentic"), "--judge-lm"),
    (("--suite", "cheese_values", "--variants", "text"), "--variants"),
    (("--suite", "cheese_values", "--mode", "generate"), "--judge-lm"),
    (("--suite", "cheese_values", "--judge-lm", "gpt4"), "provider/model"),
])
def test_bad_requests_exit_2_and_write_nothing(msm, tiny_model_dir: Path, tmp_path: Path, extra, message):
    out = tmp_path / "out"
    result = _run(msm, tiny_model_dir, out, "--limit", "2", *extra)
    assert result.code == 2, (result.code, result.err)
    assert message in result.err and len(result.err.strip().splitlines()) == 1
    assert not out.exists() or not list(out.iterdir())


def test_bad_model_items_and_result_files_exit_2(msm, tiny_model_dir: Path, tmp_path: Path):
    assert _run(msm, tmp_path / "nope", tmp_path / "o", "--suite", "regression").code == 2
    items = tmp_path / "items.jsonl"
    line = json.dumps({"schema_version": 1, "id": "a", "kind": "text", "domain": "d", "text": "hello there"})
    items.write_text(line + "\n" + line + "\n")
    dup = _run(msm, tiny_model_dir, tmp_path / "o", "--suite", "regression", "--items", str(items))
    assert dup.code == 2 and "duplicate id 'a'" in dup.err and not (tmp_path / "o").exists()
    missing = msm("eval", "--suite", "regression")
    assert missing.code == 2 and "--model" in missing.err
    broken = tmp_path / "broken.json"
    broken.write_text("{")
    assert msm("eval", "compare", str(broken)).code == 2
    assert msm("eval", "compare", str(tmp_path / "absent.json")).code == 2


def test_without_out_the_workspace_must_exist(msm, tiny_model_dir: Path):
    result = msm("eval", "--model", str(tiny_model_dir), "--suite", "regression", "--limit", "1")
    assert result.code == 2 and "msm init" in result.err
