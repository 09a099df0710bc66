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
from typing import Any, Callable, Literal

import click

from pydantic import BaseModel

from msm.corpus.lmrun.cli_options import LmRunSettings
from msm.errors import BadInput
from msm.identity import with_identity
from msm.option_types import bounded_int_list
from msm.progress import no_progress
from msm.settings import option
from msm.spec import Spec, load_spec, resolve_spec_path
from msm.workspace import Workspace, check_name

ProgressFactory = Callable[[str, int], AbstractContextManager]
LOCAL_BATCH = 32  # bench_local_lm: batch 32 = 6.9x one-stream tokens/s, 16 = 5.4x
API_CONCURRENCY = 8


def _int_list(ctx: click.Context, param: click.Parameter, value: str | None) -> list[int] | None:
    if value is None:
        return None
    # a document of more than 100k words is beyond any LM's output; a 20-digit length is refused here
    return bounded_int_list(value, "--length-words", minimum=10, maximum=100_000)


class GenerateOptions(LmRunSettings):
    """How `msm generate` writes a run — every option but which spec and which run. None means the profile's default.
    The command's options are generated from these fields (`msm.settings`) and an experiment's `generate:` section
    is this record, so a new generate setting is one field here (and a line in docs/)."""

    n_docs: int | None = option("--n-docs", ge=1, le=10_000_000,
                                help="Number of documents to write [default: the plan's size, clauses x "
                                     "--types-per-clause x --ideas-per-type].")
    lm: str = option("--lm", default="local:smollm2-135m", show_default=True,
                     help="LM: local:smollm2-135m, a model dir, or a dspy/LiteLLM string such as openai/gpt-4.1-mini.")
    api_base: str | None = option("--api-base",
                                  help="Base URL of an OpenAI-compatible server (e.g. http://127.0.0.1:8000/v1).")
    program: str | None = option("--program", path={"dir_okay": False},
                                 help="Optimized program JSON from `msm optimize`.")
    concurrency: int | None = option("--concurrency", ge=1, le=256,
                                     help="Items in flight: parallel API calls (lowered on timeouts, grown back on "
                                          "success), or the batch size of a local model. [default: 8 API, 32 local]")
    seed: int = option("--seed", default=0, show_default=True, help="Seed for plan, levers, anchors and sampling.")
    profile: Literal["auto", "weak", "strong", "paper"] = option(
        "--profile", default="auto", show_default=True,
        help="weak: plain prompts, lenient parsing, clause-only context, scaffolded documents, no revise (auto for "
             "local models); strong: full spec in context, the paper's plan, plus msm's plan step, length targets and "
             "critique-and-revise (auto for API models); paper: the replication profile — the paper's plan and "
             "writer with none of msm's additions (no revise, no length target, no levers, checks recorded on the "
             "document instead of dropping it).")
    plan: Literal["clauses", "paper"] | None = option(
        "--plan",
        help="clauses: documents per author clause, brainstorms seeing the clause; paper: the LM decomposes the whole "
             "spec into domains -> subdomains (each with the verbatim spec section it covers) -> assertions -> types "
             "-> ideas, every stage with the full spec [default: paper for the strong and paper profiles, clauses "
             "for weak].")
    paper_domains: int | None = option("--paper-domains", ge=1, le=100,
                                       help="Paper plan: about how many domains to ask for [default: 5].")
    subdomains_per_domain: int | None = option("--subdomains-per-domain", ge=1, le=100,
                                               help="Paper plan: subdomains asked per domain [default: 4]; "
                                                    "--types-per-clause and --ideas-per-type count per subdomain.")
    types_per_clause: int | None = option("--types-per-clause", ge=1, le=200,
                                          help="Document types brainstormed per clause [default: 6 weak, 20 strong "
                                               "(the paper's)].")
    ideas_per_type: int | None = option("--ideas-per-type", ge=1, le=1000,
                                        help="Ideas per document type; with --types-per-clause it sizes the plan when "
                                             "--n-docs is not given [default: 4 weak, 25 strong (the paper's)].")
    length_words: list[int] | None = option("--length-words", separator=",", callback=_int_list, metavar="N[,N...]",
                                            help="Target lengths in words, one drawn per document [default: "
                                                 "120,150,180 weak; 500,800,1200,1600 strong].")
    levers: bool | None = option("--levers", off="--no-levers",
                                 help="Give each document a named author persona and an era. Off by default: the "
                                      "writer invents no bylines, author names or dates.")
    revise: bool | None = option("--revise", off="--no-revise",
                                 help="Run the critique-and-rewrite stage [default: on for strong].")
    scaffold: bool | None = option("--scaffold", off="--no-scaffold",
                                   help="Weak models write anchored paragraphs: a spec-derived sentence each, "
                                        "continued by the LM for a sentence or two and checked for staying on the "
                                        "clause [default: on for weak].")
    opening: bool | None = option("--opening", off="--no-opening",
                                  help="Without the scaffold: weak models continue a template opening (title, the "
                                       "clause's rule and one quoted sentence of its reason) recorded as "
                                       "metadata.opening_chars.")
    value_share: float | None = option("--value-share", gt=0, lt=1,
                                       help="Share of the documents for the spec's value clauses (see "
                                            "--value-clauses) [default: by clause weights].")
    value_clauses: list[str] | None = option("--value-clauses", separator=",", metavar="PATTERN[,PATTERN...]",
                                             help="Clause ids (glob patterns) that are the spec's value clauses "
                                                  "[default: value.*].")
    max_cost_usd: float | None = option("--max-cost-usd", gt=0,
                                        help="Stop cleanly (exit 1, resumable) once the run's recorded cost reaches "
                                             "this.")
    max_failures: int | None = option("--max-failures", ge=0,
                                      help="Stop cleanly once more than this many items have failed permanently "
                                           "(rerun resumes).")
    attempts: int = option("--attempts", default=3, ge=1, le=20, show_default=True,
                           help="Tries per document before it is recorded as a permanent failure.")
    max_tokens: int | None = option("--max-tokens", ge=16,
                                    help="Token limit of every LM call: write and revise get it, plan/types/ideas/"
                                         "continue the smaller of it and their own default [default: write 240 weak, "
                                         "5000 strong].")
    reuse_from: str | None = option("--reuse-from", metavar="RUN",
                                    help="Copy RUN's documents whose clause and writing context are unchanged in SPEC "
                                         "(by content hash; same LM and generation settings), keeping their "
                                         "provenance; generate only new or changed clauses. With --plan-only: how many "
                                         "are reused vs new and the cost saved.")
    focus_from: str | None = option("--focus-from", path={"dir_okay": False}, metavar="LEDGER.json",
                                    help="Set clause quotas from a ledger (`msm ledger ... --json > FILE`): more "
                                         "documents for clauses whose knowledge or behaviour lags, at the same total "
                                         "(docs/ledger.md gives the formula).")
    model_name: str | None = option("--model-name",
                                    help="The assistant's name the documents use (renders the spec's {model_name}) "
                                         "[default: the spec's].")
    provider_name: str | None = option("--provider-name",
                                       help="Who made the assistant, as the documents say (the spec's "
                                            "{provider_name}) [default: the spec's].")


