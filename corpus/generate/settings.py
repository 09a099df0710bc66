"""A run's generation settings and the two profiles they start from.

    weak     small local models (the embedded 135M model): plain-text prompts, lenient parsing, clause-only
             context, short documents that continue a template opening, no revise pass, no LM plan
    strong   API models: the whole spec in context, the paper's LM plan (`plan="paper"`), resampled brainstorms,
             plus msm's additions: a plan step before writing, length targets and a critique-and-revise pass
    paper    the replication profile: the strong profile without msm's additions — no revise, no length target, no
             levers, document checks recorded on the document but never dropping it (the paper drops only empty
             documents); pair it with the `paper` curation config (marks only)

`resolve_profile` and `GenerationSettings.for_profile` are the one place a profile becomes settings: `msm generate`,
batch rounds and `msm optimize` all go through them, so a program tuned by the optimizer is tuned for what runs send.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

SETTINGS_SCHEMA_VERSION = 1
PROFILES = ("weak", "strong", "paper")
PLANS = ("clauses", "paper")
# settings that define what a run's documents are; a rerun with other values would mix two corpora in one run
RESUME_KEYS = ("spec_hash", "n_docs", "seed", "lm", "program_hash", "profile", "context_scope", "revise", "opening",
               "scaffold", "plan_before_writing", "levers", "types_per_clause", "value_share", "value_clauses",
               "clause_shares", "plan", "paper_domains", "subdomains_per_domain", "length_target", "drop_on_checks")


class GenerationSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    schema_version: int = SETTINGS_SCHEMA_VERSION
    spec_id: str
    spec_hash: str
    # the identity the documents give the assistant (the spec's placeholders as rendered; in spec_hash too)
    model_name: str | None = None
    provider_name: str | None = None
    lm: str
    api_base: str | None = None
    n_docs: int
    seed: int
    program_hash: str
    program_file: str | None = None
    profile: Literal["weak", "strong", "paper"]
    # clauses: msm's plan, per author clause; paper: the paper's LM decomposition of the whole spec (planning.py)
    plan: Literal["clauses", "paper"] = "clauses"
    # the paper plan's sizes: about this many domains ("fewer, broader"), and subdomains asked per domain; with
    # types_per_clause (types per subdomain) and ideas_per_type they size the plan when no document count is given
    paper_domains: int = 5
    subdomains_per_domain: int = 4
    # False: the writer gets no target length (the paper's); the document is as long as its genre makes it
    length_target: bool = True
    # False: a document failing the checks is stored with its problems in metadata.check_problems (only an empty
    # one is dropped, as in the paper); True: msm's checks drop it and the slot is retried
    drop_on_checks: bool = True
    context_scope: Literal["full", "clause"]
    revise: bool
    plan_with_lm: bool
    temperature: float
    max_tokens: dict[str, int]
    attempts: int = 3
    brainstorm_resamples: int = 3
    max_retries: int = 5
    min_words: int
    length_choices: list[int]
    types_per_clause: int = 6
    ideas_per_type: int = 4  # with types_per_clause, sizes the plan when no document count is given
    # the plan step: strong writers plan in a field before the document (the paper's scratchpad)
    plan_before_writing: bool = False
    # persona / author name / era levers: off by default (the paper's writer invents no bylines, names or dates)
    levers: bool = False
    # clauses matching these patterns are the spec's value clauses; value_share gives them that share of documents
    value_clauses: list[str] = ["value.*"]
    value_share: float | None = None
    # weak models: each document is anchored paragraphs (a spec-derived sentence the LM continues for a sentence or
    # two, checked for staying on the clause); see scaffold.py
    scaffold: bool = False
    scaffold_paragraphs: list[int] = [4, 5, 6]
    continuation_sentences: int = 2
    continuation_tries: int = 2
    # API models in the weak profile: served small models loop without a penalty (transformers serve maps it to
    # repetition_penalty = 1 + value, the 1.1 the in-process model uses; vLLM applies it additively)
    frequency_penalty: float | None = None
    # `--focus-from`: each clause's share of the documents, from a ledger (corpus/generate/focus.py); None: by weights
    clause_shares: dict[str, float] | None = None
    opening: bool = False  # weak models continue a template opening (rule + quoted reason) instead of a blank page

    @classmethod
    def for_profile(cls, profile: str, *, write_max_tokens: int | None = None, **fields: Any) -> "GenerationSettings":
        """Settings for `profile`, with any field given (not None) overriding the profile's default.
        `write_max_tokens` (`--max-tokens`) bounds every LM call: write and revise get exactly it (a revise rewrites
        the whole document), and every other stage (plan, types, ideas, continue) the smaller of it and its own
        default — a served model on a slow machine is bounded by what the user asked for, everywhere."""
        defaults = profile_defaults(profile)
        if write_max_tokens is not None:
            tokens = defaults["max_tokens"]
            for stage, bound in tokens.items():
                tokens[stage] = write_max_tokens if stage in ("write", "revise") else min(bound, write_max_tokens)
        defaults.update({k: v for k, v in fields.items() if v is not None})
        return cls(profile=profile, **defaults)


# Weak (small local) models: clause-only context, short documents, no revise pass, no LM plan — their plans are
# noise and quotas are arithmetic; one brainstorm try each (measured: the 135M model's lists are mostly junk, and
# resampling tripled the time before the first document). Strong models: the paper's full pipeline.
PROFILE_DEFAULTS: dict[str, dict[str, Any]] = {
    "weak": dict(context_scope="clause", revise=False, plan_with_lm=False, temperature=0.8, brainstorm_resamples=1,
                 scaffold=True, frequency_penalty=0.1, types_per_clause=6, ideas_per_type=4,
                 # continue: room for two sentences; at 48 tokens a third of the 135M model's continuations had
                 # not finished one (cut)
                 max_tokens={"plan": 160, "decompose": 96, "subdomains": 320, "assertions": 320, "types": 64, "ideas": 128, "write": 240, "revise": 320, "continue": 64},
                 min_words=40, length_choices=[120, 150, 180]),
    # the paper's plan: 20 document types x 25 ideas per spec section; documents of up to ~5,000 output tokens
    "strong": dict(context_scope="full", revise=True, plan_with_lm=True, temperature=1.0, plan_before_writing=True,
                   types_per_clause=20, ideas_per_type=25,
                   max_tokens={"plan": 600, "decompose": 600, "subdomains": 2500, "assertions": 2000, "types": 800, "ideas": 2000, "write": 5000, "revise": 6000,
                               "continue": 64},
                   min_words=200, length_choices=[500, 800, 1200, 1600], plan="paper"),
    # the paper's pipeline and nothing of msm's: no revise, no plan step, no length target, no levers, checks
    # recorded but not dropping
    "paper": dict(context_scope="full", revise=False, plan_with_lm=True, temperature=1.0, plan_before_writing=False,
                  types_per_clause=20, ideas_per_type=25, levers=False, length_target=False, drop_on_checks=False,
                  max_tokens={"plan": 600, "decompose": 600, "subdomains": 2500, "assertions": 2000, "types": 800, "ideas": 2000, "write": 5000, "revise": 6000,
                              "continue": 64},
                  min_words=1, length_choices=[800], plan="paper"),
}


def profile_defaults(profile: str) -> dict[str, Any]:
    """A fresh copy of a profile's defaults (callers may change it)."""
    base = PROFILE_DEFAULTS[profile]
    return {**base, "max_tokens": dict(base["max_tokens"]), "length_choices": list(base["length_choices"])}


def planned_documents(n_units: int, settings_or_profile: "GenerationSettings | str") -> int:
    """Documents a plan of `types_per_clause` x `ideas_per_type` per unit gives (the paper's sizing). The unit is a
    clause for the clause plan and a subdomain for the paper plan, whose subdomain count the LM decides: it is
    projected as `paper_domains` x `subdomains_per_domain` (`n_units` is then ignored)."""
    if isinstance(settings_or_profile, str):
        values = PROFILE_DEFAULTS[settings_or_profile]
        if values.get("plan") == "paper":
            n_units = 5 * 4  # the defaults of paper_domains x subdomains_per_domain
        return n_units * values.get("types_per_clause", 6) * values.get("ideas_per_type", 4)
    s = settings_or_profile
    if s.plan == "paper":
        n_units = s.paper_domains * s.subdomains_per_domain
    return n_units * s.types_per_clause * s.ideas_per_type


def resolve_profile(profile: str, *, local: bool) -> str:
    """`auto` is `weak` for in-process models and `strong` for API models."""
    return profile if profile != "auto" else ("weak" if local else "strong")
