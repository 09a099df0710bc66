"""Document generation in batch rounds: the OpenAI Batch API, or JSONL files for `vllm run-batch`.

`BatchEngine` is the document walk (`engine.DocumentWalk`) run by the generic batch engine (`lmrun.rounds`): all
missing plans, then all document-type brainstorms, then all idea brainstorms, then every write and revise go out as
rounds of batches, with the same checks and records as the per-item engine. See `msm.corpus.lmrun.rounds` for the
batch log (`batches.jsonl`), resume of submitted batches and per-request retries.
"""

from __future__ import annotations

import time
from contextlib import AbstractContextManager
from typing import Any, Callable

from msm.corpus.generate.engine import DocumentWalk, sampling_for
from msm.lm.lenient_adapter import LenientAdapter
from msm.corpus.generate.program import SpecDocumentProgram
from msm.corpus.generate.settings import GenerationSettings
# split_requests and the per-file limits are this module's names too (tests and callers patch them here)
from msm.corpus.lmrun.rounds import MAX_BYTES_PER_FILE, MAX_REQUESTS_PER_FILE, BatchRounds, split_requests  # noqa: F401
from msm.corpus.lmrun.worklog import WorkLog
from msm.corpus.run_store import RunStore
from msm.progress import no_progress
from msm.spec import Spec


class BatchEngine(BatchRounds):
    """The document generator with every stage answered in batch rounds. `client` is an `openai.OpenAI` (None when
    only files are written or read)."""

    def __init__(self, store: RunStore, spec: Spec, program: SpecDocumentProgram, settings: GenerationSettings, *,
                 client: Any = None, poll_s: float = 30.0, max_failures: int | None = None,
                 max_cost_usd: float | None = None,
                 round_progress: Callable[[str, int], AbstractContextManager] = no_progress,
                 log: Callable[[str], None] = lambda _m: None, max_requests: int | None = None,
                 max_bytes: int | None = None, sleep: Callable[[float], None] = time.sleep):
        work_log = WorkLog(store, lm=settings.lm, max_failures=max_failures, max_cost_usd=max_cost_usd)
        # the opening goes into the request as text: a batch endpoint cannot continue a prefilled assistant turn
        adapter = LenientAdapter(plain_prompts=settings.profile == "weak", prefill_as_turn=False)
        super().__init__(DocumentWalk(work_log, spec, program, settings), work_log, adapter, sampling_for(settings),
                         client=client, poll_s=poll_s, round_progress=round_progress, log_line=log,
                         max_requests=max_requests or MAX_REQUESTS_PER_FILE, max_bytes=max_bytes or MAX_BYTES_PER_FILE,
                         sleep=sleep)
