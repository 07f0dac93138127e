"""Random crop: keep one random window of a long text and drop the rest.

    random_crop("w1 w2 w3 w4 w5 w6 w7 w8 w9 w10", p=0.4) -> "w3 w4 w5 w6 w7 w8"

p is the fraction of the words cut away (the window keeps round((1 - p) * n) words, at least one).
The window is cut from the original string, so its spacing and line breaks are kept exactly.
Texts no longer than `min_words` are left whole: cropping is for long texts.
"""

from __future__ import annotations

import random
import re

WORD = re.compile(r"\S+")


def random_crop(text: str, p: float, rng: random.Random, min_words: int = 0) -> str:
    """A random window of about (1 - p) of the words of `text` (texts of <= min_words words unchanged)."""
    words = list(WORD.finditer(text))  # each word's span in the text
    n = len(words)
    if n == 0 or n <= min_words or p <= 0:
        return text
    keep = max(1, round((1.0 - p) * n))
    start = rng.randint(0, n - keep)
    return text[words[start].start():words[start + keep - 1].end()]
