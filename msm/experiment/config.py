"""Experiment files (experiments/*.yaml): conditions that differ in their specs, and the shared settings of
every stage. Validated by pydantic; a bad file is exit 2 with `file: field: problem`.

Condition kinds (`kind`, inferred from the shape when left out):
    base      no corpus, no AFT            the model as it is
    aft_only  no corpus, AFT               the same AFT without midtraining
    identity  no corpus, AFT on a general  the paper's identity baseline: what the instruction mix alone does
              instruction set (never inferred: say `kind: identity`)
    msm_only  corpus, no AFT               what the spec teaches directly (sft defaults to false)
    msm_aft   corpus, AFT                  how identical AFT generalizes after MSM
Settings a condition does not give are taken from the experiment's top-level sections.

Seeds (`seeds: [0, 1, 2]`): every condition runs once per seed. The seed replaces the `seed` setting of the
stages named in `seed_stages` — by default `midtrain` and `sft` (data order, packing, LoRA init, instruction-mix
draw) — while the stages not named run once and are shared by every seed: by default one corpus per spec (the
costly API part) and the same eval items and bootstrap seed for every replicate, so replicates differ only in
training randomness and every comparison is paired on the same items. Add `generate` to draw a fresh corpus
per seed, `eval` to draw eval subsets (`limit`) and samples per seed. A stage in `seed_stages` may not also set
its own `seed`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar, Literal, Sequence

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator, model_validator

from msm.corpus.aft.api import AftOptions
from msm.corpus.curate.request import CurateOptions
from msm.corpus.generate.api import GenerateOptions
from msm.errors import BadInput
from msm.identity import Identity
from msm.settings import cli_meta
from msm.spec import Identifier
from msm.yaml_files import load_yaml_record

EXPERIMENT_SCHEMA_VERSION = 1
ConditionKind = Literal["base", "aft_only", "identity", "msm_only", "msm_aft"]
CONDITION_KINDS: tuple[str, ...] = ("base", "aft_only", "identity", "msm_only", "msm_aft")
SeededStage = Literal["generate", "midtrain", "sft", "eval"]
DEFAULT_SEED_STAGES: tuple[str, ...] = ("midtrain", "sft")
MAX_SFT_MIX = 0.95


class _Keyed:
    """A stage's cache key from its settings (a mixin: the experiment's own sections are `_Strict`, a stage's record
    from its room gets it beside its own base)."""

    # fields added after the first release: they enter a stage's cache key only when set, so experiments that do
    # not use them keep the keys (and the finished stages) they had
    _added_later: ClassVar[frozenset[str]] = frozenset()
    # fields that do not decide a stage's output (where its metrics are reported): never in its cache key
    _not_in_key: ClassVar[frozenset[str]] = frozenset()

    def key_payload(self) -> dict[str, Any]:
        data = self.model_dump(exclude=set(self._not_in_key))
        for name in self._added_later - self._not_in_key:
            if data[name] == type(self).model_fields[name].get_default(call_default_factory=True):
                del data[name]
        return data


class _Strict(_Keyed, BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _flag(name: str, off: str | None = None) -> dict[str, Any]:
    """Field metadata: the stage command's option a setting becomes (`off`: the flag for False, for on/off pairs);
    `msm.settings.to_argv` turns a section into that command line, and tests/test_stage_settings.py checks every flag
    against the command's own options."""
    return {"json_schema_extra": cli_meta(name, off=off)}


# The generate options the first experiment files had; the others entered later (keys stay as they were unless set).
_FIRST_GENERATE_FIELDS = frozenset({"lm", "api_base", "program", "n_docs", "seed", "concurrency", "max_tokens",
                                    "extra_args"})
# a batch round trip by hand (request files, outputs) is a person's workflow, not an experiment stage
_NOT_IN_EXPERIMENTS = ("batch_file_only", "ingest_outputs")


