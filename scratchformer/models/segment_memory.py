"""Memory across segments: a language model reads a long text one segment at a time and carries
something from each segment to the next.

Legend:  B batch, S segment length (tokens), C d_model, V vocab_size, L n_layers, k memory length.

Every variant speaks one interface (scratchformer.tasks.recurrent_lm drives it):

    state = None                                   nothing remembered before the first segment
    logits, state = memory(model, idx, state)      idx (B, S) -> logits (B, S, V), and what the next segment gets

    segment 1 ──► model ──► logits          segment 2 ──► model ──► logits          ...
                    └──── state ──────────────────────────┘ └──── state ─────────────

The variants (MemoryConfig.kind):

  none     each segment alone.
  window   a sliding window with stride S: the previous k tokens are read again in front of the
           segment (recomputed, with gradient), so a token sees between k and k+S-1 tokens back.
  xl       Transformer-XL's cache (Dai et al. 2019, "Transformer-XL: Attentive Language Models
           Beyond a Fixed-Length Context"): each layer's input hidden states at the previous
           segment's last k positions, kept without gradient; each layer makes keys and values of
           them in front of its own. (These hidden states were themselves computed with the cache of
           the segment before, so the memory reaches further back at every layer.)
  hidden   the course's trick: the previous segment's last k hidden states are put in front.
             at=input    the last block's output (the "last hidden representation") as k input vectors,
                         which every layer then reads as tokens: GPT.forward(prefix=...)
             at=layers   each layer's own input hidden state becomes that layer's k prefix keys and
                         values: GPT.forward(prefix_kv=...) (scratchformer.core.prefix)
           map=none is the trick without any training. map=linear (a C x C matrix per place, starting
           as the identity) or map=adapter (a Houlsby bottleneck with a skip, starting as the identity)
           is trained into the k prefix vectors while the base stays frozen; gradients then flow back
           through the carried states over the segments a training step unrolls.
           Note: at=layers with map=none and k = S gives exactly the xl cache of length S.
  rmt      the Recurrent Memory Transformer (Bulatov et al. 2022, "Recurrent Memory Transformer"):
           k memory vectors are read in front of the segment, and k write vectors after it; the write
           vectors' outputs, through a linear map, are the next segment's memory:

               [ read (k) | tokens (S) | write (k) ] ──► blocks ──► outputs at write ──► map ──► next read

           The first read memory, the write vectors and the map are learned; the base is frozen but
           for LoRA on its attention and MLP (lora_rank; RMT itself trains the whole model).
           Gradients flow through the memory over the segments a training step unrolls.

What must fit the base model's context (check_fits): window and xl k + S; hidden k + S; rmt 2k + S.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from scratchformer.core.adapters import Adapter
from scratchformer.core.lora import add_lora
from scratchformer.core.prefix import prefix_kv_from_hidden
from scratchformer.core.tuning import ATTENTION_AND_MLP
from scratchformer.errors import UserError

KINDS = ("none", "window", "xl", "hidden", "rmt")
PLACES = ("input", "layers")
MAPS = ("none", "linear", "adapter")


@dataclass
class MemoryConfig:
    """Which memory carries context from one segment to the next."""

    kind: str = "none"
    """none, window, xl, hidden (the course's trick) or rmt (memory tokens)."""
    length: int = 0
    """k: tokens (window), cached positions (xl), hidden states (hidden) or memory vectors (rmt)."""
    at: str = "input"
    """hidden: where the hidden states go, input (as input vectors) or layers (as each layer's keys/values)."""
    map: str = "none"
    """hidden: none (the untrained trick), linear or adapter (trained, the base frozen)."""
    bottleneck: int = 16
    """map=adapter: the adapter's bottleneck width."""
    lora_rank: int = 8
    """rmt: rank of the LoRA updates on the frozen base (0: the base stays as it is)."""
    lora_targets: list[str] = field(default_factory=lambda: list(ATTENTION_AND_MLP))
    """rmt: the base's linear layers that get LoRA (names as scratchformer.core.tuning lists them)."""

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"unknown memory {self.kind!r}; choose one of {', '.join(KINDS)}")
        if self.at not in PLACES:
            raise ValueError(f"memory.at must be one of {', '.join(PLACES)}, got {self.at!r}")
        if self.map not in MAPS:
            raise ValueError(f"memory.map must be one of {', '.join(MAPS)}, got {self.map!r}")
        if self.length < 0:
            raise ValueError(f"memory.length must be >= 0, got {self.length}")
        if self.kind == "rmt" and self.length < 1:
            raise ValueError("rmt needs at least one memory vector: give memory.length >= 1")
        if self.map != "none" and self.kind != "hidden":
            raise ValueError(f"memory.map applies to the hidden memory only, not to {self.kind}")
        if self.bottleneck < 1 or self.lora_rank < 0:
            raise ValueError(f"bottleneck must be >= 1 and lora_rank >= 0, got {self.bottleneck}, {self.lora_rank}")

    @property
    def trains(self) -> bool:
        """Whether the memory has parameters to train (rmt, or a hidden memory with a map)."""
        return self.kind == "rmt" or (self.kind == "hidden" and self.map != "none" and self.length > 0)

    def positions_in_front(self) -> int:
        """Positions the memory takes in the base's context besides the segment's S."""
        return 2 * self.length if self.kind == "rmt" else 0 if self.kind == "none" else self.length


