"""Token dropout and span masking: hide words behind a mask word, singly or in runs.

    token_dropout  "a truly good film" -> "a _ good film"      each word with probability p
    span_masking   "a truly good film" -> "a _ _ film"         about p of the words, in spans

Span masking follows SpanBERT (Joshi et al. 2020): span lengths are geometric with a mean of
`mean_span` words, and spans are drawn until about p of the words are hidden. `mask_spans` gives
the spans themselves, which contextual replacement fills from a language model instead.
"""

from __future__ import annotations

import math
import random

from scratchformer.data.augmentation.words import count_to_change, join_words, split_words, word_positions

MASK = "_"  # a plain word: every tokenizer reads it, and it carries no sentiment


def token_dropout(text: str, p: float, rng: random.Random, mask: str = MASK) -> str:
    """Replace each word by `mask` with probability p (line breaks stay)."""
    items = split_words(text)
    return join_words([mask if item != "\n" and rng.random() < p else item for item in items])


def span_length(mean_span: float, rng: random.Random) -> int:
    """A geometric length >= 1 with the given mean (inverse-CDF sampling)."""
    if mean_span <= 1:
        return 1
    q = 1.0 / mean_span  # success probability of the geometric distribution
    return 1 + int(math.log(1.0 - rng.random()) / math.log(1.0 - q))


def mask_spans(n_words: int, p: float, rng: random.Random, mean_span: float = 3.0) -> list[tuple[int, int]]:
    """Sorted, disjoint [start, end) spans over n_words words that cover about p of them."""
    target = count_to_change(p, n_words)
    hidden = [False] * n_words
    covered, tries = 0, 0
    while covered < target and tries < 10 * n_words:
        tries += 1
        length = min(span_length(mean_span, rng), target - covered)
        start = rng.randrange(n_words)
        for i in range(start, min(start + length, n_words)):
            covered += not hidden[i]
            hidden[i] = True
    # - merge the hidden words into runs
    spans, start = [], None
    for i, h in enumerate(hidden + [False]):
        if h and start is None:
            start = i
        elif not h and start is not None:
            spans.append((start, i))
            start = None
    return spans


def span_masking(text: str, p: float, rng: random.Random, mean_span: float = 3.0, mask: str = MASK) -> str:
    """Replace about p of the words, in spans of mean length `mean_span`, by `mask` (one per word)."""
    items = split_words(text)
    positions = word_positions(items)
    for start, end in mask_spans(len(positions), p, rng, mean_span):
        for k in range(start, end):
            items[positions[k]] = mask
    return join_words(items)
