"""A key/value cache for autoregressive generation, and learned keys/values in front (prefix tuning).

Without a cache, generating token t recomputes keys and values for all t previous tokens.
With it, each step computes them for the new token only and reads the rest from memory.

  KVCache   k, v: (L, B, KV, max_len, D)  one slot per layer, per position; `length` slots are filled.
  PrefixKV  k, v: (L, B|1, KV, P, D)      P keys and values per layer that every pass sees first.

Both speak one interface, which attention and the models use:
  length                 positions already in front of the new tokens (their first position)
  update(layer, k, v)    append the new keys/values (B, KV, T, D); return everything so far
  advance(T)             once per forward pass, after every layer has appended its T positions
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

    def prefill(self, prefix: PrefixKV) -> None:
        """Start an empty cache with a prefix's keys and values: generation with prefix tuning."""
        if self.length:
            raise ValueError(f"a prefix goes first: the cache already holds {self.length} positions")
        if prefix.length > self.max_len:
            raise ValueError(f"the cache holds {self.max_len} positions; the prefix alone has {prefix.length}")
        P, B = prefix.length, self.k.size(1)
        # - slots 0 .. P-1 of every layer; a prefix shared by the batch (B = 1) is broadcast by copy_
        self.k.narrow(3, 0, P).copy_(prefix.k.expand(-1, B, -1, -1, -1))  # (L, B, KV, P, D)
        self.v.narrow(3, 0, P).copy_(prefix.v.expand(-1, B, -1, -1, -1))
        self.length = P


class PrefixKV:
    """P keys and values in front of every layer's own: prefix tuning (Li & Liang 2021,
    "Prefix-Tuning: Optimizing Continuous Prompts for Generation").

        layer l:   keys   [ k_prefix[l] (P) | k of the tokens (T) ]     queries: the T tokens only
                   values [ v_prefix[l] (P) | v of the tokens (T) ]

    To every layer the prefix looks like P tokens that came before: the tokens take positions
    P, P+1, ... and each may attend to the whole prefix (the causal mask is offset by P). Its keys
    are used as given: a position scheme does not rotate them again. Give it to a model as
    `model(idx, prefix_kv=prefix)`; the model passes it to attention through the cache interface,
    so attention needs no argument of its own.

    Unlike KVCache it stores nothing: update() puts the prefix in front of the new keys with
    torch.cat, so gradients reach it (train it with the base model frozen), and every forward pass
    sees the prefix and that pass's tokens only. For generation, KVCache.prefill copies it into a cache.

    k, v: (L, B, KV, P, D), B = 1 for one prefix shared by the whole batch.
    """

    def __init__(self, k: torch.Tensor, v: torch.Tensor):
        if k.dim() != 5 or k.shape != v.shape:
            raise ValueError(f"prefix keys and values must both be (L, B, KV, P, D), got {tuple(k.shape)} and "
                             f"{tuple(v.shape)}")
        self.k, self.v = k, v
        self.length = k.size(3)  # P: the tokens start after the prefix

    @property
    def n_layers(self) -> int:
        return self.k.size(0)

    def update(self, layer: int, k: torch.Tensor, v: torch.Tensor):
        """The prefix (B, KV, P, D), then the new keys/values (B, KV, T, D): (B, KV, P + T, D) each."""
        B = k.size(0)
        k_prefix = self.k[layer].expand(B, -1, -1, -1).to(k.dtype)  # (B, KV, P, D)
        v_prefix = self.v[layer].expand(B, -1, -1, -1).to(v.dtype)
        return torch.cat([k_prefix, k], dim=2), torch.cat([v_prefix, v], dim=2)

    def advance(self, T: int) -> None:
        """Nothing to do: no pass leaves anything behind for the next one."""
