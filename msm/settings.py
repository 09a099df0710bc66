"""Stage settings records: one typed pydantic model per stage that is, at once, what the Python API takes, what an
experiment file embeds, and where the stage command's options come from.

A field declared with `option(...)` is a command-line option: its flag, help text, default and bounds are the
field's, so `msm generate --help`, the experiment schema and `generate(ws, GenerateRequest(...))` cannot drift apart.
`settings_options(Model)` puts those options on a click command; `from_cli(Model, values)` builds the record from
what click parsed; `to_argv(record)` is the inverse — the command line that runs the same stage (the experiment
runner starts each stage as its own `msm` process, so a stage behaves the same inside an experiment and out).

    class CurateRequest(StageSettings):
        run: str = option("--run", help="Run to curate.")
        steps: str = option("--steps", default="dedup,filters", help="Comma list of steps.", show_default=True)

    @click.command("curate")
    @settings_options(CurateRequest)
    def curate_command(**values): run(ws, from_cli(CurateRequest, values))

    to_argv(CurateRequest(run="r1"))   # ['--run', 'r1', '--steps', 'dedup,filters']

How a field becomes an option: `bool` with `off=` is a `--x/--no-x` pair (None = unset), a plain `bool` a flag;
`int`/`float` with ge/gt/le/lt bounds an IntRange/FloatRange; a `Literal` a Choice; `list[...]` with
`separator=","` one comma list, else a repeatable option. Ground floor: imports nothing of msm.
"""

from __future__ import annotations

import types
import typing
from typing import Any, Callable, Literal, Union

import annotated_types
import click
from pydantic import BaseModel, ConfigDict, Field

from msm.option_types import BoundedInt, FiniteFloat

class _CliExtra:
    """A field's `json_schema_extra`: holds the option metadata (which may include a click callback, so it cannot be
    plain schema data) and, called by pydantic, adds only the JSON-safe flag to the field's JSON schema."""

    def __init__(self, meta: dict[str, Any]):
        self.meta = meta

    def __call__(self, schema: dict[str, Any]) -> None:
        schema["x-cli-flag"] = self.meta["flag"]


class StageSettings(BaseModel):
    """Base of every stage's settings record: unknown fields are an error, records are immutable values."""

    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True, allow_inf_nan=False)


def option(flag: str, *, help: str, default: Any = None, default_factory: Callable[[], Any] | None = None,
           off: str | None = None, separator: str | None = None, metavar: str | None = None,
           show_default: bool = False, aliases: tuple[str, ...] = (), path: dict[str, bool] | None = None,
           required: bool = False, callback: Callable | None = None, **constraints: Any) -> Any:
    """A record field that is also the command-line option `flag` (see the module docstring). `constraints` are
    pydantic's (ge, gt, le, lt, min_length...), and bound the click option the same way. `path`: click.Path's
    keywords (`{"dir_okay": False}`) for a file or directory option. `callback`: click's, for a value click must
    parse further (it runs before the record validates)."""
    cli = {"flag": flag, "off": off, "separator": separator, "metavar": metavar, "show_default": show_default,
           "aliases": list(aliases), "path": path, "required": required, "callback": callback}
    kwargs: dict[str, Any] = {"description": help, "json_schema_extra": _CliExtra(cli), **constraints}
    if required:
        return Field(**kwargs)
    if default_factory is not None:
        return Field(default_factory=default_factory, **kwargs)
    return Field(default=default, **kwargs)


def cli_meta(flag: str, *, off: str | None = None, separator: str | None = None) -> _CliExtra:
    """`json_schema_extra` naming the option a field of a record defined elsewhere becomes (for `to_argv`), where the
    field keeps its own `Field(...)` declaration: `Field(default=1, ge=1, json_schema_extra=cli_meta("--epochs"))`."""
    return _CliExtra({"flag": flag, "off": off, "separator": separator, "metavar": None, "show_default": False,
                      "aliases": [], "path": None, "required": False, "callback": None})


def _cli(field) -> dict[str, Any] | None:
    extra = field.json_schema_extra
    return extra.meta if isinstance(extra, _CliExtra) else None


def cli_fields(model: type[BaseModel]) -> dict[str, dict[str, Any]]:
    """Field name -> its option metadata, for the fields of `model` that are options: the record's own fields first,
    then those it inherits (a stage's own options lead its --help, shared ones such as the LM-run options follow)."""
    order: list[str] = []
    for cls in model.__mro__:
        order += [name for name in getattr(cls, "__annotations__", {}) if name in model.model_fields
                  and name not in order]
    order += [name for name in model.model_fields if name not in order]
    return {name: meta for name in order if (meta := _cli(model.model_fields[name])) is not None}


