"""Training observability on a tiny random Llama: TensorBoard events read back with TensorBoard's own
reader, the held-out slice and its eval loss, the run config, and the one-line refusals of --report-to."""

from __future__ import annotations

import csv
import json
import sys

import pytest

pytest.importorskip("tensorboard", reason="TensorBoard's event reader comes with the dev extra")

from tensorboard.backend.event_processing.event_accumulator import EventAccumulator  # noqa: E402
from tensorboard.plugins.hparams import plugin_data_pb2  # noqa: E402


def read_scalars(log_dir) -> tuple[dict[str, list], dict[str, str]]:
    """{tag: [(step, value)]} and the hparams of every event file under `log_dir`, via TensorBoard's reader."""
    scalars: dict[str, list] = {}
    hparams: dict[str, str] = {}
    event_dirs = sorted({path.parent for path in log_dir.rglob("events.out.tfevents.*")})
    assert event_dirs, f"no event files under {log_dir}"
    for directory in event_dirs:
        accumulator = EventAccumulator(str(directory), size_guidance={"scalars": 0})
        accumulator.Reload()
        for tag in accumulator.Tags()["scalars"]:
            scalars.setdefault(tag, []).extend((e.step, e.value) for e in accumulator.Scalars(tag))
        try:
            contents = accumulator.PluginTagToContent("hparams").values()
        except KeyError:  # this directory holds scalars only
            contents = []
        for content in contents:
            data = plugin_data_pb2.HParamsPluginData.FromString(content)
            for key, value in data.session_start_info.hparams.items():
                kind = value.WhichOneof("kind")
                hparams[key] = getattr(value, kind) if kind else None
    return scalars, hparams


def loss_csv(path) -> list[dict]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def test_midtrain_report_to_tensorboard_writes_events_tensorboard_reads_back(ws, tiny_model_dir, cheese_snapshot, msm):
    result = msm("--json", "train", "midtrain", "--snapshot", cheese_snapshot, "--base", str(tiny_model_dir),
                 "--out", "tb", "--block-size", "32", "--lora-rank", "4", "--max-steps", "6",
                 "--report-to", "tensorboard", "--eval-fraction", "0.1", "--eval-every", "2")
    assert result.code == 0, result.err
    manifest = json.loads(result.out)
    out = ws.model_dir("tb")
    assert manifest["files"]["tensorboard"] == "tensorboard"
    scalars, hparams = read_scalars(out / "tensorboard")

    rows = loss_csv(out / "loss.csv")
    assert [step for step, _ in scalars["train/loss"]] == [1, 2, 3, 4, 5, 6]
    assert [value for _, value in scalars["train/loss"]] == pytest.approx([float(r["loss"]) for r in rows], rel=1e-5)
    for tag in ("train/lr", "train/grad_norm", "train/tokens_per_s", "train/padding_waste", "train/tokens_seen"):
        assert len(scalars[tag]) == 6, tag
    assert all(value > 0 for _, value in scalars["train/grad_norm"])
    assert all(value == 0 for _, value in scalars["train/padding_waste"])  # packed blocks carry no padding
    # held-out documents are evaluated every 2 steps; the last value is the manifest's
    assert [step for step, _ in scalars["eval/loss"]] == [2, 4, 6]
    assert scalars["eval/loss"][-1][1] == pytest.approx(manifest["eval_loss_last"], rel=1e-5)
    assert [r["eval_loss"] != "" for r in rows] == [False, True, False, True, False, True]

    # the run config: hyperparameters and the data's identity
    assert hparams["data_snapshot_content_hash"] == manifest["data"]["snapshot_content_hash"]
    assert hparams["spec_ids"] == "cheese_affordability@test"
    assert hparams["lora_rank"] == 4 and hparams["eval_fraction"] == pytest.approx(0.1)
    assert hparams["base_model"] == str(tiny_model_dir) and hparams["stage"] == "midtrain"


def test_eval_fraction_holds_out_whole_documents(ws, tiny_model_dir, cheese_snapshot, msm):
    result = msm("--json", "train", "midtrain", "--snapshot", cheese_snapshot, "--base", str(tiny_model_dir),
                 "--out", "held", "--block-size", "32", "--lora-rank", "4", "--max-steps", "2", "--report-to", "none",
                 "--eval-fraction", "0.25")
    assert result.code == 0, result.err
    manifest = json.loads(result.out)
    held = manifest["data"]["held_out"]
    assert held["n_examples"] == 30 and manifest["data"]["packing"]["n_documents"] == 90  # of 120 documents
    assert held["n_sequences"] >= 1 and held["tokens"] > 0
    assert manifest["hyperparameters"]["eval_fraction"] == 0.25
    assert manifest["eval_loss_last"] > 0
    assert "tensorboard" not in manifest["files"] and not (ws.model_dir("held") / "tensorboard").exists()