class GenerateSettings(_Keyed, GenerateOptions):
    """The `generate:` section: `msm generate`'s own record (`GenerateOptions`: every option of the command, same
    names with `_` for `-`), with a larger default corpus."""

    _added_later: ClassVar[frozenset[str]] = frozenset(GenerateOptions.model_fields) - _FIRST_GENERATE_FIELDS
    # how long to wait for an API call or a batch: never what the documents are
    _not_in_key: ClassVar[frozenset[str]] = frozenset({"request_timeout", "poll_interval"})

    n_docs: int = Field(default=24, ge=1, description="Number of documents to write.",
                        json_schema_extra=GenerateOptions.model_fields["n_docs"].json_schema_extra)
    extra_args: list[str] = Field(default_factory=list, description="More `msm generate` options, passed as given.")

    @model_validator(mode="after")
    def _experiment_stage(self) -> "GenerateSettings":
        for name in _NOT_IN_EXPERIMENTS:
            if getattr(self, name):
                raise ValueError(f"{name}: not available in an experiment (run `msm generate` for a manual batch "
                                 f"round trip)")
        return self


# The aft generate options the first experiment files had; the others entered later (keys stay unless they are set).
_FIRST_AFT_FIELDS = frozenset({"lm", "api_base", "program", "n", "style", "profile", "seed", "concurrency",
                               "extra_args"})


class AftGenerateSettings(_Keyed, AftOptions):
    """How `sft.data: aft:SPEC` chats are written (`msm aft generate`, whose own record `AftOptions` this is), then
    curated with the shipped chat config and frozen into a snapshot that the sft stage reads."""

    _added_later: ClassVar[frozenset[str]] = frozenset(AftOptions.model_fields) - _FIRST_AFT_FIELDS
    _not_in_key: ClassVar[frozenset[str]] = frozenset({"request_timeout", "poll_interval"})

    n: int = Field(default=24, ge=1, description="Judged chats to keep.",
                   json_schema_extra=AftOptions.model_fields["n"].json_schema_extra)
    extra_args: list[str] = Field(default_factory=list, description="More `msm aft generate` options, passed as given.")

    @model_validator(mode="after")
    def _experiment_stage(self) -> "AftGenerateSettings":
        for name in _NOT_IN_EXPERIMENTS:
            if getattr(self, name):
                raise ValueError(f"{name}: not available in an experiment (run `msm aft generate` for a manual batch "
                                 f"round trip)")
        return self


class CurateSettings(_Keyed, CurateOptions):
    """The `curate:` section: `msm curate`'s own record (`CurateOptions`). The engine and its Ray options give the
    same marks by design, so they never enter the stage's cache key."""

    _not_in_key: ClassVar[frozenset[str]] = frozenset({"engine", "ray_address", "ray_scratch", "ray_shuffle"})


class TrainingSettings(_Strict):
    """What midtraining and AFT share. Each setting names the `msm train` flag it becomes beside it
    (`msm.settings.to_argv` is the one mapping of settings to a command line): a new training flag is one field here."""

    _added_later: ClassVar[frozenset[str]] = frozenset({"lora_rank", "lora_alpha", "lora_dropout", "grad_accum",
                                                         "eval_fraction"})
    _not_in_key: ClassVar[frozenset[str]] = frozenset({"report_to"})

    lora: bool = Field(default=True, **_flag("--lora", "--full"))
    epochs: int = Field(default=1, ge=1, **_flag("--epochs"))
    max_steps: int | None = Field(default=None, ge=1, **_flag("--max-steps"))
    lr: float | None = Field(default=None, gt=0, **_flag("--lr"))
    batch_size: int = Field(default=4, ge=1, **_flag("--batch-size"))
    seed: int = Field(default=0, **_flag("--seed"))
    # LoRA shape and batching; None = `msm train`'s default
    lora_rank: int | None = Field(default=None, ge=1, **_flag("--lora-rank"))
    lora_alpha: int | None = Field(default=None, ge=1, **_flag("--lora-alpha"))
    lora_dropout: float | None = Field(default=None, ge=0, lt=1, **_flag("--lora-dropout"))
    grad_accum: int | None = Field(default=None, ge=1, **_flag("--grad-accum"))
    # observability: where the loop's metrics go, and the share held out for eval loss
    report_to: str = Field(default="tensorboard", description="tensorboard, wandb, trackio, mlflow, a comma list, or none.",
                           **_flag("--report-to"))
    eval_fraction: float = Field(default=0.0, ge=0, le=0.5, description="Share held out of training for eval loss.",
                                 **_flag("--eval-fraction"))
    extra_args: list[str] = Field(default_factory=list, description="More `msm train` options, passed as given.")

    @field_validator("report_to")
    @classmethod
    def _known_trackers(cls, value: str) -> str:
        from msm.train.tracking import TRACKERS

        names = [part.strip() for part in value.split(",") if part.strip()]
        unknown = [name for name in names if name not in (*TRACKERS, "none")]
        if not names or unknown:
            raise ValueError(f"{value!r}: use {', '.join(TRACKERS)}, a comma list of them, or none")
        return value


