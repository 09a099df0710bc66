"""One eval run from model name to result files: resolve the model, load it only when the suite needs the weights
in-process, run the suite, and write `<run_id>.items.parquet`, the Inspect log(s) and — last — `<run_id>.json`."""

from __future__ import annotations

import shutil
import time
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

from msm import __version__
from msm.errors import BadInput
from msm.eval.results import EvalResult, slug, write_result
from msm.eval.suite_base import EvalSettings, LoadedModel
from msm.eval.suites import get_suite
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


def _served_model(name: str, api_base: str) -> tuple[dict, dict | None]:
    """A model at an endpoint: `name` is the id the server serves. transformers serve names a model by its directory,
    so when that directory is here its manifest is read too."""
    path = Path(name)
    manifest = read_manifest(str(path)) if path.is_dir() else None
    return {"name": name, "source": "endpoint", "location": api_base}, manifest


def _inspect_available() -> bool:
    from msm.cli_support import module_available

    return module_available("inspect_ai")


def _tag_clauses(rows: list, items: list) -> None:
    """Copy each item's `clauses` onto its score row (suites that set them themselves, e.g. spec_knowledge, win)."""
    named = {getattr(i, "id", None): list(getattr(i, "clauses", None) or []) for i in items}
    for row in rows:
        if not row.clauses and named.get(row.item_id):
            row.clauses = named[row.item_id]


def run_eval(model_name: str, suite_name: str, settings: EvalSettings, *, ws: Workspace, out_dir: Path,
             progress: Callable[[str, int], Any] = _no_progress,
             log: Callable[[str], None] = lambda m: None) -> tuple[EvalResult, Path]:
    from msm.models import load_causal_lm, resolve

    suite = get_suite(suite_name)
    query = suite.query(settings)
    if query == "inspect":
        from msm.cli_support import require_extra

        require_extra("inspect", f"`msm eval --suite {suite.name}`", "inspect_ai", "inspect_evals")
    if settings.model_api_base and query == "logprob":
        raise BadInput(f"--model-api-base: {suite.name} scores log-probabilities of the weights in-process; an endpoint "
                       "serves only generated text (use --mode generate where the suite has it)")
    if settings.model_api_base:
        described, manifest = _served_model(model_name, settings.model_api_base)
        location = model_name if Path(model_name).is_dir() else None
    else:
        resolved = resolve(model_name, ws)
        if query == "inspect" and resolved.source == "hub":
            raise BadInput(f"--model {model_name}: pull hub models into a directory first (Inspect loads a directory)")
        described, location = resolved.describe(), resolved.location
        manifest = read_manifest(resolved.location) if resolved.source != "hub" else None
    settings.workspace = ws
    started = time.monotonic()
    dataset = suite.dataset(settings, manifest)
    created = datetime.now(timezone.utc).replace(tzinfo=None)
    run_id = f"{suite.name}-{slug(model_name)}-s{settings.seed}-{created.strftime('%Y%m%dT%H%M%S%f')}"
    out_dir = Path(out_dir)
    model = LoadedModel(None, None, name=model_name, location=location, api_base=settings.model_api_base)
    if query == "inspect":
        model.log_dir = out_dir / f".{run_id}.inspect"  # Inspect writes here; the logs move beside the JSON at the end
    elif not settings.model_api_base:
        log(f"loading {model_name} ({resolved.source}: {resolved.location})")
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # msm draws its own bar; transformers' would garble --json stderr
        model.lm, model.tokenizer = load_causal_lm(resolved)
    output = suite.run(model, dataset, settings, progress)
    _tag_clauses(output.items, dataset.items)
    result = EvalResult(
        run_id=run_id, created_at=created, msm_version=__version__, suite=suite.name, suite_version=suite.version,
        data_files=dataset.data_files, model=described, model_manifest=manifest,
        settings=settings.public(), judge=output.judge, primary_metric=output.primary_metric or suite.primary_metric,
        primary_kinds=list(suite.primary_kinds), metrics=output.metrics, items=output.items,
        duration_s=round(time.monotonic() - started, 2), usage=output.usage,
        instrument=output.instrument)
    out_dir.mkdir(parents=True, exist_ok=True)
    if output.inspect_logs:
        names = []
        for label, source in output.inspect_logs.items():
            target = out_dir / f"{run_id}.{slug(label)}.eval"
            shutil.move(str(source), target)
            names.append(target.name)
        shutil.rmtree(model.log_dir, ignore_errors=True)
        result.inspect_logs = names
    elif _inspect_available():
        from msm.eval.inspect_logs import write_eval_log

        result.inspect_logs = [write_eval_log(result, out_dir, output.sample_text).name]
    else:
        from msm.cli_support import install_hint

        log(f"no Inspect log written: inspect_ai is not installed ({install_hint('inspect')})")
    return result, write_result(result, out_dir)

