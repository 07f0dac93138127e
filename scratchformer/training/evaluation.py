"""Evaluation: the mean loss of a model over fixed batches of a split, in nats and bits per character.

    evaluate_loss(model, data, "val", batches=20, batch_size=16)  ->  {"val_loss": ..., "val_bpc": ...}

The Trainer validates with it during training and `scratchformer eval` calls it on a saved run;
nothing else is needed to evaluate (no optimizer, no run folder). The batches are drawn from a
generator of their own, seeded the same way every time, so every call sees the same batches and
the training stream is never disturbed.
"""

from __future__ import annotations

import math
from contextlib import nullcontext

import torch
from torch import nn


@torch.no_grad()
def evaluate_loss(model: nn.Module, data, split: str = "val", batches: int = 20, batch_size: int = 16,
                  seed: int = 0, device: torch.device | str = "cpu", autocast=nullcontext) -> dict:
    """Mean loss over `batches` batches of `split`.

    model: `model(*batch) -> (logits, loss)`;  data: `data.batch(split, batch_size, generator)`.
    autocast: a context-manager factory for mixed precision (the Trainer passes its own).
    """
    if batches < 1:
        raise ValueError(f"batches must be at least 1, got {batches}")
    was_training = model.training
    model.eval()
    generator = torch.Generator().manual_seed(seed)
    losses = []
    for _ in range(batches):
        batch = tuple(t.to(device, non_blocking=True) for t in data.batch(split, batch_size, generator))
        with autocast():
            _, loss = model(*batch)
        losses.append(loss.item())
    model.train(was_training)
    nats = sum(losses) / len(losses)
    # - bits per character: nats -> bits, then tokens -> characters
    chars_per_token = getattr(data, "chars_per_token", {}).get(split, 1.0)
    return {f"{split}_loss": nats, f"{split}_bpc": nats / math.log(2) / chars_per_token}
