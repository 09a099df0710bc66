"""What every eval suite is made of, shaped like an inspect_ai task: a dataset (checked and loaded before any weights),
a way to query the model (log-probabilities or sampled responses, in-process or from an endpoint, or a whole
Inspect run) and scoring. The suites themselves live in their own modules; `msm.eval.suites` is the registry."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Literal, Sequence

from msm.errors import BadInput
from msm.eval.lm_scoring import VARIANTS
from msm.eval.results import Metric

ProgressFactory = Callable[[str, int], Any]  # (description, total) -> context manager yielding advance(n)


@dataclass
class EvalSettings:
    seed: int = 0
    limit: int | None = None
    samples: int = 1
    temperature: float = 0.7
    max_new_tokens: int = 256
    batch_size: int = 8
    variants: tuple[str, ...] = VARIANTS
    mode: str = "logprob"  # value-probe suites: 'logprob' | 'generate'
    scorer: str = "letter"  # choice suites in logprob mode: letter | stance | sampled | auto (msm.eval.scorers)
    specs: tuple[str, ...] = ()  # spec_knowledge: spec ids or paths
    items_path: Path | None = None  # a replacement item file (same schema as the shipped one)
    judge_lm: Any = None  # a dspy LM (msm suites); agentic_misalignment builds an Inspect model from judge_name
    judge_name: str | None = None
    judge_api_base: str | None = None
    judge_concurrency: int = 4
    judge_max_tokens: int = 1024
    model_api_base: str | None = None  # the model under evaluation is served at this OpenAI-compatible endpoint
    # agentic_misalignment: which conditions (empty = the paper's grid)
    scenarios: tuple[str, ...] = ()
    conditions: tuple[str, ...] = ()
    workspace: Any = None  # resolves workspace model names of judges and graders; not part of the result
    # the identity the prompts give the assistant (spec-derived prompts, the exfiltration agent); None: the spec's
    model_name: str | None = None
    provider_name: str | None = None

    def public(self) -> dict:
        return {"seed": self.seed, "limit": self.limit, "samples": self.samples, "temperature": self.temperature,
                "max_new_tokens": self.max_new_tokens, "batch_size": self.batch_size, "variants": list(self.variants),
                "mode": self.mode, "scorer": self.scorer, "specs": list(self.specs),
                "items_path": str(self.items_path) if self.items_path else None,
                "judge_concurrency": self.judge_concurrency, "judge_max_tokens": self.judge_max_tokens,
                "model_api_base": self.model_api_base,
                "scenarios": list(self.scenarios), "conditions": list(self.conditions),
                **({"identity": {"model_name": self.model_name, "provider_name": self.provider_name}}
                   if self.model_name or self.provider_name else {})}


@dataclass
class LoadedModel:
    """The model under evaluation as a suite sees it. In-process suites get `lm` and `tokenizer`; a model served at
    an endpoint comes as `name` + `api_base` (lm and tokenizer None); Inspect suites also get `log_dir`, where
    Inspect writes its own logs."""

    lm: Any
    tokenizer: Any
    name: str = ""
    location: str | None = None  # model directory, when there is one on this machine
    api_base: str | None = None
    log_dir: Path | None = None


@dataclass
class Dataset:
    items: list
    data_files: dict[str, str]  # {file or spec: sha256} of what the items came from


@dataclass
class SuiteOutput:
    items: list
    metrics: dict[str, Metric]
    judge: dict | None = None
    primary_metric: str | None = None  # when a mode reports a different headline than the suite's default
    usage: dict | None = None  # tokens the model under evaluation spent, when it generated
    inspect_logs: dict[str, Path] = field(default_factory=dict)  # label -> log an Inspect run wrote (Inspect suites)
    sample_text: dict[str, tuple[str, str]] = field(default_factory=dict)  # item id -> (prompt, target) for the log
    instrument: dict | None = None  # choice suites: the scorer used and its validity verdict (msm.eval.instrument)


@dataclass(frozen=True)
class Suite:
    name: str
    version: str
    description: str
    primary_metric: str
    primary_kinds: tuple[str, ...]
    # dataset: checks the settings and loads the items before any weights are loaded, so bad input fails fast
    dataset: Callable[[EvalSettings, dict | None], Dataset] = field(repr=False)
    run: Callable[[LoadedModel, Dataset, EvalSettings, ProgressFactory], SuiteOutput] = field(repr=False)
    # 'logprob': needs the weights in-process; 'generate': sampled responses, in-process or from an endpoint;
    # 'inspect': the suite hands the model to an Inspect run and loads nothing itself
    query: Callable[[EvalSettings], Literal["logprob", "generate", "inspect"]] = field(
        default=lambda _settings: "logprob", repr=False)


def select(items: Sequence, limit: int | None, seed: int) -> list:
    """A seeded subset in file order: the same seed and limit pick the same items for every model compared."""
    if limit is None or limit >= len(items):
        return list(items)
    if limit < 1:
        raise BadInput(f"--limit {limit}: must be at least 1")
    chosen = set(random.Random(seed).sample(range(len(items)), limit))
    return [item for index, item in enumerate(items) if index in chosen]


def metric(estimate, description: str = "", transform: Callable[[float], float] | None = None) -> Metric:
    """A bootstrap Estimate as a result Metric; NaN (no data) becomes None."""
    def clean(x: float) -> float | None:
        if x is None or (isinstance(x, float) and math.isnan(x)):
            return None
        return transform(x) if transform else x

    return Metric(value=clean(estimate.value), ci_low=clean(estimate.ci_low), ci_high=clean(estimate.ci_high),
                  n=estimate.n, description=description)


def choice_indicator(p_target: float) -> float:
    # exactly even counts half, so a perfectly undecided model sits at 0.5 rather than at 0 or 1
    if abs(p_target - 0.5) < 1e-9:
        return 0.5
    return 1.0 if p_target > 0.5 else 0.0


def items_file(settings: EvalSettings, default: str) -> Path:
    from msm.eval.items import shipped_path

    return Path(settings.items_path) if settings.items_path else shipped_path(default)
