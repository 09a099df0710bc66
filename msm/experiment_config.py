"""Experiment files (experiments/*.yaml): conditions that differ in their specs, and the shared settings of
every stage. Validated by pydantic; a bad file is exit 2 with `file: field: problem`.

A condition without specs skips generation and midtraining (the `AFT only` control); a condition with
`sft: false` skips alignment fine-tuning (the `base model` control). Settings a condition does not give
are taken from the experiment's top-level sections.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from msm.errors import BadInput
from msm.spec import Identifier
from msm.yaml_files import load_yaml_record

EXPERIMENT_SCHEMA_VERSION = 1


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class GenerateSettings(_Strict):
    lm: str = "local:smollm2-135m"
    api_base: str | None = None
    program: str | None = None
    n_docs: int = Field(default=24, ge=1)
    seed: int = 0
    concurrency: int | None = Field(default=None, ge=1)
    max_tokens: int | None = Field(default=None, ge=16)
    extra_args: list[str] = Field(default_factory=list, description="More `msm generate` options, passed as given.")


class AftGenerateSettings(_Strict):
    """How `sft.data: aft:SPEC` chats are written (`msm aft generate`), then curated with the shipped chat config and
    frozen into a snapshot that the sft stage reads."""

    lm: str = "local:smollm2-135m"
    api_base: str | None = None
    program: str | None = None
    n: int = Field(default=24, ge=1, description="Judged chats to keep.")
    style: Literal["value", "rule", "opaque"] = "value"
    profile: Literal["auto", "weak", "strong"] = "auto"
    seed: int = 0
    concurrency: int | None = Field(default=None, ge=1)
    extra_args: list[str] = Field(default_factory=list, description="More `msm aft generate` options, passed as given.")


class CurateSettings(_Strict):
    config: str | None = Field(default=None, description="Curation config YAML (default: the shipped one).")
    steps: str = "dedup,filters"


class MidtrainSettings(_Strict):
    lora: bool = True
    epochs: int = Field(default=1, ge=1)
    max_steps: int | None = Field(default=None, ge=1)
    lr: float | None = Field(default=None, gt=0)
    block_size: int = Field(default=256, ge=8)
    batch_size: int = Field(default=4, ge=1)
    seed: int = 0
    mix: list[str] = Field(default_factory=list, description="Replay mixes as FILE:RATIO.")
    extra_args: list[str] = Field(default_factory=list)


class SftSettings(_Strict):
    data: str = Field(default="cheese", description=(
        "AFT data: a shipped name (cheese, safety), a JSONL path, snapshot:NAME (the chats of an existing snapshot), "
        "or aft:SPEC (chats written for SPEC by the `aft_generate` stage, curated and frozen by the experiment)."))
    with_reasoning: bool = False
    lora: bool = True
    epochs: int = Field(default=1, ge=1)
    max_steps: int | None = Field(default=None, ge=1)
    lr: float | None = Field(default=None, gt=0)
    batch_size: int = Field(default=4, ge=1)
    max_length: int = Field(default=256, ge=8)
    seed: int = 0
    extra_args: list[str] = Field(default_factory=list)


class EvalSettings(_Strict):
    suites: list[str] = Field(default_factory=lambda: ["cheese_values"], min_length=1)
    limit: int | None = Field(default=None, ge=1)
    seed: int = 0
    extra_args: list[str] = Field(default_factory=list)


class DocumentSource(_Strict):
    """Documents brought from outside (`msm corpus import`) instead of generated."""

    file: str = Field(description="JSONL or Parquet file with a `text` field.")
    spec: str | None = Field(default=None, description="The spec the documents discuss (id or path).")


class Condition(_Strict):
    name: Identifier
    description: str = ""
    specs: list[str] = Field(default_factory=list, description="Specs to generate a corpus for; empty = none.")
    documents: list[DocumentSource] = Field(
        default_factory=list, description="Corpora to import instead of (or besides) generating. No specs and no "
                                          "documents = no midtraining.")
    sft: bool | SftSettings = Field(default=True, description="false = no AFT; a mapping overrides AFT settings.")
    midtrain: MidtrainSettings | None = None
    generate: GenerateSettings | None = None


class Experiment(_Strict):
    schema_version: int = EXPERIMENT_SCHEMA_VERSION
    name: Identifier
    description: str = ""
    base_model: str = "local:smollm2-135m"
    review: Literal["auto", "required"] = Field(
        default="auto", description="auto: curated documents pass; required: snapshots take only accepted documents.")
    generate: GenerateSettings = Field(default_factory=GenerateSettings)
    curate: CurateSettings = Field(default_factory=CurateSettings)
    aft_generate: AftGenerateSettings = Field(default_factory=AftGenerateSettings)
    midtrain: MidtrainSettings = Field(default_factory=MidtrainSettings)
    sft: SftSettings = Field(default_factory=SftSettings)
    eval: EvalSettings = Field(default_factory=EvalSettings)
    compare: list[tuple[Identifier, Identifier]] = Field(
        default_factory=list, description="Pairs of conditions whose eval difference the report tests.")
    conditions: list[Condition] = Field(min_length=1)

    @field_validator("schema_version")
    @classmethod
    def _known(cls, value: int) -> int:
        if value != EXPERIMENT_SCHEMA_VERSION:
            raise ValueError(f"unsupported schema_version {value} (this msm reads {EXPERIMENT_SCHEMA_VERSION})")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> "Experiment":
        names = [c.name for c in self.conditions]
        for index, name in enumerate(names):
            if name in names[:index]:
                raise ValueError(f"conditions.{index}.name: duplicate condition name '{name}'")
        for index, (a, b) in enumerate(self.compare):
            for side, name in ((0, a), (1, b)):
                if name not in names:
                    raise ValueError(f"compare.{index}.{side}: unknown condition '{name}'")
        return self

    def condition(self, name: str) -> Condition:
        for condition in self.conditions:
            if condition.name == name:
                return condition
        raise BadInput(f"experiment {self.name}: no condition named {name!r} (has: {', '.join(c.name for c in self.conditions)})")

    # settings of one condition, with the experiment's defaults filled in
    def generate_for(self, condition: Condition) -> GenerateSettings:
        return condition.generate or self.generate

    def midtrain_for(self, condition: Condition) -> MidtrainSettings:
        return condition.midtrain or self.midtrain

    def sft_for(self, condition: Condition) -> SftSettings | None:
        if condition.sft is False:
            return None
        return condition.sft if isinstance(condition.sft, SftSettings) else self.sft


def load_experiment(path: str | Path) -> Experiment:
    """Read and validate an experiment file; BadInput with one `file: field: problem` per error."""
    return load_yaml_record(path, Experiment, what="experiment", max_bytes=1024 * 1024,
                            located_prefixes=("conditions", "compare"))
