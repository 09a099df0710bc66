"""A training process killed with SIGKILL resumes from its last checkpoint with the same data order:
the finished loss curve equals that of a run that was never interrupted."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from msm.train.midtrain import run_midtrain
from msm.train.records import Hyperparameters, LoraSettings

ARGS = ["--block-size", "16", "--batch-size", "1", "--epochs", "2", "--lora-rank", "4", "--lora-alpha", "8",
        "--lr", "0.002", "--seed", "7", "--checkpoint-every", "5"]


def curve(path) -> list[float]:
    with open(path, newline="") as handle:
        return [float(row["loss"]) for row in csv.DictReader(handle)]


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_killed_run_resumes_from_checkpoint_with_same_data_order(ws, tiny_model_dir, snapshot_factory):
    cheese_snapshot = snapshot_factory("small", [f"Note {i}. SmolLM prefers Colby to Comté, and Provel to burrata." for i in range(24)])
    command = [sys.executable, "-m", "msm", "train", "midtrain", "--snapshot", cheese_snapshot,
               "--base", str(tiny_model_dir), "--out", "resumed", *ARGS]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    checkpoint = ws.root / "models" / ".resumed.work" / "checkpoint.pt"
    victim = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while not checkpoint.exists() and victim.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    assert victim.poll() is None, f"run ended before it could be killed: {victim.communicate()[1].decode()[-500:]}"
    os.kill(victim.pid, signal.SIGKILL)
    victim.wait()
    assert victim.returncode == -signal.SIGKILL
    assert not ws.model_dir("resumed").exists() and checkpoint.exists()

    rerun = subprocess.run(command, env=env, capture_output=True, text=True, timeout=180)
    assert rerun.returncode == 0, rerun.stderr
    assert "resuming from checkpoint at step" in rerun.stderr
    manifest = json.loads((ws.model_dir("resumed") / "manifest.json").read_text())
    assert manifest["resumed_from_step"] and manifest["resumed_from_step"][0] % 5 == 0

    # the same settings, never interrupted, give the same loss at every step
    hp = Hyperparameters(method="lora", lora=LoraSettings(rank=4, alpha=8), lr=0.002, block_size=16, batch_size=1,
                         epochs=2, seed=7, checkpoint_every=5)
    reference = run_midtrain(ws, snapshot=cheese_snapshot, base=str(tiny_model_dir), out="uninterrupted", hp=hp)
    assert reference.optimizer_steps == manifest["optimizer_steps"]
    assert curve(ws.model_dir("resumed") / "loss.csv") == pytest.approx(
        curve(ws.model_dir("uninterrupted") / "loss.csv"), abs=1e-5)
    assert reference.tokens_seen == manifest["tokens_seen"]


def test_changed_settings_do_not_resume_someone_elses_checkpoint(ws, tiny_model_dir, cheese_snapshot, msm):
    work = ws.root / "models" / ".clash.work"
    work.mkdir(parents=True)
    (work / "run.json").write_text(json.dumps({"stage": "midtrain", "hyperparameters": {"seed": 99}}))
    result = msm("train", "midtrain", "--snapshot", cheese_snapshot, "--base", str(tiny_model_dir), "--out", "clash")
    assert result.code == 2 and "different settings" in result.err and "hyperparameters" in result.err
