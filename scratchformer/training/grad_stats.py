"""Gradient statistics: what to look at when training misbehaves (course week 5).

Every `stats_interval` steps the Trainer logs:
  grad_norm/LAYER      the norm of each layer's gradient, before clipping (vanishing? exploding?)
  update_ratio/LAYER   |weights after - before| / |weights before| for the step: about 1e-3 is
                       healthy, much smaller learns slowly, much larger is unstable (Karpathy, 2019)
  clip_frac            the fraction of steps since the last report whose gradient norm was clipped
  noise_scale          the gradient noise scale B_simple (see NoiseScale), with gradient accumulation

A layer is `blocks.N` for each block, else the first part of the parameter name (tok_emb, norm_f).
A loss or gradient that is NaN or inf never reaches the weights: see `check_finite`.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from scratchformer.errors import UserError


class NonFiniteError(UserError):
    """The loss or the gradient became NaN or inf and the run was told to stop."""


def check_finite(loss: float, grad_norm: float, step: int, on_nan: str, check_grad: bool = True,
                 grad_clip: float = 0.0) -> bool:
    """True when the step may go ahead; with on_nan='stop' a NaN/inf raises NonFiniteError.

    grad_clip: the clipping threshold in use (0: none), so the advice fits the run."""
    what = "loss" if not math.isfinite(loss) else "gradient norm" if check_grad and not math.isfinite(grad_norm) \
        else None
    if what is None:
        return True
    if on_nan == "stop":
        # - clipping cannot mend a gradient that is already NaN/inf; suggest it only when it is off
        advice = "lower the learning rate" + (" or enable gradient clipping (--train.grad_clip 1.0)" if not grad_clip
                                              else f" (gradient clipping at {grad_clip:g} is already on)")
        raise NonFiniteError(f"the {what} is {loss if what == 'loss' else grad_norm} at step {step + 1}; {advice}, "
                             "or set on_nan to 'skip' to skip such steps")
    return False


def gathered(t: torch.Tensor) -> torch.Tensor:
    """A plain tensor: an FSDP-sharded DTensor is gathered over the ranks, any other tensor is itself."""
    return t.full_tensor() if hasattr(t, "full_tensor") else t


def norm(t: torch.Tensor) -> torch.Tensor:
    """The 2-norm as a plain tensor (an FSDP-sharded DTensor's norm is gathered over the ranks)."""
    return gathered(t.detach().float().norm())


def layer_name(param_name: str) -> str:
    """'blocks.3.attn.q_proj.weight' -> 'blocks.3';  'tok_emb.weight' -> 'tok_emb'."""
    parts = param_name.split(".")
    if len(parts) > 2 and parts[1].isdigit():
        return ".".join(parts[:2])
    return parts[0]


def noise_estimates(small_sq: float, b_small: int, big_sq: float, b_big: int) -> tuple[float, float]:
    """Unbiased (|G|², tr Σ) from squared gradient norms at two batch sizes (see NoiseScale)."""
    g2 = (b_big * big_sq - b_small * small_sq) / (b_big - b_small)
    trace = (small_sq - big_sq) / (1.0 / b_small - 1.0 / b_big)
    return g2, trace


class NoiseScale:
    """The simple gradient noise scale B_simple = tr(Σ) / |G|² (McCandlish et al. 2018, App. A.1).

    B_simple is about the critical batch size: below it, doubling the batch nearly halves the
    steps needed; above it, a larger batch mostly wastes compute. With the squared norms of a
    small-batch gradient (b_small rows) and a big-batch gradient (b_big rows) of the same step,
        E|g_b|² = |G|² + tr(Σ)/b   for both b, so
        |G|²    ≈ (b_big |g_big|² - b_small |g_small|²) / (b_big - b_small)
        tr(Σ)   ≈ (|g_small|² - |g_big|²) / (1/b_small - 1/b_big)
    Each estimate is noisy, so both are averaged (exponential moving average) before the ratio.
    """

    def __init__(self, beta: float = 0.9):
        self.beta = beta
        self.g2 = self.trace = 0.0
        self.weight = 0.0  # for the EMA's bias correction

    def update(self, small_sq: float, b_small: int, big_sq: float, b_big: int) -> None:
        g2, trace = noise_estimates(small_sq, b_small, big_sq, b_big)
        self.g2 = self.beta * self.g2 + (1 - self.beta) * g2
        self.trace = self.beta * self.trace + (1 - self.beta) * trace
        self.weight = self.beta * self.weight + (1 - self.beta)

    @property
    def value(self) -> float:
        """B_simple in rows (sequences); NaN before the first update or while |G|² <= 0."""
        if self.weight == 0 or self.g2 <= 0:
            return float("nan")
        return self.trace / self.g2


class GradStats:
    """Collects the statistics above for one model; the Trainer calls it around each step."""

    def __init__(self, model: nn.Module, grad_clip: float):
        self.grad_clip = grad_clip
        self.layers: dict[str, list[nn.Parameter]] = {}
        seen = set()
        for name, p in model.named_parameters():  # tied weights appear once
            if p.requires_grad and id(p) not in seen:
                seen.add(id(p))
                self.layers.setdefault(layer_name(name), []).append(p)
        self.params = [p for ps in self.layers.values() for p in ps]
        self.noise = NoiseScale()
        self.steps = self.clipped = 0
        self._before: list[torch.Tensor] | None = None

    def grad_sq_norm(self) -> float:
        """|gradient|² over all parameters, as it is now (e.g. after the first micro-batch)."""
        norms = [norm(p.grad) for p in self.params if p.grad is not None]
        return float(torch.stack(norms).square().sum()) if norms else 0.0

    def layer_grad_norms(self) -> dict:
        """{'grad_norm/LAYER': norm}: call after backward, before clipping."""
        norms = []
        for params in self.layers.values():
            grads = [norm(p.grad) for p in params if p.grad is not None]
            norms.append(torch.stack(grads).norm() if grads else torch.zeros(()))
        values = torch.stack(norms).tolist()  # one device sync for all layers
        return {f"grad_norm/{name}": v for name, v in zip(self.layers, values)}

    def before_update(self) -> None:
        """Remember the weights (call just before optimizer.step on a stats step)."""
        self._before = [p.detach().clone() for p in self.params]

    def update_ratios(self) -> dict:
        """{'update_ratio/LAYER': |Δw| / |w|} for the step just taken."""
        ratios, i = [], 0
        for params in self.layers.values():
            delta, weight = [], []
            for p in params:
                before = self._before[i]
                delta.append(norm(p.detach() - before))
                weight.append(norm(before))
                i += 1
            ratios.append(torch.stack(delta).norm() / torch.stack(weight).norm().clamp_min(1e-12))
        self._before = None
        return {f"update_ratio/{name}": v for name, v in zip(self.layers, torch.stack(ratios).tolist())}

    def count_clip(self, grad_norm: float) -> None:
        """Count every step, and those whose gradient norm the clipping cut down."""
        self.steps += 1
        self.clipped += int(self.grad_clip > 0 and grad_norm > self.grad_clip)

    def clip_fraction(self) -> dict:
        """{'clip_frac': fraction of steps clipped since the last call}, then start counting again."""
        frac = self.clipped / max(1, self.steps)
        self.steps = self.clipped = 0
        return {"clip_frac": frac}
