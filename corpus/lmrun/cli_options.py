"""Command-line options every LM run takes (`msm generate`, `msm aft generate`): the request timeout and the
Batch API round trip. One definition, so both commands spell and document them alike."""

from __future__ import annotations

from typing import Callable

import click

LM_RUN_OPTIONS = (
    click.option("--request-timeout", type=click.FloatRange(min=1), default=120.0, show_default=True,
                 help="Seconds before an API call counts as timed out (and is retried). A timeout with other calls in "
                      "flight halves how many are in flight; one with no other call in flight doubles this for the "
                      "retry and later calls, up to 8x (the endpoint is slow, not queued)."),
    click.option("--batch", "batch", is_flag=True,
                 help="Run each stage as rounds of OpenAI Batch API requests (half price, up to 24 h a round); batch "
                      "ids are kept with the run, so a killed run resumes them instead of submitting again."),
    click.option("--batch-file-only", "batch_file_only", type=click.Path(file_okay=False), default=None,
                 help="Write the next round's requests as batch JSONL files into this directory (for `vllm "
                      "run-batch`) and stop."),
    click.option("--ingest-batch-output", "ingest_outputs", type=click.Path(exists=True, dir_okay=False),
                 multiple=True,
                 help="Read a batch output file (OpenAI or `vllm run-batch` format) into the run first; repeatable."),
    click.option("--poll-interval", type=click.FloatRange(min=0.01), default=30.0, show_default=True,
                 help="Seconds between status checks of running batches (--batch)."),
)


def lm_run_options(command: Callable) -> Callable:
    for option in reversed(LM_RUN_OPTIONS):
        command = option(command)
    return command
