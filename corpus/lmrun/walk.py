"""What a kind of run (documents, chats) gives the two engines: its brainstorm questions, its open items, and the
calls an open item needs next.

A walk is recomputed from the run's records every time an engine asks what is open, so a resumed process, a batch
round and an item-by-item run all see the same open work. Its brainstorm questions (`StageAsk`) go through
`ask_many`: the item engine answers them by calling the LM (then caches them), the batch engine answers from the
cache only and gets None for the open ones, which become the next round's requests.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Protocol, Sequence

import dspy

from msm.corpus.records import StageRecord


@dataclass(frozen=True)
class StageAsk:
    """One brainstorm question of a walk: which predictor of the program, and the key its answer is cached under."""

    predictor: str  # attribute of the walk's program
    stage: str      # the stage its answer is cached and accounted under
    key: str
    inputs: dict[str, Any] = field(hash=False, compare=False)


AskMany = Callable[[list[StageAsk]], list[StageRecord | None]]


@dataclass
class PendingCall:
    """One call an open item needs next, and what to do with its answer: `apply(outcome, batch id or source)` records
    a finished item, a kept intermediate answer or a failure. The item engine makes the call at once; the batch
    engine sends it as a request (`custom_id` = `stage|key`) and applies the answer when its batch comes back."""

    predictor: dspy.Predict
    stage: str
    key: str    # unique among the run's calls of this stage
    item: str   # the item calls.jsonl names
    rollout: str
    inputs: dict[str, Any]
    prefill: str | None
    apply: Callable[[Any, str | None], None]


@dataclass
class Open:
    """What a walk found open: brainstorm questions still unanswered (`missing`) and items ready for their own
    calls (`jobs`). Both empty: the run is finished (or can make no more progress)."""

    jobs: list[Any] = field(default_factory=list)
    missing: list[StageAsk] = field(default_factory=list)


class Walk(Protocol):
    """A kind of run as the engines see it."""

    program: dspy.Module
    stage_order: tuple[str, ...]  # the order a batch round's request files are written in

    def progress(self) -> tuple[int, int]:
        """(items finished, items wanted) from the run's records."""

    def open_work(self, ask_many: AskMany) -> Open:
        """What is open now."""

    def run_job(self, job: Any, call: Callable[..., Any]) -> int:
        """Item engine: all of a job's calls, one after another (`call` = `LMCaller.call`); the progress it made."""

    def job_calls(self, job: Any) -> Sequence[PendingCall]:
        """Batch engine: the job's next calls (empty when the job finished without one)."""
