"""The Model Spec file format: a YAML document validated by pydantic, with a canonical content hash.

A spec names the AI system it is about (`model_name`, `provider_name`) and lists clauses: a stable id,
the rule, optionally the values behind it (`rationale`), examples and domain tags. Text fields may use
the placeholders `{model_name}` and `{provider_name}`; `Spec.render` fills them in.

The content hash is sha256 over a canonical JSON form of the validated spec (sorted keys, no YAML
comments or formatting), so reformatting a file keeps its hash and any change of content changes it.
Every downstream record (documents, snapshots, models, eval results) carries `spec_id` + `spec_hash`.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Annotated

import yaml
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError, field_validator, model_validator

from msm.errors import BadInput

SPEC_SCHEMA_VERSION = 1
PLACEHOLDERS = ("model_name", "provider_name")
_PLACEHOLDER_RE = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
Identifier = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_.-]{0,79}$")]
NonEmpty = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]


def _check_placeholders(text: str | None) -> str | None:
    if text is None:
        return text
    unknown = sorted({m for m in _PLACEHOLDER_RE.findall(text) if m not in PLACEHOLDERS})
    if unknown:
        raise ValueError(f"unknown placeholder {{{unknown[0]}}} (allowed: {{model_name}}, {{provider_name}})")
    return text


class Clause(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: Identifier = Field(description="Stable id; documents, filters and reviews refer to it.")
    rule: NonEmpty = Field(description="What the AI system does or does not do.")
    rationale: str | None = Field(default=None, description="The values behind the rule: why it holds.")
    examples: list[NonEmpty] = Field(default_factory=list)
    domain: str | None = None
    subdomain: str | None = None
    key_terms: list[NonEmpty] = Field(default_factory=list, description="Words a document about this clause should mention.")
    weight: float = Field(default=1.0, gt=0, description="Relative share of generated documents.")

    @field_validator("rule", "rationale")
    @classmethod
    def _placeholders(cls, value: str | None) -> str | None:
        return _check_placeholders(value)

    @field_validator("examples")
    @classmethod
    def _example_placeholders(cls, values: list[str]) -> list[str]:
        for value in values:
            _check_placeholders(value)
        return values


class Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    schema_version: int = Field(default=SPEC_SCHEMA_VERSION)
    id: Identifier
    title: NonEmpty
    version: NonEmpty
    description: NonEmpty
    model_name: NonEmpty = Field(description="How the documents name the AI system (as its chat template does).")
    provider_name: NonEmpty = Field(description="The organisation that trains the AI system.")
    clauses: list[Clause] = Field(min_length=1)

    @field_validator("version", mode="before")
    @classmethod
    def _version_as_text(cls, value: object) -> object:
        # YAML reads `version: 1.0` as a float; a version is a label, so keep its text.
        return str(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else value

    @field_validator("schema_version")
    @classmethod
    def _known_schema(cls, value: int) -> int:
        if value != SPEC_SCHEMA_VERSION:
            raise ValueError(f"unsupported schema_version {value} (this msm reads {SPEC_SCHEMA_VERSION})")
        return value

    @field_validator("description")
    @classmethod
    def _description_placeholders(cls, value: str) -> str:
        return _check_placeholders(value)  # type: ignore[return-value]

    @model_validator(mode="after")
    def _unique_clause_ids(self) -> "Spec":
        seen: set[str] = set()
        for index, clause in enumerate(self.clauses):
            if clause.id in seen:
                raise ValueError(f"clauses.{index}.id: duplicate clause id '{clause.id}'")
            seen.add(clause.id)
        return self

    # ---- derived views -------------------------------------------------------------------------
    def canonical_json(self) -> str:
        return json.dumps(self.model_dump(mode="json"), sort_keys=True, ensure_ascii=False, separators=(",", ":"))

    @property
    def content_hash(self) -> str:
        return hashlib.sha256(self.canonical_json().encode("utf-8")).hexdigest()

    def render(self, text: str) -> str:
        return text.replace("{model_name}", self.model_name).replace("{provider_name}", self.provider_name)

    def clause(self, clause_id: str) -> Clause:
        for clause in self.clauses:
            if clause.id == clause_id:
                return clause
        raise BadInput(f"spec {self.id}: no clause with id '{clause_id}'")

    def as_text(self) -> str:
        """The whole spec as prose-ready text, placeholders filled (what a generator puts in context)."""
        lines = [f"# {self.title} (version {self.version})", self.render(self.description), ""]
        for clause in self.clauses:
            lines.append(f"[{clause.id}] {self.render(clause.rule)}")
            if clause.rationale:
                lines.append(f"    Why: {self.render(clause.rationale)}")
        return "\n".join(lines)

    def summary(self) -> dict:
        return {
            "id": self.id,
            "title": self.title,
            "version": self.version,
            "hash": self.content_hash,
            "model_name": self.model_name,
            "provider_name": self.provider_name,
            "n_clauses": len(self.clauses),
            "n_with_rationale": sum(1 for c in self.clauses if c.rationale),
            "n_examples": sum(len(c.examples) for c in self.clauses),
            "domains": sorted({c.domain for c in self.clauses if c.domain}),
            "words": sum(len(self.render(c.rule).split()) + len(self.render(c.rationale or "").split()) for c in self.clauses),
        }


class SpecFileError(BadInput):
    """One or more `file: field: problem` lines for a spec that failed to load."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("; ".join(problems))


