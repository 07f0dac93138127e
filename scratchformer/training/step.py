"""One training step, bare: what a student writes in week 1.

    loss = model(*batch)[1]      forward: the logits and the mean cross-entropy
    loss.backward()              backward: d loss / d every parameter, into .grad
    clip_grad_norm_(...)         scale all gradients down together if their norm is too large
    optimizer.step()             move every parameter against its gradient
    optimizer.zero_grad()        clear .grad, or the next backward adds to it

The Trainer's `train_step` (trainer.py) is this step with the instruments a real run needs around
it: gradient accumulation, the learning-rate schedule, float16 loss scaling, several processes,
the NaN guard and gradient statistics. A test checks that both give identical weights.
"""

from __future__ import annotations

import torch
from torch import nn


def train_step(model: nn.Module, batch: tuple, optimizer: torch.optim.Optimizer, grad_clip: float = 1.0) -> float:
    """One optimizer step on one batch; returns the loss."""
    _, loss = model(*batch)
    loss.backward()
    nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    return loss.item()
