"""Distillation losses: a student learns from a teacher's outputs as well as (or instead of) the labels.

    hard   cross-entropy with the true labels                       CE(z_s, y)
    soft   KL from the teacher's softened distribution to the student's, at temperature τ, times τ²
           (Hinton et al. 2015, "Distilling the Knowledge in a Neural Network"):
                                                                    τ² · KL(softmax(z_t/τ) ‖ softmax(z_s/τ))
    mse    mean squared difference of the logits themselves
           (Tang et al. 2019, "Distilling Task-Specific Knowledge from BERT into Simple Neural Networks"):
                                                                    mean((z_s - z_t)²)
    loss = hard_weight · hard + soft_weight · soft + mse_weight · mse      (a mixture; Tang et al. use
                                                                             α·hard + (1-α)·mse)

Why τ²: the soft loss's gradient with respect to the logits scales as 1/τ², so multiplying by τ²
keeps its size comparable to the hard loss whatever τ is (Hinton et al. §2).

The same losses serve a classifier, logits (B, K), and a language model, logits (B, T, V): there the
soft loss is a token-level KL, averaged over the graded positions (labels != -100). KL and MSE are
averaged per example (per token for a language model): MSE over the K or V logits of each.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from scratchformer.errors import UserError

IGNORE = -100  # cross_entropy's ignore_index


@dataclass
class DistillLossConfig:
    """How much of each loss, and the temperature of the soft targets."""

    hard_weight: float = 0.0
    """Weight of the cross-entropy with the true labels."""
    soft_weight: float = 1.0
    """Weight of the temperature-softened KL to the teacher (Hinton et al.)."""
    mse_weight: float = 0.0
    """Weight of the mean squared error between the logits (Tang et al.)."""
    temperature: float = 2.0
    """τ: divide both models' logits by it before the soft loss; higher shows more of the teacher's
    ranking of the wrong answers. The soft loss is scaled by τ²."""

    def __post_init__(self):
        if self.temperature <= 0:
            raise ValueError(f"temperature must be > 0 (1 is the plain softmax), got {self.temperature}")
        weights = (self.hard_weight, self.soft_weight, self.mse_weight)
        if min(weights) < 0 or sum(weights) == 0:
            raise ValueError(f"the loss weights must be >= 0 and not all 0, got hard {self.hard_weight}, "
                             f"soft {self.soft_weight}, mse {self.mse_weight}")

    @property
    def needs_teacher(self) -> bool:
        return self.soft_weight > 0 or self.mse_weight > 0


LOSSES: dict[str, DistillLossConfig] = {
    "hard": DistillLossConfig(hard_weight=1.0, soft_weight=0.0),
    "soft": DistillLossConfig(soft_weight=1.0, temperature=2.0),
    "mse": DistillLossConfig(soft_weight=0.0, mse_weight=1.0),
    "hard+soft": DistillLossConfig(hard_weight=0.5, soft_weight=0.5, temperature=2.0),
    "hard+mse": DistillLossConfig(hard_weight=0.5, soft_weight=0.0, mse_weight=0.5),
}
"""Named mixtures for experiments' variant tables."""


def check_same_vocabulary(student_size: int, teacher_size: int) -> None:
    """The soft and MSE losses compare the two models output by output: they need the same outputs."""
    if student_size != teacher_size:
        raise UserError(f"the student predicts {student_size} classes or tokens but the teacher {teacher_size}; "
                        "distillation compares them one by one, so give the student the teacher's tokenizer "
                        "and labels")


def hard_loss(student_logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Cross-entropy with the labels. logits (..., K), labels (...), -100 ignored."""
    return F.cross_entropy(student_logits.flatten(0, -2).float(), labels.flatten(), ignore_index=IGNORE)


def graded(logits: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
    """(N, K): the rows of (..., K) logits where a label is graded (all rows without labels)."""
    flat = logits.flatten(0, -2).float()  # (N, K)
    return flat if labels is None else flat[labels.flatten() != IGNORE]


def soft_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor, temperature: float,
              labels: torch.Tensor | None = None) -> torch.Tensor:
    """τ² · KL(softmax(z_t/τ) ‖ softmax(z_s/τ)), averaged over examples (or graded tokens)."""
    check_same_vocabulary(student_logits.size(-1), teacher_logits.size(-1))
    s, t = graded(student_logits, labels), graded(teacher_logits, labels)  # (N, K) each
    # - log-probabilities of both at temperature τ; the teacher's are constants (no gradient)
    log_p_s = F.log_softmax(s / temperature, dim=-1)  # (N, K)
    log_p_t = F.log_softmax(t.detach() / temperature, dim=-1)  # (N, K)
    # - KL(p_t ‖ p_s) = sum_k p_t (log p_t - log p_s), the mean over the N rows ("batchmean")
    kl = F.kl_div(log_p_s, log_p_t, reduction="batchmean", log_target=True)
    return kl * temperature ** 2


def mse_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor,
             labels: torch.Tensor | None = None) -> torch.Tensor:
    """mean((z_s - z_t)²) over the logits of every example (or graded token)."""
    check_same_vocabulary(student_logits.size(-1), teacher_logits.size(-1))
    s, t = graded(student_logits, labels), graded(teacher_logits, labels)  # (N, K) each
    return F.mse_loss(s, t.detach())


def distillation_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor | None,
                      labels: torch.Tensor | None, cfg: DistillLossConfig) -> tuple[torch.Tensor, dict]:
    """The weighted mixture, and each part's value (floats) for logging.

    student_logits, teacher_logits: (B, K) or (B, T, V); labels: (B,) or (B, T), -100 where not graded
    (an augmented example with no true label). The hard loss needs labels, the others the teacher.
    """
    total, parts = student_logits.new_zeros((), dtype=torch.float32), {}
    if cfg.hard_weight > 0:
        if labels is None:
            raise ValueError("the hard loss needs labels")
        # - a batch of augmented examples only has no true label: its hard loss is 0
        has_label = bool((labels != IGNORE).any())
        parts["hard"] = hard_loss(student_logits, labels) if has_label else student_logits.sum() * 0.0
        total = total + cfg.hard_weight * parts["hard"]
    if cfg.needs_teacher and teacher_logits is None:
        raise ValueError("the soft and mse losses need the teacher's logits")
    # - a language model is compared where a next token exists; a classifier on every example (an
    #   augmented one too: it has the teacher's logits, if no label)
    mask = labels if student_logits.dim() == 3 else None
    if cfg.soft_weight > 0:
        parts["soft"] = soft_loss(student_logits, teacher_logits, cfg.temperature, mask)
        total = total + cfg.soft_weight * parts["soft"]
    if cfg.mse_weight > 0:
        parts["mse"] = mse_loss(student_logits, teacher_logits, mask)
        total = total + cfg.mse_weight * parts["mse"]
    return total, {k: float(v.detach()) for k, v in parts.items()}
