"""Reading the files users hand to msm — one safe loader per format (YAML, JSON, JSON lines, TOML) and size checks
for Parquet — so that no file can hang or crash a command.

Every loader refuses with one `file: problem` line (BadInput, exit 2), in about the time it takes to read the file:
- something that is not a regular file, saying what it is: a FIFO would block a reader forever, a link to
  /dev/zero never ends, a directory is not a file;
- more bytes than the caller allows — counted while reading, so a file that grows or misstates its size cannot
  slip past the check;
- nesting deeper than `max_depth`: Python's parsers recurse, so a few thousand `[` are a RecursionError, and a
  structure a few hundred levels deep still breaks whatever walks it later (pydantic, json.dumps, Arrow);
- YAML aliases beyond a bound: a 'billion laughs' file of a few hundred bytes expands to 10^9 nodes, which is
  harmless to load (aliases share one object) but takes minutes to validate or hash. The expansion is measured on
  the node graph before any object is built, counting shared nodes once per reference;
- numbers with more digits than Python converts to int, and strings with unpaired surrogates (valid JSON escapes
  that no UTF-8 writer, terminal or tokenizer accepts).
"""

from __future__ import annotations

import errno
import json
import os
import re
import stat
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Iterator, TypeVar

import yaml
from yaml.composer import Composer
from yaml.constructor import SafeConstructor
from yaml.error import MarkedYAMLError
from yaml.events import AliasEvent
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from yaml.resolver import Resolver

from msm.errors import BadInput

RecordT = TypeVar("RecordT")
MAX_DEPTH = 64                    # spec, experiment, config and record files nest fewer than 10 levels
MAX_YAML_NODES = 200_000          # nodes written out in one YAML file (a paper-sized spec has ~100); composing
                                  # is Python code at ~8 s per million nodes, so this also bounds the time
MAX_ALIASES = 10_000              # alias references in one YAML file
MAX_ALIAS_NODES = 100_000         # nodes that aliases may add beyond those written out
MAX_ALIAS_CHARS = 8 * 1024 * 1024  # characters that aliases may add beyond those written out
MAX_RECORD_BYTES = 64 * 1024 * 1024   # msm's own JSON records: manifests, plans, stage markers, run settings
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
_SURROGATE_ESCAPE_BYTES = re.compile(rb"\\u[dD][89a-fA-F]")


class InputFileError(BadInput):
    """One problem with one input file: `file: problem`, or `file:line: problem` inside a JSON-lines file.

    `scope` says what the problem is about — 'file' (it cannot be read as the format at all: kind, size,
    encoding) or 'document' (it was read, its content is wrong) — for formats that label it (YAML specs)."""

    def __init__(self, path: str | Path, problem: str, *, line: int | None = None, scope: str = "file"):
        self.path = str(path)
        self.problem = problem
        self.line = line
        self.scope = scope
        where = self.path if line is None else f"{self.path}:{line}"
        super().__init__(f"{where}: {problem}")


