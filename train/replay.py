"""Replay mix: a small share of generic text mixed into midtraining to limit forgetting.

`--mix FILE:RATIO` makes RATIO of the training tokens come from FILE (documents repeated in seeded
order when the file is smaller than its share). FILE is `generic` (the corpus shipped with msm), a
path to a .jsonl or .parquet file with a `text` field per record or a .txt file with blank-line-separated
paragraphs, or a Hugging Face dataset `hf:<owner>/<dataset>[/<file>]` (downloaded once, then cached).

The shipped `generic` corpus (train/data_generic_replay.jsonl) is 24 short expository paragraphs on
everyday topics — weather, cooking, rivers, primes, pianos, tides... — written afresh for msm (no
source text copied) and released with it under Apache-2.0. It is deliberately far from AI and cheese.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

from msm.atomic import sha256_file
from msm.errors import BadInput
from msm.input_files import check_input_path, iter_json_lines, open_parquet, read_text

GENERIC_REPLAY = Path(__file__).parent / "data_generic_replay.jsonl"
MAX_RATIO = 0.5
MAX_REPLAY_FILE_BYTES = 512 * 1024 * 1024
MAX_REPLAY_LINE_BYTES = 16 * 1024 * 1024
MAX_REPLAY_ROWS = 50_000_000


@dataclass(frozen=True, slots=True)
class ReplaySource:
    source: str  # what the user wrote (`generic` or a path)
    path: Path
    ratio: float


def parse_mix(value: str) -> ReplaySource:
    """`FILE:RATIO` -> ReplaySource; BadInput (exit 2) naming the value on anything malformed."""
    name, sep, ratio_text = value.rpartition(":")
    if not sep or not name:
        raise BadInput(f"--mix {value!r}: expected FILE:RATIO, e.g. generic:0.05")
    try:
        ratio = float(ratio_text)
    except ValueError:
        raise BadInput(f"--mix {value!r}: ratio {ratio_text!r} is not a number") from None
    if not 0 < ratio <= MAX_RATIO:
        raise BadInput(f"--mix {value!r}: ratio must be in (0, {MAX_RATIO}] (a share of all training tokens)")
    from msm.data_refs import resolve_data_file

    path = GENERIC_REPLAY if name == "generic" else resolve_data_file(name, option=f"--mix {value!r}:")
    if not path.exists() and not path.is_symlink():
        raise BadInput(f"--mix {value!r}: {name}: no such file (use `generic` or a .jsonl/.txt path)")
    check_input_path(path, what="replay", max_bytes=MAX_REPLAY_FILE_BYTES)
    return ReplaySource(source=name, path=path, ratio=ratio)


def read_replay_texts(src: ReplaySource) -> list[str]:
    texts: list[str] = []
    if src.path.suffix == ".parquet":
        parquet = open_parquet(src.path, what="replay", max_bytes=MAX_REPLAY_FILE_BYTES, max_rows=MAX_REPLAY_ROWS)
        if "text" not in parquet.schema_arrow.names:
            raise BadInput(f"{src.path}: no 'text' column")
        texts = [t for t in parquet.read(columns=["text"]).column("text").to_pylist()
                 if isinstance(t, str) and t.strip()]
    elif src.path.suffix == ".jsonl":
        for line_no, record in iter_json_lines(src.path, what="replay", max_bytes=MAX_REPLAY_FILE_BYTES,
                                               max_line_bytes=MAX_REPLAY_LINE_BYTES):
            if not isinstance(record, dict):
                raise BadInput(f"{src.path}:{line_no}: not a JSON object")
            text = record.get("text")
            if not isinstance(text, str):
                raise BadInput(f"{src.path}:{line_no}: field 'text' missing or not a string")
            if text.strip():
                texts.append(text)
    else:
        raw = read_text(src.path, what="replay", max_bytes=MAX_REPLAY_FILE_BYTES)
        texts = [p.strip() for p in raw.split("\n\n") if p.strip()]
    if not texts:
        raise BadInput(f"{src.path}: no text to replay")
    return texts


def sample_to_share(sizes: list[int], target: int, seed: int) -> list[int]:
    """Indices of whole items, cycled in seeded order (each pass a fresh shuffle), until their sizes add up to
    at least `target`. Shared by the midtraining replay mix and the SFT instruction mix."""
    rng = random.Random(seed)
    chosen: list[int] = []
    total = 0
    while total < target:
        order = list(range(len(sizes)))
        rng.shuffle(order)
        for index in order:
            if total >= target:
                break
            chosen.append(index)
            total += sizes[index]
    return chosen


def sample_replay(token_lists: list[list[int]], ratio: float, corpus_tokens: int, seed: int) -> list[list[int]]:
    """Whole replay documents, cycled in seeded order, until they make up `ratio` of corpus + replay tokens."""
    target = round(corpus_tokens * ratio / (1 - ratio))
    chosen = sample_to_share([len(t) + 1 for t in token_lists], target, seed)  # + EOS
    return [token_lists[index] for index in chosen]


def describe(src: ReplaySource, tokens: int) -> dict:
    return {"source": src.source, "sha256": sha256_file(src.path), "ratio": src.ratio, "tokens": tokens}
