"""The Model Spec file format: a YAML document validated by pydantic, with a canonical content hash.

A spec names the AI system it is about (`model_name`, `provider_name`), may carry long prose sections
(`sections`: a core philosophy of several paragraphs, each section with an id and a title), and lists
clauses: a stable id, the rule, optionally the values behind it (`rationale`), examples and domain tags.
Text fields may use the placeholders `{model_name}` and `{provider_name}`; `Spec.render` fills them in.

Format versions: 1 has no `sections`; 2 adds them. A file that leaves out `schema_version` is version 1,
so every file written before sections existed reads, validates and hashes exactly as it did.

The content hash is sha256 over a canonical JSON form of the validated spec (sorted keys, no YAML
comments or formatting), so reformatting a file keeps its hash and any change of content changes it.
Version 1 specs hash without a `sections` key, as they always did. Every downstream record (documents,
snapshots, models, eval results) carries `spec_id` + `spec_hash`.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator, model_validator

from msm.errors import BadInput
from msm.yaml_files import FileProblems, load_yaml_record

SPEC_SCHEMA_VERSION = 2  # the newest format this msm reads and writes
READABLE_SCHEMA_VERSIONS = (1, 2)
FIRST_VERSION_WITH_SECTIONS = 2
MAX_SPEC_BYTES = 4 * 1024 * 1024
PLACEHOLDERS = ("model_name", "provider_name")
_PLACEHOLDER_RE = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
Identifier = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_.-]{0,79}$")]
NonEmpty = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]


def _hash_json(data: object) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
                          .encode("utf-8")).hexdigest()


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

    @property
    def content_hash(self) -> str:
        """sha256 over the clause's canonical JSON: any change of its rule, rationale, examples, domain, key terms
        or weight changes it; reformatting the YAML does not (`msm spec diff`, `msm generate --reuse-from`)."""
        return _hash_json(self.model_dump(mode="json"))

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


class Section(BaseModel):
    """A titled piece of prose (e.g. one part of a core philosophy) that the generator sees with the clauses."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: Identifier = Field(description="Stable section id.")
    title: NonEmpty
    text: NonEmpty = Field(description="One or more paragraphs, separated by blank lines.")

    @field_validator("title", "text")
    @classmethod
    def _placeholders(cls, value: str) -> str:
        return _check_placeholders(value)  # type: ignore[return-value]

    @property
    def content_hash(self) -> str:
        return _hash_json(self.model_dump(mode="json"))

    def paragraphs(self) -> list[str]:
        return [" ".join(p.split()) for p in self.text.split("\n\n") if p.strip()]


class Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    # a file that leaves it out is version 1 (the format before sections), so old files keep their hashes
    schema_version: int = Field(default=1)
    id: Identifier
    title: NonEmpty
    version: NonEmpty
    description: NonEmpty
    model_name: NonEmpty = Field(description="How the documents name the AI system (as its chat template does).")
    provider_name: NonEmpty = Field(description="The organisation that trains the AI system.")
    sections: list[Section] = Field(default_factory=list, description="Long prose (schema_version 2).")
    clauses: list[Clause] = Field(min_length=1)

    @field_validator("version", mode="before")
    @classmethod
    def _version_as_text(cls, value: object) -> object:
        # YAML reads `version: 1.10` as the float 1.1; a version is a label, so keep the text as written.
        from msm.input_files import number_as_written

        return number_as_written(value)

    @field_validator("schema_version")
    @classmethod
    def _known_schema(cls, value: int) -> int:
        if value not in READABLE_SCHEMA_VERSIONS:
            raise ValueError(f"unsupported schema_version {value} (this msm reads "
                             f"{', '.join(map(str, READABLE_SCHEMA_VERSIONS))})")
        return value

    @field_validator("description")
    @classmethod
    def _description_placeholders(cls, value: str) -> str:
        return _check_placeholders(value)  # type: ignore[return-value]

    @model_validator(mode="after")
    def _unique_ids(self) -> "Spec":
        if self.sections and self.schema_version < FIRST_VERSION_WITH_SECTIONS:
            raise ValueError(f"sections: need schema_version: {FIRST_VERSION_WITH_SECTIONS} "
                             f"(version {self.schema_version} specs have no sections)")
        for field, items in (("sections", self.sections), ("clauses", self.clauses)):
            seen: set[str] = set()
            for index, item in enumerate(items):
                if item.id in seen:
                    raise ValueError(f"{field}.{index}.id: duplicate {field[:-1]} id '{item.id}'")
                seen.add(item.id)
        return self

    # ---- derived views -------------------------------------------------------------------------
    def canonical_json(self) -> str:
        data = self.model_dump(mode="json")
        if self.schema_version < FIRST_VERSION_WITH_SECTIONS:
            del data["sections"]  # always empty there; leaving it out keeps every version 1 hash as it was
        return json.dumps(data, sort_keys=True, ensure_ascii=False, separators=(",", ":"))

    @property
    def content_hash(self) -> str:
        return hashlib.sha256(self.canonical_json().encode("utf-8")).hexdigest()

    def clause_hashes(self) -> dict[str, str]:
        return {c.id: c.content_hash for c in self.clauses}

    def section_hashes(self) -> dict[str, str]:
        return {s.id: s.content_hash for s in self.sections}

    def frame_hash(self) -> str:
        """The spec apart from its clauses and sections: what it is about (model and provider names), its title
        and description. The version label is left out: it is bookkeeping, not content a document is written from."""
        return _hash_json({"model_name": self.model_name, "provider_name": self.provider_name,
                           "title": self.title, "description": self.description})

    def render(self, text: str) -> str:
        return text.replace("{model_name}", self.model_name).replace("{provider_name}", self.provider_name)

    def clause(self, clause_id: str) -> Clause:
        for clause in self.clauses:
            if clause.id == clause_id:
                return clause
        raise BadInput(f"spec {self.id}: no clause with id '{clause_id}'")

    def as_text(self) -> str:
        """The whole spec as prose-ready text, placeholders filled (what a generator puts in context): title,
        description, every section in full, then every clause with its rationale."""
        lines = [f"# {self.title} (version {self.version})", self.render(self.description), ""]
        for section in self.sections:
            lines.append(f"## {self.render(section.title)}")
            for paragraph in section.paragraphs():
                lines += [self.render(paragraph), ""]
        if self.sections:
            lines.append("## Clauses")
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
            "n_sections": len(self.sections),
            "n_clauses": len(self.clauses),
            "n_with_rationale": sum(1 for c in self.clauses if c.rationale),
            "n_examples": sum(len(c.examples) for c in self.clauses),
            "domains": sorted({c.domain for c in self.clauses if c.domain}),
            # the prose a generator reads about the model: sections, rules and rationales
            "words": sum(len(self.render(s.text).split()) for s in self.sections)
            + sum(len(self.render(c.rule).split()) + len(self.render(c.rationale or "").split()) for c in self.clauses),
            "characters": sum(len(" ".join(self.render(s.text).split())) for s in self.sections)
            + sum(len(" ".join(self.render(c.rule).split())) + len(" ".join(self.render(c.rationale or "").split()))
                  for c in self.clauses),
        }


SpecFileError = FileProblems  # `file: field: problem` lines for a spec that failed to load


def load_spec(path: str | Path) -> Spec:
    """Read and validate a spec file; raise SpecFileError with one `file: field: problem` per error."""
    return load_yaml_record(path, Spec, what="spec", max_bytes=MAX_SPEC_BYTES, located_prefixes=("clauses", "sections"))


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