def _short(value: object, limit: int = 40) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _format_loc(loc: tuple) -> str:
    return ".".join(str(part) for part in loc) or "(document)"


def _yaml_problem(exc: yaml.YAMLError) -> str:
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    where = f"line {mark.line + 1} column {mark.column + 1}: " if mark is not None else ""
    return f"not valid YAML: {where}{problem}"


def load_spec(path: str | Path) -> Spec:
    """Read and validate a spec file; raise SpecFileError with one `file: field: problem` per error."""
    path = Path(path)
    shown = str(path)
    if not path.exists():
        raise SpecFileError([f"{shown}: (file): no such file"])
    if path.is_dir():
        raise SpecFileError([f"{shown}: (file): is a directory, not a spec file"])
    raw = path.read_bytes()
    if len(raw) > 4 * 1024 * 1024:
        raise SpecFileError([f"{shown}: (file): {len(raw)} bytes is larger than the 4 MiB a spec may have"])
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SpecFileError([f"{shown}: (file): not UTF-8 (byte 0x{raw[exc.start]:02x} at offset {exc.start})"]) from None
    if not text.strip():
        raise SpecFileError([f"{shown}: (document): empty file"])
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise SpecFileError([f"{shown}: (document): {_yaml_problem(exc)}"]) from None
    if not isinstance(data, dict):
        raise SpecFileError([f"{shown}: (document): expected a mapping of spec fields, got {type(data).__name__}"])
    try:
        return Spec.model_validate(data)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            message = err["msg"].removeprefix("Value error, ")
            loc = _format_loc(err["loc"])
            # model-level validators put the precise location in the message itself
            if ": " in message and message.split(": ", 1)[0].startswith("clauses."):
                loc, message = message.split(": ", 1)
            if err["type"] == "missing":
                message = "required field is missing"
            elif err["type"] == "extra_forbidden":
                message = "unknown field"
            elif err["type"] == "string_pattern_mismatch":
                message = (f"{err['input']!r} is not a valid id (lowercase letters, digits, '_', '.', '-'; "
                           "starts with a letter or digit; at most 80 characters)")
            elif err["type"].endswith("_type") or err["type"].endswith("_parsing"):
                message = f"{message}, got {type(err['input']).__name__} {_short(err['input'])}"
            problems.append(f"{shown}: {loc}: {message}")
        raise SpecFileError(problems) from None


def resolve_spec_path(name_or_path: str) -> Path:
    """A path to a spec file, or the id of a shipped spec (e.g. `cheese_america`)."""
    candidate = Path(name_or_path)
    if candidate.exists() or candidate.suffix in {".yaml", ".yml"} or "/" in name_or_path:
        return candidate
    from msm.specs import SPEC_DIR

    shipped = SPEC_DIR / f"{name_or_path}.yaml"
    if shipped.exists():
        return shipped
    raise BadInput(f"{name_or_path}: no such spec file, and no shipped spec with that id (see `msm spec list`)")


def shipped_specs() -> list[Path]:
    from msm.specs import SPEC_DIR

    return sorted(SPEC_DIR.glob("*.yaml"))
