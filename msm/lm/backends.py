"""Turn `--lm` / `--api-base` into a DSPy LM, and decide which failures of an LM call are worth retrying.

    local:smollm2-135m, a model directory, a workspace model  →  LocalTransformersLM (in-process, batched)
    anything else (openai/…, anthropic/…, ollama_chat/…)       →  dspy.LM through LiteLLM

LiteLLM's own retries are switched off (`num_retries=0`): the run retries each call itself, so that backoff,
jitter, Retry-After and the count of retries are the same for every provider and visible in the run's accounting.
DSPy's per-answer price lookup is memoized (`_memoize_price_lookups`): it was a quarter of the client's CPU per
call for models its table does not list (benchmarks/bench_api_concurrency.py).
"""

from __future__ import annotations

import copy
import functools
import os
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dspy

from msm.errors import BadInput
from msm.workspace import Workspace


@dataclass
class Backend:
    lm: dspy.BaseLM
    name: str  # what the user passed, recorded in provenance
    local: bool  # in-process model: concurrency means batch size, no network errors
    timeout_s: float | None = None  # --request-timeout of an API model (named in timeout errors)

    @property
    def weak_by_default(self) -> bool:
        """Local models here are small; they get plain prompts, lenient parsing and no revise stage."""
        return self.local


def is_local_name(name: str, ws: Workspace | None) -> bool:
    if name.startswith("local:") or Path(name).is_dir():
        return True
    return bool(ws is not None and "/" not in name and ":" not in name and ws.model_dir(name).is_dir())


def build_backend(name: str, *, ws: Workspace | None, api_base: str | None = None, api_key: str | None = None,
                  max_tokens: int = 1024, temperature: float = 0.9, timeout_s: float = 120.0,
                  batch_size: int = 16, cache: bool = True, frequency_penalty: float | None = None,
                  int8: bool | None = None) -> Backend:
    if not name or not name.strip():
        raise BadInput("--lm: empty model name")
    if is_local_name(name, ws):
        if api_base:
            raise BadInput(f"--api-base {api_base}: only for API models, not the local model {name!r}")
        from msm import models
        from msm.lm.local import LocalTransformersLM

        resolved = models.resolve(name, ws)
        if resolved.source == "hub":
            raise BadInput(f"--lm {name}: hub models are not local; pull them into a directory first")
        from msm.lm.local import int8_default

        lm = LocalTransformersLM(name, resolved.location, batch_size=batch_size, temperature=temperature,
                                 max_tokens=max_tokens, int8=int8_default() if int8 is None else int8)
        return Backend(lm=lm, name=name, local=True)
    if "/" not in name:
        raise BadInput(f"--lm {name!r}: not a local model and not a provider/model string such as openai/gpt-4.1-mini")
    extra: dict[str, Any] = {}
    if api_base:
        if not api_base.startswith(("http://", "https://")):
            raise BadInput(f"--api-base {api_base!r}: expected an http(s):// URL")
        extra["api_base"] = api_base
        # OpenAI-compatible local servers accept any key; LiteLLM insists on one being set
        extra["api_key"] = api_key or os.environ.get("OPENAI_API_KEY") or "not-needed"
    elif api_key:
        extra["api_key"] = api_key
    if frequency_penalty is not None:
        extra["frequency_penalty"] = frequency_penalty
    _memoize_price_lookups()
    lm = dspy.LM(name, temperature=temperature, max_tokens=max_tokens, num_retries=0, timeout=timeout_s, cache=cache,
                **extra)
    return Backend(lm=lm, name=name, local=False, timeout_s=timeout_s)


def companion_lm(name: str | None, *, task: Backend, task_name: str, task_weak: bool, ws: Workspace | None,
                 api_base: str | None, batch_size: int, max_tokens: int, temperature: float) -> tuple[dspy.BaseLM, bool]:
    """The LM of an optimizer's judge or reflector, and whether it is weak (plain prompts): a copy of the task LM at
    these settings when `name` is unset or names the task LM (one local model in memory, not two), else a backend of
    its own — an API model shares the task's `api_base`, a local one never takes it. Shared by the document and the
    chat optimizer, so both resolve `--judge-lm` / `--reflection-lm` the same way."""
    if not name or name == task_name:
        return task.lm.copy(temperature=temperature, max_tokens=max_tokens), task_weak
    other = build_backend(name, ws=ws, api_base=None if is_local_name(name, ws) else api_base, max_tokens=max_tokens,
                          temperature=temperature, batch_size=batch_size, api_key=os.environ.get("MSM_API_KEY"))
    return other.lm, other.local