def _strip_optional(annotation: Any) -> Any:
    if typing.get_origin(annotation) in (Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        return args[0] if len(args) == 1 else annotation
    return annotation


def _bounds(field) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in field.metadata:
        for name in ("ge", "gt", "le", "lt"):
            value = getattr(item, name, None)
            if value is not None and isinstance(item, (annotated_types.Ge, annotated_types.Gt, annotated_types.Le,
                                                       annotated_types.Lt, annotated_types.Interval)):
                out[name] = value
    return out


def _range_type(kind: type, bounds: dict[str, Any]) -> click.ParamType:
    # every number option refuses NaN/inf (floats) and integers past MAX_OPTION_INT, named by the option
    low = bounds.get("ge", bounds.get("gt"))
    high = bounds.get("le", bounds.get("lt"))
    if kind is int:  # click's IntRange is closed; an open int bound is the next whole number
        return BoundedInt(min=None if low is None else low + (1 if "gt" in bounds else 0),
                          max=None if high is None else high - (1 if "lt" in bounds else 0))
    return FiniteFloat(min=low, max=high, min_open="gt" in bounds, max_open="lt" in bounds)


def _param_type(field, inner: Any, meta: dict[str, Any]) -> click.ParamType | None:
    if meta.get("path") is not None:
        return click.Path(**meta["path"])
    if typing.get_origin(inner) is Literal:
        return click.Choice([str(v) for v in typing.get_args(inner)])
    if inner in (int, float):
        return _range_type(inner, _bounds(field))
    return None


def click_option(name: str, field, meta: dict[str, Any]) -> Callable:
    """The click option for one record field."""
    annotation = _strip_optional(field.annotation)
    default = None if field.is_required() else field.get_default(call_default_factory=True)
    kwargs: dict[str, Any] = {"help": field.description, "show_default": meta["show_default"],
                              "required": meta["required"]}
    if meta.get("metavar"):
        kwargs["metavar"] = meta["metavar"]
    if meta.get("callback"):
        kwargs["callback"] = meta["callback"]
    flags = [meta["flag"], *meta["aliases"]]
    if annotation is bool:
        if meta["off"]:
            return click.option(f"{meta['flag']}/{meta['off']}", name, default=default, **kwargs)
        return click.option(*flags, name, is_flag=True, default=bool(default), **kwargs)
    origin = typing.get_origin(annotation)
    if origin in (list, tuple):
        inner = typing.get_args(annotation)[0]
        if meta["separator"]:  # one comma list on the command line; parsed by the record (or a callback)
            return click.option(*flags, name, default=None, **kwargs)
        param = _param_type(field, inner, meta)
        return click.option(*flags, name, multiple=True, default=tuple(default or ()),
                            **({"type": param} if param else {}), **kwargs)
    param = _param_type(field, annotation, meta)
    return click.option(*flags, name, default=default, **({"type": param} if param else {}), **kwargs)


def settings_options(model: type[BaseModel], *, exclude: frozenset[str] | set[str] = frozenset()) -> Callable:
    """A decorator putting the options of `model`'s fields (in declaration order) on a click command."""
    def decorate(command: Callable) -> Callable:
        for name, meta in reversed(list(cli_fields(model).items())):
            if name not in exclude:
                command = click_option(name, model.model_fields[name], meta)(command)
        return command
    return decorate


def from_cli(model: type[BaseModel], values: dict[str, Any], **extra: Any) -> Any:
    """The record from click's parsed `values` (comma lists split, repeated options as lists), plus `extra`."""
    data: dict[str, Any] = {}
    for name, meta in cli_fields(model).items():
        if name not in values:
            continue
        value = values[name]
        if meta["separator"] and isinstance(value, str):
            value = [part.strip() for part in value.split(meta["separator"]) if part.strip()] or None
        elif isinstance(value, tuple):
            value = list(value)
        data[name] = value
    return model(**data, **extra)


def to_argv(record: BaseModel, *, exclude: frozenset[str] | set[str] = frozenset()) -> list[str]:
    """The command-line options that give the stage command this record (None = the option is not given)."""
    out: list[str] = []
    for name, meta in cli_fields(type(record)).items():
        value = getattr(record, name)
        if name in exclude or value is None:
            continue
        flag = meta["flag"]
        if isinstance(value, bool):
            chosen = flag if value else meta["off"]
            out += [chosen] if chosen else []
        elif isinstance(value, (list, tuple)):
            if meta["separator"]:
                if value:
                    out += [flag, meta["separator"].join(str(v) for v in value)]
            else:
                for item in value:
                    out += [flag, str(item)]
        else:
            out += [flag, str(value)]
    return out
