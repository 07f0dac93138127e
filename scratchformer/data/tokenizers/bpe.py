"""Byte-level byte-pair encoding (Sennrich et al. 2016; GPT-2's byte-level variant), minbpe style.

The idea in four lines:
  1. start from bytes: every text is a sequence of ids 0..255, so nothing is ever unknown;
  2. count every adjacent pair of ids in the training text;
  3. merge the most frequent pair into a new id (256, 257, ...) everywhere, and remember the merge;
  4. repeat until the vocabulary has vocab_size entries.
Encoding replays the merges in the order they were learned; decoding looks up each id's bytes.

Before counting, text is normalised as the word tokenizer does (lowercase, `<br />` removed) and
cut into chunks, a word or a punctuation mark with its leading space (" great", " film", "!"):
merges never cross a chunk, so a token never glues two words together. Identical chunks are
counted once, with their frequency: training loops over distinct chunks, not the whole text.

`train(..., fast=True)` learns the same merges with the Hugging Face `tokenizers` library
(Rust, much faster on 25,000 reviews); a test checks both agree. Encoding is always this file's.
The last id, vocab_size - 1, is <pad>.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable

from scratchformer.data.tokenizers.word import BREAK
from scratchformer.progress import is_terminal, progress_bar

# a word (with inner apostrophes) or one punctuation mark, each with the space before it
CHUNK = re.compile(r" ?\w+(?:'\w+)*| ?[^\w\s]")
SPACES = re.compile(r"\s+")


def normalise(text: str) -> str:
    """Lowercase, <br /> removed, every run of whitespace one space."""
    return SPACES.sub(" ", BREAK.sub(" ", text.lower())).strip()


def chunks(text: str) -> list[str]:
    return CHUNK.findall(normalise(text))


def count_pairs(words: dict[tuple[int, ...], int]) -> Counter:
    """How often each adjacent pair of ids occurs, each word weighted by its frequency."""
    counts = Counter()
    for ids, freq in words.items():
        for pair in zip(ids, ids[1:]):
            counts[pair] += freq
    return counts


def merge(ids: tuple[int, ...] | list[int], pair: tuple[int, int], new_id: int) -> list[int]:
    """Replace every occurrence of `pair` in ids (left to right) by new_id."""
    out, i = [], 0
    while i < len(ids):
        if i + 1 < len(ids) and (ids[i], ids[i + 1]) == pair:
            out.append(new_id)
            i += 2
        else:
            out.append(ids[i])
            i += 1
    return out


def learn_merges(chunk_counts: Counter, n_merges: int) -> list[tuple[int, int]]:
    """The readable trainer: n_merges times, merge the most frequent pair.

    Ties go to the smallest pair, comparing bytes by their GPT-2 stand-in character (see
    bytes_to_unicode) and merged ids by age: the order the `tokenizers` library uses, so both agree.
    """
    words = {tuple(chunk.encode("utf-8")): freq for chunk, freq in chunk_counts.items()}
    stand_in = bytes_to_unicode()
    order = {b: rank for rank, b in enumerate(sorted(range(256), key=lambda b: stand_in[b]))}
    merges = []
    for new_id in range(256, 256 + n_merges):
        pairs = count_pairs(words)
        if not pairs:
            break  # every chunk is a single token already
        order[new_id] = new_id
        best = max(pairs, key=lambda p: (pairs[p], -order[p[0]], -order[p[1]]))
        words = {tuple(merge(ids, best, new_id)): freq for ids, freq in words.items()}
        merges.append(best)
    return merges


# --------------------------------------------------------------------------------------------
# the fast path: Hugging Face tokenizers, translated into our merges


def bytes_to_unicode() -> dict[int, str]:
    """GPT-2's printable stand-in character for each byte (what byte-level `tokenizers` works on)."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) \
        + list(range(ord("®"), ord("ÿ") + 1))
    table, extra = {}, 0
    for b in range(256):
        if b in printable:
            table[b] = chr(b)
        else:
            table[b] = chr(256 + extra)
            extra += 1
    return table


