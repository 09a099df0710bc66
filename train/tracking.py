"""Where a training run's metrics go while it trains: accelerate's trackers (TensorBoard, Weights & Biases,
Trackio, MLflow), chosen with `--report-to`.

TensorBoard is the default because it needs no account and no network: the base install writes its event
files through tensorboardX, into the run's work dir while it trains and into `models/<name>/tensorboard/`
with the finished model (`tensorboard --logdir <workspace>/models` shows every run). The others keep their
own stores (W&B's servers or `./wandb`, Trackio's local database, `$MLFLOW_TRACKING_URI` or `./mlruns`);
each needs its extra. Every tracker gets the project `msm` and the model's name as the run name, the
hyperparameters and data hashes as the run config (`run_config`), and per optimizer step: loss, lr, grad
norm, tokens/s, padding waste, and eval loss whenever the held-out slice is evaluated.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from msm.errors import BadInput

TRACKERS = ("tensorboard", "wandb", "trackio", "mlflow")
PROJECT = "msm"
TENSORBOARD_DIR = "tensorboard"
# tracker -> (extra that installs it, modules any one of which makes it work)
_PROVIDERS: dict[str, tuple[str, tuple[str, ...]]] = {
    "tensorboard": ("tensorboard", ("tensorboardX", "tensorboard")),
    "wandb": ("wandb", ("wandb",)),
    "trackio": ("trackio", ("trackio",)),
    "mlflow": ("mlflow", ("mlflow",)),
}


@dataclass(frozen=True, slots=True)
class Monitoring:
    """How a run is watched — nothing here changes what it computes, so it is not part of the run's
    fingerprint: a resumed run may report elsewhere."""

    report_to: tuple[str, ...] = ("tensorboard",)
    eval_every: int = 50  # optimizer steps between evaluations of the held-out slice (and at the last step)


def parse_report_to(value: str) -> tuple[str, ...]:
    """`tensorboard`, `wandb,tensorboard`, `none` -> the trackers; BadInput (exit 2) naming a bad value or a
    tracker whose package is not installed (accelerate itself would skip it silently)."""
    names = [part.strip().lower() for part in value.split(",") if part.strip()]
    if not names:
        raise BadInput(f"--report-to {value!r}: give one of {', '.join(TRACKERS)} or none")
    if "none" in names:
        if len(names) > 1:
            raise BadInput(f"--report-to {value!r}: `none` cannot be combined with a tracker")
        return ()
    unknown = [name for name in names if name not in TRACKERS]
    if unknown:
        raise BadInput(f"--report-to {value!r}: unknown tracker {unknown[0]!r} (choose from {', '.join(TRACKERS)}, none)")
    chosen = tuple(dict.fromkeys(names))
    for name in chosen:
        extra, modules = _PROVIDERS[name]
        _require_any(extra, f"--report-to {name}", modules)
    return chosen


def _require_any(extra: str, feature: str, modules: tuple[str, ...]) -> None:
    from msm.cli_support import install_hint, module_available

    if not any(module_available(module) for module in modules):
        raise BadInput(f"{feature} needs the `{extra}` extra ({' or '.join(modules)} not installed): {install_hint(extra)}")


def init_kwargs(report_to: tuple[str, ...], run_name: str) -> dict[str, dict[str, Any]]:
    """Per-tracker arguments that name the run (the project is `msm` for all of them)."""
    named = {"wandb": {"name": run_name}, "trackio": {"name": run_name}, "mlflow": {"run_name": run_name}}
    return {tracker: named[tracker] for tracker in report_to if tracker in named}


def run_config(*, stage: str, name: str, base: dict[str, Any], hp, data, spec_ids: list[dict[str, str]],
               num_processes: int) -> dict[str, str | int | float | bool]:
    """The run's config as flat scalars (TensorBoard's hparams and MLflow's params take nothing else):
    hyperparameters, the data's identity (snapshot name + content hash, or AFT file sha256), spec ids with
    their hashes, and the base model."""
    config: dict[str, str | int | float | bool] = {"stage": stage, "model": name, "base_model": str(base.get("name")),
                                                   "num_processes": num_processes}
    for key, value in hp.model_dump(mode="json").items():
        if isinstance(value, dict):
            config.update({f"{key}_{inner}": v for inner, v in value.items() if v is not None})
        elif value is not None:
            config[key] = value
    for key in ("kind", "snapshot_name", "snapshot_content_hash", "aft_data_path", "aft_data_sha256", "with_reasoning",
                "n_examples"):
        value = getattr(data, key, None)
        if value is not None:
            config[f"data_{key}"] = value
    if getattr(data, "replay", None):
        config["data_replay"] = ",".join(f"{r['source']}:{r['ratio']}@{r['sha256'][:12]}" for r in data.replay)
    config["spec_ids"] = ",".join(f"{s['spec_id']}@{s['spec_hash']}" for s in spec_ids)
    return config


def tensorboard_dir(run_dir: Path) -> Path:
    return run_dir / TENSORBOARD_DIR
