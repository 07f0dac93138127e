"""A text as a list of words that remembers its line breaks, for the word-level augmentations.

    "the play is\\ngood fun"  ->  ["the", "play", "is", "\\n", "good", "fun"]  ->  "the play is\\ngood fun"

Words are whitespace-separated; runs of spaces and tabs become one space, and each line break is
kept as a "\\n" item that the augmentations never move, delete or replace. So a review (one line)
and a play (many lines) go through the same functions and a play keeps its lines.
"""

from __future__ import annotations

import random

import torch

NEWLINE = "\n"


def split_words(text: str) -> list[str]:
    """The words of `text`, with a "\\n" item at every line break."""
    items: list[str] = []
    for i, line in enumerate(text.split(NEWLINE)):
        if i:
            items.append(NEWLINE)
        items.extend(line.split())
    return items


def join_words(items: list[str]) -> str:
    """The inverse of split_words (up to the width of the spaces): words joined by one space."""
    out: list[str] = []
    for item in items:
        if item != NEWLINE and out and out[-1] != NEWLINE:
            out.append(" ")
        out.append(item)
    return "".join(out)


def word_positions(items: list[str]) -> list[int]:
    """Indices of the items that are words (not line breaks)."""
    return [i for i, item in enumerate(items) if item != NEWLINE]


def count_to_change(p: float, n_words: int) -> int:
    """How many of n_words an operation of strength p changes: p * n rounded, at least one when
    p > 0 and there is a word (EDA's n = alpha * l)."""
    if p <= 0 or n_words == 0:
        return 0
    return max(1, round(p * n_words))


def as_random(rng: random.Random | torch.Generator) -> random.Random:
    """A random.Random from either kind of generator: a torch.Generator gives the seed of a new one
    (drawn from it, so the torch generator advances and the result is reproducible)."""
    if isinstance(rng, random.Random):
        return rng
    if isinstance(rng, torch.Generator):
        return random.Random(int(torch.randint(0, 2**62, (1,), generator=rng)))
    raise TypeError(f"rng must be a random.Random or a torch.Generator, got {type(rng).__name__}")