class GenerateRequest(GenerateOptions):
    """What `generate()` and `msm generate` take: the options plus the spec and the run.

        GenerateRequest(spec="cheese_america", run="nb", n_docs=24, lm="openai/gpt-4.1-mini")
    """

    spec: str | Spec = option("--spec", required=True, help="Spec file or shipped spec id.")
    run: str = option("--run", required=True, help="Run name; rerunning the same command resumes it.")
    spec_path: str | None = None  # where the spec was read from; the run freezes a copy of that file


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
    timeouts: int = 0
    concurrency: dict | None = None  # requested / final / lowest in flight, and when it changed (AIMD)
    mode: str = "items"  # items | batch | batch-files
    batches_submitted: int | None = None
    rounds: int | None = None
    ingested: dict[str, int] | None = None
    files_written: list[str] | None = None
    next_stages: str | None = None
    cost_basis: str | None = None
    reused: int | None = None  # `--reuse-from`: documents copied in by this command


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
    if request.reuse_from and settings.plan == "paper":
        raise BadInput("--reuse-from: documents are reused per clause, and the paper plan writes per subdomain (use "
                       "--plan clauses)")
    if request.focus_from:
        if settings.plan == "paper":
            raise BadInput("--focus-from: the paper plan has no clause quotas (use --plan clauses)")
        from msm.corpus.generate.focus import focus_shares

        settings = settings.model_copy(update={"clause_shares": focus_shares(request.focus_from, spec)})
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
    spec = with_identity(spec, request.model_name, request.provider_name)  # the one place the identity is bound
    settings, program, _ = settings_for(request, spec, ws)
    projected = preview(spec, settings, program)
    if request.reuse_from:
        from msm.corpus.generate.reuse import plan_reuse

        projected.reuse = plan_reuse(ws, request.run, spec, settings, request.reuse_from)[0].model_dump(mode="json")
    return projected


