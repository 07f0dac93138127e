"""Batches of variable-length token sequences for classification: padding, masks, bucketing.

Reviews differ in length, a batch is a rectangle. Short sequences are padded with <pad> and a
boolean mask says which positions are real:

    tokens        [[ 12,  7, 93,  4],        padding_mask   [[T, T, T, T],
                   [ 55, 18,  0,  0]]   ->                   [T, T, F, F]]     (0 = <pad>)

Models must give the same output for a sequence whatever padding sits beside it (tests check
this). Two knobs keep CPU training cheap:
  - truncation: keep at most `max_len` tokens (the start, the end, or half of each);
  - length bucketing: a batch holds reviews of similar length, so little compute goes into pads.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import torch

TRUNCATE = ("start", "end", "both")


@dataclass
class BatchingConfig:
    """How token sequences are cut and grouped into batches."""

    max_len: int = 256
    """Keep at most this many tokens of each review (truncation)."""
    truncate: str = "start"
    """Which tokens to keep of a longer review: 'start', 'end', or 'both' (half from each end)."""
    bucket: bool = True
    """Group reviews of similar length into one batch (less padding, faster)."""
    bucket_pool: int = 50
    """Bucketing sorts pools of bucket_pool batches by length; smaller is more random."""

    def __post_init__(self):
        if self.max_len < 1:
            raise ValueError(f"max_len must be at least 1, got {self.max_len}")
        if self.truncate not in TRUNCATE:
            raise ValueError(f"truncate must be one of {TRUNCATE}, got {self.truncate!r}")
        if self.bucket_pool < 1:
            raise ValueError(f"bucket_pool must be at least 1, got {self.bucket_pool}")


def truncate(ids: list[int], max_len: int, side: str = "start") -> list[int]:
    """At most max_len ids: the first, the last, or the first and last halves."""
    if len(ids) <= max_len:
        return ids
    if side == "start":
        return ids[:max_len]
    if side == "end":
        return ids[-max_len:]
    head = (max_len + 1) // 2
    return ids[:head] + ids[len(ids) - (max_len - head):]


def pad_batch(seqs: list[list[int]], pad_id: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-pad to the longest sequence -> tokens (B, T) long, padding_mask (B, T) bool (True = real).

    An empty sequence becomes a row of pads with an all-False mask; T is at least 1.
    """
    B, T = len(seqs), max(1, max((len(s) for s in seqs), default=0))
    tokens = torch.full((B, T), pad_id, dtype=torch.long)  # (B, T)
    mask = torch.zeros(B, T, dtype=torch.bool)  # (B, T)
    for i, s in enumerate(seqs):
        tokens[i, : len(s)] = torch.as_tensor(s, dtype=torch.long)
        mask[i, : len(s)] = True
    return tokens, mask


class ClassificationData:
    """Encoded, truncated reviews and labels per split; yields (tokens, labels, padding_mask) batches.

    `batch(split, B, generator)` draws one random batch (the interface of the generic Trainer);
    `epoch(split, B, generator)` walks a whole split once in shuffled, length-bucketed batches;
    `in_order(split, B)` walks a split for evaluation, sorted by length, and yields the indices too.
    """

    def __init__(self, ids: dict[str, list[list[int]]], labels: dict[str, list[int]],
                 cfg: BatchingConfig | None = None, pad_id: int = 0):
        self.cfg = cfg or BatchingConfig()
        self.pad_id = pad_id
        self.ids = {k: [truncate(s, self.cfg.max_len, self.cfg.truncate) for s in v] for k, v in ids.items()}
        self.labels = {k: torch.as_tensor(v, dtype=torch.long) for k, v in labels.items()}
        for k in self.ids:
            if len(self.ids[k]) != len(self.labels[k]):
                raise ValueError(f"split {k!r} has {len(self.ids[k])} sequences but {len(self.labels[k])} labels")
        self.lengths = {k: torch.as_tensor([len(s) for s in v]) for k, v in self.ids.items()}

    def __len__(self) -> int:
        return sum(len(v) for v in self.ids.values())

    def collate(self, split: str, indices: list[int]):
        tokens, mask = pad_batch([self.ids[split][i] for i in indices], self.pad_id)  # (B, T) each
        return tokens, self.labels[split][indices], mask

    def batch(self, split: str, batch_size: int, generator: torch.Generator):
        """One random batch: collate(split, draw(split, batch_size, generator))."""
        return self.collate(split, self.draw(split, batch_size, generator))

    def draw(self, split: str, batch_size: int, generator: torch.Generator) -> list[int]:
        """The indices of one random batch. With bucketing: draw bucket_pool batches' worth of random
        examples, sort them by length, and keep a random window of batch_size neighbours (similar lengths)."""
        n = len(self.ids[split])
        if not self.cfg.bucket:
            return torch.randint(n, (batch_size,), generator=generator).tolist()
        pool = torch.randint(n, (batch_size * self.cfg.bucket_pool,), generator=generator)
        pool = pool[torch.argsort(self.lengths[split][pool], stable=True)]  # shortest first
        start = int(torch.randint(len(pool) - batch_size + 1, (1,), generator=generator))
        return pool[start : start + batch_size].tolist()

    def epoch(self, split: str, batch_size: int, generator: torch.Generator) -> Iterator[tuple]:
        """Every example once, in shuffled batches; with bucketing, each batch holds similar lengths."""
        perm = torch.randperm(len(self.ids[split]), generator=generator)
        batches = []
        pool = batch_size * (self.cfg.bucket_pool if self.cfg.bucket else 1)
        for p in range(0, len(perm), pool):
            chunk = perm[p : p + pool]
            if self.cfg.bucket:
                # - sort the pool by length, then cut it into batches of similar lengths
                chunk = chunk[torch.argsort(self.lengths[split][chunk], stable=True)]
            batches += [chunk[b : b + batch_size] for b in range(0, len(chunk), batch_size)]
        # - shuffle the order of the batches, so lengths do not rise steadily within a pool
        for j in torch.randperm(len(batches), generator=generator).tolist():
            yield self.collate(split, batches[j].tolist())

    def in_order(self, split: str, batch_size: int) -> Iterator[tuple[list[int], tuple]]:
        """(indices, batch) over the whole split, sorted by length (evaluation needs no shuffling)."""
        order = torch.argsort(self.lengths[split], stable=True).tolist()
        for b in range(0, len(order), batch_size):
            idx = order[b : b + batch_size]
            yield idx, self.collate(split, idx)