def check_fits(cfg: MemoryConfig, segment_len: int, context_len: int) -> None:
    """A segment, and the memory with it, must fit the base model's context: one sentence if not."""
    if segment_len > context_len:
        raise UserError(f"a segment of {segment_len} tokens is longer than the base model's context of "
                        f"{context_len}; give a shorter --segment_len")
    extra = cfg.positions_in_front()
    if extra + segment_len > context_len:
        what = "2 x memory.length (read and write)" if cfg.kind == "rmt" else "memory.length"
        raise UserError(f"the {cfg.kind} memory's prefix of {extra} positions ({what}) and a segment of "
                        f"{segment_len} tokens exceed the base model's context of {context_len}; shorten "
                        "the memory or the segment")


# --------------------------------------------------------------------------------------------
# reading the hidden states a forward pass makes


def forward_with_states(model: nn.Module, idx: torch.Tensor, **kwargs):
    """model(idx, **kwargs) and the hidden states it made: (logits, the input of each block
    [L x (B, N, C)], the last block's output (B, N, C)). N counts the input prefix too, if any."""
    inputs: list[torch.Tensor] = []
    last: list[torch.Tensor] = []
    hooks = [block.register_forward_pre_hook(lambda _, args: inputs.append(args[0])) for block in model.blocks]
    hooks.append(model.norm_f.register_forward_pre_hook(lambda _, args: last.append(args[0])))
    try:
        logits, _ = model(idx, **kwargs)
    finally:
        for hook in hooks:
            hook.remove()
    return logits, inputs, last[0]


def identity_linear(d_model: int, device=None) -> nn.Linear:
    """A C x C linear map that starts as the identity."""
    layer = nn.Linear(d_model, d_model, device=device)
    with torch.no_grad():
        layer.weight.copy_(torch.eye(d_model, device=device))
        layer.bias.zero_()
    return layer


def build_map(kind: str, d_model: int, bottleneck: int, device=None) -> nn.Module:
    """none: nothing; linear: identity at start; adapter: h + up(gelu(down(h))), up zero at start."""
    if kind == "linear":
        return identity_linear(d_model, device)
    if kind == "adapter":
        return Adapter(d_model, bottleneck, device=device)
    return nn.Identity()


# --------------------------------------------------------------------------------------------
# the variants


class SegmentMemory(nn.Module):
    """The interface: forward(model, idx (B, S), state) -> (logits (B, S, V), next state)."""

    def __init__(self, cfg: MemoryConfig, model: nn.Module):
        super().__init__()
        self.cfg = cfg

    def tuned_parameters(self) -> list[nn.Parameter]:
        return list(self.parameters())


class NoMemory(SegmentMemory):
    def forward(self, model, idx, state=None):
        logits, _ = model(idx)  # (B, S, V)
        return logits, None


class SlidingWindow(SegmentMemory):
    """The previous k tokens read again in front of the segment."""

    def forward(self, model, idx, state=None):
        S, k = idx.size(1), self.cfg.length
        seen = idx if state is None else torch.cat([state, idx], dim=1)  # (B, <=k + S)
        logits, _ = model(seen)
        return logits[:, -S:], seen[:, seen.size(1) - min(k, seen.size(1)):]  # (B, S, V), (B, <=k) tokens


