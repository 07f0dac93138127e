"""LoRA: a trainable low-rank update beside a frozen linear layer (Hu et al. 2021, "LoRA: Low-Rank
Adaptation of Large Language Models").

A pretrained weight W (out × in) stays frozen; the layer learns a change of rank r instead:

    x ──► W x ─────────────────────────(+)──► y          y = W x + (alpha / r) · B A x
    └──► dropout ─► A (r × in) ─► B (out × r) ─┘        A: random,  B: zeros, so at first y = W x

Only A and B train: r · (in + out) numbers instead of in · out. The paper adapts the attention's
query and value matrices; here any named linear layers, by default all of attention and the MLP.

Two paths that give the same output (a test checks it):
  readable   LoRALinear.forward: the frozen layer, plus the low-rank branch
  fast       merge_lora: fold (alpha / r) · B A into W once; the model is a plain one again, with no
             extra cost per token (and its state dict loads into the base architecture)
"""

from __future__ import annotations

import math
from typing import Iterable

import torch
from torch import nn

from scratchformer.core.tuning import ATTENTION_AND_MLP, factory_of, freeze_base, wrap_linear_layers
from scratchformer.errors import UserError


class LoRALinear(nn.Module):
    """A frozen linear layer `base` plus a trainable rank-`rank` update scaled by alpha / rank."""

    def __init__(self, base: nn.Module, rank: int = 8, alpha: float = 16.0, dropout: float = 0.0):
        super().__init__()
        if rank < 1:
            raise UserError(f"the LoRA rank must be at least 1, got {rank}")
        self.base = base
        self.in_features, self.out_features = base.in_features, base.out_features
        self.rank, self.scale = rank, alpha / rank
        factory = factory_of(base)
        # - A as nn.Linear's own init (Kaiming-uniform), B zero: the update starts at exactly zero
        self.lora_A = nn.Parameter(torch.empty(rank, self.in_features, **factory))
        self.lora_B = nn.Parameter(torch.zeros(self.out_features, rank, **factory))
        nn.init.kaiming_uniform_(self.lora_A, a=math.sqrt(5))
        self.lora_dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()

    def tuned_parameters(self) -> list[nn.Parameter]:
        return [self.lora_A, self.lora_B]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (..., in) -> (..., out)."""
        y = self.base(x)  # (..., out)
        # - through the rank-r bottleneck: (..., in) -> (..., r) -> (..., out), in the dtype of A and B
        update = self.lora_dropout(x.to(self.lora_A.dtype)) @ self.lora_A.T @ self.lora_B.T  # (..., out)
        return y + (self.scale * update).to(y.dtype)

    def merged(self) -> nn.Linear:
        """A plain nn.Linear whose weight is W + (alpha / r) · B A."""
        if not isinstance(self.base, nn.Linear):
            raise UserError(f"only a float nn.Linear can take the LoRA update into its weights, not a "
                            f"{type(self.base).__name__}; keep the layers unmerged")
        merged = nn.Linear(self.in_features, self.out_features, bias=self.base.bias is not None,
                           device=self.base.weight.device, dtype=self.base.weight.dtype)
        with torch.no_grad():
            merged.weight.copy_(self.base.weight + self.scale * self.lora_B @ self.lora_A)  # (out, in)
            if self.base.bias is not None:
                merged.bias.copy_(self.base.bias)
        merged.requires_grad_(self.base.weight.requires_grad)
        return merged


def add_lora(model: nn.Module, targets: Iterable[str] = ATTENTION_AND_MLP, rank: int = 8, alpha: float = 16.0,
             dropout: float = 0.0, freeze: bool = True) -> list[str]:
    """Wrap the linear layers named by `targets` (see scratchformer.core.tuning) in LoRALinear and,
    with freeze, freeze everything else. Returns the wrapped layers' names. The model's output is
    unchanged until B trains."""
    names = wrap_linear_layers(model, targets, lambda layer: LoRALinear(layer, rank, alpha, dropout))
    if freeze:
        freeze_base(model)
    return names


def merge_lora(model: nn.Module) -> nn.Module:
    """Replace every LoRALinear by its merged nn.Linear, in place; returns the model."""
    lora_layers = [name for name, module in model.named_modules() if isinstance(module, LoRALinear)]
    for name in lora_layers:
        parent_name, _, attr = name.rpartition(".")
        parent = model.get_submodule(parent_name) if parent_name else model
        setattr(parent, attr, getattr(parent, attr).merged())
    return model
