"""Sequence-to-sequence tasks with exact answers, small enough to train on a CPU in minutes.

  reverse   "12345"   -> "54321"
  sort      "31412"   -> "11234"
  add       "123+58"  -> "181"

Each example is a source string and a target string over a tiny alphabet. Ids:

  0 <pad>   1 <bos>   2 <eos>   3.. the task's symbols

  src      = symbols of the source, padded with <pad>              (B, S)
  tgt_in   = <bos> + symbols of the target, padded with <pad>        (B, L)   what the decoder reads
  tgt_out  = symbols of the target + <eos>, padded with -100         (B, L)   what it must predict

Held-out sources are those with crc32(source) % 10 == 0: a tenth of the sources of every length,
fixed forever. Training never draws one, so the held-out exact match measures generalisation,
not memory, and short strings (there are only ten of length 1) are not all held out.
"""

from __future__ import annotations

import random
import zlib
from dataclasses import dataclass

import torch

from scratchformer.errors import UserError

PAD, BOS, EOS = 0, 1, 2
SPECIALS = ("<pad>", "<bos>", "<eos>")
IGNORE = -100  # cross_entropy's ignore_index


# --------------------------------------------------------------------------------------------
# the tasks: how to draw a source, and its one right answer


class Task:
    """A task draws random sources and knows the answer to each."""

    alphabet = "0123456789"

    def __init__(self, min_len: int, max_len: int):
        self.min_len, self.max_len = min_len, max_len

    def random_digits(self, rng: random.Random) -> str:
        n = rng.randint(self.min_len, self.max_len)
        return "".join(rng.choice("0123456789") for _ in range(n))

    def sample_source(self, rng: random.Random) -> str:
        return self.random_digits(rng)

    def answer(self, source: str) -> str:
        raise NotImplementedError

    @property
    def max_source_len(self) -> int:
        return self.max_len

    @property
    def max_target_len(self) -> int:
        return self.max_len


class Reverse(Task):
    """Reverse a string of digits."""

    def answer(self, source: str) -> str:
        return source[::-1]


class Sort(Task):
    """Sort a string of digits."""

    def answer(self, source: str) -> str:
        return "".join(sorted(source))


class Add(Task):
    """Add two numbers of min_len .. max_len digits each: '123+58' -> '181'."""

    alphabet = "0123456789+"

    def sample_source(self, rng: random.Random) -> str:
        a, b = self.random_digits(rng), self.random_digits(rng)
        return f"{int(a)}+{int(b)}"

    def answer(self, source: str) -> str:
        a, b = source.split("+")
        return str(int(a) + int(b))

    @property
    def max_source_len(self) -> int:
        return 2 * self.max_len + 1

    @property
    def max_target_len(self) -> int:
        return self.max_len + 1


TASKS: dict[str, type[Task]] = {"reverse": Reverse, "sort": Sort, "add": Add}


@dataclass
class Seq2SeqTaskConfig:
    """Which exact-answer task, and how long its strings are."""

    task: str = "reverse"
    """reverse, sort or add."""
    min_len: int = 1
    """Fewest digits in a source (per number, for add)."""
    max_len: int = 8
    """Most digits in a source (per number, for add)."""
    held_out: int = 1000
    """Examples in the held-out set."""
    seed: int = 0
    """Seed of the held-out set."""

    def __post_init__(self):
        if self.task not in TASKS:
            raise ValueError(f"unknown task {self.task!r}; choose one of {sorted(TASKS)}")
        if not 1 <= self.min_len <= self.max_len:
            raise ValueError(f"need 1 <= min_len <= max_len, got min_len={self.min_len}, max_len={self.max_len}")
        if self.held_out < 1:
            raise ValueError(f"held_out must be at least 1, got {self.held_out}")


# --------------------------------------------------------------------------------------------
# symbols <-> ids, with clear errors


