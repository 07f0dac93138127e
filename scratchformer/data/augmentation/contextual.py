"""Contextual replacement: mask spans of a text and let a language model write new words there
(Kobayashi 2018, "Contextual Augmentation"; here with a causal LM, as an offline stand-in for
back-translation, for which no translation model is at hand).

    "the acting was wooden and the plot was thin"
        mask about p of the words in spans   ->  "the acting was [___] and the plot [___ ___]"
        fill each span from left to right    ->  "the acting was superb and the plot never drags"

`fill(left, n, right, rng)` returns up to n words for a span, given the text before it (with the
spans already filled) and the text after it; a causal model reads only `left`. Words it does not
give keep their original. scratchformer.tasks.span_filler builds a fill from our GPT or SmolLM2.
"""

from __future__ import annotations

import random
from typing import Callable

from scratchformer.data.augmentation.masking import mask_spans
from scratchformer.data.augmentation.words import join_words, split_words, word_positions

Fill = Callable[[str, int, str, random.Random], list[str]]


def contextual_replacement(text: str, p: float, rng: random.Random, fill: Fill, mean_span: float = 3.0) -> str:
    """Replace about p of the words, in spans of mean length mean_span, by words from `fill`."""
    items = split_words(text)
    positions = word_positions(items)
    for start, end in mask_spans(len(positions), p, rng, mean_span):
        first, last = positions[start], positions[end - 1]
        left, right = join_words(items[:first]), join_words(items[last + 1:])
        new = [w for w in fill(left, end - start, right, rng) if w.strip()][: end - start]
        for k, word in enumerate(new):
            items[positions[start + k]] = word
    return join_words(items)
