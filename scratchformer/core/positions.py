"""Position schemes: how a model knows where each token sits.

A scheme acts in one or more of three places; each method's default does nothing:
  embed(start, T)            (T, C) vectors added to the token embeddings (absolute schemes)
  rotate(q, k, start)        rotate queries and keys by their positions (RoPE)
  score_bias(q, start, Tk)   (1|B, H, Tq, Tk) added to the attention scores (relative schemes)

`start` is the position of the first new token: 0 in training, the cache length in generation.
Pick a scheme by name with scratchformer.core.position_schemes (POSITIONS, build_positions).
"""

from __future__ import annotations

import math

import torch
from torch import nn


class Positions(nn.Module):
    """The interface, and the scheme "none": no position information at all."""

    def __init__(self, d_model: int, n_heads: int, context_len: int, **_):
        super().__init__()
        self.d_model, self.n_heads, self.context_len = d_model, n_heads, context_len

    def embed(self, start: int, T: int) -> torch.Tensor | None:
        return None

    def rotate(self, q: torch.Tensor, k: torch.Tensor, start: int):
        return q, k

    def rotate_at(self, x: torch.Tensor, start: int) -> torch.Tensor:
        """Rotate one of q or k (B, H, T, D) whose first position is `start` (cross-attention)."""
        return x

    def score_bias(self, q: torch.Tensor, start: int, Tk: int) -> torch.Tensor | None:
        return None


class LearnedPositions(Positions):
    """A learned vector per absolute position (GPT-2). Cannot go past context_len."""

    def __init__(self, d_model: int, n_heads: int, context_len: int, **_):
        super().__init__(d_model, n_heads, context_len)
        self.table = nn.Embedding(context_len, d_model)

    def embed(self, start: int, T: int) -> torch.Tensor:
        if start + T > self.context_len:
            raise ValueError(
                f"learned positions cover {self.context_len} positions, got position {start + T - 1}; "
                "crop the input to the context length or pick a relative scheme"
            )
        return self.table.weight[start:start + T]  # (T, C): rows start .. start+T-1 of the table


def sinusoid_table(positions: torch.Tensor, dim: int) -> torch.Tensor:
    """(T,) positions -> (T, dim) sin/cos features at geometrically spaced frequencies."""
    inv_freq = torch.exp(-math.log(10000.0) * torch.arange(0, dim, 2, device=positions.device) / dim)
    angles = positions.float()[:, None] * inv_freq[None, :]  # (T, dim/2)
    return torch.cat([angles.sin(), angles.cos()], dim=-1)  # (T, dim)


class SinusoidalPositions(Positions):
    """Fixed sin/cos features added to the embeddings (Vaswani et al. 2017). Any length.

    Scaled so each component has standard deviation `scale` (default 0.02, the token
    embeddings' initial std): unscaled, the features (each of size ~0.7) would drown token
    embeddings initialised GPT-2 style, and the model barely learns. Vaswani et al. instead
    multiply the token embeddings by sqrt(d_model), which suits their larger initialisation.
    """

    def __init__(self, d_model: int, n_heads: int, context_len: int, scale: float = 0.02, **_):
        super().__init__(d_model, n_heads, context_len)
        self.scale = scale * math.sqrt(2.0)  # sin and cos components have std 1/sqrt(2)
        self.register_buffer("_anchor", torch.zeros(()), persistent=False)  # follows .to(device)

    def embed(self, start: int, T: int) -> torch.Tensor:
        pos = torch.arange(start, start + T, device=self._anchor.device)
        return self.scale * sinusoid_table(pos, self.d_model)  # (T, C)


def rotate_half(x: torch.Tensor) -> torch.Tensor:
    """(x1, x2) -> (-x2, x1) on the two halves of the last dimension."""
    x1, x2 = x.chunk(2, dim=-1)
    return torch.cat([-x2, x1], dim=-1)


def apply_rotation(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """x: (B, H, T, D) rotated by the angles whose cos and sin are (T, D), in x's dtype."""
    return x * cos.to(x.dtype) + rotate_half(x) * sin.to(x.dtype)


class RotaryPositions(Positions):
    """RoPE (Su et al. 2021): rotate each (q, k) pair of dimensions by an angle ∝ position.

    Then q_m · k_n depends only on m - n. The half-split layout matches Hugging Face's Llama.
    """

    def __init__(self, d_model: int, n_heads: int, context_len: int, rope_base: float = 10000.0, **_):
        super().__init__(d_model, n_heads, context_len)
        head_dim = d_model // n_heads
        inv_freq = 1.0 / rope_base ** (torch.arange(0, head_dim, 2).float() / head_dim)  # (D/2,)
        self.register_buffer("inv_freq", inv_freq, persistent=False)

    def cos_sin(self, start: int, T: int):
        pos = torch.arange(start, start + T, device=self.inv_freq.device).float()
        angles = pos[:, None] * self.inv_freq[None, :]  # (T, D/2)
        angles = torch.cat([angles, angles], dim=-1)  # (T, D)
        return angles.cos(), angles.sin()

    def rotate(self, q: torch.Tensor, k: torch.Tensor, start: int):
        """q, k: (B, H|KV, T, D), both at positions start .. start + T - 1 (self-attention)."""
        cos, sin = self.cos_sin(start, q.size(-2))  # (T, D) each, computed once for both
        return apply_rotation(q, cos, sin), apply_rotation(k, cos, sin)

    def rotate_at(self, x: torch.Tensor, start: int) -> torch.Tensor:
        """x: (B, H|KV, T, D) at positions start .. start + T - 1, rotated by its positions' angles."""
        return apply_rotation(x, *self.cos_sin(start, x.size(-2)))


# name -> class of the absolute schemes; scratchformer.core.position_schemes joins them with the relative ones
ABSOLUTE_POSITIONS: dict[str, type[Positions]] = {
    "learned": LearnedPositions,
    "sinusoidal": SinusoidalPositions,
    "rope": RotaryPositions,
    "none": Positions,
}