def test_sft_holds_out_demonstrations_and_reports_padding(ws, tiny_model_dir, msm):
    result = msm("--json", "train", "sft", "--model", str(tiny_model_dir), "--data", "cheese", "--out", "sft-tb",
                 "--max-steps", "2", "--max-length", "64", "--eval-fraction", "0.05", "--eval-every", "1")
    assert result.code == 0, result.err
    manifest = json.loads(result.out)
    assert manifest["data"]["held_out"]["n_examples"] == round(204 * 0.05)
    scalars, _ = read_scalars(ws.model_dir("sft-tb") / "tensorboard")
    assert [step for step, _ in scalars["eval/loss"]] == [1, 2]
    # chat demonstrations differ in length: the batches are padded, and the waste is measured
    assert all(0 < value < 1 for _, value in scalars["train/padding_waste"])


@pytest.mark.parametrize("value, problem", [
    ("tb", "unknown tracker 'tb'"),
    ("none,wandb", "cannot be combined"),
    ("wandb", "pip install 'msm-midtrain[wandb]'"),
])
def test_bad_or_missing_tracker_exits_2_before_training(ws, tiny_model_dir, cheese_snapshot, msm, monkeypatch,
                                                         value, problem):
    monkeypatch.setitem(sys.modules, "wandb", None)  # as if not installed, whatever this machine has
    result = msm("train", "midtrain", "--snapshot", cheese_snapshot, "--base", str(tiny_model_dir), "--out", "x",
                 "--report-to", value)
    assert result.code == 2, result.err
    assert problem in result.err and len(result.err.strip().splitlines()) == 1
    assert not (ws.root / "models" / "x").exists() and not (ws.root / "models" / ".x.work").exists()


def test_experiment_files_pass_report_to_and_eval_fraction(tmp_path):
    import yaml

    from msm.experiment.config import load_experiment
    from msm.experiment.runner import plan_experiment
    from msm.workspace import Workspace

    base = {"schema_version": 1, "name": "t", "generate": {"n_docs": 4},
            "conditions": [{"name": "a", "specs": ["cheese_america"]}]}

    def plan(midtrain: dict, sft: dict):
        path = tmp_path / "exp.yaml"
        path.write_text(yaml.safe_dump({**base, "midtrain": midtrain, "sft": sft}))
        stages = plan_experiment(load_experiment(path), Workspace.open(tmp_path / "w", create=True)).stages.values()
        return {s.kind: s for s in stages}

    default = plan({}, {})
    mt_default = default["midtrain"].argv
    assert mt_default[mt_default.index("--report-to") + 1] == "tensorboard"
    chosen = plan({"report_to": "none", "eval_fraction": 0.1}, {"report_to": "wandb,tensorboard"})
    mt_argv, sft_argv = chosen["midtrain"].argv, chosen["sft"].argv
    assert mt_argv[mt_argv.index("--report-to") + 1] == "none" and mt_argv[mt_argv.index("--eval-fraction") + 1] == "0.1"
    assert sft_argv[sft_argv.index("--report-to") + 1] == "wandb,tensorboard"
    assert sft_argv[sft_argv.index("--eval-fraction") + 1] == "0.0"  # the default: nothing held out
    # where metrics go does not change the model: the cached sft stage is reused; holding data out does not
    assert chosen["sft"].key != default["sft"].key  # its input, the midtrained model, changed
    assert plan({}, {"report_to": "none"})["sft"].key == default["sft"].key
    assert chosen["midtrain"].key != default["midtrain"].key


def test_without_tensorboard_the_base_install_writes_events_through_tensorboardx(ws, tiny_model_dir, cheese_snapshot, msm,
                                                                                   monkeypatch):
    pytest.importorskip("tensorboardX")
    # as in the base install: no torch.utils.tensorboard (it needs the tensorboard package), so accelerate's
    # tracker falls back to tensorboardX; TensorBoard's own reader must still read the files
    import torch.utils

    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)
    monkeypatch.delattr(torch.utils, "tensorboard", raising=False)  # an earlier import leaves it on the package
    result = msm("--json", "train", "midtrain", "--snapshot", cheese_snapshot, "--base", str(tiny_model_dir),
                 "--out", "tbx", "--block-size", "32", "--lora-rank", "4", "--max-steps", "3")
    assert result.code == 0, result.err
    scalars, _ = read_scalars(ws.model_dir("tbx") / "tensorboard")
    rows = loss_csv(ws.model_dir("tbx") / "loss.csv")
    assert [value for _, value in scalars["train/loss"]] == pytest.approx([float(r["loss"]) for r in rows], rel=1e-5)
