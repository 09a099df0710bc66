"""Pack tokenized documents into fixed-length blocks for next-token training.

Documents are shuffled with the run's seed, each is followed by EOS, and the stream is cut into
`block_size` pieces; a document longer than a block simply continues in the next one. Only the final
partial block is dropped, so waste is < block_size tokens in total (≤ 2% once the corpus holds ≥ 50
blocks). Attention is not masked at EOS boundaries: as in GPT-style pre-training, EOS tells the model
a new document starts, and per-document masks would cost the packed batch its speed.
"""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass

import torch


@dataclass(frozen=True, slots=True)
class PackingStats:
    n_documents: int
    block_size: int
    n_blocks: int
    stream_tokens: int  # document tokens + one EOS per document
    dropped_tokens: int  # the tail that did not fill a last block
    separator_token_id: int

    @property
    def waste(self) -> float:
        return self.dropped_tokens / self.stream_tokens if self.stream_tokens else 0.0

    def as_dict(self) -> dict:
        return {**asdict(self), "waste": round(self.waste, 6)}


def pack_documents(token_lists: list[list[int]], *, eos_id: int, block_size: int, seed: int) -> tuple[torch.Tensor, PackingStats]:
    """(blocks [n_blocks, block_size] int64, stats). Document order is a seeded shuffle."""
    order = list(range(len(token_lists)))
    random.Random(seed).shuffle(order)
    stream: list[int] = []
    for index in order:
        stream.extend(token_lists[index])
        stream.append(eos_id)
    n_blocks = len(stream) // block_size
    used = n_blocks * block_size
    blocks = torch.tensor(stream[:used], dtype=torch.long).view(n_blocks, block_size)
    stats = PackingStats(n_documents=len(token_lists), block_size=block_size, n_blocks=n_blocks,
                         stream_tokens=len(stream), dropped_tokens=len(stream) - used, separator_token_id=eos_id)
    return blocks, stats


def pack_held_out(token_lists: list[list[int]], *, eos_id: int, block_size: int) -> list[torch.Tensor]:
    """Held-out documents as evaluation sequences: the same EOS-joined stream cut into blocks, but the last,
    shorter block is kept (evaluation pads it; dropping it would lose most of a small held-out slice)."""
    stream: list[int] = []
    for tokens in token_lists:
        stream.extend(tokens)
        stream.append(eos_id)
    return [torch.tensor(stream[start:start + block_size], dtype=torch.long)
            for start in range(0, len(stream), block_size) if len(stream[start:start + block_size]) > 1]
