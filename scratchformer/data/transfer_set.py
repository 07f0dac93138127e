"""A larger transfer set for distillation: new, label-free inputs made from the training inputs.

Tang et al. 2019 ("Distilling Task-Specific Knowledge from BERT into Simple Neural Networks", §3.3)
enlarge the set the student learns from; the teacher labels the new inputs with its logits, so
they need no true labels. Each new input comes from a training input (token ids) in two steps:

  1. per token, draw u ~ U(0, 1):  u < p_mask            -> the mask token (e.g. <unk>)
                                   u < p_mask + p_swap   -> a random token of the training text
                                   otherwise             -> unchanged
     (Tang et al. swap a word for one of the same part of speech; we draw it from the unigram
      distribution instead, which needs no tagger: "POS-free".)
  2. with probability p_ngram, keep only a random n-gram of the result, n uniform in 1 .. max_ngram.

    [the, film, was, great, fun]  ─1─►  [the, <unk>, was, great, tree]  ─2─►  [was, great]

transfer_set repeats this n_iter times per input and drops duplicates (and copies of the input).
"""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass
class AugmentConfig:
    """Tang et al.'s augmentation; their values for SST-2 are the defaults."""

    p_mask: float = 0.1
    """Probability that a token becomes the mask token."""
    p_swap: float = 0.1
    """Probability that a token becomes a random token of the training text."""
    p_ngram: float = 0.25
    """Probability that only a random n-gram of the input is kept."""
    max_ngram: int = 5
    """Longest n-gram kept (Tang et al. use sentences; longer texts may want more)."""
    n_iter: int = 20
    """New inputs tried per training input (transfer_set)."""

    def __post_init__(self):
        for name in ("p_mask", "p_swap", "p_ngram"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {getattr(self, name)}")
        if self.p_mask + self.p_swap > 1.0:
            raise ValueError(f"p_mask + p_swap must be at most 1, got {self.p_mask + self.p_swap}")
        if self.max_ngram < 1 or self.n_iter < 1:
            raise ValueError(f"max_ngram and n_iter must be at least 1, got {self.max_ngram} and {self.n_iter}")


def augment(ids: list[int], rng: random.Random, cfg: AugmentConfig, mask_id: int,
            unigram: list[int]) -> list[int]:
    """One new input from `ids`. unigram: token ids to draw swaps from (e.g. all training tokens,
    so that a token is drawn as often as it occurs)."""
    # - step 1: mask or swap each token
    out = []
    for token in ids:
        u = rng.random()
        if u < cfg.p_mask:
            out.append(mask_id)
        elif u < cfg.p_mask + cfg.p_swap:
            out.append(rng.choice(unigram))
        else:
            out.append(token)
    # - step 2: sometimes keep only an n-gram
    if out and rng.random() < cfg.p_ngram:
        n = min(rng.randint(1, cfg.max_ngram), len(out))
        start = rng.randrange(len(out) - n + 1)
        out = out[start:start + n]
    return out


def transfer_set(seqs: list[list[int]], cfg: AugmentConfig, mask_id: int, seed: int = 0) -> list[list[int]]:
    """Up to n_iter new inputs per input of `seqs`, without duplicates or copies of an input, in order."""
    rng = random.Random(seed)
    unigram = [t for s in seqs for t in s] or [mask_id]
    seen = {tuple(s) for s in seqs}
    out = []
    for s in seqs:
        for _ in range(cfg.n_iter):
            new = augment(s, rng, cfg, mask_id, unigram)
            if new and tuple(new) not in seen:
                seen.add(tuple(new))
                out.append(new)
    return out
