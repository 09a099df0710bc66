"""One eval run from model name to result file: resolve and load the model, run the suite, write the result."""

from __future__ import annotations

import time
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

from msm import __version__
from msm.eval.results import EvalResult, slug, write_result
from msm.eval.suites import EvalSettings, LoadedModel, get_suite
from msm.input_files import load_json_object
from msm.workspace import Workspace

MAX_MANIFEST_BYTES = 16 * 1024 * 1024


@contextmanager
def _no_progress(_description: str, _total: int):
    yield lambda n=1, **_fields: None


def read_manifest(location: str) -> dict | None:
    """manifest.json beside a model msm trained; models without one (embedded, hub, foreign dirs) give None."""
    path = Path(location) / "manifest.json"
    if not path.exists() and not path.is_symlink():
        return None
    return load_json_object(path, what="model manifest", max_bytes=MAX_MANIFEST_BYTES)


def run_eval(model_name: str, suite_name: str, settings: EvalSettings, *, ws: Workspace, out_dir: Path,
             progress: Callable[[str, int], Any] = _no_progress, log: Callable[[str], None] = lambda m: None) -> tuple[EvalResult, Path]:
    from msm.models import load_causal_lm, resolve

    suite = get_suite(suite_name)
    resolved = resolve(model_name, ws)
    manifest = read_manifest(resolved.location) if resolved.source != "hub" else None
    started = time.monotonic()
    dataset = suite.dataset(settings, manifest)
    log(f"loading {model_name} ({resolved.source}: {resolved.location})")
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # msm draws its own bar; transformers' would garble --json stderr
    lm, tokenizer = load_causal_lm(resolved)
    output = suite.run(LoadedModel(lm, tokenizer), dataset, settings, progress)
    created = datetime.now(timezone.utc).replace(tzinfo=None)
    result = EvalResult(
        run_id=f"{suite.name}-{slug(model_name)}-s{settings.seed}-{created.strftime('%Y%m%dT%H%M%S%f')}",
        created_at=created, msm_version=__version__, suite=suite.name, suite_version=suite.version,
        data_files=dataset.data_files, model=resolved.describe(), model_manifest=manifest,
        settings=settings.public(), judge=output.judge, primary_metric=output.primary_metric or suite.primary_metric,
        primary_kinds=list(suite.primary_kinds), metrics=output.metrics, items=output.items,
        duration_s=round(time.monotonic() - started, 2))
    return result, write_result(result, out_dir)
