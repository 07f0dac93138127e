"""The learning-rate range test (Smith 2015, "Cyclical Learning Rates for Training Neural Networks").

Train a throw-away copy of the model for a few steps while the learning rate grows
exponentially from start_lr to end_lr, and watch the loss:

    loss │‾‾‾‾‾‾‾‾‾‾‾‾╲                    ╱   too small: nothing happens
         │              ╲                 ╱    right: the loss falls fastest
         │               ╲___valley____╱       too large: the loss blows up (the sweep stops)
         └──────────────────────────────────── log lr
                         ▲ steepest   ▲ minimum

The loss of one batch is noisy, so it is smoothed (exponential moving average, bias-corrected).
The sweep stops when the smoothed loss exceeds `diverge` times its best value, or is NaN.
Two suggestions:
  steepest   where the smoothed loss falls fastest against log(lr), before its minimum
  valley     halfway down the longest stretch over which the loss keeps falling, once it has
             begun to fall (after fastai's rule; more robust than 'steepest' to a noisy curve)
The model, its optimizer and the global random state are left exactly as they were.
"""

from __future__ import annotations

import copy
import dataclasses
import math
from dataclasses import dataclass, field

import torch
from torch import nn

from scratchformer.progress import progress_bar

RULES = ("valley", "steepest")


@dataclass
class LRFinderConfig:
    """The exponential learning-rate sweep."""

    start_lr: float = 1e-7
    """Learning rate of the first step."""
    end_lr: float = 10.0
    """Learning rate of the last step (the sweep usually stops earlier, on divergence)."""
    num_steps: int = 100
    """Steps of the sweep: one batch (of batch_size x grad_accum) each."""
    beta: float = 0.9
    """Smoothing of the loss: weight of the past in its exponential moving average (0 = none)."""
    diverge: float = 4.0
    """Stop once the smoothed loss exceeds this many times its lowest value."""
    rule: str = "valley"
    """Which suggestion to report: valley or steepest."""

    def __post_init__(self):
        if not (self.start_lr > 0 and self.end_lr > 0):
            raise ValueError(f"the learning-rate range must be positive, got start_lr={self.start_lr}, "
                             f"end_lr={self.end_lr}")
        if self.end_lr <= self.start_lr:
            raise ValueError(f"the learning-rate range is empty or reversed (start_lr={self.start_lr}, "
                             f"end_lr={self.end_lr}); start_lr must be below end_lr, e.g. 1e-7 and 10")
        if self.num_steps < 5:
            raise ValueError(f"num_steps must be at least 5, got {self.num_steps}")
        if not 0.0 <= self.beta < 1.0:
            raise ValueError(f"beta must be in [0, 1), got {self.beta}")
        if self.diverge <= 1.0:
            raise ValueError(f"diverge must be above 1, got {self.diverge}")
        if self.rule not in RULES:
            raise ValueError(f"unknown rule {self.rule!r}; choose one of {list(RULES)}")


@dataclass
class LRFinderResult:
    lrs: list[float]
    losses: list[float]
    """Smoothed losses, one per learning rate."""
    raw_losses: list[float]
    steepest: float
    valley: float
    suggestion: float
    rule: str
    diverged: bool
    extra: dict = field(default_factory=dict)


def exponential_lr(step: int, *, start_lr: float, end_lr: float, num_steps: int) -> float:
    """start_lr * (end_lr / start_lr) ** (step / (num_steps - 1)): equal steps in log(lr)."""
    return start_lr * (end_lr / start_lr) ** (step / (num_steps - 1))


def steepest_index(lrs: list[float], losses: list[float]) -> int:
    """Index of the most negative slope d(loss)/d(log lr), before the minimum of the loss."""
    end = min(range(len(losses)), key=losses.__getitem__)  # the minimum
    start = len(losses) // 10  # the first steps are mostly noise
    if end - start < 2:
        return max(0, end // 2)
    slopes = [(losses[i + 1] - losses[i - 1]) / (math.log(lrs[i + 1]) - math.log(lrs[i - 1]))
              for i in range(start + 1, end)]
    return start + 1 + min(range(len(slopes)), key=slopes.__getitem__)


def valley_index(losses: list[float], fallen: float = 0.1) -> int:
    """Halfway along the longest decreasing subsequence of the losses, counted from where the loss
    has fallen by `fallen` of its total drop (a flat, noisy start is not part of the valley)."""
    n = len(losses)
    low = min(range(n), key=losses.__getitem__)
    threshold = losses[0] - fallen * (losses[0] - losses[low])
    first = next((i for i in range(low + 1) if losses[i] <= threshold), low)
    # - longest[i]: length of the longest decreasing run of points ending at i; begin[i]: where it starts
    longest, begin = [1] * n, list(range(n))
    for i in range(first, n):
        for j in range(first, i):
            if losses[j] > losses[i] and longest[j] + 1 > longest[i]:
                longest[i], begin[i] = longest[j] + 1, begin[j]
    end = max(range(first, n), key=longest.__getitem__)
    return begin[end] + (end - begin[end]) // 2


def lr_range_test(model: nn.Module, data, train_cfg, cfg: LRFinderConfig | None = None) -> LRFinderResult:
    """Sweep the learning rate on a copy of `model` (trained with `train_cfg`'s optimizer, batch,
    accumulation, clipping and precision); `model` itself is not touched."""
    from scratchformer.training.trainer import Trainer

    cfg = cfg or LRFinderConfig()
    rng_state = torch.get_rng_state()  # dropout in the sweep must not shift the caller's random stream
    sweep_cfg = dataclasses.replace(train_cfg, max_steps=cfg.num_steps, warmup_steps=0, schedule="constant",
                                    stats_interval=0, on_nan="skip", track="none", progress=False,
                                    compile=False)
    trainer = Trainer(copy.deepcopy(model), sweep_cfg, data)
    # - the sweep is the trainer's schedule: the lr grows by the same factor every step
    trainer.schedule = lambda step, **_: exponential_lr(step, start_lr=cfg.start_lr, end_lr=cfg.end_lr,
                                                         num_steps=cfg.num_steps)
    lrs, raw, smoothed = [], [], []
    average, best, diverged = 0.0, float("inf"), False
    steps = progress_bar(range(cfg.num_steps), desc="lr range test", unit="step")
    try:
        for step in steps:
            out = trainer.train_step()
            if out.get("skipped") or not math.isfinite(out["loss"]):
                diverged = True
                break
            # - exponential moving average, divided by (1 - beta^n) so the first values are not pulled to 0
            average = cfg.beta * average + (1 - cfg.beta) * out["loss"]
            loss = average / (1 - cfg.beta ** (step + 1))
            lrs.append(out["lr"])
            raw.append(out["loss"])
            smoothed.append(loss)
            best = min(best, loss)
            if loss > cfg.diverge * best:
                diverged = True
                break
    finally:
        steps.close()  # (the sweep may stop early)
        torch.set_rng_state(rng_state)
    if len(smoothed) < 3:
        raise ValueError(f"the loss diverged after {len(smoothed)} steps of the sweep; lower start_lr "
                         f"(now {cfg.start_lr})")
    steepest = lrs[steepest_index(lrs, smoothed)]
    valley = lrs[valley_index(smoothed)]
    return LRFinderResult(lrs=lrs, losses=smoothed, raw_losses=raw, steepest=steepest, valley=valley,
                          suggestion=valley if cfg.rule == "valley" else steepest, rule=cfg.rule, diverged=diverged)
