"""The weight of the KL term over training: annealing against posterior collapse.

A VAE whose decoder is a strong language model learns early to ignore z (the KL goes to 0 and
stays there: posterior collapse). Starting the KL weight beta at 0, so z is first trained as an
autoencoder's code, and raising it to 1 helps (Bowman et al. 2016, linear); doing so several times
helps more (Fu et al. 2019, "Cyclical Annealing Schedule"):

    beta
    1 ┤      ┌────┐    ┌────┐    ┌────┐    ┌────┐─────
      │     /     │   /     │   /     │   /     │
    0 ┤────/      └──/      └──/      └──/      │
      └─start──────────────────────────────── end ──► step
          one cycle: rise over `ramp` of it, then hold

Schedules:
  constant    beta = max_beta at every step
  linear      0 at start, rising to max_beta at end (Bowman et al.), then held
  cyclical    `cycles` cycles between start and end, each rising over its first `ramp` share, then
              max_beta after end (Fu et al.; Optimus uses it)

Before start beta is 0 (a pure autoencoder), except for constant.
"""

from __future__ import annotations

from dataclasses import dataclass

from scratchformer.errors import UserError

KL_SCHEDULES = ("constant", "linear", "cyclical")


@dataclass
class KLAnnealingConfig:
    """How the KL weight beta moves over the steps of training."""

    schedule: str = "cyclical"
    """constant, linear or cyclical (see scratchformer.training.kl_annealing)."""
    start: int = 0
    """Step where the schedule starts (beta is 0 before it, except for constant)."""
    end: int | None = None
    """Step where it ends (beta is max_beta after it); None: the last step of training."""
    cycles: int = 4
    """cyclical: cycles between start and end."""
    ramp: float = 0.5
    """cyclical: share of each cycle spent rising from 0 to max_beta."""
    max_beta: float = 1.0
    """The full weight of the KL term (1 is the true ELBO)."""

    def __post_init__(self):
        if self.schedule not in KL_SCHEDULES:
            raise ValueError(f"unknown KL schedule {self.schedule!r}; choose one of {list(KL_SCHEDULES)}")
        if self.start < 0:
            raise ValueError(f"the KL annealing start must be a step >= 0, got {self.start}")
        if self.end is not None and self.end <= self.start:
            raise ValueError(f"the KL annealing schedule ends (step {self.end}) before it starts (step {self.start}); "
                             "give an end after the start")
        if self.cycles < 1:
            raise ValueError(f"the KL annealing needs at least 1 cycle, got {self.cycles}")
        if not 0.0 < self.ramp <= 1.0:
            raise ValueError(f"ramp is a share of a cycle, in (0, 1], got {self.ramp}")
        if self.max_beta < 0:
            raise ValueError(f"max_beta must be >= 0, got {self.max_beta}")


def resolve_end(cfg: KLAnnealingConfig, max_steps: int) -> int:
    """The schedule's end step for a run of max_steps; a start at or past the run's end is refused."""
    end = cfg.end if cfg.end is not None else max_steps
    if end <= cfg.start:
        raise UserError(f"the KL annealing schedule ends (step {end}) before it starts (step {cfg.start}); "
                        "give --annealing.start below the run's steps, or a later --annealing.end")
    return end


def kl_weight(cfg: KLAnnealingConfig, step: int, max_steps: int) -> float:
    """beta at `step` (0-based) of a run of max_steps."""
    if cfg.schedule == "constant":
        return cfg.max_beta
    end = resolve_end(cfg, max_steps)
    if step < cfg.start:
        return 0.0
    if step >= end:
        return cfg.max_beta
    span = end - cfg.start
    if cfg.schedule == "linear":
        return cfg.max_beta * (step - cfg.start) / span
    # - cyclical: where this step sits in its cycle (0 at a cycle's start, 1 at its end)
    cycle_len = span / cfg.cycles
    tau = ((step - cfg.start) % cycle_len) / cycle_len
    return cfg.max_beta * min(1.0, tau / cfg.ramp)
