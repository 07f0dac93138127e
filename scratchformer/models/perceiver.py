"""Perceivers: a small array of latents reads a long input through cross-attention (week 6).

Legend:  B batch, T input length (context), N latents, C d_model, H n_heads, V vocab_size.

Self-attention over T positions costs T² per layer. A Perceiver lets N << T latents attend to
the T inputs once (cost N·T), then runs its self-attention layers over the N latents only (N²).

  PerceiverLayer   Jaegle et al. 2021, "Perceiver: General Perception with Iterative Attention"
                   a learned latent array (N, C) cross-attends to any (B, T, C) input,
                   then self-attends:                      (B, T, C) ─► (B, N, C)

  PerceiverAR      Hawthorne et al. 2022, "General-purpose, long-context autoregressive
                   modeling with Perceiver AR". The latents are the *last N positions* of the
                   input itself, so the model stays autoregressive:

        idx (B, T) ─ tok_emb + positions ─► x (B, T, C)
                                            │
          x[:, -N:] ── queries ──► blocks[0]: cross-attention over all T, causal ─► (B, N, C)
                                            │   (query at position p sees inputs 0 .. p)
                                            ▼
                                 blocks[1:]: causal self-attention over the N   ─► (B, N, C)
                                            ▼
                                  norm_f ─ lm_head ─► logits for the last N positions (B, N, V)

    With N = T every position is a query and the model *is* a GPT with the same weights.
    The parameter names match the GPT's (blocks.0 is the cross-attention block), so a GPT
    state dict loads into a PerceiverAR unchanged.

Positions: learned or sinusoidal absolute embeddings, added before the cross-attention, or
rotary embeddings (the paper's choice): in the cross-attention each query is rotated by its own
position (the last N of the context) and each key by its own, so scores depend on the distance;
among the latents, by their distances to each other. A training sequence of T tokens trains on
its last N targets only.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from scratchformer.core.block import Block, TransformerConfig
from scratchformer.core.kv_cache import KVCache
from scratchformer.core.attention import MultiHeadAttention
from scratchformer.core.mlp import build_mlp
from scratchformer.core.norms import build_norm
from scratchformer.models.gpt import GPT, GPTConfig


class CrossAttentionBlock(nn.Module):
    """A Block whose attention reads keys and values from a `context` instead of from x.

        x ─┬─ norm1 ─ attention(queries from x, keys/values from norm(context)) ─(+)─┬─ norm2 ─ mlp ─(+)─►
           └──────────────────────────────────────────────────────────────────────┘└───────────────┘

    `context_norm=False` normalises the context with norm1 (Perceiver AR: the queries are
    part of the context); True gives the context its own norm (the basic Perceiver).
    Parameter names match Block (norm1, attn, norm2, mlp).
    """

    def __init__(self, cfg: TransformerConfig, context_norm: bool = False):
        super().__init__()
        self.fast = cfg.fast_attention
        self.norm1 = build_norm(cfg.norm, cfg.d_model, cfg.norm_eps, cfg.bias)
        self.norm_context = build_norm(cfg.norm, cfg.d_model, cfg.norm_eps, cfg.bias) if context_norm else None
        self.attn = MultiHeadAttention(cfg.d_model, cfg.n_heads, cfg.n_kv_heads, cfg.dropout, cfg.bias, cfg.qk_norm,
                                       cfg.attn_dropout)
        self.norm2 = build_norm(cfg.norm, cfg.d_model, cfg.norm_eps, cfg.bias)
        self.mlp = build_mlp(cfg.mlp, cfg.d_model, cfg.d_ff, cfg.bias, cfg.dropout)

    def forward(self, x: torch.Tensor, context: torch.Tensor, *, causal: bool = False,
                padding_mask=None, positions=None, cache=None, layer: int = 0) -> torch.Tensor:
        """x: (B, Tq, C) queries; context: (B, Tk, C). With causal, the Tq queries are the last
        Tq positions of the context. With a cache, context holds only the new positions.
        positions: a rotary scheme rotates queries and keys by their own positions."""
        norm_context = self.norm_context or self.norm1
        x = x + self.attn(self.norm1(x), context=norm_context(context), causal=causal,
                          padding_mask=padding_mask, positions=positions, cache=cache, layer=layer,
                          fast=self.fast)
        return x + self.mlp(self.norm2(x))  # (B, Tq, C)


# --------------------------------------------------------------------------------------------
# the basic Perceiver layer


@dataclass
class PerceiverConfig(TransformerConfig):
    """A Perceiver layer: n_latents latents, one cross-attention, then n_layers self-attention blocks."""

    n_latents: int = 32
    """N: size of the latent array; the cost of the self-attention layers depends on N only."""

    def __post_init__(self):
        super().__post_init__()
        if self.n_latents < 1:
            raise ValueError(f"n_latents must be at least 1, got {self.n_latents}")


class PerceiverLayer(nn.Module):
    """The basic Perceiver layer (Jaegle et al. 2021): (B, T, C) inputs -> (B, N, C) latents.

    Without position information in the inputs, the output does not depend on their order.
    """

    def __init__(self, cfg: PerceiverConfig):
        super().__init__()
        self.latents = nn.Parameter(torch.randn(cfg.n_latents, cfg.d_model) * 0.02)  # (N, C)
        self.cross = CrossAttentionBlock(cfg, context_norm=True)
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layers))

    def forward(self, x: torch.Tensor, padding_mask: torch.Tensor | None = None) -> torch.Tensor:
        """x: (B, T, C); padding_mask: (B, T) True for real inputs. Returns (B, N, C)."""
        B = x.size(0)
        # - the same learned latent array starts every example
        latents = self.latents.expand(B, -1, -1)  # (B, N, C)
        # - the latents read the input once: cost N·T
        latents = self.cross(latents, x, padding_mask=padding_mask)  # (B, N, C)
        # - then think among themselves: cost N² per layer, whatever T is
        for block in self.blocks:
            latents = block(latents, causal=False)
        return latents


# --------------------------------------------------------------------------------------------
# Perceiver AR


PERCEIVER_POSITIONS = ("learned", "sinusoidal", "rope", "none")


@dataclass
class PerceiverARConfig(GPTConfig):
    """A Perceiver AR language model: a GPT whose last n_layers - 1 layers see only the last N positions."""

    position: str = "learned"
    """learned or sinusoidal (added before the cross-attention), rope (rotary, in every attention), or none."""
    n_latents: int = 64
    """N: the last N positions of the context are the queries (and get predictions)."""

    def __post_init__(self):
        super().__post_init__()
        if self.position not in PERCEIVER_POSITIONS:
            raise ValueError(f"PerceiverAR supports position {', '.join(PERCEIVER_POSITIONS)}; got {self.position!r} "
                             "(relative score biases are not defined for its cross-attention)")
        if not 1 <= self.n_latents <= self.context_len:
            raise ValueError(f"n_latents must be between 1 and context_len ({self.context_len}), "
                             f"got {self.n_latents}")


class PerceiverARCache:
    """What cached generation keeps between steps: block-wise decoding, exact and cheap.

    In training, a window of T inputs has its last N positions as latents; the latent at offset
    i of that block (i = 0 .. N-1) sees the i latents before it and the inputs from the window's
    start up to itself. Generation can reproduce exactly those computations, block by block:

        block of N latents, positions q .. q+N-1;  window start s = q + N - T (0 at the beginning)

        p = q        reset; cross-attend from p over inputs s .. p  (T - N + 1 keys: computed once)
        p = q + i    one new query over the cached keys s .. p, and the latent stack for one new
                     latent over the i cached latents of the block (keys/values kept per layer)
        p = q + N    the block is full: a new block starts at p

    Each prediction is the trained model's own output for a training window (latent offset i),
    so nothing is approximated; a step costs about as much as a GPT's step. (Sliding a window of
    N latents by one token instead would change every deeper layer of every latent, so all of
    them would be recomputed at every step: N times the work.)

    The cache keeps the window's token ids, to start the next block.
    """

    def __init__(self, model: "PerceiverAR", batch_size: int):
        cfg, p = model.config, model.lm_head.weight
        kv_heads = cfg.n_kv_heads or cfg.n_heads
        # - keys/values of the cross-attention over the window's inputs (one layer)
        self.cross = KVCache(1, batch_size, kv_heads, cfg.head_dim, cfg.context_len, device=p.device, dtype=p.dtype)
        # - keys/values of the current block's latents, in each self-attention layer
        self.latents = KVCache(max(1, cfg.n_layers - 1), batch_size, kv_heads, cfg.head_dim, cfg.n_latents,
                               device=p.device, dtype=p.dtype)
        self.n_latents, self.context_len = cfg.n_latents, cfg.context_len
        self.tokens: torch.Tensor | None = None  # (B, <= T) the window's inputs so far

    @property
    def length(self) -> int:
        """Inputs of the current window held in the cache (never more than context_len)."""
        return self.cross.length

    def has_room(self, n: int = 1) -> bool:
        """Always: the cache starts a new block (and window) itself when one is full."""
        return True

    @property
    def block_full(self) -> bool:
        return self.latents.length == self.n_latents

    def reset(self) -> None:
        self.cross.reset()
        self.latents.reset()
        self.tokens = None


class PerceiverAR(GPT):
    """Perceiver AR (Hawthorne et al. 2022): the GPT's modules, with blocks[0] cross-attending.

    forward(idx, targets) returns logits for the last min(N, T) positions and the loss on their
    targets; it follows the GPT's contract, so models.generate works with and without the cache.
    """

    def __init__(self, cfg: PerceiverARConfig):
        super().__init__(cfg)
        # - same modules as the GPT, but the first block reads the whole context by cross-attention
        first = CrossAttentionBlock(cfg)
        first.load_state_dict(self.blocks[0].state_dict())  # keep the GPT's initialisation
        self.blocks[0] = first

    def new_cache(self, batch_size: int, max_len: int | None = None) -> PerceiverARCache:
        return PerceiverARCache(self, batch_size)

    def forward(self, idx: torch.Tensor, targets: torch.Tensor | None = None, *,
                cache: PerceiverARCache | None = None, last_only: bool = False, n_latents: int | None = None):
        """idx: (B, T) with T <= context_len; targets: (B, T) next tokens (the last N are used).

        n_latents: how many of the last positions are latents (default: the config's N); a
        smaller number is the computation of a block's first latents (see PerceiverARCache).
        Returns (logits, loss): logits (B, min(N, T), V) for the last positions, (B, 1, V) with
        last_only. With a cache, idx holds only the new tokens (the prompt, then one at a time).
        """
        if cache is not None:
            return self.forward_cached(idx, cache, last_only)
        B, T = idx.shape
        cfg = self.config
        if T > cfg.context_len:
            raise ValueError(f"PerceiverAR reads at most context_len = {cfg.context_len} tokens, "
                             f"got {T}; crop the input to its last {cfg.context_len} tokens")
        N = min(n_latents or cfg.n_latents, T)
        h = self.latent_outputs(idx, N)  # (B, N, C)
        if last_only:
            h = h[:, -1:, :]  # (B, 1, C)
        logits = self.lm_head(h)  # (B, N, V)
        loss = None
        if targets is not None:
            loss = F.cross_entropy(logits.flatten(0, 1).float(), targets[:, -N:].flatten(), ignore_index=-100)
        return logits, loss

    def latent_outputs(self, idx: torch.Tensor, N: int, cache: PerceiverARCache | None = None) -> torch.Tensor:
        """The final-norm outputs of the last N positions of idx (B, T) -> (B, N, C).

        With a cache, idx holds the new inputs (after cache.length cached ones) and the N new
        latents continue the cached block."""
        start = cache.length if cache is not None else 0
        T = idx.size(1)
        # - embed every input token, with its absolute position (learned, sinusoidal)
        x = self.tok_emb(idx)  # (B, T, C)
        pos = self.positions.embed(start, T)  # (T, C) or None (rope, none)
        if pos is not None:
            x = x + pos
        x = self.drop(x)
        # - the last N positions ask, every position answers (causal: query p sees inputs <= p)
        h = self.blocks[0](x[:, -N:], x, causal=True, positions=self.positions,
                           cache=cache.cross if cache is not None else None, layer=0)  # (B, N, C)
        # - causal self-attention among the latents only (over the block's cached ones too)
        for i, block in enumerate(self.blocks[1:]):
            h = block(h, causal=True, positions=self.positions,
                      cache=cache.latents if cache is not None else None, layer=i)
        if cache is not None:
            cache.cross.advance(T)
            cache.latents.advance(N)
        return self.norm_f(h)

    def forward_cached(self, idx: torch.Tensor, cache: PerceiverARCache, last_only: bool = False):
        """Block-wise decoding (see PerceiverARCache): the prompt into an empty cache, then one token at a time."""
        cfg = self.config
        if cache.length == 0:
            # - the prompt: its last N positions are the first block
            if idx.size(1) > cfg.context_len:
                raise ValueError(f"PerceiverAR reads at most context_len = {cfg.context_len} tokens, got {idx.size(1)}")
            cache.tokens = idx
            h = self.latent_outputs(idx, min(cfg.n_latents, idx.size(1)), cache)  # (B, N, C)
        elif idx.size(1) != 1:
            raise ValueError("a PerceiverAR cache takes the prompt once, then one token per step")
        elif cache.block_full or cache.length == cfg.context_len:
            # - a new block starts at this token: its window holds the T - N inputs before it
            window = torch.cat([cache.tokens, idx], dim=1)[:, -(cfg.context_len - cfg.n_latents + 1):]
            cache.reset()
            cache.tokens = window
            h = self.latent_outputs(window, 1, cache)  # (B, 1, C)
        else:
            # - one more latent in the current block, one more input in its window
            cache.tokens = torch.cat([cache.tokens, idx], dim=1)
            h = self.latent_outputs(idx, 1, cache)  # (B, 1, C)
        if last_only:
            h = h[:, -1:, :]
        return self.lm_head(h), None