def generate(ws: Workspace, request: GenerateRequest, *, progress: ProgressFactory = no_progress,
             log: Callable[[str], None] = lambda _m: None) -> GenerateResult:
    """Generate (or resume) run `request.run`; see the module docstring."""
    from msm.corpus.generate.engine import ItemEngine, open_run, run_lock
    from msm.lm.backends import build_backend
    from msm.corpus.run_store import RunStore

    check_name("run", request.run)
    spec_source = request.spec_path or (None if isinstance(request.spec, Spec) else str(resolve_spec_path(request.spec)))
    spec = request.spec if isinstance(request.spec, Spec) else load_spec(resolve_spec_path(request.spec))
    spec = with_identity(spec, request.model_name, request.provider_name)  # the one place the identity is bound
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
        return _generate_in_batches(store, spec, program, settings, request, progress=progress, log=log,
                                    spec_source=spec_source)
    in_flight = request.concurrency or (LOCAL_BATCH if local else API_CONCURRENCY)
    with run_lock(store):
        open_run(store, settings, spec, spec_source)
        if request.reuse_from:
            from msm.corpus.generate.reuse import copy_reused

            copied = copy_reused(ws, store, spec, settings, request.reuse_from)
            log(f"generate: {copied} documents reused from run {request.reuse_from}")
        else:
            copied = None
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
    return _result(store, settings, engine, reused=copied)


def _result(store, settings, engine, **extra: Any) -> GenerateResult:
    t = engine.totals
    return GenerateResult(run=store.name, documents=sum(1 for _ in store.documents()), target=settings.n_docs,
                          failed_items=t.failed, new_documents=t.done, calls=t.calls, retries=t.retries,
                          prompt_tokens=t.prompt_tokens, completion_tokens=t.completion_tokens, cost_usd=t.cost,
                          timeouts=t.timeouts, concurrency=_concurrency(engine), **extra)


def _concurrency(engine) -> dict | None:
    limiter = getattr(getattr(engine, "log", None), "concurrency", None)
    return limiter.summary() if limiter is not None and limiter.adaptive else None


def _generate_in_batches(store, spec, program, settings, request: GenerateRequest, *, progress: ProgressFactory,
                         log: Callable[[str], None], spec_source: str | None = None) -> GenerateResult:
    from msm.corpus.generate.batch import BatchEngine
    from msm.corpus.generate.engine import open_run, run_lock
    from msm.corpus.lmrun.rounds import batch_client, run_batch_mode

    client = batch_client(request.api_base, request.request_timeout) if request.batch else None
    with run_lock(store):
        open_run(store, settings, spec, spec_source)
        if request.reuse_from:
            from msm.corpus.generate.reuse import copy_reused

            copy_reused(store.ws, store, spec, settings, request.reuse_from)
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
