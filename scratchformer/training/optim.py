"""Optimisers: AdamW with weight decay on matrices only, and Muon for the hidden matrices.

AdamW (Loshchilov & Hutter 2019). Weight decay pulls weights toward zero. It makes sense for
weight matrices and embedding tables (2-D and up) but not for biases and norm gains (1-D),
which set scales and offsets.

Muon (Jordan et al. 2024, "Muon: an optimizer for hidden layers"): momentum SGD whose update
for a weight matrix is orthogonalised by a few Newton-Schulz iterations, so every direction
of the matrix moves at the same rate. Only the blocks' 2-D weights use it; embeddings, the
output layer, norms and biases stay with AdamW. torch.optim.Muon does the orthogonalisation;
adjust_lr_fn="match_rms_adamw" scales its update so one learning rate suits both.
"""

from __future__ import annotations

import torch
from torch import nn

OPTIMIZERS = ("adamw", "muon")


def param_groups(params: list[nn.Parameter], weight_decay: float) -> list[dict]:
    """Two groups: tensors with dim >= 2 get weight decay, the rest do not."""
    decay = [p for p in params if p.dim() >= 2]
    no_decay = [p for p in params if p.dim() < 2]
    return [
        {"params": decay, "weight_decay": weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]


def is_hidden_matrix(name: str, p: nn.Parameter) -> bool:
    """A 2-D weight inside a transformer block (not an embedding or the output layer)."""
    return p.dim() == 2 and ".blocks." in f".{name}" and "emb" not in name


class ChainedOptimizer:
    """Several optimisers over disjoint parameters, stepped together as one."""

    def __init__(self, *optimizers: torch.optim.Optimizer):
        self.optimizers = optimizers

    @property
    def param_groups(self) -> list[dict]:
        return [g for opt in self.optimizers for g in opt.param_groups]

    def step(self) -> None:
        for opt in self.optimizers:
            opt.step()

    def zero_grad(self, set_to_none: bool = True) -> None:
        for opt in self.optimizers:
            opt.zero_grad(set_to_none=set_to_none)

    def state_dict(self) -> dict:
        return {"optimizers": [opt.state_dict() for opt in self.optimizers]}

    def load_state_dict(self, state: dict) -> None:
        for opt, s in zip(self.optimizers, state["optimizers"]):
            opt.load_state_dict(s)


def build_optimizer(model: nn.Module, lr: float, weight_decay: float, betas: tuple[float, float],
                    eps: float = 1e-8, name: str = "adamw"):
    """AdamW over all parameters, or Muon for hidden matrices chained with AdamW for the rest."""
    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]  # tied weights appear once
    # - the fused kernel updates all tensors in one pass (CPU and CUDA); fall back to the loop elsewhere
    fused = all(p.device.type in ("cpu", "cuda") for _, p in named) or None
    if name == "adamw":
        return torch.optim.AdamW(param_groups([p for _, p in named], weight_decay), lr=lr, betas=betas, eps=eps,
                                 fused=fused)
    if name == "muon":
        hidden = [p for n, p in named if is_hidden_matrix(n, p)]
        rest = [p for n, p in named if not is_hidden_matrix(n, p)]
        muon = torch.optim.Muon(hidden, lr=lr, weight_decay=weight_decay, adjust_lr_fn="match_rms_adamw")
        adamw = torch.optim.AdamW(param_groups(rest, weight_decay), lr=lr, betas=betas, eps=eps, fused=fused)
        return ChainedOptimizer(muon, adamw)
    raise ValueError(f"unknown optimizer {name!r}; choose one of {list(OPTIMIZERS)}")
