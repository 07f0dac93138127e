"""An encoder-decoder transformer (Vaswani et al. 2017, "Attention Is All You Need"), week 6.

Legend:  B batch, S source length, L target length, C d_model, H n_heads, V vocab_size.

    src (B, S) ─ emb + positions ─► [encoder Block × n_layers, bidirectional, padding mask] ─► memory (B, S, C)
                                                                                                │
    tgt_in (B, L) ─ emb + positions ─► [DecoderBlock × n_layers] ◄────── cross-attention ───────┘
                                            ─ norm_f ─ lm_head ─► logits (B, L, V)

    DecoderBlock (pre-norm):
       y ─┬─ norm1 ─ causal self-attention ─(+)─┬─ norm_cross ─ cross-attention(memory) ─(+)─┬─ norm2 ─ mlp ─(+)─►
          └─────────────────────────────────────┘└──────────────────────────────────────────┘└───────────────┘

The encoder is the core Block (causal=False); both attentions of the decoder are the core
MultiHeadAttention (`context=memory` makes it cross-attention). Source and target share one
vocabulary and one embedding matrix (also the output layer). Decoding: greedy and beam search.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from scratchformer.core.attention import MultiHeadAttention
from scratchformer.core.block import Block, TransformerConfig
from scratchformer.core.mlp import build_mlp
from scratchformer.core.norms import build_norm
from scratchformer.core.position_schemes import POSITIONS, build_positions

PAD, BOS, EOS = 0, 1, 2  # as in scratchformer.data.seq2seq_tasks


@dataclass
class EncoderDecoderConfig(TransformerConfig):
    """Encoder and decoder of n_layers blocks each, over one shared vocabulary."""

    vocab_size: int = 16
    """Tokens in the shared vocabulary, specials (<pad> 0, <bos> 1, <eos> 2) included."""
    max_src_len: int = 32
    """Longest source the encoder reads."""
    max_tgt_len: int = 32
    """Longest target the decoder writes, <bos> or <eos> included."""
    position: str = "learned"
    """Position scheme of both stacks: learned or sinusoidal (absolute, added to the embeddings), rope, alibi, shaw, t5 or
    transformer_xl (relative, inside attention), or none."""
    init_std: float = 0.02
    """Std of the normal initialisation."""

    def __post_init__(self):
        super().__post_init__()
        if self.vocab_size < 4:
            raise ValueError(f"vocab_size must be at least 4 (3 specials and a symbol), got {self.vocab_size}")
        if self.max_src_len < 1 or self.max_tgt_len < 2:
            raise ValueError(f"need max_src_len >= 1 and max_tgt_len >= 2, got {self.max_src_len}, {self.max_tgt_len}")
        if self.position not in POSITIONS:
            raise ValueError(f"unknown position scheme {self.position!r}; choose one of {sorted(POSITIONS)}")
        if self.norm_position != "pre":
            raise ValueError("the encoder-decoder is pre-norm only; set norm_position to 'pre'")


class DecoderBlock(nn.Module):
    """Causal self-attention over the target so far, cross-attention to the source, an MLP."""

    def __init__(self, cfg: EncoderDecoderConfig):
        super().__init__()
        self.fast = cfg.fast_attention
        attention = lambda: MultiHeadAttention(cfg.d_model, cfg.n_heads, cfg.n_kv_heads, cfg.dropout,  # noqa: E731
                                               cfg.bias, cfg.qk_norm, cfg.attn_dropout)
        norm = lambda: build_norm(cfg.norm, cfg.d_model, cfg.norm_eps, cfg.bias)  # noqa: E731
        self.norm1, self.self_attn = norm(), attention()
        self.norm_cross, self.cross_attn = norm(), attention()
        self.norm2, self.mlp = norm(), build_mlp(cfg.mlp, cfg.d_model, cfg.d_ff, cfg.bias, cfg.dropout)

    def forward(self, y: torch.Tensor, memory: torch.Tensor, memory_mask: torch.Tensor, positions=None):
        """y: (B, L, C) target so far; memory: (B, S, C) encoder output; memory_mask: (B, S) True = real."""
        # - each target position looks back at the target so far
        y = y + self.self_attn(self.norm1(y), causal=True, positions=positions, fast=self.fast)
        # - and reads the source: queries from the target, keys and values from the encoder
        y = y + self.cross_attn(self.norm_cross(y), context=memory, padding_mask=memory_mask, fast=self.fast)
        return y + self.mlp(self.norm2(y))  # (B, L, C)


class EncoderDecoder(nn.Module):
    def __init__(self, cfg: EncoderDecoderConfig):
        super().__init__()
        self.config = cfg
        self.emb = nn.Embedding(cfg.vocab_size, cfg.d_model)
        self.src_positions = build_positions(cfg.position, cfg.d_model, cfg.n_heads, cfg.max_src_len)
        self.tgt_positions = build_positions(cfg.position, cfg.d_model, cfg.n_heads, cfg.max_tgt_len)
        self.drop = nn.Dropout(cfg.dropout)
        self.encoder = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layers))
        self.norm_enc = build_norm(cfg.norm, cfg.d_model, cfg.norm_eps, cfg.bias)
        self.decoder = nn.ModuleList(DecoderBlock(cfg) for _ in range(cfg.n_layers))
        self.norm_f = build_norm(cfg.norm, cfg.d_model, cfg.norm_eps, cfg.bias)
        self.lm_head = nn.Linear(cfg.d_model, cfg.vocab_size, bias=False)
        self.lm_head.weight = self.emb.weight  # one embedding matrix in, out, for source and target
        for module in self.modules():
            if isinstance(module, (nn.Linear, nn.Embedding)):
                nn.init.normal_(module.weight, mean=0.0, std=cfg.init_std)
            if isinstance(module, nn.Linear) and module.bias is not None:
                nn.init.zeros_(module.bias)

    def embed(self, ids: torch.Tensor, positions) -> torch.Tensor:
        """(B, T) ids -> (B, T, C), scaled by sqrt(C) as in Vaswani et al., plus absolute positions."""
        x = self.emb(ids) * math.sqrt(self.config.d_model)
        pos = positions.embed(0, ids.size(1))  # (T, C) or None (relative schemes act in attention)
        return self.drop(x if pos is None else x + pos)

    def encode(self, src: torch.Tensor):
        """src: (B, S) ids, <pad>-padded -> memory (B, S, C) and its mask (B, S), True = real."""
        cfg = self.config
        if src.size(1) > cfg.max_src_len:
            raise ValueError(f"source has {src.size(1)} tokens; the model reads at most {cfg.max_src_len}")
        mask = src != PAD  # (B, S)
        x = self.embed(src, self.src_positions)
        for block in self.encoder:
            x = block(x, causal=False, padding_mask=mask, positions=self.src_positions)
        return self.norm_enc(x), mask

    def decode(self, memory: torch.Tensor, memory_mask: torch.Tensor, tgt_in: torch.Tensor) -> torch.Tensor:
        """Logits (B, L, V) of the next token at every target position."""
        if tgt_in.size(1) > self.config.max_tgt_len:
            raise ValueError(f"target has {tgt_in.size(1)} tokens; the model writes at most {self.config.max_tgt_len}")
        y = self.embed(tgt_in, self.tgt_positions)
        for block in self.decoder:
            y = block(y, memory, memory_mask, positions=self.tgt_positions)
        return self.lm_head(self.norm_f(y))  # (B, L, V)

    def forward(self, src: torch.Tensor, tgt_in: torch.Tensor, tgt_out: torch.Tensor | None = None):
        """Teacher forcing: (logits (B, L, V), loss or None); tgt_out uses -100 for padding."""
        memory, mask = self.encode(src)
        logits = self.decode(memory, mask, tgt_in)
        loss = None
        if tgt_out is not None:
            loss = F.cross_entropy(logits.flatten(0, 1).float(), tgt_out.flatten(), ignore_index=-100)
        return logits, loss

    # ----------------------------------------------------------------------------------------
    # decoding. Targets are short, so each step reruns the decoder over the prefix: no cache,
    # which keeps the search easy to read.

    @torch.no_grad()
    def greedy(self, src: torch.Tensor, max_len: int | None = None) -> list[list[int]]:
        """Most likely token at each step, for a batch. Returns each target's ids, without <eos>."""
        self.eval()
        max_len = max_len or self.config.max_tgt_len  # tokens to generate, <eos> included
        memory, mask = self.encode(src)
        out = torch.full((src.size(0), 1), BOS, dtype=torch.long, device=src.device)  # (B, 1)
        done = torch.zeros(src.size(0), dtype=torch.bool, device=src.device)
        for _ in range(max_len):
            next_id = self.decode(memory, mask, out)[:, -1].argmax(-1)  # (B,)
            next_id = torch.where(done, PAD, next_id)  # finished rows only pad
            out = torch.cat([out, next_id[:, None]], dim=1)  # (B, t+1)
            done |= next_id == EOS
            if done.all():
                break
        return [strip(row) for row in out[:, 1:].tolist()]

    @torch.no_grad()
    def beam_search(self, src: torch.Tensor, beam_size: int = 4, max_len: int | None = None,
                    length_penalty: float = 0.0) -> list[list[int]]:
        """Beam search, one source at a time. Returns each source's best target ids, without <eos>.

        Keeps the beam_size best prefixes by total log-probability. A prefix that emits <eos> is
        finished; the search stops when the best unfinished prefix can no longer beat the best
        finished one (log-probabilities only fall as a prefix grows), or at max_len.
        Finished scores are divided by length ** length_penalty (0: plain log-probability).
        """
        self.eval()
        return [self._beam_one(src[b:b + 1], beam_size, max_len or self.config.max_tgt_len, length_penalty)
                for b in range(src.size(0))]

    def _beam_one(self, src, beam_size, max_len, length_penalty) -> list[int]:
        memory, mask = self.encode(src)  # (1, S, C), (1, S)
        beams = torch.full((1, 1), BOS, dtype=torch.long, device=src.device)  # (K, t): live prefixes
        scores = torch.zeros(1, device=src.device)  # (K,) their log-probabilities
        finished: list[tuple[float, list[int]]] = []
        for step in range(1, max_len + 1):
            K = beams.size(0)
            # - log-probabilities of every next token after every live prefix
            logp = self.decode(memory.expand(K, -1, -1), mask.expand(K, -1), beams)[:, -1]  # (K, V)
            logp = F.log_softmax(logp.float(), dim=-1)
            logp[:, PAD] = logp[:, BOS] = float("-inf")  # never generated
            total = (scores[:, None] + logp).flatten()  # (K*V,) score of each extension
            # - the best 2K extensions: enough to keep K live ones even if K of them end here
            top_scores, top = total.topk(min(2 * beam_size, total.numel()))
            V = logp.size(-1)
            new_beams, new_scores = [], []
            for score, flat in zip(top_scores.tolist(), top.tolist()):
                prefix, token = beams[flat // V], flat % V
                if token == EOS:
                    finished.append((score / step ** length_penalty, prefix[1:].tolist()))
                elif len(new_beams) < beam_size:
                    new_beams.append(torch.cat([prefix, prefix.new_tensor([token])]))
                    new_scores.append(score)
            if not new_beams:
                break
            beams, scores = torch.stack(new_beams), torch.tensor(new_scores, device=src.device)
            # - stop when no live prefix can still beat the best finished target (exact for
            #   length_penalty 0: a prefix's log-probability only falls as it grows)
            if finished and length_penalty == 0 and max(f[0] for f in finished) >= scores.max().item():
                break
        if not finished:  # nothing ended within max_len: return the best live prefix
            return beams[0, 1:].tolist()
        return max(finished, key=lambda f: f[0])[1]

    def num_params(self) -> int:
        return sum(p.numel() for p in self.parameters())


def strip(ids: list[int]) -> list[int]:
    """Ids up to (not including) the first <eos>."""
    return ids[: ids.index(EOS)] if EOS in ids else ids


def sequence_log_prob(model: EncoderDecoder, src: torch.Tensor, target: list[int]) -> float:
    """log p(target + <eos> | src) for one source (1, S): to compare decoders' answers."""
    tgt_in = torch.tensor([[BOS] + target], device=src.device)
    tgt_out = torch.tensor([target + [EOS]], device=src.device)
    with torch.no_grad():
        logits, _ = model(src, tgt_in)
    logp = F.log_softmax(logits.float(), dim=-1)  # (1, L, V)
    return logp.gather(-1, tgt_out[..., None]).sum().item()
