"""Reading the YAML files users write (specs, experiments, curation configs) into pydantic records, with
one-line `file: field: problem` errors — the same wording everywhere, never a traceback."""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from msm.errors import BadInput

RecordT = TypeVar("RecordT", bound=BaseModel)


class FileProblems(BadInput):
    """One or more `file: field: problem` lines about one file."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("; ".join(problems))


def _short(value: object, limit: int = 40) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def read_yaml_mapping(path: str | Path, *, what: str, max_bytes: int) -> dict[str, Any]:
    """The top-level mapping of a YAML file, or FileProblems naming `(file)` / `(document)`."""
    path = Path(path)
    shown = str(path)
    if not path.exists():
        raise FileProblems([f"{shown}: (file): no such {what} file"])
    if not path.is_file():
        raise FileProblems([f"{shown}: (file): is not a regular file"])
    size = path.stat().st_size
    if size > max_bytes:
        raise FileProblems([f"{shown}: (file): {size} bytes is larger than the {max_bytes} a {what} file may have"])
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise FileProblems([f"{shown}: (file): not UTF-8 (byte 0x{raw[exc.start]:02x} at offset {exc.start})"]) from None
    if not text.strip():
        raise FileProblems([f"{shown}: (document): empty file"])
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        where = f"line {mark.line + 1} column {mark.column + 1}: " if mark is not None else ""
        raise FileProblems([f"{shown}: (document): not valid YAML: {where}{problem}"]) from None
    if not isinstance(data, dict):
        raise FileProblems([f"{shown}: (document): expected a mapping of {what} fields, got {type(data).__name__}"])
    return data


def validation_problems(shown: str, exc: ValidationError, *, located_prefixes: tuple[str, ...] = ()) -> list[str]:
    """pydantic errors as `file: field: problem` lines. A model-level validator may put a precise location
    at the start of its message (`clauses.1.id: duplicate …`) when it starts with one of `located_prefixes`."""
    problems = []
    for err in exc.errors():
        message = err["msg"].removeprefix("Value error, ")
        loc = ".".join(str(part) for part in err["loc"]) or "(document)"
        head = message.split(": ", 1)[0]
        if ": " in message and head.split(".")[0] in located_prefixes:
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
    return problems


def load_yaml_record(path: str | Path, model: type[RecordT], *, what: str, max_bytes: int,
                     located_prefixes: tuple[str, ...] = ()) -> RecordT:
    data = read_yaml_mapping(path, what=what, max_bytes=max_bytes)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise FileProblems(validation_problems(str(path), exc, located_prefixes=located_prefixes)) from None