class XLCache(SegmentMemory):
    """Each layer's input hidden states at the previous segment's last k positions, without gradient."""

    def forward(self, model, idx, state=None):
        k = self.cfg.length
        prefix_kv = prefix_kv_from_hidden(model, state) if state is not None else None
        logits, inputs, _ = forward_with_states(model, idx, prefix_kv=prefix_kv)
        if k == 0:
            return logits, None
        return logits, [h[:, -k:].detach() for h in inputs]  # L x (B, k, C), no gradient (stop-gradient)


class HiddenPrefix(SegmentMemory):
    """The course's trick: the previous segment's last k hidden states in front, at the input or at
    every layer, through an optional trained map (one per place: one, or one per layer)."""

    def __init__(self, cfg: MemoryConfig, model: nn.Module):
        super().__init__(cfg, model)
        C, device = model.config.d_model, model.tok_emb.weight.device
        places = model.config.n_layers if cfg.at == "layers" else 1
        self.maps = nn.ModuleList(build_map(cfg.map, C, cfg.bottleneck, device) for _ in range(places))

    def forward(self, model, idx, state=None):
        k = self.cfg.length
        if self.cfg.at == "input":
            prefix = self.maps[0](state) if state is not None else None  # (B, k, C)
            logits, _, last = forward_with_states(model, idx, prefix=prefix)
            next_state = last[:, -k:]  # (B, k, C): the last k tokens' outputs (the prefix comes first)
        else:
            prefix_kv = None
            if state is not None:
                mapped = [m(h) for m, h in zip(self.maps, state)]  # L x (B, k, C)
                prefix_kv = prefix_kv_from_hidden(model, mapped)  # (L, B, KV, k, D) keys and values
            logits, inputs, _ = forward_with_states(model, idx, prefix_kv=prefix_kv)
            next_state = [h[:, -k:] for h in inputs]  # L x (B, k, C)
        return logits, (next_state if k > 0 else None)


class RecurrentMemory(SegmentMemory):
    """RMT: [read memory | tokens | write vectors] through the base; the write outputs, mapped, are read next."""

    def __init__(self, cfg: MemoryConfig, model: nn.Module):
        super().__init__(cfg, model)
        C, device, k = model.config.d_model, model.tok_emb.weight.device, cfg.length
        std = model.config.init_std
        self.first = nn.Parameter(torch.randn(1, k, C, device=device) * std)  # the memory before segment 1
        self.write = nn.Parameter(torch.randn(1, k, C, device=device) * std)  # where the memory is written
        self.out = identity_linear(C, device)  # write outputs -> next read memory
        if cfg.lora_rank:
            # - LoRA on the base's layers, frozen otherwise (UserError if a target names no layer)
            add_lora(model, cfg.lora_targets, rank=cfg.lora_rank, freeze=True)

    def forward(self, model, idx, state=None):
        B, S = idx.shape
        k = self.cfg.length
        read = self.first.expand(B, -1, -1) if state is None else state  # (B, k, C)
        # - the blocks read embeddings: [read | tokens | write], at positions 0 .. 2k+S-1
        x = torch.cat([read, model.tok_emb(idx), self.write.expand(B, -1, -1)], dim=1)  # (B, k+S+k, C)
        pos = model.positions.embed(0, x.size(1))  # (k+S+k, C) or None (relative schemes)
        if pos is not None:
            x = x + pos
        x = model.drop(x)
        for i, block in enumerate(model.blocks):
            x = block(x, causal=True, positions=model.positions, layer=i)
        logits = model.lm_head(model.norm_f(x[:, k:k + S]))  # (B, S, V): the tokens only
        return logits, self.out(x[:, k + S:])  # (B, k, C): the next segment's read memory


MEMORIES: dict[str, type[SegmentMemory]] = {
    "none": NoMemory, "window": SlidingWindow, "xl": XLCache, "hidden": HiddenPrefix, "rmt": RecurrentMemory,
}


def build_memory(cfg: MemoryConfig, model: nn.Module) -> SegmentMemory:
    """The memory module for cfg (rmt also wraps the model's layers in LoRA and freezes the rest)."""
    if cfg.kind not in MEMORIES:
        raise ValueError(f"unknown memory {cfg.kind!r}; choose one of {', '.join(MEMORIES)}")
    return MEMORIES[cfg.kind](cfg, model)
