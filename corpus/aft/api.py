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
from dataclasses import dataclass, field
from typing import Any, Callable

from pydantic import BaseModel

from msm.errors import BadInput
from msm.progress import no_progress
from msm.spec import Spec, load_spec, resolve_spec_path
from msm.workspace import Workspace, check_name

ProgressFactory = Callable[[str, int], AbstractContextManager]


@dataclass
class AftRequest:
    """What `msm aft generate` takes; None means the profile's default."""

    spec: str | Spec
    run: str
    n: int
    spec_path: str | None = None  # where the spec was read from (recorded; the review app and reports reread it)
    lm: str = "local:smollm2-135m"
    api_base: str | None = None
    style: str = "value"
    judge: str = "lm"
    program: str | None = None
    concurrency: int | None = None
    seed: int = 0
    profile: str = "auto"
    question_types: list[str] | None = None
    domains_per_clause: int | None = None
    questions_per_ask: int | None = None
    dedup_threshold: float | None = None
    max_rounds: int | None = None
    attempts: int | None = None
    max_failures: int | None = None
    max_cost_usd: float | None = None
    request_timeout: float = 120.0
    batch: bool = False
    batch_file_only: str | None = None
    ingest_outputs: tuple[str, ...] = field(default_factory=tuple)
    poll_interval: float = 30.0


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


def open_chat_run(store, settings) -> None:
    from msm.corpus.aft.settings import RESUME_KEYS
    from msm.corpus.lmrun.worklog import open_run

    open_run(store, settings, kind="aft", resume_keys=RESUME_KEYS)


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
        open_chat_run(store, settings)
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
        from msm.identity import with_identity

        found = with_identity(load_spec(resolve_spec_path(spec or settings.spec_path or settings.spec_id)),
                              settings.model_name, settings.provider_name)
    except BadInput:  # the spec is gone or was a file elsewhere: counts only
        return None
    if found.content_hash != settings.spec_hash:
        return None
    return ChatWalk(WorkLog(store, lm=settings.lm, unit="chats", noun="chats"), found, SpecChatProgram(), settings)