# ---- what a path is -------------------------------------------------------------------------------
def _kind_of(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a named pipe (FIFO)"
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def _link_note(path: Path) -> str:
    try:
        return f" (a link to {os.readlink(path)})" if path.is_symlink() else ""
    except OSError:
        return ""


def _open_failure(path: Path, exc: OSError, what: str) -> InputFileError:
    if exc.errno == errno.ENOENT:
        if path.is_symlink():
            try:
                return InputFileError(path, f"is a link to {os.readlink(path)}, which does not exist")
            except OSError:
                pass
        return InputFileError(path, f"no such {what} file")
    if exc.errno == errno.ELOOP:
        return InputFileError(path, "is a symbolic link loop")
    if exc.errno in (errno.EACCES, errno.EPERM):
        return InputFileError(path, "permission denied")
    if exc.errno == errno.ENOTDIR:
        return InputFileError(path, "a parent of this path is not a directory")
    if exc.errno == errno.ENAMETOOLONG:
        return InputFileError(path, "path is too long")
    return InputFileError(path, f"cannot be opened: {exc.strerror or exc}")


def open_regular_file(path: str | Path, *, what: str = "input", max_bytes: int) -> BinaryIO:
    """An open binary handle on `path` after checking it is a regular file of at most `max_bytes` bytes.

    Opened non-blocking first, so that a FIFO is reported instead of blocking until some writer appears."""
    path = Path(path)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        raise _open_failure(path, exc, what) from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise InputFileError(path, f"is {_kind_of(info.st_mode)}{_link_note(path)}, not a regular {what} file")
        if info.st_size > max_bytes:
            raise InputFileError(path, f"{info.st_size} bytes is larger than the {max_bytes} bytes a {what} file may have")
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def check_input_path(path: str | Path, *, what: str = "input", max_bytes: int) -> Path:
    """The same checks as `open_regular_file`, for callers that hand the path to another library."""
    with open_regular_file(path, what=what, max_bytes=max_bytes):
        return Path(path)


def read_bytes(path: str | Path, *, what: str = "input", max_bytes: int) -> bytes:
    with open_regular_file(path, what=what, max_bytes=max_bytes) as handle:
        data = handle.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise InputFileError(path, f"larger than the {max_bytes} bytes a {what} file may have (it grew while read)")
    return data


def decode_utf8(data: bytes, path: str | Path, *, line: int | None = None) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        at = "column" if line is not None else "offset"
        position = exc.start + 1 if line is not None else exc.start
        raise InputFileError(path, f"not UTF-8 (byte 0x{data[exc.start]:02x} at {at} {position})", line=line) from None


def read_text(path: str | Path, *, what: str = "input", max_bytes: int) -> str:
    return decode_utf8(read_bytes(path, what=what, max_bytes=max_bytes), path)


# ---- checks on parsed values ----------------------------------------------------------------------
def deeper_than(value: Any, max_depth: int) -> bool:
    """Whether lists/dicts nest more than `max_depth` levels (a scalar is depth 0, `[1]` is 1). Iterative."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else None
        if children is None:
            continue
        if depth > max_depth:
            return True
        stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
    return False


def unpaired_surrogate(value: Any) -> str | None:
    """'field.path: ...' for the first string (key or value) holding an unpaired surrogate, else None."""
    stack: list[tuple[Any, str]] = [(value, "")]
    while stack:
        item, where = stack.pop()
        if isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError as exc:
                return f"{where or '(value)'}: not valid Unicode (unpaired surrogate at character {exc.start})"
        elif isinstance(item, dict):
            for key, child in item.items():
                name = f"{where}.{key}" if where else str(key)
                stack.append((key, f"{name} (key)"))
                stack.append((child, name))
        elif isinstance(item, list):
            stack.extend((child, f"{where}.{index}" if where else str(index)) for index, child in enumerate(item))
    return None


def non_finite(value: Any) -> str | None:
    """'field.path: nan is not a finite number' for the first NaN or infinity (float) in `value`, else None.

    JSON's `NaN`/`Infinity`, YAML's `.nan`/`.inf` and `1e999` all parse to such floats; left in, they compare
    False with every bound (a `weight: .inf` passes validation, a NaN threshold disables its rule) or turn into
    `null` on the way out."""
    import math

    stack: list[tuple[Any, str]] = [(value, "")]
    while stack:
        item, where = stack.pop()
        if isinstance(item, float):
            if not math.isfinite(item):
                return f"{where or '(value)'}: {item!r} is not a finite number"
        elif isinstance(item, dict):
            stack.extend((child, f"{where}.{key}" if where else str(key)) for key, child in item.items())
        elif isinstance(item, list):
            stack.extend((child, f"{where}.{index}" if where else str(index)) for index, child in enumerate(item))
    return None


_NON_FINITE_TEXT = re.compile(r"NaN|Infinity|[eE]\+?\d{3}")
_NON_FINITE_BYTES = re.compile(rb"NaN|Infinity|[eE]\+?\d{3}")


def _value_problem(value: Any, text: str | bytes, max_depth: int) -> str | None:
    # Counting brackets is C-speed; only a text with more of them than `max_depth` can nest that deep.
    brackets = text.count("[") + text.count("{") if isinstance(text, str) else text.count(b"[") + text.count(b"{")
    if brackets > max_depth and deeper_than(value, max_depth):
        return f"nested deeper than {max_depth} levels"
    pattern = _SURROGATE_ESCAPE if isinstance(text, str) else _SURROGATE_ESCAPE_BYTES
    if pattern.search(text) and (problem := unpaired_surrogate(value)):
        return problem
    # only a text that spells NaN, Infinity or a 3-digit exponent can hold a non-finite float: the walk is skipped
    if (_NON_FINITE_TEXT if isinstance(text, str) else _NON_FINITE_BYTES).search(text):
        return non_finite(value)
    return None


# ---- JSON -----------------------------------------------------------------------------------------
def parse_json(text: str | bytes, path: str | Path, *, line: int | None = None, max_depth: int = MAX_DEPTH) -> Any:
    """One JSON value (a whole file, or one line of a JSON-lines file when `line` is given)."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        where = f"column {exc.colno}" if line is not None else f"line {exc.lineno} column {exc.colno}"
        raise InputFileError(path, f"not valid JSON: {exc.msg} at {where}", line=line, scope="document") from None
    except RecursionError:
        raise InputFileError(path, f"nested deeper than {max_depth} levels", line=line, scope="document") from None
    except UnicodeDecodeError as exc:
        raise InputFileError(path, f"not UTF-8 (byte at offset {exc.start})", line=line) from None
    except ValueError as exc:   # an integer with more digits than Python converts (sys.get_int_max_str_digits)
        reason = "a number has too many digits" if "digits" in str(exc) else str(exc).splitlines()[0]
        raise InputFileError(path, f"not usable JSON: {reason}", line=line, scope="document") from None
    problem = _value_problem(value, text, max_depth)
    if problem:
        raise InputFileError(path, problem, line=line, scope="document")
    return value


def load_json(path: str | Path, *, what: str = "JSON", max_bytes: int, max_depth: int = MAX_DEPTH) -> Any:
    data = read_bytes(path, what=what, max_bytes=max_bytes)
    text = decode_utf8(data, path)
    if not text.strip():
        raise InputFileError(path, "empty file", scope="document")
    return parse_json(text, path, max_depth=max_depth)


def load_json_object(path: str | Path, *, what: str = "JSON", max_bytes: int, max_depth: int = MAX_DEPTH) -> dict:
    value = load_json(path, what=what, max_bytes=max_bytes, max_depth=max_depth)
    if not isinstance(value, dict):
        raise InputFileError(path, f"expected a JSON object, got {type(value).__name__}", scope="document")
    return value


def load_json_record(path: str | Path, model: type[RecordT], *, what: str, max_bytes: int = MAX_RECORD_BYTES) -> RecordT:
    """One of msm's own typed JSON records (run settings, a curation summary, a manifest): any problem — not
    readable, not JSON, not the record's shape — is one InputFileError naming the file."""
    from pydantic import ValidationError

    data = load_json_object(path, what=what, max_bytes=max_bytes)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "(record)"
        raise InputFileError(path, f"not a valid {what}: {where}: {first['msg']}", scope="document") from None


def iter_json_lines(path: str | Path, *, what: str = "JSON lines", max_bytes: int, max_line_bytes: int,
                    max_depth: int = MAX_DEPTH) -> Iterator[tuple[int, Any]]:
    """(line number, value) for each non-blank line; InputFileError names `file:line` at the first bad one.

    Lines are read with a length bound, so one endless line (a file of NULs, /dev/zero behind a regular-looking
    name) costs at most `max_line_bytes` of memory."""
    total = 0
    with open_regular_file(path, what=what, max_bytes=max_bytes) as handle:
        number = 0
        while raw := handle.readline(max_line_bytes + 1):
            number += 1
            total += len(raw)
            if total > max_bytes:
                raise InputFileError(path, f"larger than the {max_bytes} bytes a {what} file may have (it grew while read)")
            if len(raw) > max_line_bytes and not raw.endswith(b"\n"):
                raise InputFileError(path, f"line longer than {max_line_bytes} bytes", line=number)
            text = decode_utf8(raw, path, line=number)
            if not text.strip():
                continue
            yield number, parse_json(text, path, line=number, max_depth=max_depth)


# ---- TOML -----------------------------------------------------------------------------------------
def load_toml(path: str | Path, *, what: str = "TOML", max_bytes: int, max_depth: int = MAX_DEPTH) -> dict[str, Any]:
    text = read_text(path, what=what, max_bytes=max_bytes)
    try:
        value = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InputFileError(path, f"not valid TOML: {exc}", scope="document") from None
    except RecursionError:
        raise InputFileError(path, f"nested deeper than {max_depth} levels", scope="document") from None
    except ValueError as exc:
        reason = "a number has too many digits" if "digits" in str(exc) else str(exc).splitlines()[0]
        raise InputFileError(path, f"not usable TOML: {reason}", scope="document") from None
    problem = _value_problem(value, text, max_depth)
    if problem:
        raise InputFileError(path, problem, scope="document")
    return value


# ---- YAML -----------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class YamlLimits:
    max_depth: int = MAX_DEPTH
    max_nodes: int = MAX_YAML_NODES
    max_aliases: int = MAX_ALIASES
    max_alias_nodes: int = MAX_ALIAS_NODES
    max_alias_chars: int = MAX_ALIAS_CHARS


class YamlLimitError(MarkedYAMLError):
    """A YAML document past one of YamlLimits (reported with its line, like a syntax error)."""


class _BoundedComposer(Composer):
    """PyYAML's composer, counting depth, nodes and aliases as it goes, and measuring what the aliases expand to
    before anything is constructed."""

    limits = YamlLimits()
    _depth = _nodes = _aliases = 0

    def compose_node(self, parent, index):
        event = self.peek_event()
        if isinstance(event, AliasEvent):
            self._aliases += 1
            if self._aliases > self.limits.max_aliases:
                raise YamlLimitError(None, None, f"more than {self.limits.max_aliases} aliases", event.start_mark)
            return super().compose_node(parent, index)
        self._nodes += 1
        if self._nodes > self.limits.max_nodes:
            raise YamlLimitError(None, None, f"more than {self.limits.max_nodes} nodes", event.start_mark)
        self._depth += 1
        if self._depth > self.limits.max_depth:
            raise YamlLimitError(None, None, f"nested deeper than {self.limits.max_depth} levels", event.start_mark)
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def get_single_node(self):
        node = super().get_single_node()
        if node is not None and self._aliases:
            _check_expansion(node, self.limits)
        return node


def _check_expansion(root: Node, limits: YamlLimits) -> None:
    """Raise YamlLimitError when aliases make the document deeper, or larger, than the limits allow."""
    sizes: dict[int, tuple[int, int]] = {}     # id(node) -> (expanded nodes, expanded scalar characters)
    on_path: set[int] = set()
    literal_chars = 0
    seen: set[int] = set()

    def visit(node: Node, depth: int) -> tuple[int, int]:
        nonlocal literal_chars
        key = id(node)
        if key in sizes:
            return sizes[key]
        if key in on_path:
            raise YamlLimitError(None, None, "an alias refers to a node that contains it (a recursive structure)",
                                 node.start_mark)
        if depth > limits.max_depth:
            raise YamlLimitError(None, None, f"aliases nest it deeper than {limits.max_depth} levels", node.start_mark)
        if isinstance(node, ScalarNode):
            if key not in seen:
                seen.add(key)
                literal_chars += len(node.value)
            sizes[key] = (1, len(node.value))
            return sizes[key]
        on_path.add(key)
        children: list[Node] = []
        if isinstance(node, SequenceNode):
            children = list(node.value)
        elif isinstance(node, MappingNode):
            for key_node, value_node in node.value:
                children += [key_node, value_node]
        nodes, chars = 1, 0
        for child in children:
            child_nodes, child_chars = visit(child, depth + 1)
            nodes += child_nodes
            chars += child_chars
            if nodes > limits.max_nodes + limits.max_alias_nodes or chars > 2**40:
                break   # already far past any limit; stop adding
        on_path.discard(key)
        sizes[key] = (nodes, chars)
        return sizes[key]

    expanded_nodes, expanded_chars = visit(root, 1)
    literal_nodes = len(sizes)
    if expanded_nodes - literal_nodes > limits.max_alias_nodes:
        raise YamlLimitError(None, None, f"aliases expand it by more than {limits.max_alias_nodes} nodes "
                                         f"(an alias bomb?)", root.start_mark)
    if expanded_chars - literal_chars > limits.max_alias_chars:
        raise YamlLimitError(None, None, f"aliases expand it by more than {limits.max_alias_chars} characters",
                             root.start_mark)


class YamlFloat(float):
    """A float read from YAML that remembers how it was written: labels such as `version: 1.10` are numbers to
    YAML (1.1), so a field that is text by meaning takes `yaml_text` back instead of the float's repr."""

    __slots__ = ("yaml_text",)


def number_as_written(value: Any) -> Any:
    """The text a YAML number was written as (`1.10` stays "1.10"), for fields that are labels; other values pass."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return value
    return getattr(value, "yaml_text", None) or str(value)


class _CheckedConstructor(SafeConstructor):
    """SafeConstructor, with the ValueErrors of bad scalars (an int of 10,000 digits, `!!timestamp 2001-13-45`)
    turned into marked YAML errors that name the line."""

    def construct_mapping(self, node, deep=False):
        # A repeated key silently replaces the first (a second `clauses:` drops every clause above it): refused,
        # naming both lines. Merge keys (`<<`) may be overridden by explicit ones, as YAML intends.
        if isinstance(node, MappingNode):
            first_line: dict[Any, int] = {}
            for key_node, _value in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                key = self.construct_object(key_node, deep=True)
                try:
                    earlier = first_line.get(key)
                except TypeError:   # an unhashable key: PyYAML refuses it itself
                    continue
                if earlier is not None:
                    raise YamlLimitError(None, None, f"duplicate key {str(key)[:60]!r} (first at line {earlier})",
                                         key_node.start_mark)
                first_line[key] = key_node.start_mark.line + 1
        return super().construct_mapping(node, deep=deep)

    def construct_yaml_float(self, node):
        value = YamlFloat(super().construct_yaml_float(node))
        value.yaml_text = str(node.value)
        return value

    def construct_object(self, node, deep=False):
        try:
            return super().construct_object(node, deep=deep)
        except (ValueError, OverflowError, TypeError) as exc:
            message = "a number has too many digits" if "digits" in str(exc) else str(exc).splitlines()[0]
            raise YamlLimitError(None, None, f"bad {node.tag.rsplit(':', 1)[-1]} value: {message}",
                                 node.start_mark) from None


_CheckedConstructor.add_constructor("tag:yaml.org,2002:float", _CheckedConstructor.construct_yaml_float)


if getattr(yaml, "__with_libyaml__", False):
    from yaml.cyaml import CParser as _Parser   # libyaml scans and parses ~10x faster; composing stays in Python (above)

    class _SafeLoader(_BoundedComposer, _Parser, _CheckedConstructor, Resolver):
        def __init__(self, text: str):
            _Parser.__init__(self, text)
            Composer.__init__(self)
            _CheckedConstructor.__init__(self)
            Resolver.__init__(self)
else:  # pragma: no cover - PyYAML without libyaml
    from yaml.parser import Parser
    from yaml.reader import Reader
    from yaml.scanner import Scanner

    class _SafeLoader(Reader, Scanner, Parser, _BoundedComposer, _CheckedConstructor, Resolver):  # type: ignore[no-redef]
        def __init__(self, text: str):
            Reader.__init__(self, text)
            Scanner.__init__(self)
            Parser.__init__(self)
            Composer.__init__(self)
            _CheckedConstructor.__init__(self)
            Resolver.__init__(self)


def parse_yaml(text: str, path: str | Path, *, limits: YamlLimits = YamlLimits()) -> Any:
    """One YAML document with only plain data types (safe tags), within `limits`."""
    loader = _SafeLoader(text)
    loader.limits = limits
    try:
        value = loader.get_single_data()
        if (problem := non_finite(value)) is not None:
            raise InputFileError(path, problem, scope="document")
        return value
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        where = f"line {mark.line + 1} column {mark.column + 1}: " if mark is not None else ""
        prefix = "" if isinstance(exc, YamlLimitError) else "not valid YAML: "
        raise InputFileError(path, f"{prefix}{where}{problem}", scope="document") from None
    except RecursionError:   # not reachable within the depth limit; kept so no traceback can ever escape
        raise InputFileError(path, f"nested deeper than {limits.max_depth} levels", scope="document") from None
    finally:
        loader.dispose()


def load_yaml(path: str | Path, *, what: str = "YAML", max_bytes: int, limits: YamlLimits = YamlLimits()) -> Any:
    text = read_text(path, what=what, max_bytes=max_bytes)
    if not text.strip():
        raise InputFileError(path, "empty file", scope="document")
    return parse_yaml(text, path, limits=limits)


# ---- Parquet --------------------------------------------------------------------------------------
def _type_depth(arrow_type) -> int:
    import pyarrow as pa

    depth, stack = 0, [(arrow_type, 1)]
    while stack:
        current, level = stack.pop()
        depth = max(depth, level)
        if pa.types.is_struct(current):
            stack.extend((current.field(i).type, level + 1) for i in range(current.num_fields))
        elif pa.types.is_list(current) or pa.types.is_large_list(current) or pa.types.is_fixed_size_list(current):
            stack.append((current.value_type, level + 1))
        elif pa.types.is_map(current):
            stack.extend(((current.key_type, level + 1), (current.item_type, level + 1)))
    return depth


def open_parquet(path: str | Path, *, what: str = "Parquet", max_bytes: int, max_rows: int, max_columns: int = 1000,
                 max_depth: int = MAX_DEPTH, max_row_group_bytes: int = 2 * 1024**3):
    """A pyarrow ParquetFile after checking the file and what its footer declares (rows, columns, nesting, the
    uncompressed size of each row group), so that reading it cannot ask for unbounded memory."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = check_input_path(path, what=what, max_bytes=max_bytes)
    try:
        parquet = pq.ParquetFile(path)
        meta = parquet.metadata
        schema = parquet.schema_arrow
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise InputFileError(path, f"not a readable Parquet file: {str(exc).splitlines()[0]}") from None
    if meta.num_columns > max_columns:
        raise InputFileError(path, f"{meta.num_columns} columns is more than the {max_columns} allowed")
    if meta.num_rows > max_rows:
        raise InputFileError(path, f"{meta.num_rows} rows is more than the {max_rows} allowed")
    for field in schema:
        if _type_depth(field.type) > max_depth:
            raise InputFileError(path, f"column {field.name!r} is nested deeper than {max_depth} levels")
    for index in range(meta.num_row_groups):
        size = meta.row_group(index).total_byte_size
        if size > max_row_group_bytes:
            raise InputFileError(path, f"row group {index} declares {size} bytes uncompressed, more than the "
                                       f"{max_row_group_bytes} allowed")
    return parquet
