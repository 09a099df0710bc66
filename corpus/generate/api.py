"""The library entry point: `generate(workspace, GenerateRequest)` — what `msm generate` runs, callable from a notebook.

    from msm.workspace import Workspace
    from msm.corpus.generate.api import GenerateRequest, generate
    result = generate(Workspace("msm-workspace"), GenerateRequest(spec="cheese_america", run="nb", n_docs=24))

The request is resolved into `GenerationSettings` (profile, program hash, token bounds), the run is created or its
settings are checked against the existing run (a rerun resumes), and one of the two engines runs it: item by item
(`engine.ItemEngine`, in-process or API models) or in batch rounds (`batch.BatchEngine`: the OpenAI Batch API, or
request files for `vllm run-batch`).
"""

from __future__ import annotations

import os
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any, Callable

from pydantic import BaseModel

from msm.errors import BadInput
from msm.progress import no_progress
from msm.spec import Spec, load_spec, resolve_spec_path
from msm.workspace import Workspace, check_name

ProgressFactory = Callable[[str, int], AbstractContextManager]
LOCAL_BATCH = 32  # bench_local_lm: batch 32 = 6.9x one-stream tokens/s, 16 = 5.4x
API_CONCURRENCY = 8


@dataclass
class GenerateRequest:
    """What `msm generate` takes; None means the profile's default."""

    spec: str | Spec
    run: str
    n_docs: int | None = None  # None: the plan's size, clauses x types_per_clause x ideas_per_type
    lm: str = "local:smollm2-135m"
    api_base: str | None = None
    program: str | None = None
    concurrency: int | None = None
    seed: int = 0
    profile: str = "auto"
    revise: bool | None = None
    opening: bool | None = None
    max_failures: int | None = None
    attempts: int = 3
    max_tokens: int | None = None
    request_timeout: float = 120.0
    batch: bool = False
    batch_file_only: str | None = None
    ingest_outputs: tuple[str, ...] = field(default_factory=tuple)
    poll_interval: float = 30.0
    types_per_clause: int | None = None
    ideas_per_type: int | None = None
    length_words: list[int] | None = None
    levers: bool | None = None
    scaffold: bool | None = None
    value_share: float | None = None
    value_clauses: list[str] | None = None
    max_cost_usd: float | None = None
    plan: str | None = None  # clauses | paper; None: the profile's (paper for strong and paper)
    paper_domains: int | None = None
    subdomains_per_domain: int | None = None


class GenerateResult(BaseModel):
    run: str
    documents: int
    target: int
    failed_items: int
    new_documents: int
    calls: int
    retries: int
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float
    mode: str = "items"  # items | batch | batch-files
    batches_submitted: int | None = None
    rounds: int | None = None
    ingested: dict[str, int] | None = None
    files_written: list[str] | None = None
    next_stages: str | None = None
    cost_basis: str | None = None


def settings_for(request: GenerateRequest, spec: Spec, ws: Workspace):
    """(GenerationSettings, program, local?) for a request: the one place a request becomes run settings."""
    from msm.lm.backends import is_local_name
    from msm.corpus.generate.program import load_program, program_hash
    from msm.corpus.generate.settings import GenerationSettings, planned_documents, resolve_profile

    local = is_local_name(request.lm, ws)
    program = load_program(request.program)
    scaffold, opening = request.scaffold, request.opening
    if _batched(request) and scaffold is None:
        # batch rounds answer one request per document: a weak profile continues a template opening instead of
        # a scaffold, whose paragraphs need one call after another
        scaffold, opening = False, True if opening is None else opening
    settings = GenerationSettings.for_profile(
        resolve_profile(request.profile, local=local), write_max_tokens=request.max_tokens, spec_id=spec.id,
        spec_hash=spec.content_hash, model_name=spec.model_name, provider_name=spec.provider_name, lm=request.lm, api_base=request.api_base, n_docs=request.n_docs or 1,
        seed=request.seed, program_hash=program_hash(program),
        program_file=os.path.abspath(request.program) if request.program else None, revise=request.revise,
        opening=opening, attempts=request.attempts, types_per_clause=request.types_per_clause,
        ideas_per_type=request.ideas_per_type, length_choices=request.length_words, levers=request.levers,
        scaffold=scaffold, value_share=request.value_share, value_clauses=request.value_clauses, plan=request.plan,
        paper_domains=request.paper_domains, subdomains_per_domain=request.subdomains_per_domain)
    if settings.plan == "paper" and settings.scaffold:
        raise BadInput("--plan paper: the paper plan writes whole documents; it cannot be scaffolded (use "
                       "--no-scaffold, or --plan clauses for a weak model)")
    if settings.plan == "paper" and settings.value_share is not None:
        raise BadInput("--value-share: the paper plan has no clause quotas (use --plan clauses)")
    if request.n_docs is None:
        settings = settings.model_copy(update={"n_docs": planned_documents(len(spec.clauses), settings)})
    if settings.value_share is not None:
        from msm.corpus.generate.planning import is_value_clause

        matched = [c.id for c in spec.clauses if is_value_clause(c, settings.value_clauses)]
        if not matched or len(matched) == len(spec.clauses):
            raise BadInput(f"--value-share: --value-clauses {','.join(settings.value_clauses)!r} matches "
                           f"{len(matched)} of spec {spec.id}'s {len(spec.clauses)} clauses; it must match some, "
                           f"not all")
    return settings, program, local


