"""Autoregressive generation: sample one token at a time and feed it back.

Works with any model whose forward is `model(idx, cache=..., last_only=True) -> (logits, _)`,
that has `config.context_len` and `new_cache(batch_size)`: the GPT, the Perceiver AR, and
the pretrained models loaded into them.

Past the context length the window slides: each step sees only the last context_len tokens.
With the KV cache, a full cache is refilled from the last context_len tokens (the window
moves by one; position-dependent keys must be recomputed), so both paths give the same tokens.

A prefix (vectors before the tokens, or keys and values in front of every layer: see
scratchformer.core.prefix) stays in front of the window for the whole generation; the window
then holds context_len - P tokens.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

import torch
import torch.nn.functional as F


@dataclass
class SamplingConfig:
    """How to pick each next token."""

    max_new_tokens: int = 200
    """Tokens to generate."""
    temperature: float = 0.8
    """Divide logits by this; 0 means greedy (always the most likely token)."""
    top_k: int | None = None
    """Sample only among the k most likely tokens."""
    top_p: float | None = None
    """Sample only among the smallest set of tokens whose probability adds up to p (nucleus)."""
    seed: int | None = None
    """Seed for reproducible samples; None draws a fresh one."""
    use_cache: bool = True
    """Reuse past keys and values (KV cache) instead of recomputing them every step."""

    def __post_init__(self):
        if self.max_new_tokens < 0:
            raise ValueError(f"max_new_tokens must be >= 0, got {self.max_new_tokens}")
        if self.temperature < 0:
            raise ValueError(f"temperature must be >= 0, got {self.temperature}")
        if self.top_k is not None and self.top_k < 1:
            raise ValueError(f"top_k must be >= 1, got {self.top_k}")
        if self.top_p is not None and not 0.0 < self.top_p <= 1.0:
            raise ValueError(f"top_p must be in (0, 1], got {self.top_p}")


def filter_logits(logits: torch.Tensor, top_k: int | None, top_p: float | None) -> torch.Tensor:
    """logits: (B, V). Set everything outside the top-k / top-p set to -inf."""
    if top_k is not None and top_k < logits.size(-1):
        kth = torch.topk(logits, top_k, dim=-1).values[:, -1:]  # (B, 1)
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if top_p is not None and top_p < 1.0:
        sorted_logits, order = torch.sort(logits, dim=-1, descending=True)  # (B, V)
        cum = F.softmax(sorted_logits, dim=-1).cumsum(dim=-1)  # (B, V)
        # - drop a token when the tokens before it already reach top_p (the first always stays)
        drop_sorted = (cum - F.softmax(sorted_logits, dim=-1)) >= top_p
        drop = drop_sorted.scatter(-1, order, drop_sorted)  # back to vocabulary order
        logits = logits.masked_fill(drop, float("-inf"))
    return logits


def sample_next(logits: torch.Tensor, cfg: SamplingConfig, generator: torch.Generator | None) -> torch.Tensor:
    """logits: (B, V) for the last position -> (B, 1) next token ids."""
    if cfg.temperature == 0:
        return logits.argmax(dim=-1, keepdim=True)
    logits = filter_logits(logits.float() / cfg.temperature, cfg.top_k, cfg.top_p)
    probs = F.softmax(logits, dim=-1)  # (B, V)
    # - inverse-CDF sampling: draw u uniformly below the total probability and take the first token
    #   whose cumulative probability exceeds it. The same distribution as torch.multinomial(probs, 1),
    #   in three cheap ops (multinomial also checks its input, which costs a sync per token).
    cdf = probs.cumsum(dim=-1)  # (B, V)
    u = torch.rand(probs.size(0), 1, generator=generator, device=probs.device) * cdf[:, -1:]  # (B, 1)
    # - tokens with cdf <= u lie before the pick; a zero-probability token never gets picked
    return (cdf <= u).sum(dim=-1, keepdim=True)  # (B, 1)


@torch.inference_mode()  # like no_grad, and lighter: no autograd bookkeeping at all on each op
def generate_stream(model, idx: torch.Tensor, cfg: SamplingConfig, *, prefix: torch.Tensor | None = None,
                    prefix_kv=None) -> Iterator[torch.Tensor]:
    """Yield each new token, (B, 1), as soon as it is sampled. idx: (B, T) prompt ids.

    prefix: (B|1, P, C) vectors before the tokens; prefix_kv: a PrefixKV (GPT models only).
    """
    if idx.size(1) == 0:
        raise ValueError("the prompt must hold at least one token")
    was_training = model.training
    model.eval()
    device = idx.device
    generator = torch.Generator(device=device)
    generator.manual_seed(cfg.seed if cfg.seed is not None else int(torch.randint(2**62, ()).item()))
    context_len = model.config.context_len
    # - a prefix stays in front: the tokens' window is what the context has left
    in_front = {k: v for k, v in dict(prefix=prefix, prefix_kv=prefix_kv).items() if v is not None}
    P = (0 if prefix is None else prefix.size(1)) + (0 if prefix_kv is None else prefix_kv.length)
    window_len = context_len - P
    if window_len < 1:
        raise ValueError(f"a prefix of {P} positions leaves no room for a token in the context of {context_len}")
    # - the cache needs room for the prefix, the visible prompt and the new tokens, at most context_len
    #   (allocating all of a long context, e.g. SmolLM2's 8192, would cost more than a short generation)
    cache_len = min(context_len, P + idx.size(1) + cfg.max_new_tokens)
    cache = model.new_cache(idx.size(0), cache_len) if cfg.use_cache else None
    try:
        for step in range(cfg.max_new_tokens):
            window = idx[:, -window_len:]  # (B, <= context_len - P)
            if cache is None:
                logits, _ = model(window, last_only=True, **in_front)
            elif step == 0 or not cache.has_room(1):
                # - first step, or the window slid: (re)fill the cache from the prefix and the visible window
                cache.reset()
                logits, _ = model(window, cache=cache, last_only=True, **in_front)
            else:
                # - only the newest token is new; everything before it is cached
                logits, _ = model(idx[:, -1:], cache=cache, last_only=True)
            next_id = sample_next(logits[:, -1, :], cfg, generator)  # (B, 1)
            idx = torch.cat([idx, next_id], dim=1)  # (B, T+1)
            yield next_id
    finally:
        model.train(was_training)


def generate(model, idx: torch.Tensor, cfg: SamplingConfig, *, prefix: torch.Tensor | None = None,
             prefix_kv=None) -> torch.Tensor:
    """(B, T) prompt -> (B, T + max_new_tokens): the prompt followed by the sampled tokens."""
    new = list(generate_stream(model, idx, cfg, prefix=prefix, prefix_kv=prefix_kv))
    return torch.cat([idx, *new], dim=1) if new else idx
