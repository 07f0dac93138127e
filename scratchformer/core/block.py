"""The transformer block, and the config fields every transformer model shares.

Pre-norm (default; GPT-2, Llama):          Post-norm (Vaswani et al. 2017):
   x ─┬─ norm1 ─ attention ─(+)─┬─ norm2 ─ mlp ─(+)─►      x ─┬─ attention ─(+)─ norm1 ─┬─ mlp ─(+)─ norm2 ─►
      └──────────────────────────┘└────────────────┘           └─────────────┘           └───────┘
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from scratchformer.core.attention import MultiHeadAttention
from scratchformer.core.mlp import MLPS, build_mlp
from scratchformer.core.norms import NORMS, build_norm


@dataclass
class TransformerConfig:
    """Shape and options of a stack of transformer blocks."""

    d_model: int = 128
    """Width of the residual stream (C)."""
    n_heads: int = 4
    """Attention heads per layer (H)."""
    n_layers: int = 4
    """Number of blocks."""
    n_kv_heads: int | None = None
    """Key/value heads for grouped-query attention; None means n_heads (ordinary multi-head)."""
    d_ff: int | None = None
    """Hidden width of the MLP; None means 4 * d_model."""
    dropout: float = 0.0
    """Dropout on the residual branches (and on the attention weights, unless attn_dropout is set)."""
    attn_dropout: float | None = None
    """Dropout on the attention weights; None means `dropout`. 0 keeps the fused attention kernel
    on a CPU (dropping weights there runs the unfused path: 3x slower for the IMDb classifier)."""
    bias: bool = True
    """Biases in linear layers and LayerNorm."""
    norm: str = "layernorm"
    """layernorm or rmsnorm."""
    norm_eps: float = 1e-5
    """Epsilon of the norm layers."""
    norm_position: str = "pre"
    """pre (norm inside the residual branch) or post (norm after the residual sum)."""
    mlp: str = "gelu"
    """gelu, gelu_tanh, relu, relu2 (ReLU squared) or swiglu."""
    qk_norm: bool = False
    """RMS-normalise queries and keys per head before the dot product."""
    fast_attention: bool = True
    """Use the fused scaled_dot_product_attention kernel; False runs the readable path."""

    def __post_init__(self):
        for name in ("d_model", "n_heads", "n_layers"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.d_model % self.n_heads:
            raise ValueError(f"d_model ({self.d_model}) must be divisible by n_heads ({self.n_heads})")
        if self.n_kv_heads is not None and (self.n_kv_heads < 1 or self.n_heads % self.n_kv_heads):
            raise ValueError(f"n_heads ({self.n_heads}) must be a multiple of n_kv_heads ({self.n_kv_heads})")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")
        if self.attn_dropout is not None and not 0.0 <= self.attn_dropout < 1.0:
            raise ValueError(f"attn_dropout must be in [0, 1) or None, got {self.attn_dropout}")
        if self.norm not in NORMS:
            raise ValueError(f"norm must be one of {sorted(NORMS)}, got {self.norm!r}")
        if self.norm_position not in ("pre", "post"):
            raise ValueError(f"norm_position must be 'pre' or 'post', got {self.norm_position!r}")
        if self.mlp not in MLPS:
            raise ValueError(f"mlp must be one of {MLPS}, got {self.mlp!r}")
        if self.d_ff is None:
            self.d_ff = 4 * self.d_model

    @property
    def head_dim(self) -> int:
        return self.d_model // self.n_heads


class Block(nn.Module):
    """One transformer block: self-attention and an MLP, each with a residual connection."""

    def __init__(self, cfg: TransformerConfig):
        super().__init__()
        self.prenorm = cfg.norm_position == "pre"
        self.fast = cfg.fast_attention
        self.norm1 = build_norm(cfg.norm, cfg.d_model, cfg.norm_eps, cfg.bias)
        self.attn = MultiHeadAttention(cfg.d_model, cfg.n_heads, cfg.n_kv_heads, cfg.dropout, cfg.bias, cfg.qk_norm,
                                       cfg.attn_dropout)
        self.norm2 = build_norm(cfg.norm, cfg.d_model, cfg.norm_eps, cfg.bias)
        self.mlp = build_mlp(cfg.mlp, cfg.d_model, cfg.d_ff, cfg.bias, cfg.dropout)

    def forward(self, x: torch.Tensor, *, causal: bool = True, padding_mask=None, positions=None,
                cache=None, layer: int = 0) -> torch.Tensor:
        """x: (B, T, C) -> (B, T, C)."""
        how = dict(causal=causal, padding_mask=padding_mask, positions=positions, cache=cache,
                   layer=layer, fast=self.fast)
        if self.prenorm:
            x = x + self.attn(self.norm1(x), **how)
            x = x + self.mlp(self.norm2(x))
        else:
            x = self.norm1(x + self.attn(x, **how))
            x = self.norm2(x + self.mlp(x))
        return x