def _memoize_price_lookups() -> None:
    """DSPy prices every answer from its bundled model metadata, and for a model it does not list (a served
    `openai/<name>`, vLLM, a proxy) `model_info` scans the whole table twice per call: 0.7 ms of CPU measured
    here, a quarter of msm's per-call cost, and under the GIL it delays every other call in flight. The
    table is fixed once loaded, so each (provider, model, namespaces) is looked up once; callers still get their
    own copy, as from the original."""
    from dspy.clients import costs

    original = costs.model_info
    if getattr(original, "msm_memoized", False):
        return

    @functools.lru_cache(maxsize=1024)
    def lookup(provider: str, model: str, namespaces: tuple | None) -> dict:
        return original(provider, model, namespaces=namespaces)

    def model_info(provider, model, *, namespaces=None):
        key = tuple(namespaces) if namespaces is not None else None
        try:
            return copy.deepcopy(lookup(provider, model, key))
        except TypeError:                      # an unhashable argument: no memo
            return original(provider, model, namespaces=namespaces)

    model_info.msm_memoized = True
    costs.model_info = model_info


# ---- retry policy -------------------------------------------------------------------------------------------
TRANSIENT_STATUS = {408, 409, 425, 429, 500, 502, 503, 504, 529}


def status_code(exc: BaseException) -> int | None:
    for attr in ("status_code", "status", "code"):
        value = getattr(exc, attr, None)
        if isinstance(value, int):
            return value
    response = getattr(exc, "response", None)
    value = getattr(response, "status_code", None)
    return value if isinstance(value, int) else None


def is_transient(exc: BaseException) -> bool:
    """429, 5xx, timeouts, dropped connections and malformed server responses are worth another try;
    4xx like 400/401/404 (bad request, bad key, unknown model) are not."""
    from dspy.utils.exceptions import is_retryable_lm_error

    if is_retryable_lm_error(exc):  # DSPy's own classification of its engine errors (rate limit, 5xx, transport)
        return True
    code = status_code(exc)
    if code is not None:
        # a 2xx/3xx that still failed is a malformed answer (a proxy's HTML page, truncated JSON): worth another try
        return code in TRANSIENT_STATUS or code >= 500 or code < 400
    name = type(exc).__name__.lower()
    if any(word in name for word in ("timeout", "connection", "ratelimit", "serviceunavailable", "internalserver",
                                     "apierror", "jsondecode", "remoteprotocol", "readerror")):
        return True
    text = str(exc).lower()
    return any(word in text for word in ("timed out", "timeout", "connection", "rate limit", "429", "502", "503",
                                         "504", "500", "expecting value", "invalid json", "bad gateway"))


def is_timeout(exc: BaseException) -> bool:
    """A call that got no answer within the request timeout (httpx/openai/LiteLLM each name it their own way)."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if "timeout" in type(exc).__name__.lower() or "timed out" in str(exc).lower():
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def retry_after_s(exc: BaseException) -> float | None:
    """Seconds from a Retry-After header (delta-seconds form), if the provider sent one."""
    given = getattr(exc, "retry_after", None)  # DSPy's provider errors carry it parsed
    if isinstance(given, (int, float)) and not isinstance(given, bool):
        return max(0.0, float(given))
    response = getattr(exc, "response", None)
    headers = getattr(response, "headers", None) or getattr(exc, "headers", None)
    if not headers:
        return None
    try:
        value = headers.get("retry-after") or headers.get("Retry-After")
    except AttributeError:
        return None
    try:
        return max(0.0, float(value)) if value is not None else None
    except (TypeError, ValueError):
        return None


def backoff_s(attempt: int, *, base: float, cap: float, rng: random.Random) -> float:
    """Exponential backoff with full jitter (attempt 0 is the first retry)."""
    return rng.uniform(0, min(cap, base * (2 ** attempt)))
