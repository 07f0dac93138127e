"""Retrieval at a distance: long-range tasks that a short context cannot solve.

Two tasks, both with one target per window, the character after its last input:

  needle     copy at distance d: the window is random letters with one digit v, d characters
             before the answer, and ends with "?"; the answer is v. One attention over the
             inputs, by content ("the digit"), solves it.
  key_value  the window holds key-value pairs "#k=v" and ends with a query "?k="; the answer
             is the value of the queried key, d characters back. It takes two steps: bring the
             queried key k next to the query, then find the pair "#k=" by content and read the
             character after it. A GPT can learn this (an induction head over two layers); a
             Perceiver AR reads its inputs in one cross-attention only, from raw embeddings, so
             the step "read the character after the match" is out of its reach unless the
             distance is fixed (then a rotary position offset can point at it).

key_value in detail: a window of T characters is random filler (lowercase letters) with `n_pairs` key-value pairs
written into it as `#k=v` (k a letter, v a digit, distinct keys). The window ends with a query
`?k=` for one of the keys, and the next character, the only target, is its value v. The value
of the queried pair sits exactly `distance` characters before the answer:

    position:   ...  p        ...                       T-3 T-2 T-1 | T
    text:       ... #k=v  filler, other pairs, filler   ?   k   =   | v      (T - p = distance)

A model that reads fewer than `distance` characters back sees the query but not the pair, and
can only guess among the 10 digits (chance: 10%). Every other position has target -100 (no
loss), so training and accuracy concern the answer only.

The batches follow LMData's contract ((x, y), each (B, T), from an explicit generator), so the
Trainer trains on them unchanged; a model with a shorter context reads the last positions of x.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from scratchformer.devices import model_device

ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789#?="  # filler and keys: letters; values: digits
STOI = {c: i for i, c in enumerate(ALPHABET)}
LETTERS = torch.tensor([STOI[c] for c in "abcdefghijklmnopqrstuvwxyz"])  # (26,)
DIGITS = torch.tensor([STOI[c] for c in "0123456789"])  # (10,)
CHANCE = 1 / len(DIGITS)
TASKS = ("needle", "key_value")


@dataclass
class RetrievalConfig:
    """Windows of context_len characters; the answer's pair sits `distance` characters back."""

    context_len: int = 4096
    """T: characters per window (the query ends it)."""
    distance: int = 2048
    """From the queried value to the answer position; must fit in the window."""
    n_pairs: int = 4
    """Key-value pairs per window (one queried, the others distract)."""
    max_distance: int | None = None
    """If set, each window draws its distance uniformly from distance .. max_distance (for training)."""
    task: str = "needle"
    """needle (one digit among letters, copy it) or key_value (pairs and a query)."""

    def __post_init__(self):
        if self.task not in TASKS:
            raise ValueError(f"retrieval task must be one of {list(TASKS)}, got {self.task!r}")
        if self.n_pairs < 1 or self.n_pairs > 26:
            raise ValueError(f"n_pairs must be between 1 and 26, got {self.n_pairs}")
        # - the query takes the last character (needle) or three (key_value)
        least = 2 if self.task == "needle" else 4
        if self.distance < least:
            raise ValueError(f"retrieval distance must be at least {least} for the {self.task} task, got {self.distance}")
        if self.distance > self.longest:
            raise ValueError(f"retrieval distance {self.distance} is beyond the context ({self.context_len} "
                             f"characters); use a distance <= {self.longest}")
        if self.max_distance is not None and not self.distance <= self.max_distance <= self.longest:
            raise ValueError(f"max_distance must be between distance ({self.distance}) and {self.longest}, "
                             f"got {self.max_distance}")
        if self.task == "key_value" and self.context_len < 4 * self.n_pairs + 4:
            raise ValueError(f"context_len {self.context_len} is too short for {self.n_pairs} pairs and a query")


    @property
    def longest(self) -> int:
        """The longest distance that fits: the needle may be the first character; a pair '#k=v' must fit."""
        return self.context_len if self.task == "needle" else self.context_len - 3


