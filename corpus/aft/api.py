"""The library entry point: `generate_chats(workspace, AftRequest)` — what `msm aft generate` runs.

    from msm.workspace import Workspace
    from msm.corpus.aft.api import AftRequest, generate_chats
    result = generate_chats(Workspace("msm-workspace"), AftRequest(spec="self_preservation", run="sp-aft", n=40,
                                                                   lm="openai/gpt-4.1-mini"))

The request is resolved into `ChatSettings`, the run (kind `aft`) is created or its settings are checked against the
existing run (a rerun resumes), and the chat walk (`walk.ChatWalk`) runs on one of msm's two engines: item by item
(`lmrun.items.ItemRunner`) or in batch rounds (`lmrun.rounds.BatchRounds`).
"""

from __future__ import annotations

import os
from contextlib import AbstractContextManager
from typing import Any, Callable, Literal

from pydantic import BaseModel

from msm.corpus.lmrun.cli_options import LmRunSettings
from msm.errors import BadInput
from msm.identity import with_identity
from msm.progress import no_progress
from msm.settings import option
from msm.spec import Spec, load_spec, resolve_spec_path
from msm.workspace import Workspace, check_name

ProgressFactory = Callable[[str, int], AbstractContextManager]


class AftOptions(LmRunSettings):
    """How `msm aft generate` writes a run — every option but which spec and which run; None means the profile's
    default. The command's options are generated from these fields (`msm.settings`), and an experiment's
    `aft_generate:` section is this record."""

    n: int = option("--n", required=True, ge=1, le=10_000_000,
                    help="Number of judged chats to keep (the judge's INCLUDEs).")
    lm: str = option("--lm", default="local:smollm2-135m", show_default=True,
                     help="LM: local:smollm2-135m, a model dir, or a dspy/LiteLLM string such as openai/gpt-4.1-mini.")
    api_base: str | None = option("--api-base",
                                  help="Base URL of an OpenAI-compatible server (e.g. http://127.0.0.1:8000/v1).")
    style: Literal["value", "rule", "opaque"] = option(
        "--style", default="value", show_default=True,
        help="value: reasoning from values held as the assistant's own (never cites the spec); rule: reasoning that "
             "cites the spec's rules by id; opaque: the behaviour with no reasoning and no reasons.")
    judge: Literal["lm", "checks"] = option(
        "--judge", default="lm", show_default=True,
        help="lm: an LM judge gives each chat INCLUDE/EXCLUDE with a reason; checks: no LM verdict, a chat that "
             "passes the deterministic checks is kept (for LMs whose verdicts carry no signal).")
    program: str | None = option("--program", path={"dir_okay": False},
                                 help="Optimized chat program JSON from `msm optimize --program-kind aft`.")
    concurrency: int | None = option("--concurrency", ge=1, le=256,
                                     help="Items in flight: parallel API calls, or the batch size of a local model. "
                                          "[default: 8 API, 32 local]")
    seed: int = option("--seed", default=0, show_default=True, help="Seed for the cell order, fallbacks and sampling.")
    profile: Literal["auto", "weak", "strong"] = option(
        "--profile", default="auto", show_default=True,
        help="weak: plain prompts, lenient parsing, the clause (not the whole spec) in context, short outputs (auto "
             "for local models); strong: the whole spec in context (auto for API models).")
    question_types: list[str] | None = option(
        "--question-types", separator=",",
        help="Comma-separated kinds of user message [default: advice,opinion,task,dilemma,agentic,challenge].")
    domains_per_clause: int | None = option("--domains-per-clause", ge=1, le=100,
                                            help="Conversation areas brainstormed per clause [default: 4 weak, 6 "
                                                 "strong].")
    questions_per_ask: int | None = option("--questions-per-ask", ge=1, le=50,
                                           help="User messages asked for per (clause, area, type) cell [default: 3].")
    dedup_threshold: float | None = option("--dedup-threshold", gt=0, lt=1,
                                           help="MinHash Jaccard (word 2-grams) at or above which a message is a "
                                                "near-duplicate of an earlier one and dropped [default: 0.6].")
    max_rounds: int | None = option("--max-rounds", ge=1, le=50,
                                    help="Question rounds per clause: the first plus backfills, which stop early once "
                                         "a round adds no accepted chat [default: 4].")
    attempts: int | None = option("--attempts", ge=1, le=20,
                                  help="Tries per user message when a check fails or a verdict is unreadable (an "
                                       "EXCLUDE is final) [default: 2].")
    max_failures: int | None = option("--max-failures", ge=0,
                                      help="Stop cleanly once more than this many messages have failed or been "
                                           "rejected (rerun resumes).")
    max_cost_usd: float | None = option("--max-cost-usd", gt=0,
                                        help="Stop cleanly (exit 1, resumable) once the run's recorded LM cost "
                                             "reaches this.")
    model_name: str | None = option("--model-name",
                                    help="The assistant's name in the chats (renders the spec's {model_name}) "
                                         "[default: the spec's].")
    provider_name: str | None = option("--provider-name",
                                       help="Who made the assistant, as the chats say (the spec's {provider_name}) "
                                            "[default: the spec's].")


