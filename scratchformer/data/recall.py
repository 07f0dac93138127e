"""A synthetic recall task written into ordinary text: a fact early on, a question about it later.

The vocabulary grows by 1 + n_values ids after the tokenizer's own: a marker m and the values
v_1 .. v_n. A fact is the pair [m, v]; the question is a second m, whose next token must be v:

    ... the company said [m v] it would sell ... | ... [m ?]  ->  v      (| a segment boundary)

Nothing but the earlier fact tells which value follows, and values are drawn uniformly: a model
that cannot see the fact is right with probability 1 / n_values exactly (chance), whatever it predicts.

  RecallVocab                  the ids (marker, values) after a tokenizer's vocabulary
  insert_pairs(tokens, ...)    a fact and its question at chosen positions of windows (B, T), in place
  RecallMix                    LM batches where a share of windows carries a fact and questions about it
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
    window, `questions` questions about it: a base model learns to answer from its context. Speaks
    LMData's batch().

    Several questions per fact make the signal dense enough to learn from: with one question in half
    of the windows (8 answers in a batch of 16 windows of 128 characters), recurrent-lm's 4-layer base
    was still at chance after 1,500 steps; with four, two of three seeds' bases learned it (a probe
    with four in every window learned it in 250 steps). See docs/recurrent_lm.md.
    """

    def __init__(self, data, vocab: RecallVocab, share: float, questions: int = 1):
        if questions < 1:
            raise ValueError(f"questions must be at least 1, got {questions}")
        self.data, self.vocab, self.share, self.questions = data, vocab, share, questions
        self.tokens, self.chars_per_token = data.tokens, data.chars_per_token

    def batch(self, split: str, batch_size: int, generator: torch.Generator):
        x, y = self.data.batch(split, batch_size, generator)  # (B, T) each
        window = torch.cat([x, y[:, -1:]], dim=1)  # (B, T+1): y is x shifted by one
        T1 = window.size(1)
        # - as many questions as fit: a fact, then each question in a slot of at least 2 positions
        questions = min(self.questions, (T1 - T1 // 2 - 2) // 2)
        chosen = (torch.rand(batch_size, generator=generator) < self.share).nonzero().squeeze(1)  # (b,) rows
        if len(chosen) and questions >= 1:
            b = len(chosen)
            # - the fact in the first half; the rest of the window cut into one slot per question
            fact_at = torch.randint(0, T1 // 2, (b,), generator=generator)  # (b,)
            first = fact_at + 2  # (b,) the first position a question may take
            slot = (T1 - 1 - first) // questions  # (b,) >= 2
            values = self.vocab.values[torch.randint(self.vocab.n_values, (b,), generator=generator)]  # (b,)
            window[chosen, fact_at], window[chosen, fact_at + 1] = self.vocab.marker, values
            for i in range(questions):
                # - a question anywhere in its slot with its answer inside the slot too
                ask_at = first + i * slot + (torch.rand(b, generator=generator) * (slot - 1)).long()  # (b,)
                window[chosen, ask_at], window[chosen, ask_at + 1] = self.vocab.marker, values
        return window[:, :-1], window[:, 1:]  # (B, T), (B, T)
