"""Character noise: typos. Each character is, with probability p, deleted, replaced, doubled by an
inserted character, or swapped with the next one (the four edits of a keyboard typo).

    character_noise("a good film", 0.1) -> "a godo flim"

Line breaks are never edited, so a play keeps its lines. Inserted and replacing characters are
lower-case ASCII letters.
"""

from __future__ import annotations

import random
import string

LETTERS = string.ascii_lowercase


def character_noise(text: str, p: float, rng: random.Random) -> str:
    """Edit each character with probability p: delete, replace, insert after, or swap with the next."""
    chars = list(text)
    out: list[str] = []
    i = 0
    while i < len(chars):
        c = chars[i]
        if c == "\n" or rng.random() >= p:
            out.append(c)
            i += 1
            continue
        edit = rng.randrange(4)
        if edit == 0:  # delete
            pass
        elif edit == 1:  # replace
            out.append(rng.choice(LETTERS))
        elif edit == 2:  # insert after
            out.extend([c, rng.choice(LETTERS)])
        elif i + 1 < len(chars) and chars[i + 1] != "\n":  # swap with the next character
            out.extend([chars[i + 1], c])
            i += 1
        else:  # (the last character of a line has nothing to swap with)
            out.append(c)
        i += 1
    return "".join(out)
