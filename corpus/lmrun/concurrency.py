"""Concurrency that adapts to what a served endpoint sustains (AIMD, as TCP does for its window).

A run starts with `--concurrency` calls in flight. A one-request-at-a-time server (`transformers serve`, a laptop's
Ollama) queues the rest, and every queued call waits out its `--request-timeout` instead of failing fast: measured in
issue 30, the default 8 in flight against the served embedded model timed out after 120 s while nothing said why.
So a timeout halves the limit (multiplicative decrease), and each `limit` successful calls in a row add one back
(additive increase), up to the requested concurrency. Timeouts of calls that were already in flight when the limit
last dropped are one congestion event, not several: only a call started after the last decrease halves it again.
Every change is kept (`changes`) and reported with the run's result.

When the call that timed out was the only one in flight, there is no queue left to shorten: the endpoint itself
needs longer than `--request-timeout` for one answer (the strong profile's 600-token plans, 2,000-token brainstorms
and 5,000-token documents from the served 135M model on two loaded CPU cores: measured under 5 tokens/s, so even
one plan outlived 120 s and 240 s). Then the timeout doubles, up to `MAX_TIMEOUT_FACTOR` x the requested one, for
that call's retry and every later call — a slow but working server finishes instead of timing out forever.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field


@dataclass
class ConcurrencyChange:
    at_s: float  # seconds since the run started
    limit: int
    why: str  # "timeout" | "recovered"


MAX_TIMEOUT_FACTOR = 8


@dataclass
class AdaptiveConcurrency:
    requested: int
    adaptive: bool = True  # off for in-process models: there the concurrency is a batch size, not a queue
    requested_timeout_s: float | None = None
    timeout_s: float | None = None  # the timeout calls start with now
    limit: int = 0
    lowest: int = 0
    changes: list[ConcurrencyChange] = field(default_factory=list)
    _successes: int = 0  # in a row since the limit last changed
    in_flight: int = 0
    _last_decrease: float = float("-inf")
    _started: float = field(default_factory=time.monotonic)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.limit = self.lowest = self.requested
        self.timeout_s = self.requested_timeout_s

    def begin(self) -> int:
        """A call starts; returns how many are in flight with it (itself included)."""
        with self._lock:
            self.in_flight += 1
            return self.in_flight

    def end(self) -> None:
        with self._lock:
            self.in_flight = max(0, self.in_flight - 1)

    def on_timeout(self, call_started: float, timeout_s: float | None = None, alone: bool = False) -> None:
        """A call that started at `call_started` (time.monotonic), with `timeout_s`, timed out; `alone`: it was the
        only call in flight the whole time it waited."""
        if not self.adaptive:
            return
        with self._lock:
            if (alone or self.limit == 1) and timeout_s is not None and self.requested_timeout_s is not None:
                longer = min(timeout_s * 2, self.requested_timeout_s * MAX_TIMEOUT_FACTOR)
                if longer > (self.timeout_s or 0):
                    self.timeout_s = longer
                    self.changes.append(ConcurrencyChange(round(time.monotonic() - self._started, 1), self.limit,
                                                          f"timeout with 1 in flight: calls now wait {longer:g} s"))
                return
            if call_started < self._last_decrease:
                return
            self.limit = max(1, self.limit // 2)
            self.lowest = min(self.lowest, self.limit)
            self._successes = 0
            self._last_decrease = time.monotonic()
            self.changes.append(ConcurrencyChange(round(self._last_decrease - self._started, 1), self.limit, "timeout"))

    def on_success(self) -> None:
        if not self.adaptive:
            return
        with self._lock:
            if self.limit >= self.requested:
                return
            self._successes += 1
            if self._successes >= self.limit:
                self._successes = 0
                self.limit += 1
                self.changes.append(ConcurrencyChange(round(time.monotonic() - self._started, 1), self.limit,
                                                      "recovered"))

    def summary(self) -> dict:
        return {"requested": self.requested, "final": self.limit, "lowest": self.lowest, "adaptive": self.adaptive,
                "request_timeout_s": self.requested_timeout_s, "final_timeout_s": self.timeout_s,
                "changes": [c.__dict__ for c in self.changes[-20:]]}