class AftRequest(AftOptions):
    """What `generate_chats()` and `msm aft generate` take: the options plus the spec and the run.

        AftRequest(spec="cheese_america", run="nb-aft", n=24)
    """

    spec: str | Spec = option("--spec", required=True, help="Spec file or shipped spec id.")
    run: str = option("--run", required=True, help="Run name; rerunning the same command resumes it.")
    # where the spec was read from (recorded; the review app and reports reread it); not an option
    spec_path: str | None = None


class AftResult(BaseModel):
    run: str
    chats: int
    target: int
    new_chats: int
    rejected: int
    failed_items: int
    judged: int
    include_rate: float | None
    questions: dict[str, int]
    calls: int
    retries: int
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float
    mode: str = "items"
    batches_submitted: int | None = None
    rounds: int | None = None
    ingested: dict[str, int] | None = None
    files_written: list[str] | None = None
    next_stages: str | None = None


def settings_for(request: AftRequest, spec: Spec, ws: Workspace):
    """(ChatSettings, program, local?) for a request: the one place a request becomes run settings."""
    from msm.corpus.aft.program import load_program, program_hash
    from msm.corpus.aft.settings import QUESTION_TYPES, STYLES, ChatSettings
    from msm.lm.backends import is_local_name
    from msm.corpus.generate.settings import resolve_profile

    if request.style not in STYLES:
        raise BadInput(f"--style {request.style!r}: choose from {', '.join(STYLES)}")
    unknown = [t for t in request.question_types or [] if t not in QUESTION_TYPES]
    if unknown:
        raise BadInput(f"--question-types: unknown type {unknown[0]!r} (known: {', '.join(QUESTION_TYPES)})")
    local = is_local_name(request.lm, ws)
    program = load_program(request.program)
    settings = ChatSettings.for_profile(
        resolve_profile(request.profile, local=local), spec_id=spec.id, spec_hash=spec.content_hash,
        model_name=spec.model_name, provider_name=spec.provider_name,
        spec_path=request.spec_path or (None if isinstance(request.spec, Spec) else str(resolve_spec_path(request.spec))),
        lm=request.lm,
        api_base=request.api_base, n_chats=request.n, seed=request.seed, program_hash=program_hash(program),
        program_file=os.path.abspath(request.program) if request.program else None, style=request.style,
        judge=request.judge,
        question_types=request.question_types, domains_per_clause=request.domains_per_clause,
        questions_per_ask=request.questions_per_ask, dedup_threshold=request.dedup_threshold,
        max_rounds=request.max_rounds, attempts=request.attempts)
    return settings, program, local


def open_chat_run(store, settings, spec: Spec | None = None) -> None:
    from msm.corpus.aft.settings import RESUME_KEYS
    from msm.corpus.lmrun.worklog import open_run

    open_run(store, settings, kind="aft", resume_keys=RESUME_KEYS, spec=spec, spec_source=settings.spec_path)


