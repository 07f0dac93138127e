"""A GPT-style autoregressive language model (Radford et al. 2018, 2019).

Legend:  B batch, T sequence length, C d_model, H n_heads, V vocab_size.

   idx (B, T) ─ tok_emb ─(+ positions.embed)─ dropout ─ [Block × n_layers] ─ norm_f ─ lm_head ─► logits (B, T, V)

The same class covers the GPT-2 layout (learned positions, LayerNorm, GELU) and the Llama
layout (RoPE, RMSNorm, SwiGLU, grouped-query attention) through its config.

Two ways to feed vectors in front of the tokens (scratchformer.core.prefix makes them):
  prefix     (B, P, C)  vectors placed before the token embeddings, at positions 0 .. P-1: each
                        layer treats them as tokens. Logits and loss are for the tokens only.
  prefix_kv  PrefixKV   keys and values in front of every layer's own (prefix tuning); the
                        tokens start at position P.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from scratchformer.core.block import Block, TransformerConfig
from scratchformer.core.kv_cache import KVCache, PrefixKV
from scratchformer.core.norms import build_norm
from scratchformer.core.position_schemes import POSITIONS, build_positions
from scratchformer.errors import UserError


@dataclass
class GPTConfig(TransformerConfig):
    """A GPT: the block stack plus vocabulary, context and position scheme."""

    vocab_size: int = 256
    """Tokens in the vocabulary (V). Set from the tokenizer when training from a corpus."""
    context_len: int = 256
    """Longest sequence the model is trained on (learned positions cannot go further)."""
    position: str = "learned"
    """Position scheme: learned or sinusoidal (absolute, added to the embeddings), rope, alibi, shaw, t5 or
    transformer_xl (relative, inside attention), or none."""
    rope_base: float = 10000.0
    """Base of RoPE's geometric frequencies."""
    tie_weights: bool = True
    """Share the token embedding matrix with the output layer (Press & Wolf 2017)."""
    init_std: float = 0.02
    """Std of the normal initialisation; residual projections get init_std / sqrt(2 n_layers)."""
    zero_init_out: bool = False
    """Start every residual branch's output projection (attention's and the MLP's) at zero, so each
    block begins as the identity (the modded-nanogpt speedrun; Fixup, Zhang et al. 2019, and ReZero);
    with an untied head, the output layer starts at zero too (a uniform first prediction)."""

    def __post_init__(self):
        super().__post_init__()
        if self.vocab_size < 1:
            raise ValueError(f"vocab_size must be at least 1, got {self.vocab_size}")
        if self.context_len < 1:
            raise ValueError(f"context_len must be at least 1, got {self.context_len}")
        if self.position not in POSITIONS:
            raise ValueError(f"unknown position scheme {self.position!r}; choose one of {sorted(POSITIONS)}")
        if self.position == "rope" and self.head_dim % 2:
            raise ValueError(f"rope needs an even head dimension, got {self.head_dim}")


