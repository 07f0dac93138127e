"""Bottleneck adapters (Houlsby et al. 2019, "Parameter-Efficient Transfer Learning for NLP").

A small trainable bottleneck after a frozen layer, with a skip connection around it:

    x ─► layer ─► h ──┬──────────────────────────────────(+)──► h + up(act(down(h)))
                      └─► down (C -> m) ─► GELU ─► up (m -> C) ┘

With m much smaller than C, an adapter costs about 2·C·m parameters. `up` starts at zero, so a new
adapter is the identity and the model's output is unchanged until it trains. The paper puts one
after the attention's output projection and one after the MLP, in every block, before the residual
sum: our targets attn.out_proj and mlp.fc_out (names: see scratchformer.core.tuning). It also trains
the layer norms; here only the adapters train.

An adapter has a non-linearity, so unlike LoRA it cannot be folded into the frozen weights: the
forward below is the only path, and a fast path would not differ.
"""

from __future__ import annotations

from typing import Iterable

import torch
from torch import nn
from torch.nn import functional as F

from scratchformer.core.tuning import factory_of, freeze_base, wrap_linear_layers
from scratchformer.errors import UserError

HOULSBY_TARGETS = ("attn.out_proj", "mlp.fc_out")


class Adapter(nn.Module):
    """h -> h + up(gelu(down(h))): a bottleneck of width `bottleneck` with a skip connection."""

    def __init__(self, d_model: int, bottleneck: int, device=None, dtype=None):
        super().__init__()
        if bottleneck < 1:
            raise UserError(f"the adapter's bottleneck must be at least 1 wide, got {bottleneck}")
        self.down = nn.Linear(d_model, bottleneck, device=device, dtype=dtype)
        self.up = nn.Linear(bottleneck, d_model, device=device, dtype=dtype)
        nn.init.normal_(self.down.weight, std=0.02)
        nn.init.zeros_(self.down.bias)
        # - zero up-projection: the adapter starts as the identity
        nn.init.zeros_(self.up.weight)
        nn.init.zeros_(self.up.bias)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        """h: (..., C) -> (..., C)."""
        return h + self.up(F.gelu(self.down(h)))


class AdaptedLinear(nn.Module):
    """A frozen linear layer followed by an Adapter on its output."""

    def __init__(self, base: nn.Module, bottleneck: int):
        super().__init__()
        self.base = base
        self.in_features, self.out_features = base.in_features, base.out_features
        self.adapter = Adapter(self.out_features, bottleneck, **factory_of(base))

    def tuned_parameters(self) -> list[nn.Parameter]:
        return list(self.adapter.parameters())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.base(x)  # (..., out)
        return self.adapter(h.to(self.adapter.up.weight.dtype)).to(h.dtype)  # the same dtype as h


def add_adapters(model: nn.Module, targets: Iterable[str] = HOULSBY_TARGETS, bottleneck: int = 64,
                 freeze: bool = True) -> list[str]:
    """Put an adapter after each linear layer named by `targets` and, with freeze, freeze everything
    else. Returns the adapted layers' names."""
    names = wrap_linear_layers(model, targets, lambda layer: AdaptedLinear(layer, bottleneck))
    if freeze:
        freeze_base(model)
    return names