def _batched(request: GenerateRequest) -> bool:
    return bool(request.batch or request.batch_file_only or request.ingest_outputs)


def plan_preview(ws: Workspace, request: GenerateRequest):
    """`--plan-only`: the plan's counts, projected tokens and cost; no LM call, nothing written."""
    from msm.corpus.generate.preview import preview

    spec = request.spec if isinstance(request.spec, Spec) else load_spec(resolve_spec_path(request.spec))
    settings, program, _ = settings_for(request, spec, ws)
    return preview(spec, settings, program)


def generate(ws: Workspace, request: GenerateRequest, *, progress: ProgressFactory = no_progress,
             log: Callable[[str], None] = lambda _m: None) -> GenerateResult:
    """Generate (or resume) run `request.run`; see the module docstring."""
    from msm.corpus.generate.engine import ItemEngine, open_run, run_lock
    from msm.lm.backends import build_backend
    from msm.corpus.run_store import RunStore

    check_name("run", request.run)
    spec = request.spec if isinstance(request.spec, Spec) else load_spec(resolve_spec_path(request.spec))
    settings, program, local = settings_for(request, spec, ws)
    store = RunStore(ws, request.run)
    if _batched(request):
        if local:
            raise BadInput(f"--lm {request.lm}: batch generation needs an API model (provider/model), not a local one")
        if request.batch and request.batch_file_only:
            raise BadInput("--batch and --batch-file-only: pick one (the API, or files for `vllm run-batch`)")
        if settings.scaffold:
            raise BadInput("--scaffold: scaffolded documents are written paragraph by paragraph, one call after "
                           "another; batch generation cannot do that (leave --scaffold out)")
        return _generate_in_batches(store, spec, program, settings, request, progress=progress, log=log)
    in_flight = request.concurrency or (LOCAL_BATCH if local else API_CONCURRENCY)
    with run_lock(store):
        open_run(store, settings)
        backend = build_backend(request.lm, ws=ws, api_base=request.api_base, max_tokens=settings.max_tokens["write"],
                                temperature=settings.temperature, timeout_s=request.request_timeout,
                                batch_size=in_flight, api_key=os.environ.get("MSM_API_KEY"),
                                frequency_penalty=settings.frequency_penalty)
        log(f"generate: run {request.run} · spec {spec.id} · {settings.n_docs} docs · lm {request.lm} "
            f"({settings.profile}) · {in_flight} in flight")
        with progress(f"generate {request.run}", settings.n_docs) as advance:
            engine = ItemEngine(store, spec, backend, program, settings, concurrency=in_flight,
                                max_failures=request.max_failures, on_progress=advance,
                                max_cost_usd=request.max_cost_usd)
            engine.run()
    return _result(store, settings, engine)


def _result(store, settings, engine, **extra: Any) -> GenerateResult:
    t = engine.totals
    return GenerateResult(run=store.name, documents=sum(1 for _ in store.documents()), target=settings.n_docs,
                          failed_items=t.failed, new_documents=t.done, calls=t.calls, retries=t.retries,
                          prompt_tokens=t.prompt_tokens, completion_tokens=t.completion_tokens, cost_usd=t.cost,
                          **extra)


def _generate_in_batches(store, spec, program, settings, request: GenerateRequest, *, progress: ProgressFactory,
                         log: Callable[[str], None]) -> GenerateResult:
    from msm.corpus.generate.batch import BatchEngine
    from msm.corpus.generate.engine import open_run, run_lock
    from msm.corpus.lmrun.rounds import batch_client, run_batch_mode

    client = batch_client(request.api_base, request.request_timeout) if request.batch else None
    with run_lock(store):
        open_run(store, settings)
        engine = BatchEngine(store, spec, program, settings, client=client, poll_s=request.poll_interval,
                             max_failures=request.max_failures, max_cost_usd=request.max_cost_usd,
                             round_progress=progress,
                             log=lambda message: log(f"generate: {message}"))
        done = run_batch_mode(engine, submit=request.batch, file_dir=request.batch_file_only,
                              ingest_outputs=request.ingest_outputs, log=lambda message: log(f"generate: {message}"))
    return _result(store, settings, engine, mode="batch" if request.batch else "batch-files",
                   cost_basis="batch price: LiteLLM list price x 0.5 (0 for models LiteLLM does not know)",
                   batches_submitted=engine.batches_submitted, rounds=engine.rounds, ingested=done.ingested,
                   files_written=done.files_written, next_stages=done.next_stages)
