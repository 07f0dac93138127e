"""Mixup in embedding space (Zhang et al. 2018, "mixup: Beyond Empirical Risk Minimization"; for
sentences, Guo et al. 2019, "Augmenting Data with Mixup for Sentence Classification": senMixup).

Text cannot be averaged, but its pooled representation can. Each example's features are mixed
with those of another example of the batch, and the loss with both labels, in the same proportion:

    h = model.features(tokens)                       (B, C)
    lam ~ Beta(alpha, alpha);  j = a permutation of the batch
    logits = model.head(lam * h + (1 - lam) * h[j])  (B, K)
    loss = lam * CE(logits, y) + (1 - lam) * CE(logits, y[j])

lam = 1 is ordinary training; a small alpha (0.2-0.4) keeps most lam near 0 or 1.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def mixup_loss(model: nn.Module, tokens: torch.Tensor, labels: torch.Tensor, padding_mask: torch.Tensor | None,
               alpha: float, generator: torch.Generator | None = None, lam: float | None = None):
    """(logits of the mixed batch (B, K), mixup loss). model: a Classifier (features + head).

    lam: the mixing weight; None draws it from Beta(alpha, alpha). Random draws use `generator`
    for the permutation and torch's global generator for lam (the Trainer seeds and checkpoints
    it, as it does for dropout); pass lam to fix it.
    """
    B = tokens.size(0)
    if lam is None:
        lam = float(torch.distributions.Beta(float(alpha), float(alpha)).sample())
    perm = torch.randperm(B, generator=generator).to(tokens.device)  # (B,) the partner of each example
    h = model.features(tokens, padding_mask)  # (B, C)
    mixed = lam * h + (1.0 - lam) * h[perm]  # (B, C)
    logits = model.head(mixed)  # (B, K)
    loss = lam * F.cross_entropy(logits, labels) + (1.0 - lam) * F.cross_entropy(logits, labels[perm])
    return logits, loss
