"""A synthetic recall task written into ordinary text: a fact early on, a question about it later.

The vocabulary grows by 1 + n_values ids after the tokenizer's own: a marker m and the values
v_1 .. v_n. A fact is the pair [m, v]; the question is a second m, whose next token must be v:

    ... the company said [m v] it would sell ... | ... [m ?]  ->  v      (| a segment boundary)

Nothing but the earlier fact tells which value follows, and values are drawn uniformly: a model
that cannot see the fact is right with probability 1 / n_values exactly (chance), whatever it predicts.

  RecallVocab                  the ids (marker, values) after a tokenizer's vocabulary
  insert_pairs(tokens, ...)    a fact and its question at chosen positions of windows (B, T), in place
  RecallMix                    LM batches where a share of windows carries a fact and its question
                               (what a base model learns recall from, within its context)
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class RecallVocab:
    """The marker and the n_values value ids, placed after the first `base` ids."""

    base: int
    n_values: int

    @property
    def marker(self) -> int:
        return self.base

    @property
    def values(self) -> torch.Tensor:
        return torch.arange(self.base + 1, self.base + 1 + self.n_values)  # (n_values,)

    @property
    def size(self) -> int:
        """The vocabulary with the task's ids: base + 1 + n_values."""
        return self.base + 1 + self.n_values

    @property
    def chance(self) -> float:
        return 1.0 / self.n_values


def insert_pairs(tokens: torch.Tensor, vocab: RecallVocab, fact_at: torch.Tensor, ask_at: torch.Tensor,
                 generator: torch.Generator) -> torch.Tensor:
    """Write [m, v] at fact_at and [m, v] at ask_at in each row of tokens (B, T), in place.

    fact_at, ask_at: (B,) positions with fact_at + 1 < ask_at and ask_at + 1 < T. Returns the values (B,).
    The second v is the answer: it is what the model must predict after the question's marker.
    """
    B = tokens.size(0)
    rows = torch.arange(B)
    values = vocab.values[torch.randint(vocab.n_values, (B,), generator=generator)]  # (B,)
    tokens[rows, fact_at] = vocab.marker
    tokens[rows, fact_at + 1] = values
    tokens[rows, ask_at] = vocab.marker
    tokens[rows, ask_at + 1] = values
    return values


class RecallMix:
    """Random LM windows (an LMData's batches) where a share carries a fact and, later in the same
    window, its question: a base model learns to answer from its context. Speaks LMData's batch()."""

    def __init__(self, data, vocab: RecallVocab, share: float):
        self.data, self.vocab, self.share = data, vocab, share
        self.tokens, self.chars_per_token = data.tokens, data.chars_per_token

    def batch(self, split: str, batch_size: int, generator: torch.Generator):
        x, y = self.data.batch(split, batch_size, generator)  # (B, T) each
        window = torch.cat([x, y[:, -1:]], dim=1)  # (B, T+1): y is x shifted by one
        T1 = window.size(1)
        chosen = torch.rand(batch_size, generator=generator) < self.share  # (B,)
        if chosen.any() and T1 >= 6:
            # - the fact anywhere before the question, the question with room for its answer
            ask_at = torch.randint(3, T1 - 1, (batch_size,), generator=generator)  # (B,) in 3 .. T-1
            fact_at = (torch.rand(batch_size, generator=generator) * (ask_at - 2)).long()  # (B,) in 0 .. ask_at-3
            picked = window[chosen]
            insert_pairs(picked, self.vocab, fact_at[chosen], ask_at[chosen], generator)
            window[chosen] = picked
        return window[:, :-1], window[:, 1:]  # (B, T), (B, T)
