"""Batch-size and sequence-length ramps: small, short batches first, the full batch later.

    size = ramp_value(start=4, end=12, step, ramp_steps=300, stages=4)

      size
      end ┤                    ┌──────────────
          │               ┌────┘
          │          ┌────┘
          │     ┌────┘
    start ┤─────┘
          └─────┴────┴────┴────┴──────────────► step
          0                 ramp_steps

Early in training the gradient is large and consistent, so a small batch of short windows moves
the weights as far as a big one at a fraction of the cost (McCandlish et al. 2018, the gradient
noise scale; the batch-size warm-up of GPT-3, Brown et al. 2020). Short windows first is the
sequence-length warm-up of Li et al. (2022) and of the modded-nanogpt speedrun. The ramp climbs in
a few stages rather than step by step, because every new shape costs torch.compile a recompile.

The trainer applies both: the batch ramp draws `batch_size(step)` sequences, the length ramp cuts
each window (and its targets) to its first `seq_len(step)` tokens, a window a sampler could have
drawn as well. Ramps are given as a fraction of the run (`ramp_fraction` of max_steps), so a run
whose length is fitted to a time budget ramps over the same share of it.
"""

from __future__ import annotations

import math


def ramp_value(start: int, end: int, step: int, ramp_steps: float, stages: int = 4) -> int:
    """The ramp's value at `step`: `start` for the first stage, `end` from ramp_steps on.

    start <= 0 (or start >= end, or no ramp_steps) means no ramp: always `end`. Between, the value
    climbs in `stages` equal stages: start, start + (end-start)/stages, ...; it never decreases."""
    if start <= 0 or start >= end or ramp_steps <= 0 or step >= ramp_steps:
        return end
    stage = min(stages - 1, int(stages * step / ramp_steps))  # 0 .. stages-1
    return int(round(start + (end - start) * stage / stages))


def ramp_steps(max_steps: int, fraction: float) -> float:
    """Steps the ramps take: `fraction` of the run."""
    return fraction * max_steps


def round_up(value: int, multiple: int) -> int:
    """value rounded up to a multiple (e.g. the number of processes that share a batch)."""
    return multiple * math.ceil(value / multiple)
