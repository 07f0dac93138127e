"""Consistency training on unlabelled text (Xie et al. 2019, "Unsupervised Data Augmentation for
Consistency Training", UDA).

The model's prediction on a clean unlabelled review is the target for its prediction on a noised
copy of the same review (the noise is a text augmentation: EDA, span masking, ...):

    p      = softmax(model(clean))                  no gradient: the target
    target = softmax(logits(clean) / temperature)   sharpening: temperature < 1 makes it surer
    keep   = max(p) >= threshold                    confidence masking: unsure targets teach nothing
    loss   = sum over kept reviews of KL(target || softmax(model(noised)))  /  B

It is added to the supervised loss with a weight (UDA's lambda, 1 in the paper).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def consistency_loss(model: nn.Module, clean: torch.Tensor, clean_mask: torch.Tensor, noised: torch.Tensor,
                     noised_mask: torch.Tensor, temperature: float = 0.4, threshold: float = 0.8):
    """(loss, fraction of the B reviews kept by the confidence mask). clean, noised: (B, T) ids of
    the same reviews, before and after augmentation (their lengths may differ); masks (B, T)."""
    with torch.no_grad():
        logits = model(clean, padding_mask=clean_mask)[0].float()  # (B, K)
        keep = (logits.softmax(-1).max(-1).values >= threshold).float()  # (B,)
        target = (logits / temperature).softmax(-1)  # (B, K) sharpened
    log_q = F.log_softmax(model(noised, padding_mask=noised_mask)[0].float(), dim=-1)  # (B, K)
    kl = (target * (target.clamp_min(1e-12).log() - log_q)).sum(-1)  # (B,)
    return (kl * keep).sum() / clean.size(0), keep.mean()
