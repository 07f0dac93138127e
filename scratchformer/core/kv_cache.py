"""A key/value cache for autoregressive generation.

Without a cache, generating token t recomputes keys and values for all t previous tokens.
With it, each step computes them for the new token only and reads the rest from memory.

  k, v: (L, B, KV, max_len, D)  one slot per layer, per position; `length` slots are filled.
"""

from __future__ import annotations

import torch


class KVCache:
    def __init__(self, n_layers: int, batch_size: int, n_kv_heads: int, head_dim: int,
                 max_len: int, device=None, dtype=torch.float32):
        shape = (n_layers, batch_size, n_kv_heads, max_len, head_dim)
        self.k = torch.zeros(shape, device=device, dtype=dtype)
        self.v = torch.zeros(shape, device=device, dtype=dtype)
        # - one view per layer, made once: (B, KV, max_len, D) each (indexing self.k[layer] on
        #   every step of every layer would be one more op per layer per token)
        self.k_layers = [self.k[i] for i in range(n_layers)]
        self.v_layers = [self.v[i] for i in range(n_layers)]
        self.max_len = max_len
        self.length = 0  # positions already stored (the same for every layer between forwards)

    def update(self, layer: int, k: torch.Tensor, v: torch.Tensor):
        """Store k, v (B, KV, T, D) after the cached positions; return all keys and values so far."""
        T = k.size(2)
        end = self.length + T
        if end > self.max_len:
            raise ValueError(f"KV cache holds {self.max_len} positions; cannot append {T} more to {self.length}")
        # - write into the preallocated slots (narrow is a view: no copy of what is already cached)
        k_all, v_all = self.k_layers[layer], self.v_layers[layer]  # (B, KV, max_len, D) each
        k_all.narrow(2, self.length, T).copy_(k)
        v_all.narrow(2, self.length, T).copy_(v)
        return k_all.narrow(2, 0, end), v_all.narrow(2, 0, end)  # (B, KV, end, D) each

    def has_room(self, n: int = 1) -> bool:
        """Whether n more positions fit (generation refills the cache from its window when not)."""
        return self.length + n <= self.max_len

    def advance(self, T: int) -> None:
        """Called once per forward pass, after every layer has stored its T new positions."""
        self.length += T

    def reset(self) -> None:
        self.length = 0
