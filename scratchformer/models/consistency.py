"""Consistency training on unlabelled text (Xie et al. 2019, "Unsupervised Data Augmentation for
Consistency Training", UDA).

The model's prediction on a clean unlabelled review is the target for its prediction on a noised
copy of the same review (the noise is a text augmentation: EDA, span masking, ...):

    p      = softmax(model(clean))                  no gradient: the target
    target = softmax(logits(clean) / temperature)   sharpening: temperature < 1 makes it surer
    keep   = max(p) >= threshold                    confidence masking: unsure targets teach nothing
    loss   = sum over kept reviews of KL(target || softmax(model(noised)))  /  B

It is added to the supervised loss with a weight (UDA's lambda, 1 in the paper).

Training-signal annealing (TSA, the paper's section 3.2) keeps the few labelled reviews from being
memorised before the unlabelled ones have taught anything: at training progress t/T, a labelled
review the model already gives its label with probability above

    eta_t  = alpha_t * (1 - 1/K) + 1/K,  alpha_t = t/T (linear), 1 - exp(-5 t/T) (log), exp(5 (t/T - 1)) (exp)

is left out of the cross-entropy. eta_t rises from chance (1/K) to 1; the exp schedule releases
the labels latest, the paper's choice when few labels make overfitting likely.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

TSA_SCHEDULES = ("none", "linear", "log", "exp")


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


def tsa_threshold(schedule: str, progress: float, classes: int) -> float:
    """eta_t: the probability of the true label above which a labelled review is left out of the
    loss, at `progress` = t/T in [0, 1] of training; 1.0 (nothing left out) for schedule 'none'."""
    if schedule not in TSA_SCHEDULES:
        raise ValueError(f"unknown TSA schedule {schedule!r}; choose one of {list(TSA_SCHEDULES)}")
    progress = min(max(progress, 0.0), 1.0)
    alpha = {"none": 1.0, "linear": progress, "log": 1.0 - math.exp(-5.0 * progress),
             "exp": math.exp(5.0 * (progress - 1.0))}[schedule]
    return alpha * (1.0 - 1.0 / classes) + 1.0 / classes


def annealed_cross_entropy(logits: torch.Tensor, labels: torch.Tensor, threshold: float):
    """(loss, fraction of the B reviews kept): cross-entropy over the reviews whose true label's
    probability is at most `threshold`, averaged over those kept (0 when none is). logits (B, K)."""
    losses = F.cross_entropy(logits.float(), labels, reduction="none")  # (B,)
    keep = (torch.exp(-losses.detach()) <= threshold).float()  # exp(-CE) is the true label's probability
    return (losses * keep).sum() / keep.sum().clamp_min(1.0), keep.mean()
