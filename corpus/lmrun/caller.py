"""One LM call of a run, as the item engine makes it: the run's adapter and sampling settings, an optional assistant
prefill, retries with backoff (honouring Retry-After) on transient provider errors, and every attempt accounted in
the run's `calls.jsonl`. A call never raises for a provider or parse error: it returns a `CallOutcome`."""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

import dspy
from dspy.utils.exceptions import AdapterParseError

from msm.lm.backends import Backend, backoff_s, is_timeout, is_transient, retry_after_s
from msm.lm.lenient_adapter import LenientAdapter
from msm.corpus.lmrun.walk import StageAsk
from msm.corpus.lmrun.worklog import WorkLog
from msm.corpus.records import StageRecord
from msm.errors import first_line


@dataclass
class CallOutcome:
    ok: bool
    values: dict[str, Any] = field(default_factory=dict)
    raw: str | None = None
    reason: str | None = None
    parse_mode: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: float = 0.0
    finish_reason: str | None = None


@dataclass(frozen=True)
class Sampling:
    """How a run samples, per stage: what both engines send (the item engine to the LM, the batch engine in each
    request body)."""

    lm: str
    temperature: float
    max_tokens: Mapping[str, int]
    temperatures: Mapping[str, float] = field(default_factory=dict)  # stages that sample otherwise (a judge)
    max_retries: int = 5

    def for_stage(self, stage: str) -> tuple[float, int]:
        return self.temperatures.get(stage, self.temperature), self.max_tokens[stage]


class LMCaller:
    def __init__(self, log: WorkLog, backend: Backend, adapter: LenientAdapter, sampling: Sampling, *, seed: int = 0,
                 sleep: Callable[[float], None] = time.sleep):
        self.log = log
        self.backend = backend
        self.adapter = adapter
        self.sampling = sampling
        self.sleep = sleep
        self.rng = random.Random(seed)

    def call(self, predictor: dspy.Predict, *, stage: str, item: str, rollout: str, prefill: str | None = None,
             **inputs: Any) -> CallOutcome:
        temperature, max_tokens = self.sampling.for_stage(stage)
        lm = self.backend.lm.copy(rollout_id=rollout, temperature=temperature, max_tokens=max_tokens)
        for retry in range(self.sampling.max_retries + 1):
            self.log.check_stop()  # Ctrl-C: no new call (raises RunStopped; the item stays open)
            timeout_s = self.log.concurrency.timeout_s
            if timeout_s is not None and timeout_s != lm.kwargs.get("timeout", timeout_s):
                lm = lm.copy(timeout=timeout_s)  # the endpoint needed longer (concurrency.AdaptiveConcurrency)
            before = len(lm.history)
            started = time.monotonic()
            with_others = self.log.concurrency.begin()
            try:
                self.adapter.set_prefill(prefill)
                with dspy.context(lm=lm, adapter=self.adapter):
                    prediction = predictor(**inputs)
                outcome = CallOutcome(ok=True, values=dict(prediction.items()), parse_mode=self.adapter.last_parse_mode)
            except AdapterParseError as exc:
                outcome = CallOutcome(ok=False, raw=str(exc.lm_response or ""), reason="unparseable answer")
            except Exception as exc:  # provider errors arrive as many LiteLLM/httpx/openai types
                transient = is_transient(exc)
                reason = f"{type(exc).__name__}: {first_line(exc, 300)}"
                if is_timeout(exc):
                    # the user's knob, not the HTTP client's internal `Timeouts(read=...)`
                    limit = timeout_s or getattr(self.backend, "timeout_s", None)
                    asked = getattr(self.backend, "timeout_s", None)
                    within = (f"--request-timeout {limit:g} s" if limit == asked
                              else f"{limit:g} s (--request-timeout {asked:g} s, lengthened for this endpoint)")
                    reason = (f"timed out: no answer within {within} ({type(exc).__name__}); a slow or "
                              f"one-request-at-a-time server needs a larger --request-timeout or a smaller "
                              f"--concurrency" if limit else f"timed out ({type(exc).__name__})")
                    self.log.count_timeout(started, limit,
                                           alone=with_others == 1 and self.log.concurrency.in_flight == 1)
                self.log.log_call(stage, item, rollout, None, time.monotonic() - started, error=reason)
                if transient and retry < self.sampling.max_retries:
                    self.log.count_retry()
                    wait_s = retry_after_s(exc)
                    self.sleep(wait_s if wait_s is not None else backoff_s(retry, base=0.5, cap=30.0, rng=self.rng))
                    continue
                return CallOutcome(ok=False, reason=("gave up after retries: " if transient else "") + reason)
            finally:
                self.adapter.set_prefill(None)
                self.log.concurrency.end()
            self.log.concurrency.on_success()
            for entry in lm.history[before:]:
                _account(outcome, entry)
                self.log.log_call(stage, item, rollout, entry, time.monotonic() - started)
            if outcome.raw is None and lm.history[before:]:
                outcome.raw = _entry_text(lm.history[-1])
            return outcome
        raise AssertionError("unreachable")  # the loop returns on its last iteration

    def answer(self, program: dspy.Module, ask: StageAsk) -> StageRecord:
        """A brainstorm answer from the run's cache, or from the LM (then cached, append-only)."""
        cached = self.log.cached(ask)
        if cached is not None:
            return cached
        outcome = self.call(getattr(program, ask.predictor), stage=ask.stage, item=ask.key,
                            rollout=f"{ask.stage}:{ask.key}", **ask.inputs)
        return self.log.record_stage(ask.stage, ask.key, outcome)


def _account(outcome: CallOutcome, entry: dict) -> None:
    usage = entry.get("usage") or {}
    outcome.prompt_tokens += int(usage.get("prompt_tokens") or 0)
    outcome.completion_tokens += int(usage.get("completion_tokens") or 0)
    outcome.cost += float(entry.get("cost") or 0.0)
    outcome.finish_reason = _finish_reason(entry.get("response"))


def _entry_text(entry: dict) -> str | None:
    outputs = entry.get("outputs") or []
    if not outputs:
        return None
    first = outputs[0]
    return first.get("text") if isinstance(first, dict) else str(first)


def _finish_reason(response: Any) -> str | None:
    if isinstance(getattr(response, "finish_reason", None), str):  # DSPy's own normalized Response
        return response.finish_reason
    choices = getattr(response, "choices", None)
    if choices is None and isinstance(response, dict):
        choices = response.get("choices")
    if not choices:
        return None
    first = choices[0]
    return getattr(first, "finish_reason", None) or (first.get("finish_reason") if isinstance(first, dict) else None)