def learn_merges_fast(texts: Iterable[str], n_merges: int) -> list[tuple[int, int]]:
    """The same merges, learned by the `tokenizers` library, as pairs of our ids."""
    from tokenizers import Regex, Tokenizer, models, pre_tokenizers, trainers

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(CHUNK.pattern), behavior="isolated"),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])
    trainer = trainers.BpeTrainer(vocab_size=256 + n_merges, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  show_progress=is_terminal(), special_tokens=[])
    # - reading the texts, then learning the merges (the library draws its own bar in a terminal)
    texts = progress_bar(texts, desc="reading texts for BPE", unit="text")
    tokenizer.train_from_iterator((normalise(t) for t in texts), trainer)
    # - their tokens are strings of stand-in characters: map them back to bytes, then to our ids
    to_byte = {c: b for b, c in bytes_to_unicode().items()}
    ids = {bytes([b]): b for b in range(256)}
    merges = []
    for left, right in _hf_merges(tokenizer):
        a, b = bytes(to_byte[c] for c in left), bytes(to_byte[c] for c in right)
        merges.append((ids[a], ids[b]))
        ids.setdefault(a + b, 255 + len(merges))
    return merges


def _hf_merges(tokenizer) -> list[tuple[str, str]]:
    """The learned merges, in order, from the tokenizer's JSON (stable across library versions)."""
    import json

    merges = json.loads(tokenizer.to_str())["model"]["merges"]
    return [tuple(m.split(" ")) if isinstance(m, str) else tuple(m) for m in merges]


# --------------------------------------------------------------------------------------------
# the tokenizer


class BPETokenizer:
    kind = "bpe"

    def __init__(self, merges: list[tuple[int, int]]):
        self.merges = [tuple(p) for p in merges]
        self.ranks = {pair: 256 + i for i, pair in enumerate(self.merges)}  # pair -> its new id (= rank)
        # - the bytes of every id: a merged id is the bytes of its two parts
        self.bytes_of = [bytes([b]) for b in range(256)]
        for a, b in self.merges:
            self.bytes_of.append(self.bytes_of[a] + self.bytes_of[b])
        self.pad_id = len(self.bytes_of)
        self.cache: dict[str, list[int]] = {}  # chunk -> ids; a chunk is encoded once

    @classmethod
    def train(cls, texts: str | Iterable[str], vocab_size: int = 8000, fast: bool = False) -> "BPETokenizer":
        """Learn vocab_size - 257 merges (256 bytes and <pad> are the rest of the vocabulary)."""
        if vocab_size < 257:
            raise ValueError(f"a byte-level BPE vocabulary needs at least 257 entries (256 bytes + <pad>), "
                             f"got {vocab_size}")
        texts = [texts] if isinstance(texts, str) else list(texts)
        n_merges = vocab_size - 257
        if fast:
            return cls(learn_merges_fast(texts, n_merges))
        return cls(learn_merges(Counter(c for t in texts for c in chunks(t)), n_merges))

    @property
    def vocab_size(self) -> int:
        return len(self.bytes_of) + 1  # + <pad>

    def encode_chunk(self, chunk: str) -> list[int]:
        """Replay the merges: repeatedly merge the adjacent pair that was learned earliest."""
        ids = list(chunk.encode("utf-8"))
        while len(ids) >= 2:
            pair = min(zip(ids, ids[1:]), key=lambda p: self.ranks.get(p, float("inf")))
            if pair not in self.ranks:
                break  # no learned merge applies any more
            ids = merge(ids, pair, self.ranks[pair])
        return ids

    def encode(self, text: str) -> list[int]:
        out = []
        for chunk in chunks(text):
            if chunk not in self.cache:
                self.cache[chunk] = self.encode_chunk(chunk)
            out.extend(self.cache[chunk])
        return out

    def decode(self, ids: list[int]) -> str:
        data = b"".join(self.bytes_of[i] for i in ids if i != self.pad_id)
        return data.decode("utf-8", errors="replace")

    def to_dict(self) -> dict:
        return {"kind": self.kind, "merges": [list(p) for p in self.merges]}

    @classmethod
    def from_dict(cls, d: dict) -> "BPETokenizer":
        return cls([tuple(p) for p in d["merges"]])