def make_batch(cfg: RetrievalConfig, batch_size: int, generator: torch.Generator):
    """(x, y), each (B, T) long: windows of the task; y is -100 except the answer at T-1."""
    B, T = batch_size, cfg.context_len
    top = cfg.max_distance or cfg.distance
    distances = torch.randint(cfg.distance, top + 1, (B,), generator=generator)  # (B,) one per window
    if cfg.task == "needle":
        return needle_batch(T, distances, generator)
    # - random filler letters everywhere
    x = LETTERS[torch.randint(len(LETTERS), (B, T + 1), generator=generator)]  # (B, T+1): inputs and answer
    keys = torch.stack([torch.randperm(len(LETTERS), generator=generator)[:cfg.n_pairs] for _ in range(B)])  # (B, P)
    values = torch.randint(len(DIGITS), (B, cfg.n_pairs), generator=generator)  # (B, P)
    for b in range(B):
        # - the queried pair (index 0) ends with its value exactly d characters before the answer
        taken = torch.zeros(T + 1, dtype=torch.bool)
        starts = [T - int(distances[b]) - 3]
        # - the distracting pairs go anywhere else before the query, without overlapping
        taken[T - 3:] = True
        taken[starts[0]:starts[0] + 4] = True
        for _ in range(cfg.n_pairs - 1):
            for _try in range(100):
                s = int(torch.randint(0, T - 3 - 3, (1,), generator=generator))
                if not taken[s:s + 4].any():
                    taken[s:s + 4] = True
                    starts.append(s)
                    break
            else:
                starts.append(None)  # no room left: fewer distractors in this window
        for p, s in enumerate(starts):
            if s is not None:
                x[b, s:s + 4] = torch.tensor([STOI["#"], int(LETTERS[keys[b, p]]), STOI["="], int(DIGITS[values[b, p]])])
        # - the query for pair 0, then its value as the one target
        x[b, T - 3:T] = torch.tensor([STOI["?"], int(LETTERS[keys[b, 0]]), STOI["="]])
        x[b, T] = DIGITS[values[b, 0]]
    y = torch.full((B, T), -100, dtype=torch.long)
    y[:, -1] = x[:, T]  # (B,) the answer
    return x[:, :T], y


def needle_batch(T: int, distances: torch.Tensor, generator: torch.Generator):
    """Random letters, one digit `distance` characters before the answer, and "?" last."""
    B = len(distances)
    x = LETTERS[torch.randint(len(LETTERS), (B, T + 1), generator=generator)]  # (B, T+1): inputs and answer
    values = DIGITS[torch.randint(len(DIGITS), (B,), generator=generator)]  # (B,)
    x[torch.arange(B), T - distances] = values  # the needle
    x[:, T - 1] = STOI["?"]
    x[:, T] = values
    y = torch.full((B, T), -100, dtype=torch.long)
    y[:, -1] = values
    return x[:, :T], y


class RetrievalData:
    """Fresh random windows for every batch; `val` and `test` are fixed, seeded sets.

    read_len: a model with a shorter context reads the last read_len characters of each window."""

    vocab_size = len(ALPHABET)

    def __init__(self, cfg: RetrievalConfig, eval_windows: int = 256, seed: int = 0, read_len: int | None = None):
        self.cfg, self.context_len = cfg, read_len or cfg.context_len
        self.chars_per_token = {"train": 1.0, "val": 1.0, "test": 1.0}
        # - the evaluation windows are drawn once, from their own seeds
        self.fixed = {}
        for i, split in enumerate(("val", "test")):
            g = torch.Generator().manual_seed(10_000 + 1_000 * seed + i)
            self.fixed[split] = make_batch(cfg, eval_windows, g)

    def batch(self, split: str, batch_size: int, generator: torch.Generator):
        if split == "train":
            x, y = make_batch(self.cfg, batch_size, generator)
        else:
            # - evaluation: a random subset of the fixed windows
            x, y = self.fixed[split]
            pick = torch.randint(len(x), (batch_size,), generator=generator)
            x, y = x[pick], y[pick]
        return x[:, -self.context_len:], y[:, -self.context_len:]  # (B, read_len) each


@torch.no_grad()
def answer_accuracy(model, x: torch.Tensor, y: torch.Tensor, context_len: int, batch_size: int = 32) -> float:
    """Share of windows whose answer the model predicts (argmax), reading its last context_len inputs."""
    device = model_device(model)
    model.eval()
    correct = 0
    for i in range(0, len(x), batch_size):
        xb, yb = x[i:i + batch_size, -context_len:].to(device), y[i:i + batch_size, -1].to(device)  # (b, T'), (b,)
        logits, _ = model(xb, last_only=True)  # (b, 1, V)
        correct += (logits[:, -1].argmax(-1) == yb).sum().item()
    return correct / len(x)
