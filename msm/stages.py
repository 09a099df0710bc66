"""The stages as Python functions of one shape, `stage(workspace, request) -> result` — what each `msm` stage command
runs, for a notebook or a script. `import msm` exposes them (lazily: nothing here is imported until used).

    import msm
    ws = msm.open_workspace("msm-workspace")                    # created if missing, like `msm init`
    run = msm.generate(ws, msm.GenerateRequest(spec="cheese_america", run="nb", n_docs=24))
    msm.curate(ws, msm.CurateRequest(run="nb"))
    msm.snapshot(ws, msm.SnapshotRequest(name="nb-snap", runs=["nb"]))
    msm.midtrain(ws, msm.MidtrainRequest(snapshot="nb-snap", base="local:smollm2-135m", out="nb-mt"))
    msm.sft(ws, msm.SftRequest(model="nb-mt", data="cheese", out="nb-sft"))
    result = msm.evaluate(ws, msm.EvalRequest(model="nb-sft", suite="cheese_values", out="evals/nb"))

`GenerateRequest`, `AftRequest` and `CurateRequest` are the records their commands' options come from; the other requests here are the
stage's inputs as a record over the stage's own function (their commands keep their hand-written options, which the
experiment sections are checked against in tests/test_stage_settings.py). A room above every stage (the roof, beside
`msm.experiment`): the stage rooms never import it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field

from msm.corpus.aft.api import AftRequest, AftResult
from msm.corpus.curate.request import CurateRequest
from msm.corpus.generate.api import GenerateRequest, GenerateResult
from msm.settings import StageSettings
from msm.train.records import Hyperparameters
from msm.workspace import Workspace

__all__ = ["open_workspace", "generate", "GenerateRequest", "GenerateResult", "aft_generate", "AftRequest",
           "AftResult", "curate", "CurateRequest", "snapshot", "SnapshotRequest", "midtrain", "MidtrainRequest", "sft",
           "SftRequest", "evaluate", "EvalRequest"]

WorkspaceLike = Workspace | str | Path


def open_workspace(path: str | Path | None = None, *, create: bool = True) -> Workspace:
    """The workspace at `path` (default: $MSM_WORKSPACE, else ./msm-workspace), initialised when missing.

        ws = msm.open_workspace("msm-workspace")
    """
    return Workspace.open(Path(path) if path is not None else None, create=create)


def _ws(workspace: WorkspaceLike) -> Workspace:
    return workspace if isinstance(workspace, Workspace) else open_workspace(workspace)


def generate(workspace: WorkspaceLike, request: GenerateRequest) -> GenerateResult:
    """`msm generate`: write (or resume) run `request.run` of documents discussing the spec.

        msm.generate(ws, msm.GenerateRequest(spec="cheese_america", run="nb", n_docs=24))
    """
    from msm.corpus.generate.api import generate as run

    return run(_ws(workspace), request)


def aft_generate(workspace: WorkspaceLike, request: AftRequest) -> AftResult:
    """`msm aft generate`: write (or resume) a run of judged alignment fine-tuning chats for the spec.

        msm.aft_generate(ws, msm.AftRequest(spec="cheese_america", run="nb-aft", n=24))
    """
    from msm.corpus.aft.api import generate_chats

    return generate_chats(_ws(workspace), request)


def curate(workspace: WorkspaceLike, request: CurateRequest):
    """`msm curate`: mark the run's documents kept or dropped; returns the curation summary.

        msm.curate(ws, msm.CurateRequest(run="nb"))
    """
    from msm.corpus.curate.engine import curate as run

    return run(_ws(workspace), request)


class SnapshotRequest(StageSettings):
    """`msm snapshot create NAME --from RUN[,RUN...] [--require-review] [--config FILE]`."""

    name: str
    runs: list[str] = Field(min_length=1)
    require_review: bool = False
    config: str | None = None


def snapshot(workspace: WorkspaceLike, request: SnapshotRequest):
    """`msm snapshot create`: freeze the runs' kept documents as a hashed Parquet snapshot; returns its manifest.

        msm.snapshot(ws, msm.SnapshotRequest(name="nb-snap", runs=["nb"]))
    """
    from msm.corpus.snapshot.create import create_snapshot

    return create_snapshot(_ws(workspace), request.name, list(request.runs), request.require_review, request.config)


def _default_hp(lr: float) -> Hyperparameters:
    from msm.train.records import LoraSettings

    return Hyperparameters(lr=lr, lora=LoraSettings())


class MidtrainRequest(StageSettings):
    """`msm train midtrain --snapshot S --base M --out NAME` with its hyperparameters as one record."""

    snapshot: str
    base: str = "local:smollm2-135m"
    out: str
    hp: Hyperparameters = Field(default_factory=lambda: _default_hp(2e-4), description="LoRA at lr 2e-4 by default.")


def midtrain(workspace: WorkspaceLike, request: MidtrainRequest):
    """`msm train midtrain`: continue pretraining the base model on a snapshot; returns the model's manifest.

        msm.midtrain(ws, msm.MidtrainRequest(snapshot="nb-snap", out="nb-mt"))
    """
    from msm.train.midtrain import run_midtrain

    return run_midtrain(_ws(workspace), snapshot=request.snapshot, base=request.base, out=request.out, hp=request.hp)


class SftRequest(StageSettings):
    """`msm train sft --model M --data DATA --out NAME` with its hyperparameters as one record."""

    model: str
    data: str = "cheese"
    out: str
    hp: Hyperparameters = Field(default_factory=lambda: _default_hp(2e-4), description="LoRA at lr 2e-4 by default.")
    with_reasoning: bool = False
    continue_adapter: bool = False


def sft(workspace: WorkspaceLike, request: SftRequest):
    """`msm train sft`: fine-tune on AFT chats; returns the model's manifest.

        msm.sft(ws, msm.SftRequest(model="nb-mt", data="cheese", out="nb-sft"))
    """
    from msm.train.sft import run_sft

    return run_sft(_ws(workspace), model=request.model, data=request.data, out=request.out, hp=request.hp,
                   with_reasoning=request.with_reasoning, continue_adapter=request.continue_adapter)


class EvalRequest(StageSettings):
    """`msm eval --model M --suite S --out DIR`; `settings` is the suite runner's own record (seed, limit, samples)."""

    model: str
    suite: str
    out: Path
    settings: Any = Field(default=None, description="msm.eval.suite_base.EvalSettings (default: its defaults).")


def evaluate(workspace: WorkspaceLike, request: EvalRequest):
    """`msm eval`: run one suite on one model; returns (EvalResult, the result directory).

        result, where = msm.evaluate(ws, msm.EvalRequest(model="nb-sft", suite="cheese_values", out="evals/nb"))
    """
    from msm.eval.runner import run_eval
    from msm.eval.suite_base import EvalSettings

    return run_eval(request.model, request.suite, request.settings or EvalSettings(), ws=_ws(workspace),
                    out_dir=Path(request.out))