class GPT(nn.Module):
    def __init__(self, cfg: GPTConfig):
        super().__init__()
        self.config = cfg
        self.tok_emb = nn.Embedding(cfg.vocab_size, cfg.d_model)
        self.positions = build_positions(cfg.position, cfg.d_model, cfg.n_heads, cfg.context_len,
                                         rope_base=cfg.rope_base)
        self.drop = nn.Dropout(cfg.dropout) if cfg.dropout > 0 else nn.Identity()
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layers))
        self.norm_f = build_norm(cfg.norm, cfg.d_model, cfg.norm_eps, cfg.bias)
        self.lm_head = nn.Linear(cfg.d_model, cfg.vocab_size, bias=False)
        if cfg.tie_weights:
            self.lm_head.weight = self.tok_emb.weight
        self.apply(self._init_weights)
        # GPT-2's scaled init: each residual branch adds to the stream, so shrink the last
        # projection of each branch by sqrt(2 n_layers) to keep the stream's variance steady.
        for name, p in self.named_parameters():
            if name.endswith(("attn.out_proj.weight", "mlp.fc_out.weight")):
                if cfg.zero_init_out:
                    nn.init.zeros_(p)  # the block starts as the identity; gradients still reach p
                else:
                    nn.init.normal_(p, mean=0.0, std=cfg.init_std / math.sqrt(2 * cfg.n_layers))
        if cfg.zero_init_out and not cfg.tie_weights:
            nn.init.zeros_(self.lm_head.weight)  # every first prediction is uniform: loss ln(V)

    def _init_weights(self, module: nn.Module) -> None:
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, mean=0.0, std=self.config.init_std)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, mean=0.0, std=self.config.init_std)

    def num_params(self) -> int:
        """Parameter count (shared weights counted once)."""
        return sum(p.numel() for p in self.parameters())

    def _with_prefix_kv(self, prefix_kv: PrefixKV, cache: KVCache | None, B: int):
        """The cache the layers read: the prefix itself, or an empty cache filled with it first."""
        cfg = self.config
        want = (cfg.n_layers, cfg.n_kv_heads or cfg.n_heads, cfg.head_dim)
        got = (prefix_kv.k.size(0), prefix_kv.k.size(2), prefix_kv.k.size(4))
        if got != want:
            raise UserError(f"prefix_kv has (layers, kv heads, head dim) {got} but the model has {want}")
        if prefix_kv.k.size(1) not in (1, B):
            raise UserError(f"prefix_kv holds a batch of {prefix_kv.k.size(1)} but the input has {B}; give one "
                            "per sequence, or one (batch 1) for all")
        if prefix_kv.length > cfg.context_len:
            raise UserError(f"the prefix has {prefix_kv.length} keys and values but the model's context holds "
                            f"{cfg.context_len}; shorten the prefix")
        if cache is None:
            return prefix_kv
        cache.prefill(prefix_kv)
        return cache

    def _check_prefix(self, prefix: torch.Tensor, B: int, n_after: int) -> None:
        """A prefix must be (B, P, C) and leave room in the context for what follows it."""
        C, context_len = self.config.d_model, self.config.context_len
        if prefix.dim() != 3 or prefix.size(0) not in (1, B) or prefix.size(2) != C:
            raise UserError(f"a prefix must be (batch {B} or 1, P, d_model {C}) vectors, got shape "
                            f"{tuple(prefix.shape)}")
        if prefix.size(1) + n_after > context_len:
            raise UserError(f"a prefix of {prefix.size(1)} vectors and {n_after} positions after it exceed the "
                            f"model's context of {context_len}; shorten the prefix or the input")

    def new_cache(self, batch_size: int, max_len: int | None = None) -> KVCache:
        cfg, p = self.config, self.tok_emb.weight  # (the output layer may be quantised: see models/pretrained)
        return KVCache(cfg.n_layers, batch_size, cfg.n_kv_heads or cfg.n_heads, cfg.head_dim,
                       max_len or cfg.context_len, device=p.device, dtype=p.dtype)

    def forward(self, idx: torch.Tensor, targets: torch.Tensor | None = None, *,
                cache: KVCache | None = None, last_only: bool = False,
                prefix: torch.Tensor | None = None, prefix_kv: PrefixKV | None = None):
        """idx: (B, T) token ids. targets: (B, T) next-token ids, -100 to ignore a position.

        Returns (logits, loss): logits (B, T, V), or (B, 1, V) with last_only; loss is None
        without targets. With a cache, idx holds only the new tokens.
        prefix: (B, P, C) vectors in front of the token embeddings. prefix_kv: keys and values in
        front at every layer. With a cache, give either only with the first call: the cache keeps it.
        """
        B, T = idx.shape
        # - keys and values in front at every layer: they reach attention through the cache interface
        if prefix_kv is not None:
            cache = self._with_prefix_kv(prefix_kv, cache, B)
        start = cache.length if cache is not None else 0
        x = self.tok_emb(idx)  # (B, T, C)
        P = 0 if prefix is None else prefix.size(1)
        if prefix is not None:
            self._check_prefix(prefix, B, start + T)
            # - the prefix takes the first P positions; the tokens follow it (one prefix may serve the batch)
            x = torch.cat([prefix.to(x.dtype).expand(B, -1, -1), x], dim=1)  # (B, P+T, C)
        elif prefix_kv is not None and start + T > self.config.context_len:
            raise UserError(f"a prefix of {start} keys and values and {T} tokens need {start + T} positions, "
                            f"but the model's context holds {self.config.context_len}; shorten the prefix "
                            "or the input")
        pos = self.positions.embed(start, P + T)  # (P+T, C) or None
        if pos is not None:
            x = x + pos
        x = self.drop(x)
        for i, block in enumerate(self.blocks):
            x = block(x, causal=True, positions=self.positions, cache=cache, layer=i)
        if cache is not None:
            cache.advance(P + T)
        if P:
            x = x[:, P:]  # (B, T, C): logits for the tokens only
        x = self.norm_f(x)
        if last_only:
            x = x[:, -1:, :]  # (B, 1, C)
        logits = self.lm_head(x)  # (B, T, V)
        loss = None
        if targets is not None:
            loss = F.cross_entropy(logits.flatten(0, 1).float(), targets.flatten(), ignore_index=-100)
        return logits, loss
