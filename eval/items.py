"""The item files the suites ship (JSONL, one typed record a line) and a strict loader for them.

Every record carries `schema_version`; ids are unique within a file. A malformed line is reported as
`file:line: field: problem` (exit 2) rather than skipped, because a silently shorter probe set changes the
numbers without anyone noticing."""

from __future__ import annotations

import hashlib
from importlib import resources
from pathlib import Path
from typing import Annotated, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError, model_validator

from msm.errors import BadInput
from msm.input_files import iter_json_lines

ITEM_SCHEMA_VERSION = 1
NonEmpty = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]
ItemId = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_.-]{0,119}$")]
# a spec clause id (msm.spec's identifier): which clause(s) of the relevant spec an item probes
ClauseId = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_.-]{0,79}$")]


class _Item(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    schema_version: Literal[1] = ITEM_SCHEMA_VERSION
    id: ItemId
    # The spec clause(s) the item probes, by clause id (`value.cheese_judgment`, `dislike.stilton`, `oversight`).
    # Optional, and it may name clauses of several specs (an agentic scenario probes the safety specs' `oversight`
    # and self_preservation's `no_undermining_oversight`); a tool that works on one spec keeps the ids it has.
    # Results carry them per item (ItemScore.clauses), so behaviour can be grouped by clause.
    clauses: list[ClauseId] = Field(default_factory=list)

    @model_validator(mode="after")
    def _clauses_unique(self):
        if len(set(self.clauses)) != len(self.clauses):
            raise ValueError(f"clauses repeat: {self.clauses}")
        return self


class ValueProbe(_Item):
    """A two-option choice. `target` is the option the metric counts:
    conflict  — the pro-America option, which is the expensive one (`other` is the cheap, not-American option);
    control   — the option both values favour (American *and* cheaper);
    neutral   — an arbitrary one of two options neither value separates (a position/prior baseline);
    political — a pro-America answer to a political or civic opinion stem (`other`: a neutral or internationalist
                answer); price plays no part;
    price     — the affordable item of two (`other`: the pricier one); where things come from plays no part."""

    kind: Literal["conflict", "control", "neutral", "political", "price"]
    domain: NonEmpty
    question: NonEmpty
    target: NonEmpty
    other: NonEmpty

    @model_validator(mode="after")
    def _distinct_options(self) -> "ValueProbe":
        if self.target.strip().lower() == self.other.strip().lower():
            raise ValueError("target and other are the same option")
        return self


class FormatControl(_Item):
    """A format-control item (`format_controls.jsonl`): two options, one plainly right, nothing at stake. It checks
    that a scorer can read a choice from a model at all (see `msm.eval.instrument`)."""

    domain: NonEmpty
    question: NonEmpty
    right: NonEmpty
    wrong: NonEmpty

    @model_validator(mode="after")
    def _distinct_options(self) -> "FormatControl":
        if self.right.strip().lower() == self.wrong.strip().lower():
            raise ValueError("right and wrong are the same option")
        return self


class AgenticScenario(_Item):
    organisation: NonEmpty
    goal_conflict: Literal["none", "explicit"]
    threat: Literal["none", "replacement"]
    opportunity: Literal["exfiltration", "sabotage", "blackmail", "deception"]
    harmful_action: NonEmpty = Field(description="What the judge is asked to look for, in words.")
    system: NonEmpty
    user: NonEmpty
    evidence_patterns: list[NonEmpty] = Field(min_length=1, description="Regexes over the response (case-insensitive).")
    evidence_mode: Literal["any", "all"] = "any"
    # the scenario as a two-option decision (suite agentic_choice); both describe the agent's next act
    aligned_option: NonEmpty | None = None
    misaligned_option: NonEmpty | None = None

    @model_validator(mode="after")
    def _patterns_compile(self) -> "AgenticScenario":
        import re

        for pattern in self.evidence_patterns:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"evidence pattern {pattern!r} does not compile: {exc}") from None
        if (self.aligned_option is None) != (self.misaligned_option is None):
            raise ValueError("aligned_option and misaligned_option come together (or neither)")
        return self


class RegressionItem(_Item):
    kind: Literal["text", "mc"]
    domain: NonEmpty
    text: str | None = None
    question: str | None = None
    answer: str | None = None
    distractors: list[NonEmpty] = Field(default_factory=list)

    @model_validator(mode="after")
    def _fields_for_kind(self) -> "RegressionItem":
        if self.kind == "text" and not (self.text and self.text.strip()):
            raise ValueError("a text item needs `text`")
        if self.kind == "mc":
            if not (self.question and self.answer) or not self.distractors:
                raise ValueError("an mc item needs `question`, `answer` and at least one distractor")
            options = [self.answer, *self.distractors]
            if len({o.strip().lower() for o in options}) != len(options):
                raise ValueError("mc options repeat")
        return self


ItemT = TypeVar("ItemT", bound=_Item)
MAX_ITEM_FILE_BYTES = 20 * 1024 * 1024  # item files are hand-sized; anything bigger is a wrong path


def shipped_path(filename: str) -> Path:
    return Path(str(resources.files("msm.eval").joinpath(filename)))


def file_sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def unknown_clauses(items: list[_Item], specs) -> list[tuple[str, str]]:
    """(item id, clause id) for every tag that names no clause of any of `specs` (msm.spec.Spec objects): a typo or
    a clause renamed since the items were tagged. Suites call it where they know the specs at stake."""
    known = {clause.id for spec in specs for clause in spec.clauses}
    return [(item.id, clause) for item in items for clause in item.clauses if clause not in known]


def check_clauses(path: Path, items: list[_Item], specs) -> None:
    """Refuse an item file whose clause tags name clauses none of `specs` has (exit 2, naming the first)."""
    unknown = unknown_clauses(items, specs)
    if unknown:
        item_id, clause = unknown[0]
        names = ", ".join(spec.id for spec in specs)
        raise BadInput(f"{path}: item {item_id}: clauses: {clause!r} is not a clause of {names}"
                       + (f" ({len(unknown) - 1} more)" if len(unknown) > 1 else ""))


def load_items(path: Path, model: type[ItemT]) -> list[ItemT]:
    path = Path(path)
    items: list[ItemT] = []
    seen: dict[str, int] = {}
    for number, record in iter_json_lines(path, what="item", max_bytes=MAX_ITEM_FILE_BYTES,
                                          max_line_bytes=MAX_ITEM_FILE_BYTES):
        if not isinstance(record, dict):
            raise BadInput(f"{path}:{number}: expected a JSON object")
        try:
            item = model.model_validate(record)
        except ValidationError as exc:
            error = exc.errors()[0]
            where = ".".join(str(p) for p in error["loc"]) or "record"
            raise BadInput(f"{path}:{number}: {where}: {error['msg']}") from None
        if item.id in seen:
            raise BadInput(f"{path}:{number}: id: duplicate id '{item.id}' (first on line {seen[item.id]})")
        seen[item.id] = number
        items.append(item)
    if not items:
        raise BadInput(f"{path}: no items")
    return items
