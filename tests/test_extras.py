"""A feature whose extra is not installed says which extra to install, in one line with exit 2 — never an
ImportError traceback. Each test hides the extra's package (`sys.modules[name] = None` is what Python does
for a package it could not find), so they hold whatever this machine has installed."""

from __future__ import annotations

import json
import sys

import pytest


def hide(monkeypatch: pytest.MonkeyPatch, *modules: str) -> None:
    for name in modules:
        monkeypatch.setitem(sys.modules, name, None)


def one_line_install_hint(result, extra: str) -> None:
    assert result.code == 2, result.err
    errors = [line for line in result.err.strip().splitlines() if line.startswith("msm: ")]
    assert errors == result.err.strip().splitlines()[-1:] and len(errors) == 1, result.err
    assert f"pip install 'msm-midtrain[{extra}]'" in errors[0] and "Traceback" not in result.err


def test_models_pull_without_gguf(msm, monkeypatch, tmp_path):
    monkeypatch.setenv("MSM_CACHE", str(tmp_path / "empty-cache"))  # not pulled yet: the GGUF must be converted
    hide(monkeypatch, "gguf")
    result = msm("models", "pull", "smollm2-135m")
    one_line_install_hint(result, "gguf")
    assert not (tmp_path / "empty-cache" / "models" / "smollm2-135m").exists()  # checked before any download


def test_review_without_streamlit(msm, monkeypatch):
    hide(monkeypatch, "streamlit")
    assert msm("init").code == 0
    one_line_install_hint(msm("review"), "review")


def test_optimize_mipro_without_optuna(msm, monkeypatch, tmp_path):
    hide(monkeypatch, "optuna")
    result = msm("optimize", "--spec", "cheese_affordability", "--out", str(tmp_path / "p.json"), "--optimizer", "mipro")
    one_line_install_hint(result, "mipro")


def test_curate_on_ray_without_ray(msm, monkeypatch, tmp_path):
    docs = tmp_path / "docs.jsonl"
    docs.write_text("".join(json.dumps({"text": f"Document {i} about cheese and budgets, long enough to keep."}) + "\n"
                            for i in range(3)))
    assert msm("corpus", "import", str(docs), "--run", "r").code == 0
    hide(monkeypatch, "ray")
    one_line_install_hint(msm("curate", "--run", "r", "--engine", "ray"), "scale")


@pytest.mark.parametrize("tracker", ["wandb", "mlflow", "trackio"])
def test_trackers_without_their_package(msm, monkeypatch, tracker):
    from msm.train.tracking import parse_report_to
    from msm.errors import BadInput

    hide(monkeypatch, tracker)
    with pytest.raises(BadInput, match=rf"pip install 'msm-midtrain\[{tracker}\]'"):
        parse_report_to(tracker)


def test_tensorboard_needs_either_writer(monkeypatch):
    from msm.errors import BadInput
    from msm.train.tracking import parse_report_to

    hide(monkeypatch, "tensorboard")
    if "tensorboardX" not in sys.modules:
        pytest.importorskip("tensorboardX")
    assert parse_report_to("tensorboard") == ("tensorboard",)  # tensorboardX (the base install) suffices
    hide(monkeypatch, "tensorboardX")
    with pytest.raises(BadInput, match=r"msm-midtrain\[tensorboard\]"):
        parse_report_to("tensorboard")
