"""AdamW with weight decay on matrices only (Loshchilov & Hutter 2019).

Weight decay pulls weights toward zero. It makes sense for the weight matrices and embedding
tables (2-D and up) but not for biases and norm gains (1-D), which set scales and offsets.
"""

from __future__ import annotations

import torch
from torch import nn


def param_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    """Two groups: tensors with dim >= 2 get weight decay, the rest do not."""
    params = [p for p in model.parameters() if p.requires_grad]  # shared (tied) weights appear once
    decay = [p for p in params if p.dim() >= 2]
    no_decay = [p for p in params if p.dim() < 2]
    return [
        {"params": decay, "weight_decay": weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]


def build_optimizer(model: nn.Module, lr: float, weight_decay: float, betas: tuple[float, float],
                    eps: float = 1e-8) -> torch.optim.AdamW:
    return torch.optim.AdamW(param_groups(model, weight_decay), lr=lr, betas=betas, eps=eps)
