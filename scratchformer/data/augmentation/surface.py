"""Case and punctuation noise: change how a text is written, not what it says.

    case_noise("A good film.", 1.0)         -> "a GOOD Film."
    punctuation_noise("A good, fun film.", 0.5) -> "A good fun film!"

case_noise: each word, with probability p, is rewritten in another of lower, UPPER and Title case.
punctuation_noise: each punctuation mark, with probability p, is dropped (half the time) or
replaced by another mark; and after each word a mark is inserted with probability p / 10 (about
one word in ten ends in a mark in English prose, so p = 1 roughly doubles the marks).
"""

from __future__ import annotations

import random
import re

from scratchformer.data.augmentation.words import join_words, split_words

PUNCTUATION = ".,;:!?"
TOKEN = re.compile(r"\S+|\s+")


def recase(word: str, rng: random.Random) -> str:
    """The word in another case than it has now (lower, UPPER or Title)."""
    options = [w for w in (word.lower(), word.upper(), word.title()) if w != word]
    return rng.choice(options) if options else word


def case_noise(text: str, p: float, rng: random.Random) -> str:
    """Rewrite each word, with probability p, in another case (spacing kept)."""
    return "".join(recase(t, rng) if not t.isspace() and rng.random() < p else t for t in TOKEN.findall(text))


def punctuation_noise(text: str, p: float, rng: random.Random) -> str:
    """Drop or replace each punctuation mark with probability p; add marks after words at rate p / 10."""
    items = split_words(text)
    out = []
    for item in items:
        if item == "\n":
            out.append(item)
            continue
        # - existing marks: each dropped or swapped for another with probability p
        chars = []
        for c in item:
            if c in PUNCTUATION and rng.random() < p:
                if rng.random() < 0.5:
                    chars.append(rng.choice(PUNCTUATION.replace(c, "")))
                continue
            chars.append(c)
        word = "".join(chars)
        # - a new mark after the word
        if rng.random() < p / 10:
            word += rng.choice(PUNCTUATION)
        if word:
            out.append(word)
    return join_words(out)
