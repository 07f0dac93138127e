"""Synthetic tasks for length generalisation: train on inputs of length <= L, test at 2L and 4L.

  parity     "0110101"     -> "no"/"yes"   is the number of 1s odd?
  dyck1      "(()())"      -> "yes"        are the brackets balanced? (one kind)
  dyck2      "([)]"        -> "no"         balanced and properly nested? (two kinds)
  counting   "aaabbb"      -> "yes"        a^n b^m: is n = m? (Weiss et al. 2018: an LSTM can count)
  copy       "4071"        -> "4071"       repeat the input

Every example is one token sequence for a causal model: the input, "=", then the answer. The model
reads it left to right and is graded only where it predicts the answer:

    tokens    4  0  7  1  =  4  0  7            x = sequence[:-1]
    targets   .  .  .  .  4  0  7  1            y = sequence[1:], -100 (.) where nothing is graded

An example is right when every graded token is (teacher-forced). For the yes/no tasks half the
examples are "yes", whatever the length: negatives are near misses of the same length (a balanced
string rotated to start with a closer, one bracket flipped or swapped in kind, a^n b^m with
n + m the same), so the length never gives the answer away. Even-only tasks round an odd length down. Examples are drawn by seeded functions: the same seed gives the same examples.

Ids: one vocabulary for all tasks (VOCAB); 0 is <pad>.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field

import torch

VOCAB = ["<pad>", "=", *"0123456789", "(", ")", "[", "]", "a", "b", "no", "yes"]
STOI = {s: i for i, s in enumerate(VOCAB)}
PAD, SEP = STOI["<pad>"], STOI["="]
IGNORE = -100  # cross_entropy's ignore_index
PAIRS = {")": "(", "]": "["}


# --------------------------------------------------------------------------------------------
# recognisers: the one right answer for every input


def is_dyck(s: str) -> bool:
    """Balanced and properly nested brackets: every closer closes the latest open bracket of its kind."""
    stack = []
    for ch in s:
        if ch in "([":
            stack.append(ch)
        elif not stack or stack.pop() != PAIRS[ch]:
            return False
    return not stack


def is_counting(s: str) -> bool:
    """a^n b^n with n >= 1: some a's, then as many b's."""
    n = s.count("a")
    return n >= 1 and s == "a" * n + "b" * n


# --------------------------------------------------------------------------------------------
# the tasks: draw an input of a given length, and its answer


def parity(n: int, rng: random.Random) -> tuple[str, str]:
    """n random bits; yes when the number of 1s is odd. The answer is drawn first, so half are yes."""
    bits = [rng.choice("01") for _ in range(n)]
    odd = rng.random() < 0.5
    if (bits.count("1") % 2 == 1) != odd:
        i = rng.randrange(n)
        bits[i] = "1" if bits[i] == "0" else "0"  # flip one bit: the parity flips
    return "".join(bits), "yes" if odd else "no"


def balanced(n: int, rng: random.Random, kinds: str) -> str:
    """A random balanced bracket string of even length n, over the opening brackets in `kinds`."""
    out, stack = [], []
    for i in range(n):
        left = n - i
        # - close when the open brackets need every remaining place; open when nothing is open
        must_close, must_open = len(stack) == left, not stack
        if must_open or (not must_close and rng.random() < 0.5):
            stack.append(rng.choice(kinds))
            out.append(stack[-1])
        else:
            out.append(")" if stack.pop() == "(" else "]")
    return "".join(out)


def dyck(n: int, rng: random.Random, kinds: str) -> tuple[str, str]:
    """Even n: a balanced string (yes), or a near miss of it (no)."""
    s = balanced(n, rng, kinds)
    if rng.random() < 0.5:
        return s, "yes"
    how = rng.choice(["rotate", "flip"] + (["swap"] if len(kinds) > 1 else []))
    if how == "rotate":
        # - start at a closing bracket: the same brackets, but the first one closes nothing
        k = rng.choice([i for i, ch in enumerate(s) if ch in ")]"])
        s = s[k:] + s[:k]
    elif how == "flip":
        # - one bracket turned around: opens and closes no longer add up
        i = rng.randrange(n)
        s = s[:i] + {"(": ")", ")": "(", "[": "]", "]": "["}[s[i]] + s[i + 1:]
    else:
        # - one bracket of the other kind: the counts add up, the nesting does not
        i = rng.randrange(n)
        s = s[:i] + {"(": "[", "[": "(", ")": "]", "]": ")"}[s[i]] + s[i + 1:]
    return s, "no"


def counting(n: int, rng: random.Random) -> tuple[str, str]:
    """Even n: a^(n/2) b^(n/2) (yes), or a^(n/2+k) b^(n/2-k) with 0 < |k| <= n/2 (no): the same length,
    so only counting the a's against the b's tells them apart."""
    half = n // 2
    if rng.random() < 0.5:
        return "a" * half + "b" * half, "yes"
    k = rng.choice([k for k in range(-half, half + 1) if k != 0])
    return "a" * (half + k) + "b" * (half - k), "no"


def copy(n: int, rng: random.Random) -> tuple[str, str]:
    """n random digits, to be repeated."""
    s = "".join(rng.choice("0123456789") for _ in range(n))
    return s, s


@dataclass(frozen=True)
class LengthTask:
    """A task: how to draw an input of length n with its answer, and which lengths it takes."""

    draw: Callable[[int, random.Random], tuple[str, str]]
    even: bool = False
    """Inputs have even length only (brackets, a^n b^n)."""


TASKS: dict[str, LengthTask] = {
    "parity": LengthTask(parity),
    "dyck1": LengthTask(lambda n, rng: dyck(n, rng, "("), even=True),
    "dyck2": LengthTask(lambda n, rng: dyck(n, rng, "(["), even=True),
    "counting": LengthTask(counting, even=True),
    "copy": LengthTask(copy),
}


# --------------------------------------------------------------------------------------------
# the configuration, and examples as token ids


@dataclass
class LengthTaskConfig:
    """Which task, the training lengths, and the test lengths."""

    task: str = "parity"
    """parity, dyck1, dyck2, counting or copy."""
    train_len: int = 16
    """L: training inputs have min_len .. L symbols."""
    min_len: int = 2
    """Shortest training input."""
    test_lens: list[int] = field(default_factory=list)
    """Test input lengths, each at least train_len; empty means L, 2L and 4L (see test_lengths)."""
    test_examples: int = 500
    """Examples per test length (and in the validation set, drawn at training lengths)."""
    seed: int = 0
    """Seed of the validation and test sets (training examples follow the trainer's generator)."""

    def __post_init__(self):
        if self.task not in TASKS:
            raise ValueError(f"unknown length task {self.task!r}; choose one of {sorted(TASKS)}")
        if not 1 <= self.min_len <= self.train_len:
            raise ValueError(f"need 1 <= min_len <= train_len, got min_len={self.min_len}, train_len={self.train_len}")
        if TASKS[self.task].even and self.train_len < 2:
            raise ValueError(f"{self.task} inputs have even length; train_len must be at least 2")
        short = [n for n in self.test_lengths if n < self.train_len]
        if short:
            raise ValueError(f"test lengths {short} are below the training length {self.train_len}; "
                             "length generalisation tests at or beyond it")
        if self.test_examples < 1:
            raise ValueError(f"test_examples must be at least 1, got {self.test_examples}")

    @property
    def test_lengths(self) -> list[int]:
        """test_lens, or L, 2L and 4L when it is empty (resolved here, not stored: a copy of the config
        with another train_len then tests at that one's multiples)."""
        return list(self.test_lens) or [self.train_len, 2 * self.train_len, 4 * self.train_len]

    @property
    def max_sequence_len(self) -> int:
        """Tokens a model must read for the longest test: input, '=' and answer, less the last."""
        longest = max(self.test_lengths)
        return 2 * longest if self.task == "copy" else longest + 1


def draw_length(task: LengthTask, lo: int, hi: int, rng: random.Random) -> int:
    """A length in lo .. hi; the even tasks take an even one (an odd hi rounds down, never below 2)."""
    if task.even:
        hi = max(2, hi - hi % 2)
        lo = min(max(2, lo + lo % 2), hi)
        return 2 * rng.randint(lo // 2, hi // 2)
    return rng.randint(lo, hi)


def encode(source: str, answer: str) -> list[int]:
    """Input symbols, '=', answer tokens (a yes/no answer is one token)."""
    answer_tokens = [answer] if answer in ("yes", "no") else list(answer)
    return [STOI[c] for c in source] + [SEP] + [STOI[a] for a in answer_tokens]


def examples(task: str, n: int, min_len: int, max_len: int, seed: int) -> list[tuple[str, str]]:
    """n seeded (input, answer) pairs with input lengths in min_len .. max_len."""
    rng, spec = random.Random(seed), TASKS[task]
    return [spec.draw(draw_length(spec, min_len, max_len, rng), rng) for _ in range(n)]


def to_batch(pairs: list[tuple[str, str]]) -> tuple[torch.Tensor, torch.Tensor]:
    """(x, y), each (B, T): x the sequences less their last token, padded with <pad>; y the next tokens
    on the answer and -100 elsewhere (before '=', and on pads)."""
    seqs = [encode(s, a) for s, a in pairs]
    T = max(len(q) for q in seqs) - 1
    x = torch.full((len(seqs), T), PAD, dtype=torch.long)  # (B, T)
    y = torch.full((len(seqs), T), IGNORE, dtype=torch.long)  # (B, T)
    for i, ((source, _), q) in enumerate(zip(pairs, seqs)):
        x[i, : len(q) - 1] = torch.tensor(q[:-1])
        # - graded: from the '=' (which predicts the first answer token) to the end
        y[i, len(source): len(q) - 1] = torch.tensor(q[len(source) + 1:])
    return x, y


class LengthTaskData:
    """Fresh random training examples, a fixed validation set at training lengths, fixed test sets.

    batch(split, B, generator) -> (x, y): the Trainer's data contract; split is "train", "val" or
    "test_N" for a test length N. `sets` holds the fixed (input, answer) pairs of val and each test.
    """

    def __init__(self, cfg: LengthTaskConfig):
        self.cfg = cfg
        self.vocab_size = len(VOCAB)
        self.sets = {"val": examples(cfg.task, cfg.test_examples, cfg.min_len, cfg.train_len, cfg.seed)}
        for i, n in enumerate(cfg.test_lengths):
            # - each test set from its own seed, at exactly length n
            self.sets[f"test_{n}"] = examples(cfg.task, cfg.test_examples, n, n, cfg.seed + 1000 * (i + 1))

    def batch(self, split: str, batch_size: int, generator: torch.Generator):
        if split == "train":
            # - a Python RNG seeded from the torch generator, so batches follow the Trainer's seed
            seed = int(torch.randint(2**62, (), generator=generator))
            return to_batch(examples(self.cfg.task, batch_size, self.cfg.min_len, self.cfg.train_len, seed))
        pool = self.sets[split]
        picks = torch.randint(len(pool), (batch_size,), generator=generator).tolist()
        return to_batch([pool[i] for i in picks])
