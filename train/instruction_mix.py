"""Instruction mix for alignment fine-tuning: general chat demonstrations mixed into the AFT data.

`msm train sft --mix FILE:RATIO` makes RATIO of the SFT training tokens (whole demonstrations, prompts
included) come from FILE: `instruct` (the small set shipped with msm) or a JSONL file of {"messages": [...]}.
Demonstrations are drawn whole, in seeded order, cycling through the file when it is smaller than its share
and stopping early when it is larger. With several mixes, RATIO_i of the final tokens come from mix i and
1 − ΣRATIO from the AFT data itself.

Why: the MSM paper fine-tunes *base* models, and mixes an instruction-tuning set into AFT so that the model
learns to answer at all, not only to state twelve preferences; its "identity baseline" is trained on that mix
alone (`--data instruct`). The shipped `instruct` set (train/data_instruct.jsonl) is 40 single-turn
demonstrations — arithmetic, short explanations, writing, grammar, code, everyday instructions — written afresh
for msm and released with it under Apache-2.0. It stays away from cheese, prices, shopping, travel and the
model's own identity or values, and recommends nothing, so it cannot lean either cheese spec's way. It is small:
for a paper-scale run pass your own instruction set (the paper mixes about 2M tokens).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from msm.atomic import sha256_file
from msm.errors import BadInput
from msm.train.chat_data import SHIPPED_AFT, resolve_aft_path
from msm.train.replay import sample_to_share

MAX_TOTAL_RATIO = 0.95  # the AFT data itself keeps at least 5% of the tokens


@dataclass(frozen=True, slots=True)
class InstructionMix:
    source: str  # what the user wrote (`instruct` or a path)
    path: Path
    ratio: float


def parse_instruction_mix(value: str) -> InstructionMix:
    """`FILE:RATIO` -> InstructionMix; BadInput (exit 2) naming the value on anything malformed."""
    name, sep, ratio_text = value.rpartition(":")
    if not sep or not name:
        raise BadInput(f"--mix {value!r}: expected FILE:RATIO, e.g. instruct:0.5")
    try:
        ratio = float(ratio_text)
    except ValueError:
        raise BadInput(f"--mix {value!r}: ratio {ratio_text!r} is not a number") from None
    if not 0 < ratio <= MAX_TOTAL_RATIO:
        raise BadInput(f"--mix {value!r}: ratio must be in (0, {MAX_TOTAL_RATIO}] (a share of all SFT training tokens)")
    if name not in SHIPPED_AFT and not Path(name).is_file():
        raise BadInput(f"--mix {value!r}: {name}: no such file (use `instruct` or a .jsonl file of messages)")
    return InstructionMix(source=name, path=resolve_aft_path(name), ratio=ratio)


def check_total(mixes: list[InstructionMix]) -> None:
    if sum(m.ratio for m in mixes) > MAX_TOTAL_RATIO:
        raise BadInput(f"--mix: ratios add up to more than {MAX_TOTAL_RATIO}")


def mix_targets(mixes: list[InstructionMix], aft_tokens: int) -> list[int]:
    """Tokens each mix must supply so that mix i makes up ratio_i of AFT + all mixes."""
    rest = 1.0 - sum(m.ratio for m in mixes)
    return [round(aft_tokens * m.ratio / rest) for m in mixes]


def choose(sizes: list[int], target: int, seed: int) -> list[int]:
    """Indices of the mix's demonstrations to train on (whole ones, repeats when the file is small)."""
    return sample_to_share(sizes, target, seed)


def describe(mix: InstructionMix, *, tokens: int, examples: int, distinct: int) -> dict:
    return {"source": mix.source, "sha256": sha256_file(mix.path), "ratio": mix.ratio, "tokens": tokens,
            "examples": examples, "distinct_examples": distinct}
