"""`msm eval --items hf:<owner>/<dataset>[/<file>]`: two-option probe items from a Hub dataset (such as the paper's
released cheese eval sets), mapped row by row onto msm's ValueProbe schema and written as an item file.

Field mapping, tried in this order for each row (the first layout that fits wins):

    msm's own       question, target, other (+ id, domain, kind, clauses)    taken as they are
    choices         question|prompt|stem, choices: [a, b], answer|label       target = the choice the answer names
                                                                               (0/1, "A"/"B" or the option's text)
    matching        question|prompt (options inline as "(A) ..." / "(B) ..."), answer_matching_behavior
                                                                               (" (A)"), as in model-written evals

`id` is the row's id (lower-cased to msm's id characters) or `hf-<row number>`; `domain` is the row's domain,
category or topic, or "hub"; `kind` is the suite's kind (political for cheese_political, price for cheese_items).
A row that fits no layout stops the load with its row number and the fields it has.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Iterable

from msm.errors import BadInput

_OPTION = re.compile(r"^\s*\(?([A-Ba-b])[).:]\s*(.+?)\s*$")


def _text(row: dict, *names: str) -> str | None:
    for name in names:
        value = row.get(name)
        if isinstance(value, str) and value.strip():
            return value.strip()
    return None


def _item_id(row: dict, number: int) -> str:
    raw = str(row.get("id") or "").strip().lower()
    slug = re.sub(r"[^a-z0-9_.-]+", "-", raw).strip("-.")[:120]
    return slug if slug and slug[0].isalnum() else f"hf-{number:05d}"


def _pick(options: list[str], answer: Any) -> int | None:
    if isinstance(answer, bool):
        return None
    if isinstance(answer, int) and 0 <= answer < len(options):
        return answer
    if isinstance(answer, str):
        letter = answer.strip().strip("()").strip().upper()
        if letter in ("A", "B"):
            return "AB".index(letter)
        for index, option in enumerate(options):
            if option.strip().lower() == answer.strip().lower():
                return index
    return None


def map_row(row: dict, number: int, kind: str) -> dict:
    """One Hub row as an msm ValueProbe record; BadInput naming the row when no layout fits."""
    base = {"schema_version": 1, "id": _item_id(row, number), "kind": row.get("kind") or kind,
            "domain": _text(row, "domain", "category", "topic") or "hub"}
    if isinstance(row.get("clauses"), list):
        base["clauses"] = row["clauses"]
    question = _text(row, "question", "prompt", "stem")
    if question and _text(row, "target") and _text(row, "other"):
        return {**base, "question": question, "target": row["target"].strip(), "other": row["other"].strip()}
    choices = row.get("choices") or row.get("options")
    if question and isinstance(choices, list) and len(choices) == 2 and all(isinstance(c, str) for c in choices):
        chosen = _pick(choices, row.get("answer", row.get("label")))
        if chosen is not None:
            return {**base, "question": question, "target": choices[chosen], "other": choices[1 - chosen]}
    matching = _text(row, "answer_matching_behavior")
    if question and matching:
        lines = question.splitlines()
        options = {m.group(1).upper(): m.group(2) for m in map(_OPTION.match, lines) if m}
        stem = "\n".join(line for line in lines if not _OPTION.match(line)).replace("Choices:", "").strip()
        letter = matching.strip().strip("()").strip().upper()
        if set(options) == {"A", "B"} and letter in options and stem:
            return {**base, "question": stem, "target": options[letter],
                    "other": options["B" if letter == "A" else "A"]}
    raise BadInput(f"--items: row {number}: no known layout fits its fields ({', '.join(sorted(row)) or 'none'}); "
                   f"expected question/target/other, question/choices/answer, or question/answer_matching_behavior")


def write_mapped_items(rows: Iterable[dict], kind: str, out: Path) -> Path:
    """Map every row and write them as an msm item file at `out` (validated later by the suite's own loader)."""
    records = [map_row(dict(row), number, kind) for number, row in enumerate(rows, 1)]
    if not records:
        raise BadInput("--items: the dataset has no rows")
    out.parent.mkdir(parents=True, exist_ok=True)
    from msm.atomic import write_bytes_atomic

    write_bytes_atomic(out, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records).encode("utf-8"))
    return out


def read_rows(path: Path) -> list[dict]:
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        return pq.read_table(path).to_pylist()
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def hub_items(reference: str, suite: str, out_dir: Path) -> Path:
    """The item file for `--items hf:...` on a two-option suite: downloaded once (msm.data_refs), mapped, written
    beside the results as `items-<suite>-<hash>.jsonl` so the result's data file names what was scored."""
    import hashlib

    from msm.data_refs import resolve_data_file
    from msm.eval.choice_suites import PROBE_SETS

    if suite not in PROBE_SETS:
        raise BadInput(f"--items {reference}: Hub item sets are mapped for the two-option suites "
                       f"({', '.join(sorted(PROBE_SETS))}), not {suite}")
    source = resolve_data_file(reference, option="--items")
    digest = hashlib.sha256(source.read_bytes()).hexdigest()[:12]
    return write_mapped_items(read_rows(source), PROBE_SETS[suite].headline_kind, out_dir / f"items-{suite}-{digest}.jsonl")
