"""Reading the YAML files users write (specs, experiments, curation configs) into pydantic records, with
one-line `file: field: problem` errors — the same wording everywhere, never a traceback."""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from msm.errors import BadInput, one_line
from msm.input_files import InputFileError, load_yaml

RecordT = TypeVar("RecordT", bound=BaseModel)
MAX_PROBLEMS_SHOWN = 20   # a list of a million wrong items is one problem repeated; the first few say it


class FileProblems(BadInput):
    """One or more `file: field: problem` lines about one file."""

    def __init__(self, problems: list[str]):
        self.problems = [one_line(problem) for problem in problems]
        super().__init__("; ".join(problems))


def _short(value: object, limit: int = 40) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def read_yaml_mapping(path: str | Path, *, what: str, max_bytes: int) -> dict[str, Any]:
    """The top-level mapping of a YAML file, or FileProblems naming `(file)` / `(document)`.

    Read through the safe YAML loader: a FIFO, a device, an oversized file, a nesting or alias bomb is refused
    with one line instead of hanging or crashing."""
    shown = str(path)
    try:
        data = load_yaml(path, what=what, max_bytes=max_bytes)
    except InputFileError as exc:
        raise FileProblems([f"{shown}: ({exc.scope}): {exc.problem}"]) from None
    if not isinstance(data, dict):
        raise FileProblems([f"{shown}: (document): expected a mapping of {what} fields, got {type(data).__name__}"])
    return data


def validation_problems(shown: str, exc: ValidationError, *, located_prefixes: tuple[str, ...] = ()) -> list[str]:
    """pydantic errors as `file: field: problem` lines. A model-level validator may put a precise location
    at the start of its message (`clauses.1.id: duplicate …`) when it starts with one of `located_prefixes`."""
    problems = []
    for err in exc.errors()[:MAX_PROBLEMS_SHOWN]:
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
    if exc.error_count() > MAX_PROBLEMS_SHOWN:
        problems.append(f"{shown}: (document): {exc.error_count() - MAX_PROBLEMS_SHOWN} more problems not shown")
    return problems


def load_yaml_record(path: str | Path, model: type[RecordT], *, what: str, max_bytes: int,
                     located_prefixes: tuple[str, ...] = ()) -> RecordT:
    data = read_yaml_mapping(path, what=what, max_bytes=max_bytes)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise FileProblems(validation_problems(str(path), exc, located_prefixes=located_prefixes)) from None
