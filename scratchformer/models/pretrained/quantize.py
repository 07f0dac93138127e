"""Weight-only int8 quantisation, for fast generation on a CPU.

Generating one token at batch 1 multiplies a single vector by every weight matrix once, so the
time goes into *reading the weights from memory*, not into arithmetic. Fewer bytes per weight is
the speed-up: float32 4 bytes, bfloat16 2, int8 1 (plus one scale per row).

  w[o, i] ≈ scale[o] · q[o, i]      q ∈ {-127..127},  scale[o] = max_i |w[o, i]| / 127
  y = x wᵀ = (x qᵀ) · scale         one fused kernel reads q as int8 (torch's _weight_int8pack_mm)

Activations stay in bfloat16; only nn.Linear layers are quantised (the embedding table is kept,
so the output layer gets its own int8 copy of a tied embedding). For inference: an Int8Linear has
no gradient. Quantising the weights once more costs a little accuracy (see benchmarks/pretrained.py).
"""

from __future__ import annotations

import torch
from torch import nn


class Int8Linear(nn.Module):
    """A frozen nn.Linear whose weight is stored as int8 with one bfloat16 scale per output row."""

    def __init__(self, linear: nn.Linear):
        super().__init__()
        w = linear.weight.detach().float()  # (out, in)
        scale = w.abs().amax(dim=1).clamp(min=1e-12) / 127  # (out,)
        self.register_buffer("qweight", (w / scale[:, None]).round().clamp(-127, 127).to(torch.int8))
        self.register_buffer("scale", scale.to(torch.bfloat16))
        bias = linear.bias
        self.register_buffer("bias", None if bias is None else bias.detach().to(torch.bfloat16))
        self.in_features, self.out_features = linear.in_features, linear.out_features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shape = x.shape  # (..., in)
        x2 = x.reshape(-1, shape[-1]).to(torch.bfloat16)  # (N, in)
        # - the fused CPU kernel wants in_features a multiple of 32 (real models' are); else the formula
        if x2.device.type == "cpu" and self.in_features % 32 == 0 and self.out_features % 8 == 0:
            y = torch.ops.aten._weight_int8pack_mm(x2, self.qweight, self.scale)  # (N, out)
        else:  # the plain formula, on any device
            y = (x2 @ self.qweight.to(x2.dtype).t()) * self.scale
        if self.bias is not None:
            y = y + self.bias
        return y.reshape(*shape[:-1], self.out_features)


def quantize_int8(model: nn.Module) -> nn.Module:
    """Replace every nn.Linear of `model` (in place) by an Int8Linear; the rest becomes bfloat16."""
    model.to(torch.bfloat16)
    for module in list(model.modules()):
        for name, child in list(module.named_children()):
            if isinstance(child, nn.Linear):
                setattr(module, name, Int8Linear(child))
    return model.eval().requires_grad_(False)