class Seq2SeqVocab:
    """The three specials, then the task's symbols."""

    def __init__(self, alphabet: str, max_source_len: int):
        self.symbols = list(SPECIALS) + list(alphabet)
        self.stoi = {s: i for i, s in enumerate(self.symbols)}
        self.alphabet, self.max_source_len = alphabet, max_source_len

    @property
    def vocab_size(self) -> int:
        return len(self.symbols)

    def encode_source(self, text: str) -> list[int]:
        """A user's source string -> ids; unknown symbols and over-long inputs raise UserError."""
        unknown = sorted({c for c in text if c not in self.alphabet})
        if unknown:
            shown = ", ".join(repr(c) for c in unknown)
            raise UserError(f"input {text!r} has symbols outside the task's alphabet ({shown}); "
                            f"use only {self.alphabet!r}")
        if not text:
            raise UserError("the input is empty; give at least one symbol")
        if len(text) > self.max_source_len:
            raise UserError(f"input has {len(text)} symbols but the model reads at most "
                            f"{self.max_source_len}; give a shorter input")
        return [self.stoi[c] for c in text]

    def decode(self, ids: list[int]) -> str:
        """Ids -> string, stopping at <eos> and skipping <bos>/<pad>."""
        out = []
        for i in ids:
            if i == EOS:
                break
            if i >= len(SPECIALS):
                out.append(self.symbols[i])
        return "".join(out)


# --------------------------------------------------------------------------------------------
# batches


def is_held_out(source: str) -> bool:
    """A fixed tenth of all sources, of every length, is never trained on."""
    return zlib.crc32(source.encode()) % 10 == 0


def pad(rows: list[list[int]], value: int) -> torch.Tensor:
    width = max(len(r) for r in rows)
    return torch.tensor([r + [value] * (width - len(r)) for r in rows], dtype=torch.long)


class Seq2SeqData:
    """Random training examples (never from the held-out set) and the fixed held-out set.

    batch(split, B, generator) -> (src, tgt_in, tgt_out): the Trainer's data contract.
    """

    def __init__(self, cfg: Seq2SeqTaskConfig):
        self.cfg = cfg
        self.task = TASKS[cfg.task](cfg.min_len, cfg.max_len)
        self.vocab = Seq2SeqVocab(self.task.alphabet, self.task.max_source_len)
        # - the held-out examples: distinct held-out sources, drawn once from their own seed
        rng, held = random.Random(cfg.seed), {}
        for _ in range(100 * cfg.held_out):
            if len(held) == cfg.held_out:
                break
            src = self.task.sample_source(rng)
            if is_held_out(src):
                held[src] = self.task.answer(src)
        self.held_out = list(held.items())
        # - "val" is the first examples of the held-out set, for the Trainer's validation loss
        self.val = self.held_out[: min(len(self.held_out), 256)]

    @property
    def max_target_len(self) -> int:
        """Decoder positions needed: <bos> + target (or target + <eos>)."""
        return self.task.max_target_len + 1

    def tensors(self, pairs: list[tuple[str, str]]):
        """(src, tgt_in, tgt_out) for a list of (source, target) strings."""
        src = pad([self.vocab.encode_source(s) for s, _ in pairs], PAD)  # (B, S)
        targets = [[self.vocab.stoi[c] for c in t] for _, t in pairs]
        tgt_in = pad([[BOS] + t for t in targets], PAD)  # (B, L)
        tgt_out = pad([t + [EOS] for t in targets], IGNORE)  # (B, L)
        return src, tgt_in, tgt_out

    def batch(self, split: str, batch_size: int, generator: torch.Generator):
        if split == "train":
            # - a Python RNG seeded from the torch generator, so batches follow the Trainer's seed
            rng = random.Random(int(torch.randint(2**62, (), generator=generator)))
            pairs = []
            while len(pairs) < batch_size:
                src = self.task.sample_source(rng)
                if not is_held_out(src):
                    pairs.append((src, self.task.answer(src)))
        else:
            pool = self.val if split == "val" else self.held_out
            picks = torch.randint(len(pool), (batch_size,), generator=generator).tolist()
            pairs = [pool[i] for i in picks]
        return self.tensors(pairs)