class MidtrainSettings(TrainingSettings):
    block_size: int = Field(default=256, ge=8, **_flag("--block-size"))
    mix: list[str] = Field(default_factory=list, description="Replay mixes as FILE:RATIO.", **_flag("--mix"))


class SftSettings(TrainingSettings):
    _added_later: ClassVar[frozenset[str]] = frozenset({"lora_rank", "lora_alpha", "lora_dropout", "grad_accum",
                                                         "eval_fraction", "continue_adapter", "mix"})

    data: str = Field(default="cheese", description=(
        "AFT data: a shipped name (cheese, safety, instruct), a JSONL path, hf:<owner>/<dataset>, snapshot:NAME (the chats of an existing "
        "snapshot), or aft:SPEC (chats written for SPEC by the `aft_generate` stage, curated and frozen by the "
        "experiment)."), **_flag("--data"))
    with_reasoning: bool = Field(default=False, **_flag("--with-reasoning"))
    continue_adapter: bool = Field(
        default=False, description="After midtraining, keep training its LoRA adapter (no merge in between); "
                                   "conditions without midtraining start a fresh adapter.",
        **_flag("--continue-adapter"))
    mix: list[str] = Field(default_factory=list,
                           description="Instruction sets mixed into AFT as FILE:RATIO (share of SFT tokens).",
                           **_flag("--mix"))
    max_length: int = Field(default=256, ge=8, **_flag("--max-length"))

    @field_validator("mix")
    @classmethod
    def _mix_shape(cls, values: list[str]) -> list[str]:
        total = 0.0
        for value in values:
            name, sep, ratio_text = value.rpartition(":")
            try:
                ratio = float(ratio_text)
            except ValueError:
                ratio = -1.0
            if not sep or not name or not 0 < ratio <= MAX_SFT_MIX:
                raise ValueError(f"{value!r}: expected FILE:RATIO with RATIO in (0, {MAX_SFT_MIX}], e.g. instruct:0.5")
            total += ratio
        if total > MAX_SFT_MIX:
            raise ValueError(f"ratios add up to {total:g}, more than {MAX_SFT_MIX}")
        return values

    @model_validator(mode="after")
    def _adapter_needs_lora(self) -> "SftSettings":
        if self.continue_adapter and not self.lora:
            raise ValueError("continue_adapter needs lora: true (it trains a LoRA adapter)")
        return self


class EvalSettings(_Strict):
    # what the report leads with decides no stage's output
    _not_in_key: ClassVar[frozenset[str]] = frozenset({"headline"})

    suites: list[str] = Field(default_factory=lambda: ["cheese_values"], min_length=1,
                              description="One eval stage per suite (`msm eval --suite`).")
    limit: int | None = Field(default=None, ge=1, **_flag("--limit"))
    seed: int = Field(default=0, **_flag("--seed"))
    headline: dict[str, str] = Field(
        default_factory=dict, description="spec id -> the suite the report leads with for conditions trained on "
                                          "that spec (the paper scores each cheese spec on its own set).")
    extra_args: list[str] = Field(default_factory=list, description="More `msm eval` options, passed as given.")

    @model_validator(mode="after")
    def _headline_suites_are_run(self) -> "EvalSettings":
        for spec_id, suite in self.headline.items():
            if suite not in self.suites:
                raise ValueError(f"headline: {spec_id}: suite {suite!r} is not in suites {self.suites}")
        return self


class DocumentSource(_Strict):
    """Documents brought from outside (`msm corpus import`) instead of generated."""

    file: str = Field(description="JSONL or Parquet file with a `text` field, or hf:<owner>/<dataset>.")
    spec: str | None = Field(default=None, description="The spec the documents discuss (id or path).")


_KIND_SHAPE = {  # kind -> (has a corpus, has AFT)
    "base": (False, False), "aft_only": (False, True), "identity": (False, True),
    "msm_only": (True, False), "msm_aft": (True, True),
}