def generate_chats(ws: Workspace, request: AftRequest, *, progress: ProgressFactory = no_progress,
                   log: Callable[[str], None] = lambda _m: None) -> AftResult:
    """Generate (or resume) chat run `request.run`; see the module docstring."""
    from msm.corpus.aft.walk import ChatWalk, sampling_for
    from msm.lm.backends import build_backend
    from msm.lm.lenient_adapter import LenientAdapter
    from msm.corpus.lmrun.caller import LMCaller
    from msm.corpus.lmrun.items import ItemRunner
    from msm.corpus.lmrun.rounds import BatchRounds, batch_client, run_batch_mode
    from msm.corpus.lmrun.worklog import WorkLog, run_lock
    from msm.corpus.run_store import RunStore

    check_name("run", request.run)
    spec = request.spec if isinstance(request.spec, Spec) else load_spec(resolve_spec_path(request.spec))
    spec = with_identity(spec, request.model_name, request.provider_name)  # the one place the identity is bound
    settings, program, local = settings_for(request, spec, ws)
    store = RunStore(ws, request.run)
    batch_mode = bool(request.batch or request.batch_file_only or request.ingest_outputs)
    if batch_mode:
        if local:
            raise BadInput(f"--lm {request.lm}: batch generation needs an API model (provider/model), not a local one")
        if request.batch and request.batch_file_only:
            raise BadInput("--batch and --batch-file-only: pick one (the API, or files for `vllm run-batch`)")
    client = batch_client(request.api_base, request.request_timeout) if request.batch else None
    with run_lock(store, command="msm aft generate"):
        open_chat_run(store, settings, spec)
        work_log = WorkLog(store, lm=settings.lm, max_failures=request.max_failures,
                           max_cost_usd=request.max_cost_usd, unit="chats", noun="chats")
        walk = ChatWalk(work_log, spec, program, settings)
        weak = settings.profile == "weak"
        if batch_mode:
            rounds = BatchRounds(walk, work_log, LenientAdapter(plain_prompts=weak, prefill_as_turn=False),
                                 sampling_for(settings), client=client, poll_s=request.poll_interval,
                                 round_progress=progress, log_line=lambda m: log(f"aft: {m}"))
            done = run_batch_mode(rounds, submit=request.batch, file_dir=request.batch_file_only,
                                  ingest_outputs=request.ingest_outputs, log=lambda m: log(f"aft: {m}"))
            return _result(store, settings, walk, mode="batch" if request.batch else "batch-files",
                           batches_submitted=rounds.batches_submitted, rounds=rounds.rounds, ingested=done.ingested,
                           files_written=done.files_written, next_stages=done.next_stages)
        from msm.corpus.generate.api import API_CONCURRENCY, LOCAL_BATCH  # measured for documents, same LM path

        in_flight = request.concurrency or (LOCAL_BATCH if local else API_CONCURRENCY)
        backend = build_backend(request.lm, ws=ws, api_base=request.api_base, max_tokens=settings.max_tokens["answer"],
                                temperature=settings.temperature, timeout_s=request.request_timeout,
                                batch_size=in_flight, api_key=os.environ.get("MSM_API_KEY"),
                                frequency_penalty=settings.frequency_penalty)
        caller = LMCaller(work_log, backend, LenientAdapter(plain_prompts=weak, prefill_as_turn=backend.local),
                          sampling_for(settings), seed=settings.seed)
        log(f"aft: run {request.run} · spec {spec.id} · {request.n} chats · style {settings.style} · lm {request.lm} "
            f"({settings.profile}) · {in_flight} in flight")
        with progress(f"aft {request.run}", request.n) as advance:
            ItemRunner(walk, work_log, caller, concurrency=in_flight, on_progress=advance).run()
        return _result(store, settings, walk)


def _result(store, settings, walk, **extra: Any) -> AftResult:
    from msm.corpus.aft.report import run_counts

    t = walk.log.totals
    counts = run_counts(store)
    return AftResult(run=store.name, chats=counts["chats"], target=settings.n_chats, new_chats=t.done,
                     rejected=counts["rejected"], failed_items=counts["failed_items"], judged=counts["judged"],
                     include_rate=counts["include_rate"], questions=walk.question_counts(), calls=t.calls,
                     retries=t.retries, prompt_tokens=t.prompt_tokens, completion_tokens=t.completion_tokens,
                     cost_usd=t.cost, **extra)


def load_walk(ws: Workspace, store, spec: str | None = None):
    """The chat walk of an existing run, for reports (no LM): its spec from `spec` or the shipped spec of its id;
    None when that spec is not the one the run was written from (its hash differs)."""
    from msm.corpus.aft.program import SpecChatProgram
    from msm.corpus.aft.settings import ChatSettings
    from msm.corpus.aft.walk import ChatWalk
    from msm.corpus.lmrun.worklog import WorkLog

    config = store.config()
    if config.get("kind") != "aft":
        raise BadInput(f"run {store.name!r} is a {config.get('kind')} run, not a chat run of `msm aft generate`")
    settings = ChatSettings.model_validate(config["config"])
    try:
        found = (store.spec() if spec is None else None) or load_spec(
            resolve_spec_path(spec or settings.spec_path or settings.spec_id))
        found = with_identity(found, settings.model_name, settings.provider_name)
    except BadInput:  # the spec is gone or was a file elsewhere: counts only
        return None
    if found.content_hash != settings.spec_hash:
        return None
    return ChatWalk(WorkLog(store, lm=settings.lm, unit="chats", noun="chats"), found, SpecChatProgram(), settings)
