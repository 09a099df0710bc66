"""`--set KEY=VALUE` on `msm experiment run | validate | status`: try a big experiment file small without editing it.

KEY is a dotted path into the file's mapping (`generate.n_docs`, `eval.suites`, `conditions.2.specs`: a number
indexes a list); VALUE is parsed as YAML (`4`, `true`, `[a, b]`, `local:smollm2-135m`). The overridden mapping is
validated exactly like the file, and the overrides travel with the experiment into the plan and the report, so a
shrunk run is never mistaken for the file's own.
"""

from __future__ import annotations

import copy
from typing import Any, Sequence

import yaml

from msm.errors import BadInput


def parse_override(text: str) -> tuple[list[str], Any]:
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not key or any(not part for part in key.split(".")):
        raise BadInput(f"--set {text!r}: expected KEY=VALUE with a dotted KEY, e.g. generate.n_docs=4")
    try:
        value = yaml.safe_load(raw) if raw.strip() else None
    except yaml.YAMLError as exc:
        raise BadInput(f"--set {key}: value {raw!r} is not YAML ({str(exc).splitlines()[0]})") from None
    return key.split("."), value


def apply_overrides(data: dict, overrides: Sequence[str]) -> dict:
    """A copy of `data` with each override set; BadInput names the override whose path cannot be walked."""
    out = copy.deepcopy(data)
    for text in overrides:
        path, value = parse_override(text)
        node: Any = out
        for depth, part in enumerate(path[:-1]):
            where = ".".join(path[:depth + 1])
            if isinstance(node, list):
                node = node[_index(text, where, part, node)]
            elif isinstance(node, dict):
                if node.get(part) is None:
                    node[part] = {}
                node = node[part]
            else:
                raise BadInput(f"--set {text}: {'.'.join(path[:depth]) or 'the file'} is not a mapping")
            if not isinstance(node, (dict, list)):
                raise BadInput(f"--set {text}: {where} is {node!r}, not a mapping or list")
        last = path[-1]
        if isinstance(node, list):
            node[_index(text, ".".join(path), last, node)] = value
        else:
            node[last] = value
    return out


def _index(text: str, where: str, part: str, node: list) -> int:
    if not part.isdigit() or int(part) >= len(node):
        raise BadInput(f"--set {text}: {where}: a list of {len(node)} needs an index 0..{len(node) - 1}")
    return int(part)
