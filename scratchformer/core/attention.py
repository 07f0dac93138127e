"""Self-attention, built in the course's order (weeks 2-3).

  (a) simple_self_attention   softmax(X Xᵀ) X, no parameters
  (b) scaled_self_attention   the same, scaled by 1/sqrt(C)
  (c) SelfAttention           learned key, query and value projections, one head
  (d) MultiHeadAttention      several heads, masks, KV cache, position schemes, and a fast path

Legend (used in every model file):
  B  batch size            T  sequence length (Tq queries, Tk keys)
  C  d_model               H  n_heads           KV n_kv_heads (grouped-query attention)
  D  head dimension = C // H

Masks follow one convention everywhere: a boolean tensor where True means "may attend".
  causal_mask(Tq, Tk)      (Tq, Tk): query i sees keys j <= i + (Tk - Tq)
  padding mask             (B, Tk): True for real tokens, False for <pad>

Lecture: "Transformers from scratch", Peter Bloem (https://peterbloem.nl/blog/transformers).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


# --------------------------------------------------------------------------------------------
# masks


def causal_mask(Tq: int, Tk: int, device=None) -> torch.Tensor:
    """(Tq, Tk) boolean mask; the Tq queries are the *last* Tq positions of the Tk keys.

    With a KV cache, Tk = cached + new, and the new queries sit at the end.
    """
    offset = Tk - Tq
    q_pos = torch.arange(Tq, device=device)[:, None] + offset  # (Tq, 1)
    k_pos = torch.arange(Tk, device=device)[None, :]  # (1, Tk)
    return k_pos <= q_pos  # (Tq, Tk)


def combine_masks(
    Tq: int, Tk: int, causal: bool, padding_mask: torch.Tensor | None, device=None
) -> torch.Tensor | None:
    """Merge a causal mask and a (B, Tk) padding mask into one (B|1, 1, Tq, Tk) boolean mask."""
    mask = None
    if causal:
        mask = causal_mask(Tq, Tk, device)[None, None]  # (1, 1, Tq, Tk)
    if padding_mask is not None:
        pad = padding_mask.bool()[:, None, None, :]  # (B, 1, 1, Tk)
        mask = pad if mask is None else mask & pad
    return mask


def masked_fill_scores(scores: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """Set disallowed scores to the most negative finite value.

    A finite value (rather than -inf) keeps rows that see no key at all (a padded query)
    finite: softmax makes them uniform instead of NaN, and padded outputs are ignored anyway.
    """
    if mask is None:
        return scores
    return torch.where(mask, scores, torch.finfo(scores.dtype).min)


# --------------------------------------------------------------------------------------------
# (a) and (b): no parameters at all


def simple_self_attention(x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """(a) y_i = sum_j softmax_j(x_i · x_j) x_j. x: (B, T, C) -> (B, T, C)."""
    # - raw weights: every vector's dot product with every other
    scores = x @ x.transpose(1, 2)  # (B, T, T)
    scores = masked_fill_scores(scores, mask)
    # - row-wise softmax turns each row into a distribution over the inputs
    weights = F.softmax(scores, dim=-1)  # (B, T, T)
    # - each output is a weighted sum of the inputs
    return weights @ x  # (B, T, C)


def scaled_self_attention(x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """(b) as (a), with scores divided by sqrt(C) so the softmax does not saturate as C grows."""
    C = x.size(-1)
    scores = x @ x.transpose(1, 2) / math.sqrt(C)  # (B, T, T)
    scores = masked_fill_scores(scores, mask)
    weights = F.softmax(scores, dim=-1)  # (B, T, T)
    return weights @ x  # (B, T, C)


# --------------------------------------------------------------------------------------------
# (c) one head with learned projections


class SelfAttention(nn.Module):
    """(c) Single-head self-attention with key, query and value projections.

    Each input vector plays three roles; a linear map per role lets it play them differently.
    The maps are named as in MultiHeadAttention, which fuses k_proj and v_proj into kv_proj.
    """

    def __init__(self, d_model: int, scale: bool = True):
        super().__init__()
        self.q_proj = nn.Linear(d_model, d_model, bias=False)
        self.k_proj = nn.Linear(d_model, d_model, bias=False)
        self.v_proj = nn.Linear(d_model, d_model, bias=False)
        self.scale = scale

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        B, T, C = x.shape
        q, k, v = self.q_proj(x), self.k_proj(x), self.v_proj(x)  # (B, T, C) each
        scores = q @ k.transpose(1, 2)  # (B, T, T)
        if self.scale:
            scores = scores / math.sqrt(C)
        scores = masked_fill_scores(scores, mask)
        weights = F.softmax(scores, dim=-1)  # (B, T, T)
        return weights @ v  # (B, T, C)


# --------------------------------------------------------------------------------------------
# (d) multi-head attention: the one the models use


class MultiHeadAttention(nn.Module):
    """(d) Multi-head attention, with a readable path and a fused fast path.

        x ──q_proj──► q (B,H,Tq,D) ─┐
                                     ├─ softmax(q kᵀ/√D + bias, masked) v ─► merge heads ─► out_proj
      context ─kv_proj─► k, v (B,KV,Tk,D)┘   (context = x for self-attention)

    - `fast=True` runs torch.nn.functional.scaled_dot_product_attention (fused kernels);
      `fast=False` spells every step out. Tests prove the two agree.
    - Grouped-query attention: n_kv_heads < n_heads shares each key/value head among
      n_heads // n_kv_heads query heads (Ainslie et al. 2023). n_kv_heads = n_heads is ordinary MHA.
    - A position scheme (scratchformer.core.positions) may rotate q and k (RoPE) and add a
      bias to the scores (ALiBi, T5, Shaw, Transformer-XL).
    - A KV cache (scratchformer.core.kv_cache) stores past keys and values for generation.
    - Dropout, two probabilities as in the config: `dropout` on the output (the module
      `resid_dropout`), `attn_dropout` on the attention weights (kept as `attn_dropout_p`;
      None means `dropout`).
    """

    def __init__(
        self,
        d_model: int,
        n_heads: int,
        n_kv_heads: int | None = None,
        dropout: float = 0.0,
        bias: bool = True,
        qk_norm: bool = False,
        attn_dropout: float | None = None,
    ):
        super().__init__()
        n_kv_heads = n_kv_heads or n_heads
        if d_model % n_heads != 0:
            raise ValueError(f"d_model ({d_model}) must be divisible by n_heads ({n_heads})")
        if n_heads % n_kv_heads != 0:
            raise ValueError(f"n_heads ({n_heads}) must be divisible by n_kv_heads ({n_kv_heads})")
        self.n_heads, self.n_kv_heads = n_heads, n_kv_heads
        self.head_dim = d_model // n_heads
        self.q_proj = nn.Linear(d_model, n_heads * self.head_dim, bias=bias)
        self.kv_proj = nn.Linear(d_model, 2 * n_kv_heads * self.head_dim, bias=bias)
        self.out_proj = nn.Linear(n_heads * self.head_dim, d_model, bias=bias)
        # QK-norm (Dehghani et al. 2023): normalise queries and keys per head, for stability.
        self.q_norm = nn.RMSNorm(self.head_dim) if qk_norm else None
        self.k_norm = nn.RMSNorm(self.head_dim) if qk_norm else None
        # - the probability of dropping an attention weight (None: the same as on the output). On a CPU,
        #   any dropout of the weights sends SDPA to its unfused path, which holds (B, H, Tq, Tk) in memory
        self.attn_dropout_p = dropout if attn_dropout is None else attn_dropout
        # - without dropout, Identity: generation then runs no dropout op at all (one per layer per token)
        self.resid_dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()

    def split_heads(self, t: torch.Tensor, n: int) -> torch.Tensor:
        B, T, _ = t.shape
        return t.view(B, T, n, self.head_dim).transpose(1, 2)  # (B, T, n*D) -> (B, n, T, D)

    def forward(
        self,
        x: torch.Tensor,
        *,
        context: torch.Tensor | None = None,
        causal: bool = False,
        padding_mask: torch.Tensor | None = None,
        positions=None,
        cache=None,
        layer: int = 0,
        fast: bool = True,
    ) -> torch.Tensor:
        """x: (B, Tq, C); context: (B, Tk, C) for cross-attention, else x itself.

        padding_mask: (B, Tk) True for real keys. positions: a Positions scheme or None.
        cache: a KVCache or None (self-attention only); layer indexes into it.
        """
        B, Tq, C = x.shape
        source = x if context is None else context
        # - project, then fold heads out of the channel dimension
        q = self.split_heads(self.q_proj(x), self.n_heads)  # (B, H, Tq, D)
        k, v = self.kv_proj(source).chunk(2, dim=-1)  # (B, Tk, KV*D) each
        k, v = self.split_heads(k, self.n_kv_heads), self.split_heads(v, self.n_kv_heads)  # (B, KV, Tk, D)
        if self.q_norm is not None:
            q, k = self.q_norm(q), self.k_norm(k)

        # - positions of the new queries/keys: after whatever the cache already holds
        start = cache.length if cache is not None else 0
        if positions is not None and context is None:
            q, k = positions.rotate(q, k, start)
        elif positions is not None:
            # - cross-attention whose queries are the last Tq of the new context positions
            #   (Perceiver AR): rotate each by its own positions, so q_m · k_n depends on m - n
            q = positions.rotate_at(q, start + k.size(2) - Tq)
            k = positions.rotate_at(k, start)

        # - append to the cache and attend over everything cached so far
        if cache is not None:
            k, v = cache.update(layer, k, v)  # (B, KV, Tk, D), Tk = start + Tq
        Tk = k.size(2)

        # - grouped-query attention: repeat each key/value head for its group of query heads
        if self.n_kv_heads != self.n_heads:
            repeat = self.n_heads // self.n_kv_heads
            k = k.repeat_interleave(repeat, dim=1)  # (B, H, Tk, D)
            v = v.repeat_interleave(repeat, dim=1)  # (B, H, Tk, D)

        bias = None
        if positions is not None and context is None:
            bias = positions.score_bias(q, start, Tk)  # (1|B, H, Tq, Tk) or None
        dropout_p = self.attn_dropout_p if self.training else 0.0

        if fast:
            y = self._fast(q, k, v, causal, padding_mask, bias, dropout_p)
        else:
            y = self._readable(q, k, v, causal, padding_mask, bias, dropout_p)

        # - merge heads back into channels
        y = y.transpose(1, 2).reshape(B, Tq, self.n_heads * self.head_dim)  # (B, Tq, H*D)
        return self.resid_dropout(self.out_proj(y))  # (B, Tq, C)

    def _readable(self, q, k, v, causal, padding_mask, bias, dropout_p):
        """The attention step by step: scores, bias, mask, softmax, dropout, weighted sum."""
        Tq, Tk = q.size(2), k.size(2)
        scores = q @ k.transpose(-2, -1) / math.sqrt(self.head_dim)  # (B, H, Tq, Tk)
        if bias is not None:
            scores = scores + bias
        mask = combine_masks(Tq, Tk, causal, padding_mask, q.device)  # (B|1, 1, Tq, Tk)
        scores = masked_fill_scores(scores, mask)
        weights = F.softmax(scores, dim=-1)  # (B, H, Tq, Tk)
        weights = F.dropout(weights, dropout_p)
        return weights @ v  # (B, H, Tq, D)

    def _fast(self, q, k, v, causal, padding_mask, bias, dropout_p):
        """The same computation in one fused kernel (flash / memory-efficient / CPU kernels)."""
        Tq, Tk = q.size(2), k.size(2)
        if bias is None and padding_mask is None:
            if not causal or Tq == 1:  # one new query sees every cached key
                return F.scaled_dot_product_attention(q, k, v, dropout_p=dropout_p)
            if Tq == Tk:  # the common training case: the kernel builds the mask itself
                return F.scaled_dot_product_attention(q, k, v, dropout_p=dropout_p, is_causal=True)
        # - general case: one additive float mask carrying bias, causality and padding
        mask = combine_masks(Tq, Tk, causal, padding_mask, q.device)  # (B|1, 1, Tq, Tk) or None
        attn = q.new_zeros(1, 1, Tq, Tk) if bias is None else bias.to(q.dtype)
        attn = masked_fill_scores(attn, mask)  # broadcasts to (B|1, H|1, Tq, Tk)
        return F.scaled_dot_product_attention(q, k, v, attn_mask=attn, dropout_p=dropout_p)
