"""Language-model batches whose training windows are augmented as they are drawn, or drawn from a
second corpus.

    train bytes ──► random window (a little longer than T+1) ──► decode ──► augment(text, rng)
                                                                               │
          (B, T) x, y ◄── first T+1 ids ◄── encode ◄──────────────────────────┘

Each training row is, with probability `mix_prob`, a window of the second corpus instead of the
first; then, with probability `prob`, its text goes through `augment`. An augmentation may make
a text shorter (deletion, cropping) or longer (insertion): a row is filled from the window's
continuation until it holds T+1 ids, and cut there. Validation and any other split are read as
they are: the model is always measured on clean text.

The randomness of a batch comes from the trainer's batch generator (one draw seeds a Python
random.Random for the batch), so a checkpoint that stores the generator resumes the very same
augmented batches.
"""

from __future__ import annotations

import random
from collections.abc import Callable

import torch

from scratchformer.data.lm_data import LMData

Augment = Callable[[str, random.Random], str]
SLACK = 1.25  # a raw window is this many times T+1 long, so most augmented rows need no refill
MAX_REFILLS = 16  # windows augmented for one row before the rest is filled with plain text


class AugmentedLMData:
    """LMData with augmented (or mixed-in) training rows; every other split as LMData has it."""

    def __init__(self, data: LMData, tokenizer, augment: Augment | None = None, prob: float = 0.0,
                 mix: torch.Tensor | None = None, mix_prob: float = 0.0):
        if not 0.0 <= prob <= 1.0 or not 0.0 <= mix_prob <= 1.0:
            raise ValueError(f"prob and mix_prob must be in [0, 1], got {prob} and {mix_prob}")
        if mix_prob > 0 and (mix is None or len(mix) < data.context_len + 2):
            raise ValueError("mix_prob > 0 needs a second corpus longer than one window")
        self.data, self.tokenizer, self.augment, self.prob = data, tokenizer, augment, prob
        self.mix, self.mix_prob = mix, mix_prob
        # - what the trainer and the evaluation read from an LMData
        self.tokens, self.context_len, self.chars_per_token = data.tokens, data.context_len, data.chars_per_token

    def batch(self, split: str, batch_size: int, generator: torch.Generator):
        """(x, y), each (B, T) long; training rows augmented or mixed as configured."""
        if split != "train":
            return self.data.batch(split, batch_size, generator)
        # - one draw from the trainer's generator seeds this batch's randomness (resumable)
        rng = random.Random(int(torch.randint(2 ** 62, (1,), generator=generator)))
        rows = [self.row(rng) for _ in range(batch_size)]
        window = torch.tensor(rows, dtype=torch.long)  # (B, T+1)
        return window[:, :-1], window[:, 1:]  # (B, T), (B, T)

    def row(self, rng: random.Random) -> list[int]:
        """T+1 ids: a window of the training text (or of the second corpus), augmented or not."""
        n = self.context_len + 1
        source = self.mix if self.mix is not None and rng.random() < self.mix_prob else self.tokens["train"]
        augmented = self.augment is not None and rng.random() < self.prob
        if not augmented:
            start = rng.randrange(len(source) - n + 1)
            return source[start:start + n].tolist()
        # - augment a slightly longer window; refill from its continuation while the row is short
        size = min(int(n * SLACK) + 8, len(source))
        start = rng.randrange(len(source) - size + 1)
        ids: list[int] = []
        for _ in range(MAX_REFILLS):
            if start + size > len(source):  # ran off the end: go on from a new random place
                start = rng.randrange(len(source) - size + 1)
            raw = self.decode(source[start:start + size].tolist())
            ids += self.tokenizer.encode(self.augment(raw, rng))
            start += size
            if len(ids) >= n:
                return ids[:n]
        # - an augmentation that keeps almost nothing: the rest of the row is plain text
        rest = n - len(ids)
        start = rng.randrange(len(source) - rest + 1)
        return ids + source[start:start + rest].tolist()

    def decode(self, ids: list[int]) -> str:
        """Text of a window; a byte window may cut a character in two at its ends: those bytes are dropped."""
        if getattr(self.tokenizer, "kind", "") == "byte":
            return bytes(ids).decode("utf-8", errors="ignore")
        return self.tokenizer.decode(ids)
