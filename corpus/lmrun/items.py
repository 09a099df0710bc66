"""The item engine: a walk's brainstorm questions answered level by level with `concurrency` calls in flight, then
every open item's calls, `concurrency` items at a time (an in-process model's batch size).

A pass ends when its items are done; the walk is then asked again what is open, which is how a walk with rounds
(the chat walk's backfill) gets its next round. A pass that recorded nothing new ends the run, so a walk that
cannot make progress never loops.

How many calls are in flight adapts for API models (`concurrency.AdaptiveConcurrency`: halved on a timeout, grown
back on success). Ctrl-C stops the run at once: no new call starts (`WorkLog.stop`), queued work is cancelled, the
pool is not waited for (a running HTTP call may take its whole request timeout), and `RunInterrupted` says how many
records were kept and that a rerun resumes.
"""

from __future__ import annotations

from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from functools import partial
from typing import Any, Callable

from msm.corpus.lmrun.caller import LMCaller
from msm.corpus.lmrun.concurrency import AdaptiveConcurrency
from msm.corpus.lmrun.walk import StageAsk, Walk
from msm.corpus.lmrun.worklog import RunStopped, Totals, WorkLog
from msm.progress import no_advance


class ItemRunner:
    def __init__(self, walk: Walk, log: WorkLog, caller: LMCaller, *, concurrency: int,
                 on_progress: Callable[..., None] = no_advance):
        self.walk = walk
        self.log = log
        self.caller = caller
        self.concurrency = concurrency
        self.on_progress = on_progress
        # an in-process model batches its items: its concurrency is a batch size and never times out
        log.concurrency = AdaptiveConcurrency(concurrency, adaptive=not getattr(caller.backend, "local", True),
                                              requested_timeout_s=getattr(caller.backend, "timeout_s", None))

    @property
    def totals(self) -> Totals:
        return self.log.totals

    def run(self) -> Totals:
        finished, wanted = self.walk.progress()
        self.on_progress(finished, **self.log.status())
        if finished >= wanted:
            return self.totals
        self.log.check_budget()
        pool = ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix="generate")
        try:
            while True:
                before = self._recorded()
                opened = self.walk.open_work(partial(self._ask_many, pool))
                if not opened.jobs:
                    break
                self.log.stage = "write"
                self._run_jobs(pool, opened.jobs)
                if self._recorded() == before:
                    break
        except KeyboardInterrupt:
            self.log.stop.set()
            pool.shutdown(wait=False, cancel_futures=True)
            raise self.log.interrupted() from None
        pool.shutdown(wait=True)
        self._record_concurrency()
        return self.totals

    def _record_concurrency(self) -> None:
        """runs/<name>/concurrency.jsonl: one line per process that had to adapt (what it asked for, how low it
        went, the timeout it ended with, and when it changed), so a rerun's user can pick better settings."""
        limiter = self.log.concurrency
        if limiter.adaptive and limiter.changes:
            from msm.atomic import append_jsonl
            from msm.workspace import utc_now

            append_jsonl(self.log.store.dir / "concurrency.jsonl", [{"at": utc_now().isoformat(), **limiter.summary()}])

    def _ask_many(self, pool: ThreadPoolExecutor, asks: list[StageAsk]) -> list:
        """Brainstorm answers in the asks' order, at most the current concurrency limit in flight, the stage and
        its count on the progress bar."""
        results: list = [None] * len(asks)
        futures: dict[Future, int] = {}
        queue = list(enumerate(asks))
        done = 0
        stage = asks[0].stage if asks else ""
        while queue or futures:
            while queue and len(futures) < self.log.concurrency.limit:
                index, ask = queue.pop(0)
                futures[pool.submit(self.caller.answer, self.walk.program, ask)] = index
            finished, _ = wait(list(futures), return_when=FIRST_COMPLETED)
            for fut in finished:
                results[futures.pop(fut)] = fut.result()
                done += 1
            self.log.stage = f"{stage} {done}/{len(asks)}"
            self.on_progress(0, **self.log.status())
        return results

    def _recorded(self) -> tuple[int, int, int]:
        t = self.totals
        return t.calls, t.done, t.failed

    def _run_jobs(self, pool: ThreadPoolExecutor, jobs: list[Any]) -> None:
        futures: dict[Future, Any] = {}
        queue = list(jobs)
        stop = False
        while queue or futures:
            while (queue and not stop and not self.log.over_budget()
                   and len(futures) < self.log.concurrency.limit):
                futures[pool.submit(self.walk.run_job, queue.pop(0), self.caller.call)] = None
            if not futures:
                break
            finished, _ = wait(list(futures), return_when=FIRST_COMPLETED)
            for fut in finished:
                futures.pop(fut)
                try:
                    advanced = fut.result()  # a bug in a job should surface, not vanish
                except RunStopped:
                    continue
                self.on_progress(advanced, **self.log.status())
                if self.log.over_failure_limit():
                    stop = True
        if stop:
            self.log.check_failures()
        if queue:  # items left unstarted: the cost budget ran out
            self.log.check_budget()
