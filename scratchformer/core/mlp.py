"""The position-wise feed-forward network of a transformer block.

  MLP:     x -> fc_in (C -> d_ff) -> activation -> fc_out (d_ff -> C)
           activation: gelu, gelu_tanh, relu, or relu2 = relu(x)^2 (So et al. 2021, Primer; the
           modded-nanogpt speedrun): as cheap as ReLU, and it trains faster than GELU
  SwiGLU:  x -> fc_in (C -> 2 d_ff) = [gate, up] -> silu(gate) * up -> fc_out (Shazeer 2020)
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

ACTIVATIONS = {
    "gelu": F.gelu,
    "gelu_tanh": lambda x: F.gelu(x, approximate="tanh"),  # GPT-2's "gelu_new"
    "relu": F.relu,
    "relu2": lambda x: F.relu(x).square(),  # ReLU squared (Primer)
}
MLPS = sorted([*ACTIVATIONS, "swiglu"])


class MLP(nn.Module):
    def __init__(self, d_model: int, d_ff: int, activation: str = "gelu", bias: bool = True, dropout: float = 0.0):
        super().__init__()
        if activation not in ACTIVATIONS:
            raise ValueError(f"unknown activation {activation!r}; choose one of {sorted(ACTIVATIONS)}")
        self.activation = ACTIVATIONS[activation]
        self.fc_in = nn.Linear(d_model, d_ff, bias=bias)
        self.fc_out = nn.Linear(d_ff, d_model, bias=bias)
        self.resid_dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()  # Identity: no op at all

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.resid_dropout(self.fc_out(self.activation(self.fc_in(x))))


class SwiGLU(nn.Module):
    def __init__(self, d_model: int, d_ff: int, bias: bool = False, dropout: float = 0.0):
        super().__init__()
        self.fc_in = nn.Linear(d_model, 2 * d_ff, bias=bias)  # gate and up, stacked
        self.fc_out = nn.Linear(d_ff, d_model, bias=bias)
        self.resid_dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()  # Identity: no op at all

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gate, up = self.fc_in(x).chunk(2, dim=-1)  # (B, T, d_ff) each
        return self.resid_dropout(self.fc_out(F.silu(gate) * up))


def build_mlp(name: str, d_model: int, d_ff: int, bias: bool, dropout: float) -> nn.Module:
    if name == "swiglu":
        return SwiGLU(d_model, d_ff, bias=bias, dropout=dropout)
    if name in ACTIVATIONS:
        return MLP(d_model, d_ff, activation=name, bias=bias, dropout=dropout)
    raise ValueError(f"unknown mlp {name!r}; choose one of {MLPS}")
