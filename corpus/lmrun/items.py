"""The item engine: a walk's brainstorm questions answered level by level with `concurrency` calls in flight, then
every open item's calls, `concurrency` items at a time (an in-process model's batch size).

A pass ends when its items are done; the walk is then asked again what is open, which is how a walk with rounds
(the chat walk's backfill) gets its next round. A pass that recorded nothing new ends the run, so a walk that
cannot make progress never loops.
"""

from __future__ import annotations

from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from functools import partial
from typing import Any, Callable

from msm.corpus.lmrun.caller import LMCaller
from msm.corpus.lmrun.walk import Walk
from msm.corpus.lmrun.worklog import Totals, WorkLog
from msm.progress import no_advance


class ItemRunner:
    def __init__(self, walk: Walk, log: WorkLog, caller: LMCaller, *, concurrency: int,
                 on_progress: Callable[..., None] = no_advance):
        self.walk = walk
        self.log = log
        self.caller = caller
        self.concurrency = concurrency
        self.on_progress = on_progress

    @property
    def totals(self) -> Totals:
        return self.log.totals

    def run(self) -> Totals:
        finished, wanted = self.walk.progress()
        self.on_progress(finished, **self.log.status())
        if finished >= wanted:
            return self.totals
        self.log.check_budget()
        with ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix="generate") as pool:
            ask_many = lambda asks: list(pool.map(partial(self.caller.answer, self.walk.program), asks))  # noqa: E731
            while True:
                before = self._recorded()
                opened = self.walk.open_work(ask_many)
                if not opened.jobs:
                    break
                self._run_jobs(pool, opened.jobs)
                if self._recorded() == before:
                    break
        return self.totals

    def _recorded(self) -> tuple[int, int, int]:
        t = self.totals
        return t.calls, t.done, t.failed

    def _run_jobs(self, pool: ThreadPoolExecutor, jobs: list[Any]) -> None:
        futures: dict[Future, Any] = {}
        queue = list(jobs)
        stop = False
        while queue or futures:
            while queue and not stop and not self.log.over_budget() and len(futures) < self.concurrency:
                futures[pool.submit(self.walk.run_job, queue.pop(0), self.caller.call)] = None
            if not futures:
                break
            finished, _ = wait(list(futures), return_when=FIRST_COMPLETED)
            for fut in finished:
                futures.pop(fut)
                advanced = fut.result()  # a bug in a job should surface, not vanish
                self.on_progress(advanced, **self.log.status())
                if self.log.over_failure_limit():
                    stop = True
        if stop:
            self.log.check_failures()
        if queue:  # items left unstarted: the cost budget ran out
            self.log.check_budget()
