"""Learning-rate schedules as pure functions of the step.

Every schedule has the same signature, so they are interchangeable by name:

    lr = SCHEDULES[name](step, max_steps=..., lr=..., min_lr=..., warmup_steps=...)

  constant       lr throughout
  warmup         linear warmup from 0, then constant
  cosine         linear warmup, then cosine decay to min_lr (GPT-3, nanoGPT)
  linear         linear warmup, then linear decay to min_lr
  wsd            warmup-stable-decay: warmup, constant, then linear decay over the last 20%
                 (Hu et al. 2024, MiniCPM)
  one_cycle      from lr/25 up to lr over the first 30%, then cosine down to min_lr (Smith 2018)
"""

from __future__ import annotations

import math


def _warmup(step: int, lr: float, warmup_steps: int) -> float | None:
    """The warmup part shared by most schedules: lr * (step+1)/warmup_steps, else None."""
    if step < warmup_steps:
        return lr * (step + 1) / warmup_steps
    return None


def constant(step: int, *, max_steps: int, lr: float, min_lr: float = 0.0, warmup_steps: int = 0) -> float:
    return lr


def warmup(step: int, *, max_steps: int, lr: float, min_lr: float = 0.0, warmup_steps: int = 0) -> float:
    w = _warmup(step, lr, warmup_steps)
    return lr if w is None else w


def progress(step: int, start: int, end: int) -> float:
    """Fraction of the way from start to end, clamped to [0, 1]."""
    return min(1.0, max(0.0, (step - start) / max(1, end - start)))


def cosine(step: int, *, max_steps: int, lr: float, min_lr: float = 0.0, warmup_steps: int = 0) -> float:
    w = _warmup(step, lr, warmup_steps)
    if w is not None:
        return w
    t = progress(step, warmup_steps, max_steps)
    return min_lr + 0.5 * (1.0 + math.cos(math.pi * t)) * (lr - min_lr)


def linear(step: int, *, max_steps: int, lr: float, min_lr: float = 0.0, warmup_steps: int = 0) -> float:
    w = _warmup(step, lr, warmup_steps)
    if w is not None:
        return w
    t = progress(step, warmup_steps, max_steps)
    return lr + t * (min_lr - lr)


def wsd(step: int, *, max_steps: int, lr: float, min_lr: float = 0.0, warmup_steps: int = 0,
        decay_fraction: float = 0.2) -> float:
    w = _warmup(step, lr, warmup_steps)
    if w is not None:
        return w
    decay_start = max(warmup_steps, int(max_steps * (1.0 - decay_fraction)))
    t = progress(step, decay_start, max_steps)
    return lr + t * (min_lr - lr)


def one_cycle(step: int, *, max_steps: int, lr: float, min_lr: float = 0.0, warmup_steps: int = 0,
              pct_start: float = 0.3) -> float:
    peak = max(1, int(max_steps * pct_start))
    if step < peak:
        start = lr / 25.0
        return start + (lr - start) * step / peak
    t = progress(step, peak, max_steps)
    return min_lr + 0.5 * (1.0 + math.cos(math.pi * t)) * (lr - min_lr)


SCHEDULES = {
    "constant": constant,
    "warmup": warmup,
    "cosine": cosine,
    "linear": linear,
    "wsd": wsd,
    "one_cycle": one_cycle,
}


def get_schedule(name: str):
    if name not in SCHEDULES:
        raise ValueError(f"unknown schedule {name!r}; choose one of {sorted(SCHEDULES)}")
    return SCHEDULES[name]
