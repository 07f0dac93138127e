"""Word-level tokenizer: the IMDb classifier's default (course week 2).

    "Great film!<br /><br />Loved it." -> ["great", "film", "!", "loved", "it", "."]

Steps: lowercase, remove the HTML line breaks `<br />` that IMDb reviews are full of, split
punctuation off words. The vocabulary is the `vocab_size` most frequent words of the training
texts, after two special tokens: `<pad>` (id 0, fills short sequences) and `<unk>` (id 1, every
word outside the vocabulary). Any text encodes, however strange: unknown words become <unk>.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable

from scratchformer.progress import progress_bar

PAD, UNK = "<pad>", "<unk>"
PAD_ID, UNK_ID = 0, 1

BREAK = re.compile(r"<br\s*/?>", re.IGNORECASE)
# a word (letters/digits, with an inner apostrophe as in "don't"), or one punctuation character
WORD = re.compile(r"\w+(?:'\w+)*|[^\w\s]")


def words(text: str) -> list[str]:
    """Lowercased words and punctuation marks of `text`, with <br /> removed."""
    return WORD.findall(BREAK.sub(" ", text.lower()))


class WordTokenizer:
    kind = "word"
    pad_id, unk_id = PAD_ID, UNK_ID

    def __init__(self, vocab: list[str]):
        if vocab[:2] != [PAD, UNK]:
            raise ValueError(f"a word vocabulary starts with {PAD!r}, {UNK!r}; got {vocab[:2]}")
        self.vocab = list(vocab)
        self.stoi = {w: i for i, w in enumerate(self.vocab)}

    @classmethod
    def train(cls, texts: str | Iterable[str], vocab_size: int = 30000, min_count: int = 1) -> "WordTokenizer":
        """Keep the vocab_size - 2 most frequent words seen at least min_count times (ties: alphabetical)."""
        if vocab_size < 3:
            raise ValueError(f"vocab_size must be at least 3 (<pad>, <unk> and one word), got {vocab_size}")
        texts = [texts] if isinstance(texts, str) else texts
        counts = Counter()
        for text in progress_bar(texts, desc="learning the word vocabulary", unit="text"):
            counts.update(words(text))
        ranked = sorted((w for w, c in counts.items() if c >= min_count), key=lambda w: (-counts[w], w))
        return cls([PAD, UNK] + ranked[: vocab_size - 2])

    @property
    def vocab_size(self) -> int:
        return len(self.vocab)

    def encode(self, text: str) -> list[int]:
        get = self.stoi.get
        return [get(w, UNK_ID) for w in words(text)]

    def decode(self, ids: list[int]) -> str:
        return " ".join(self.vocab[i] for i in ids if i != PAD_ID)

    def to_dict(self) -> dict:
        return {"kind": self.kind, "vocab": self.vocab}

    @classmethod
    def from_dict(cls, d: dict) -> "WordTokenizer":
        return cls(d["vocab"])
