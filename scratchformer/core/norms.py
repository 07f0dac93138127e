"""Normalisation layers: LayerNorm (Ba et al. 2016) and RMSNorm (Zhang & Sennrich 2019)."""

from __future__ import annotations

import torch
from torch import nn


class RMSNorm(nn.Module):
    """x / sqrt(mean(x²) + eps) * weight: LayerNorm without centring or bias (Llama)."""

    def __init__(self, dim: int, eps: float = 1e-6):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # - normalise in float32 for stability under bf16, then cast back
        xf = x.float()
        xf = xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + self.eps)
        return xf.to(x.dtype) * self.weight


NORMS = {"layernorm", "rmsnorm"}


def build_norm(name: str, dim: int, eps: float = 1e-5, bias: bool = True) -> nn.Module:
    if name == "layernorm":
        return nn.LayerNorm(dim, eps=eps, bias=bias)
    if name == "rmsnorm":
        return RMSNorm(dim, eps=eps)
    raise ValueError(f"unknown norm {name!r}; choose one of {sorted(NORMS)}")
