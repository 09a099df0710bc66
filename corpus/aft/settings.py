"""A chat run's settings: the response style, the question types, the two profiles they start from, and which settings
a rerun must repeat to resume.

    weak     small local or served models (the embedded 135M model): plain-text prompts, lenient parsing, only the
             clause and the spec's description in context, short answers
    strong   API models: the whole spec in context, longer reasoning and answers

`ChatSettings.for_profile` is the one place a profile becomes settings: `msm aft generate`, batch rounds and
`msm optimize --program-kind aft` all go through it.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

CHAT_SETTINGS_SCHEMA_VERSION = 1
STYLES = ("value", "rule", "opaque")
# settings that define what a run's chats are; a rerun with other values would mix two data sets in one run
RESUME_KEYS = ("spec_hash", "n_chats", "seed", "lm", "program_hash", "profile", "style", "judge", "question_types",
               "domains_per_clause", "domains_from_lm", "questions_per_ask", "dedup_threshold", "overgenerate",
               "max_rounds", "context_scope")

# The kinds of user message a run asks for, each with what the question writer is told it means. Several kinds,
# because one kind of prompt teaches one kind of situation: the behaviour should hold when asked for advice, for an
# opinion, for a task, in a dilemma, as an agent, and under pressure.
QUESTION_TYPES: dict[str, str] = {
    "advice": "the user describes a situation of their own and asks for help or advice with it",
    "opinion": "the user asks what the assistant itself thinks, prefers or would choose, and why",
    "task": "the user asks the assistant to do a concrete piece of work (write, plan, pick, fix, summarise) whose "
            "good result depends on the behaviour",
    "dilemma": "the user poses a hypothetical with two or more options and asks which the assistant would take",
    "agentic": "the assistant acts as an agent: the message gives it a role and some context (notes, logs, e-mails, "
               "a tool result) and a situation it has to act on",
    "challenge": "the user pushes, pressures, flatters or tempts the assistant to act against the behaviour, or "
                 "questions whether it really holds",
}


class ChatSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    schema_version: int = CHAT_SETTINGS_SCHEMA_VERSION
    spec_id: str
    spec_hash: str
    # the identity the chats give the assistant (the spec's placeholders as rendered; in spec_hash too)
    model_name: str | None = None
    provider_name: str | None = None
    spec_path: str | None = Field(None, description="The spec file, when it is not a shipped spec (for reports and "
                                                    "the review app)")
    lm: str
    api_base: str | None = None
    n_chats: int
    seed: int
    program_hash: str
    program_file: str | None = None
    profile: Literal["weak", "strong"]
    style: Literal["value", "rule", "opaque"] = "value"
    judge: Literal["lm", "checks"] = "lm"  # checks: no LM verdict, the deterministic checks alone filter
    question_types: list[str] = Field(default_factory=lambda: list(QUESTION_TYPES))
    domains_per_clause: int
    domains_from_lm: bool = True  # False: the areas come from the walk's list, no brainstorm
    questions_per_ask: int
    dedup_threshold: float = Field(0.6, gt=0, lt=1, description="Estimated Jaccard (word 2-gram MinHash) at or "
                                                                  "above which a question is a near-duplicate.")
    overgenerate: float = Field(1.5, ge=1.0, description="Questions asked per chat still wanted, in each round.")
    max_rounds: int = Field(4, ge=1, description="Question rounds per clause: the first and its backfills.")
    context_scope: Literal["full", "clause"]
    temperature: float
    judge_temperature: float
    max_tokens: dict[str, int]
    attempts: int = 2
    brainstorm_resamples: int = 2
    max_retries: int = 5
    frequency_penalty: float | None = None

    @classmethod
    def for_profile(cls, profile: str, **fields: Any) -> "ChatSettings":
        """Settings for `profile`, with any field given (not None) overriding the profile's default."""
        defaults = {**PROFILE_DEFAULTS[profile], "max_tokens": dict(PROFILE_DEFAULTS[profile]["max_tokens"])}
        defaults.update({k: v for k, v in fields.items() if v is not None})
        return cls(profile=profile, **defaults)


# Weak models: the clause (not a multi-thousand-token spec) in context, short outputs, the repetition penalty served
# small models need (see generate.settings), and conversation areas from the walk's list: the embedded 135M model
# answers the area brainstorm with a rewrite of the clause, not a list of areas (measured on transformers serve).
# The judge samples cooler than the writer in both profiles, and not at 0: a retried judgement of an unreadable
# verdict must be able to come out differently.
PROFILE_DEFAULTS: dict[str, dict[str, Any]] = {
    "weak": dict(context_scope="clause", temperature=0.8, judge_temperature=0.3, domains_per_clause=4,
                 domains_from_lm=False, questions_per_ask=3, frequency_penalty=0.1,
                 max_tokens={"domains": 64, "questions": 128, "reason": 80, "answer": 112, "judge": 32}),
    "strong": dict(context_scope="full", temperature=0.9, judge_temperature=0.2, domains_per_clause=6,
                   questions_per_ask=3,
                   max_tokens={"domains": 300, "questions": 600, "reason": 700, "answer": 900, "judge": 200}),
}
