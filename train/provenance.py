"""What a trained model directory says about itself: manifest.json, loss.csv, loss.png, and its row in the
workspace catalog's `models` table."""

from __future__ import annotations

import csv
import io
import subprocess
from importlib import metadata
from pathlib import Path

from pydantic import ValidationError

from msm.atomic import write_text_atomic
from msm.errors import BadInput
from msm.input_files import MAX_RECORD_BYTES, load_json_object
from msm.train.records import ModelManifest
from msm.workspace import Workspace

MANIFEST_FILE = "manifest.json"
LOSS_CSV = "loss.csv"
LOSS_PNG = "loss.png"
# one row per optimizer step; eval_loss only on steps where the held-out slice was evaluated
LOSS_COLUMNS = ["step", "epoch", "loss", "lr", "grad_norm", "tokens_seen", "tokens_per_s", "padding_waste", "eval_loss"]
TRACKED_PACKAGES = ("msm-midtrain", "torch", "transformers", "peft", "accelerate", "tokenizers", "safetensors", "numpy")


def package_versions() -> dict[str, str]:
    versions = {}
    for name in TRACKED_PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def msm_git_commit() -> str | None:
    """The commit of the msm checkout this code runs from (None for an installed wheel or no git)."""
    source = Path(__file__).resolve().parents[1]
    try:
        proc = subprocess.run(["git", "-C", str(source), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if proc.returncode != 0:
        return None
    dirty = subprocess.run(["git", "-C", str(source), "status", "--porcelain", "--untracked-files=no"],
                           capture_output=True, text=True, timeout=10).stdout.strip()
    return proc.stdout.strip() + ("+dirty" if dirty else "")


def write_loss_curve(out_dir: Path, rows: list[dict], title: str) -> None:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=LOSS_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    write_text_atomic(out_dir / LOSS_CSV, buffer.getvalue())

    import matplotlib

    matplotlib.use("Agg")  # no display on training machines
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4), dpi=100)
    ax.plot([r["step"] for r in rows], [r["loss"] for r in rows], linewidth=1.2, label="training")
    evaluated = [r for r in rows if r.get("eval_loss") is not None]
    if evaluated:
        ax.plot([r["step"] for r in evaluated], [r["eval_loss"] for r in evaluated], "o-", linewidth=1.2,
                label="held-out")
        ax.legend()
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("loss")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(out_dir / LOSS_PNG)
    plt.close(fig)


def write_manifest(out_dir: Path, manifest: ModelManifest) -> None:
    write_text_atomic(out_dir / MANIFEST_FILE, manifest.model_dump_json(indent=2) + "\n")


def read_manifest(model_dir: Path) -> ModelManifest | None:
    """The manifest of a model msm trained, or None for any other model directory."""
    path = Path(model_dir) / MANIFEST_FILE
    if not path.is_file():
        return None
    data = load_json_object(path, what="model manifest", max_bytes=MAX_RECORD_BYTES)
    try:
        return ModelManifest.model_validate(data)
    except ValidationError as exc:
        error = exc.errors()[0]
        raise BadInput(f"{path}: {'.'.join(str(p) for p in error['loc']) or '(document)'}: {error['msg']}") from None


def register_model(ws: Workspace, manifest: ModelManifest, path: Path) -> None:
    with ws.catalog() as con:
        con.execute("INSERT OR REPLACE INTO models VALUES (?, ?, ?, ?, ?)",
                    [manifest.name, manifest.stage, str(path.resolve()), manifest.created_at,
                     manifest.model_dump_json()])
