"""The settings every LM run takes (`msm generate`, `msm aft generate`): the request timeout and the Batch API round
trip. One record (`LmRunSettings`), which the generate request extends and both commands take their options from, so
both spell and document them alike."""

from __future__ import annotations

from typing import Callable

from msm.settings import StageSettings, option, settings_options


class LmRunSettings(StageSettings):
    request_timeout: float = option("--request-timeout", default=120.0, ge=1, show_default=True,
                                    help="Seconds before an API call counts as timed out (and is retried). A timeout "
                                         "with other calls in flight halves how many are in flight; one with no other "
                                         "call in flight doubles this for the retry and later calls, up to 8x (the "
                                         "endpoint is slow, not queued).")
    batch: bool = option("--batch", default=False,
                         help="Run each stage as rounds of OpenAI Batch API requests (half price, up to 24 h a round); "
                              "batch ids are kept with the run, so a killed run resumes them instead of submitting "
                              "again.")
    batch_file_only: str | None = option("--batch-file-only", path={"file_okay": False},
                                         help="Write the next round's requests as batch JSONL files into this "
                                              "directory (for `vllm run-batch`) and stop.")
    ingest_outputs: tuple[str, ...] = option("--ingest-batch-output", default=(),
                                             path={"exists": True, "dir_okay": False},
                                             help="Read a batch output file (OpenAI or `vllm run-batch` format) into "
                                                  "the run first; repeatable.")
    poll_interval: float = option("--poll-interval", default=30.0, ge=0.01, show_default=True,
                                  help="Seconds between status checks of running batches (--batch).")


def lm_run_options(command: Callable) -> Callable:
    return settings_options(LmRunSettings)(command)
