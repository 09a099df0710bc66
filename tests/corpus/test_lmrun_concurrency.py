"""Adaptive concurrency (AIMD) and the progress bar's stage and counts, in isolation."""

from __future__ import annotations

import io
import time

from rich.console import Console

from msm.corpus.lmrun.concurrency import MAX_TIMEOUT_FACTOR, AdaptiveConcurrency


def test_a_timeout_halves_the_limit_once_per_congestion_event_and_successes_grow_it_back():
    limiter = AdaptiveConcurrency(8, requested_timeout_s=120.0)
    started = time.monotonic()
    limiter.on_timeout(started)
    assert limiter.limit == 4
    limiter.on_timeout(started)          # a call that was in flight with it: the same event
    assert limiter.limit == 4
    limiter.on_timeout(time.monotonic())  # started after the decrease: the endpoint still cannot keep up
    assert limiter.limit == 2 and limiter.lowest == 2
    for _ in range(2):                    # one step back per `limit` successes
        limiter.on_success()
    assert limiter.limit == 3
    for _ in range(3 + 4 + 5 + 6 + 7 + 10):
        limiter.on_success()
    assert limiter.limit == 8            # never above what was asked for
    assert [c.why for c in limiter.changes].count("timeout") == 2


def test_at_one_in_flight_a_timeout_lengthens_the_timeout_up_to_a_bound():
    limiter = AdaptiveConcurrency(1, requested_timeout_s=10.0)
    for _ in range(10):
        limiter.on_timeout(time.monotonic(), limiter.timeout_s)
    assert limiter.limit == 1 and limiter.timeout_s == 10.0 * MAX_TIMEOUT_FACTOR
    assert limiter.summary()["final_timeout_s"] == 80.0


def test_in_process_models_do_not_adapt():
    limiter = AdaptiveConcurrency(32, adaptive=False, requested_timeout_s=None)
    limiter.on_timeout(time.monotonic())
    assert limiter.limit == 32 and not limiter.changes


def test_progress_bar_names_the_stage_and_wraps_counts_in_a_narrow_terminal():
    from msm.cli_support import progress_bar

    out = io.StringIO()
    console = Console(file=out, width=50, force_terminal=True, color_system=None)
    with progress_bar("generate candor", 8, console=console) as advance:
        advance(3, stage="write", ok=3, fail=1, timeouts=2, retries=4, calls=42, tok=12345, in_flight="2/8")
    final = out.getvalue().split("\x1b[2K")[-1]   # the last frame rich drew
    text = " ".join(final.split())
    assert "write" in text and "3/8" in text
    for count in ("ok=3", "fail=1", "timeouts=2", "retries=4", "calls=42", "tok=12345", "in_flight=2/8"):
        assert count in text, (count, final)
    assert all(len(line) <= 50 for line in final.splitlines())


def test_a_call_that_timed_out_alone_lengthens_the_timeout_at_once():
    limiter = AdaptiveConcurrency(8, requested_timeout_s=120.0)
    assert limiter.begin() == 1
    limiter.on_timeout(time.monotonic(), 120.0, alone=True)   # no queue to blame: the endpoint is just slow
    limiter.end()
    assert limiter.limit == 8 and limiter.timeout_s == 240.0