class Condition(_Strict):
    name: Identifier
    description: str = ""
    kind: ConditionKind = Field(description="base | aft_only | identity | msm_only | msm_aft (inferred when left out).")
    specs: list[str] = Field(default_factory=list, description="Specs to generate a corpus for; empty = none.")
    documents: list[DocumentSource] = Field(
        default_factory=list, description="Corpora to import instead of (or besides) generating. No specs and no "
                                          "documents = no midtraining.")
    sft: bool | SftSettings = Field(default=True, description="false = no AFT; a mapping overrides AFT settings.")
    midtrain: MidtrainSettings | None = None
    generate: GenerateSettings | None = None

    @model_validator(mode="before")
    @classmethod
    def _infer_kind(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        data = dict(data)
        if data.get("kind") in ("msm_only", "base") and "sft" not in data:
            data["sft"] = False  # these kinds have no AFT: saying the kind is enough
        if data.get("kind") is None:
            has_corpus = bool(data.get("specs")) or bool(data.get("documents"))
            has_sft = data.get("sft", True) is not False
            data["kind"] = ("msm_aft" if has_sft else "msm_only") if has_corpus else ("aft_only" if has_sft else "base")
        return data

    @model_validator(mode="after")
    def _shape_matches_kind(self) -> "Condition":
        wants_corpus, wants_sft = _KIND_SHAPE[self.kind]
        if self.has_corpus != wants_corpus:
            raise ValueError(f"a {self.kind} condition {'needs' if wants_corpus else 'has no'} specs or documents")
        if (self.sft is not False) != wants_sft:
            raise ValueError(f"a {self.kind} condition {'needs AFT' if wants_sft else 'has no AFT (sft: false)'}")
        return self

    @property
    def has_corpus(self) -> bool:
        return bool(self.specs or self.documents)


class Experiment(_Strict):
    # `--set` overrides it was loaded with (load_experiment); not a field: a file cannot claim them
    _overrides: list[str] = PrivateAttr(default_factory=list)

    @property
    def overrides(self) -> list[str]:
        return list(self._overrides)

    schema_version: int = EXPERIMENT_SCHEMA_VERSION
    name: Identifier
    description: str = ""
    base_model: str = "local:smollm2-135m"
    review: Literal["auto", "required"] = Field(
        default="auto", description="auto: curated documents pass; required: snapshots take only accepted documents.")
    seeds: list[int] | None = Field(default=None, min_length=1,
                                    description="Run every condition once per seed (replicates).")
    seed_stages: list[SeededStage] | None = Field(
        default=None, description=f"Stages whose seed is the replicate's seed (default: {', '.join(DEFAULT_SEED_STAGES)}).")
    identity: Identity | None = Field(
        default=None, description="The assistant's name and maker in every stage: the specs' placeholders, the AFT "
                                  "chats, the eval prompts and the exfiltration agent (default: each spec's own).")
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

    @field_validator("seeds")
    @classmethod
    def _distinct_seeds(cls, values: list[int] | None) -> list[int] | None:
        if values is not None and len(set(values)) != len(values):
            raise ValueError(f"seeds must be distinct, got {values}")
        return values

    @model_validator(mode="after")
    def _consistent(self) -> "Experiment":
        if ".." in self.name:   # every run, snapshot and model it derives starts with it: msm refuses '..' in names
            raise ValueError(f"name: {self.name!r} contains '..'")
        names = [c.name for c in self.conditions]
        for index, name in enumerate(names):
            if name in names[:index]:
                raise ValueError(f"conditions.{index}.name: duplicate condition name '{name}'")
        for index, (a, b) in enumerate(self.compare):
            for side, name in ((0, a), (1, b)):
                if name not in names:
                    raise ValueError(f"compare.{index}.{side}: unknown condition '{name}'")
        if self.seed_stages is not None and self.seeds is None:
            raise ValueError("seed_stages: only used with seeds (give `seeds: [0, 1, 2]` or drop seed_stages)")
        if self.seeds is not None:
            self._check_seed_overrides()
        for index, condition in enumerate(self.conditions):
            sft = self.sft_for(condition)
            if sft is not None and sft.continue_adapter and condition.has_corpus:
                self._check_adapter_continuation(index, self.midtrain_for(condition), sft)
        return self

    def _check_seed_overrides(self) -> None:
        seeded = set(self.stage_seeded)
        sections = [(kind, getattr(self, kind)) for kind in ("generate", "midtrain", "sft", "eval")]
        for index, condition in enumerate(self.conditions):
            for kind in ("generate", "midtrain", "sft"):
                value = getattr(condition, kind)
                if isinstance(value, _Keyed):
                    sections.append((f"conditions.{index}.{kind}", value))
        for where, settings in sections:
            if where.rsplit(".", 1)[-1] in seeded and "seed" in settings.model_fields_set:
                raise ValueError(f"{where}.seed: set per replicate by `seeds` ({where.rsplit('.', 1)[-1]} is in "
                                 f"seed_stages); remove it")

    @staticmethod
    def _check_adapter_continuation(index: int, midtrain: MidtrainSettings, sft: SftSettings) -> None:
        from msm.train.records import LoraSettings

        where = f"conditions.{index}"
        if not midtrain.lora:
            raise ValueError(f"{where}: sft.continue_adapter needs midtrain.lora: true (a full midtrain leaves no adapter)")
        defaults = LoraSettings()  # what `msm train` uses when an option is not given
        for name, default in (("lora_rank", defaults.rank), ("lora_alpha", defaults.alpha),
                              ("lora_dropout", defaults.dropout)):
            wanted, adapter = getattr(sft, name), getattr(midtrain, name)
            adapter = default if adapter is None else adapter
            if wanted is not None and wanted != adapter:
                raise ValueError(f"{where}: sft.{name} {wanted} differs from the midtrained adapter's {adapter}; "
                                 f"a continued adapter keeps its shape (leave sft.{name} out or match it)")

    def condition(self, name: str) -> Condition:
        for condition in self.conditions:
            if condition.name == name:
                return condition
        raise BadInput(f"experiment {self.name}: no condition named {name!r} (has: {', '.join(c.name for c in self.conditions)})")

    # ---- replicates ----------------------------------------------------------------------------------
    @property
    def stage_seeded(self) -> tuple[str, ...]:
        """Stage kinds whose seed is the replicate's seed (none without `seeds`)."""
        if self.seeds is None:
            return ()
        return tuple(self.seed_stages) if self.seed_stages is not None else DEFAULT_SEED_STAGES

    def replicate_seeds(self) -> list[int | None]:
        """One entry per replicate; None = the experiment has no `seeds` (one run, stage seeds as written)."""
        return list(self.seeds) if self.seeds is not None else [None]

    def _seeded(self, kind: str, settings, seed: int | None):
        if seed is None or kind not in self.stage_seeded:
            return settings
        return settings.model_copy(update={"seed": seed})

    # settings of one condition (and replicate seed), with the experiment's defaults filled in
    def generate_for(self, condition: Condition, seed: int | None = None) -> GenerateSettings:
        return self._seeded("generate", condition.generate or self.generate, seed)

    def midtrain_for(self, condition: Condition, seed: int | None = None) -> MidtrainSettings:
        return self._seeded("midtrain", condition.midtrain or self.midtrain, seed)

    def sft_for(self, condition: Condition, seed: int | None = None) -> SftSettings | None:
        if condition.sft is False:
            return None
        return self._seeded("sft", condition.sft if isinstance(condition.sft, SftSettings) else self.sft, seed)

    def eval_for(self, seed: int | None = None) -> EvalSettings:
        return self._seeded("eval", self.eval, seed)


def replicate_label(condition: str, seed: int | None) -> str:
    """`msm_america` without seeds, `msm_america@1` for seed 1 ('@' never occurs in a condition name)."""
    return condition if seed is None else f"{condition}@{seed}"


_LOCATED = ("conditions", "compare", "seed_stages", "generate", "midtrain", "sft", "eval")


def load_experiment(path: str | Path, overrides: Sequence[str] = ()) -> Experiment:
    """Read and validate an experiment file; BadInput with one `file: field: problem` per error. `overrides`
    (`--set KEY=VALUE`, msm.experiment.overrides) are applied to the file's mapping before it is validated, and
    kept on the experiment (`experiment.overrides`) for the plan and the report."""
    if not overrides:
        return load_yaml_record(path, Experiment, what="experiment", max_bytes=1024 * 1024,
                                located_prefixes=_LOCATED)
    from pydantic import ValidationError

    from msm.experiment.overrides import apply_overrides
    from msm.yaml_files import FileProblems, read_yaml_mapping, validation_problems

    data = apply_overrides(read_yaml_mapping(path, what="experiment", max_bytes=1024 * 1024), overrides)
    try:
        experiment = Experiment.model_validate(data)
    except ValidationError as exc:
        raise FileProblems(validation_problems(f"{path} (with --set {' --set '.join(overrides)})", exc,
                                               located_prefixes=_LOCATED)) from None
    experiment._overrides = list(overrides)
    return experiment
