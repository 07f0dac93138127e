"""Vectors in front of the tokens: what a frozen language model can be given besides its tokens.

Two places to put them, both read by GPT.forward (scratchformer.models.gpt):

  at the input    prefix (B, P, C): P vectors before the token embeddings; every layer treats them
                  as tokens at positions 0 .. P-1 ("prompt tuning" when they are learned:
                  Lester et al. 2021, "The Power of Scale for Parameter-Efficient Prompt Tuning")
  at every layer  prefix_kv (a PrefixKV, scratchformer.core.kv_cache): P keys and values in front
                  of each layer's own (Li & Liang 2021, "Prefix-Tuning: Optimizing Continuous
                  Prompts for Generation")

      input:   [p_1 .. p_P | tok_1 .. tok_T] ─► Block ─► Block ─► ... ─► logits of tok_1 .. tok_T
      layers:  [tok_1 .. tok_T] ─► Block(keys/values: [prefix_0 | tokens]) ─► Block(... [prefix_1 | tokens]) ─► ...

The modules below make them:
  LearnedPrefix      P trainable input vectors
  LearnedPrefixKV    P trainable keys and values per layer, optionally through a small MLP (Li & Liang's
                     reparametrisation, which they found trains more stably than the raw vectors)
  prefix_kv_from_hidden
                     keys and values computed from hidden states by the model's own layers: hidden
                     states of an earlier segment given to each layer as if they were its past tokens
  layer_inputs       the hidden state entering each block, to feed the function above

Train them with the base model frozen (scratchformer.core.tuning.freeze_base, or requires_grad_(False)).
"""

from __future__ import annotations

import torch
from torch import nn

from scratchformer.core.kv_cache import PrefixKV
from scratchformer.errors import UserError


def check_length(P: int, context_len: int | None = None) -> None:
    if P < 0:
        raise UserError(f"a prefix length must be >= 0, got {P}")
    if context_len is not None and P >= context_len:
        raise UserError(f"a prefix of {P} leaves no room for a token in the model's context of {context_len}; "
                        "shorten the prefix")


class LearnedPrefix(nn.Module):
    """P trainable vectors for the input: forward() -> (1, P, C), shared by the batch."""

    def __init__(self, model: nn.Module, length: int, init_std: float = 0.02):
        super().__init__()
        cfg = model.config
        check_length(length, cfg.context_len)
        weight = model.tok_emb.weight
        self.vectors = nn.Parameter(torch.randn(1, length, cfg.d_model, device=weight.device) * init_std)

    def tuned_parameters(self) -> list[nn.Parameter]:
        return [self.vectors]

    def forward(self) -> torch.Tensor:
        return self.vectors  # (1, P, C)


class LearnedPrefixKV(nn.Module):
    """P trainable keys and values per layer: forward() -> PrefixKV, shared by the batch.

    hidden = 0: the keys and values are the parameters themselves.
    hidden > 0: P trainable vectors of width C pass through Linear(C, hidden) ─ tanh ─ Linear(hidden,
    L·2·KV·D) to give every layer's keys and values (Li & Liang's reparametrisation).
    """

    def __init__(self, model: nn.Module, length: int, hidden: int = 0, init_std: float = 0.02):
        super().__init__()
        cfg = model.config
        check_length(length, cfg.context_len)
        self.L, self.KV, self.D, self.P = cfg.n_layers, cfg.n_kv_heads or cfg.n_heads, cfg.head_dim, length
        device = model.tok_emb.weight.device
        shape = (self.L, 2, self.KV, length, self.D)  # (L, keys|values, KV, P, D)
        if hidden:
            self.seed = nn.Parameter(torch.randn(length, cfg.d_model, device=device) * init_std)
            self.mlp = nn.Sequential(nn.Linear(cfg.d_model, hidden, device=device), nn.Tanh(),
                                     nn.Linear(hidden, self.L * 2 * self.KV * self.D, device=device))
        else:
            self.kv = nn.Parameter(torch.randn(shape, device=device) * init_std)

    def tuned_parameters(self) -> list[nn.Parameter]:
        return list(self.parameters())

    def forward(self) -> PrefixKV:
        if hasattr(self, "kv"):
            kv = self.kv  # (L, 2, KV, P, D)
        else:
            out = self.mlp(self.seed)  # (P, L*2*KV*D)
            kv = out.view(self.P, self.L, 2, self.KV, self.D).permute(1, 2, 3, 0, 4)  # (L, 2, KV, P, D)
        return PrefixKV(kv[:, 0, None], kv[:, 1, None])  # (L, 1, KV, P, D) each


@torch.no_grad()
def layer_inputs(model: nn.Module, idx: torch.Tensor) -> list[torch.Tensor]:
    """The hidden state entering each block when the model reads idx (B, T): n_layers tensors (B, T, C)."""
    inputs: list[torch.Tensor] = []
    hooks = [block.register_forward_pre_hook(lambda _, args: inputs.append(args[0])) for block in model.blocks]
    try:
        model(idx)
    finally:
        for hook in hooks:
            hook.remove()
    return inputs


def prefix_kv_from_hidden(model: nn.Module, hidden: list[torch.Tensor]) -> PrefixKV:
    """Each layer's keys and values for the hidden states hidden[l] (B, P, C), as if they were P tokens
    at positions 0 .. P-1 entering that layer: its norm, key/value projection, QK-norm and rotation.

    With hidden = layer_inputs(model, idx), the prefix gives the same keys and values as the tokens
    idx would, so the next tokens read them as a continuation (a test checks this).
    """
    if len(hidden) != len(model.blocks):
        raise UserError(f"need one hidden state per layer ({len(model.blocks)}), got {len(hidden)}")
    keys, values = [], []
    for block, h in zip(model.blocks, hidden):
        attn = block.attn
        x = block.norm1(h) if block.prenorm else h  # what the attention of this layer reads
        k, v = attn.kv_proj(x).chunk(2, dim=-1)  # (B, P, KV*D) each
        k, v = attn.split_heads(k, attn.n_kv_heads), attn.split_heads(v, attn.n_kv_heads)  # (B, KV, P, D)
        if attn.k_norm is not None:
            k = attn.k_norm(k)
        # - rotate the keys to positions 0 .. P-1 (RoPE; other schemes leave them as they are)
        _, k = model.positions.rotate(k, k, 0)
        keys.append(k)
        values.append(v)
    return PrefixKV(torch.stack(keys), torch.stack(values))  # (L, B, KV, P, D) each
