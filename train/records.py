"""Typed records at the training stage's seams: the hyperparameters a run was started with, and the
manifest written beside every trained model (and read back by the next stage and by `msm eval`)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

MODEL_MANIFEST_SCHEMA_VERSION = 1


class LoraSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rank: int = Field(16, ge=1)
    alpha: int = Field(32, ge=1)
    dropout: float = Field(0.0, ge=0.0, lt=1.0)


class Hyperparameters(BaseModel):
    """Everything that changes what a run computes. Its JSON is the run's fingerprint: a rerun of the same
    command resumes only when this is identical (see `work_dir`)."""

    model_config = ConfigDict(extra="forbid")

    method: Literal["lora", "full"] = "lora"
    lora: LoraSettings | None = None
    epochs: int = Field(1, ge=1)
    max_steps: int | None = Field(None, ge=1, description="Stop after this many optimizer steps (all epochs).")
    lr: float = Field(gt=0)
    warmup_ratio: float = Field(0.05, ge=0, lt=1)
    weight_decay: float = Field(0.0, ge=0)
    max_grad_norm: float = Field(1.0, gt=0)
    batch_size: int = Field(4, ge=1, description="Sequences per device per micro-batch.")
    grad_accum: int = Field(1, ge=1)
    block_size: int = Field(512, ge=8, description="midtrain: packed block length; sft: max sequence length.")
    seed: int = 0
    checkpoint_every: int = Field(50, ge=1, description="Optimizer steps between resumable checkpoints.")


class DataProvenance(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: Literal["snapshot", "aft"]
    snapshot_name: str | None = None
    snapshot_content_hash: str | None = None
    aft_data_path: str | None = None
    aft_data_sha256: str | None = None
    with_reasoning: bool | None = None
    n_examples: int = Field(description="Documents (midtrain) or demonstrations (sft) read.")
    replay: list[dict[str, Any]] = Field(default_factory=list,
                                         description="[{source, sha256, ratio, tokens, ...}] mixed in: generic "
                                                     "text (midtrain) or instruction demonstrations (sft)")
    packing: dict[str, Any] = Field(default_factory=dict, description="PackingStats (midtrain) or SFT token stats")


class ModelManifest(BaseModel):
    """manifest.json in every models/<name>/ directory msm writes."""

    model_config = ConfigDict(extra="forbid")

    schema_version: int = MODEL_MANIFEST_SCHEMA_VERSION
    name: str
    stage: Literal["midtrain", "sft"]
    created_at: datetime
    base_model: dict[str, Any] = Field(description="{name, source, location} as resolved; plus its manifest if msm made it")
    spec_ids: list[dict[str, str]] = Field(default_factory=list, description="[{spec_id, spec_hash}] learned so far")
    data: DataProvenance
    hyperparameters: Hyperparameters
    seed: int
    optimizer_steps: int
    tokens_seen: int = Field(description="Non-padding input tokens processed in training (all processes).")
    trained_tokens: int = Field(description="Tokens that carried loss (midtrain: all; sft: assistant tokens).")
    loss_first: float | None
    loss_last: float | None
    wall_time_s: float = Field(description="Training wall time summed over all attempts (resumes included).")
    resumed_from_step: list[int] = Field(default_factory=list, description="Steps a killed run resumed from.")
    device: str
    precision: str
    num_processes: int
    package_versions: dict[str, str]
    msm_git_commit: str | None
    files: dict[str, str] = Field(default_factory=dict, description="loss curve and plot file names")
