"""Sequence classifiers for IMDb sentiment, built up step by step (course weeks 2-3).

Legend:  B batch, T sequence length, C d_model, H n_heads, V vocab_size, K n_classes.

    tokens (B, T) ─ tok_emb ─► x (B, T, C) ─ attention ─► (B, T, C) ─ pool over T ─► (B, C) ─ head ─► logits (B, K)

Every variant shares the embedding, the pooling and the linear head; only the *attention* (how
tokens exchange information) changes, each step on top of the last (ATTENTIONS):

  pool         no attention: a bag of embeddings (the week-2 baseline)
  simple       + simple self-attention, softmax(X Xᵀ) X        (no parameters)
  scaled       + scaling of the scores by 1/sqrt(C)             (no parameters)
  kqv          + key, query and value projections               (one head)
  multihead    + several heads and an output projection
  transformer  the full classifier: position embeddings, dropout, n_layers Blocks
               (attention + MLP, residuals, norms), a final norm

The attention itself comes from scratchformer.core.attention and scratchformer.core.block.
Pads never change the output: attention masks them as keys, pooling skips them.

Option for the pool variant: ngram_buckets > 0 adds hashed word-bigram embeddings (fastText,
Joulin et al. 2016), pooled together with the word embeddings:

    tokens (B, T) ─ tok_emb ──────────────────────────────► (B, T, C)   ┐
                  ─ pairs (t_i, t_i+1) ─ hash ─ bigram_emb ─► (B, T-1, C) ┴ concat ─► (B, 2T-1, C) ─ pool
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from scratchformer.core.attention import (MultiHeadAttention, SelfAttention, scaled_self_attention,
                                          simple_self_attention)
from scratchformer.core.block import Block, TransformerConfig
from scratchformer.core.norms import build_norm
from scratchformer.core.position_schemes import POSITIONS, build_positions
from scratchformer.models.gpt import GPT

POOLINGS = ("mean", "max", "meanmax", "cls")


@dataclass
class ClassifierConfig(TransformerConfig):
    """A classifier: which attention, the vocabulary, the context, the pooling."""

    variant: str = "transformer"
    """Attention: pool (none), simple, scaled, kqv, multihead or transformer (see ATTENTIONS)."""
    vocab_size: int = 30000
    """Tokens in the vocabulary (V); set from the tokenizer."""
    context_len: int = 512
    """Longest input the model reads (learned positions cannot go further); longer input is cut."""
    n_classes: int = 2
    """Number of labels (K); set from the data."""
    labels: list[str] | None = None
    """Name of each label id (set from the data; None: IMDb's neg, pos)."""
    pooling: str = "mean"
    """mean or max over the real tokens, meanmax (both, side by side: ULMFiT's concat pooling), or
    cls (a learned summary token put in front)."""
    position: str = "learned"
    """Position scheme of the transformer variant: learned or sinusoidal (absolute, added to the embeddings), rope, alibi, shaw, t5 or
    transformer_xl (relative, inside attention), or none."""
    rope_base: float = 10000.0
    """Base of RoPE's geometric frequencies (position 'rope' only)."""
    emb_dropout: float = 0.0
    """Dropout on the token embeddings (all variants)."""
    init_std: float = 0.02
    """Std of the normal initialisation of embeddings and linear layers."""
    ngram_buckets: int = 0
    """pool variant only: hash word bigrams into this many extra embeddings (fastText); 0 is off."""
    causal: bool = False
    """transformer variant: each token attends only to itself and earlier tokens, as in a GPT. Use it
    when the blocks start from a pretrained language model (see init_from_gpt)."""

    def __post_init__(self):
        super().__post_init__()
        if self.variant not in ATTENTIONS:
            raise ValueError(f"unknown classifier variant {self.variant!r}; choose one of {list(ATTENTIONS)}")
        if self.pooling not in POOLINGS:
            raise ValueError(f"pooling must be one of {POOLINGS}, got {self.pooling!r}")
        if self.position not in POSITIONS:
            raise ValueError(f"unknown position scheme {self.position!r}; choose one of {sorted(POSITIONS)}")
        for name in ("vocab_size", "context_len"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.n_classes < 2:
            raise ValueError(f"n_classes must be at least 2, got {self.n_classes}")
        if self.labels is not None and len(self.labels) != self.n_classes:
            raise ValueError(f"labels names {len(self.labels)} classes but n_classes is {self.n_classes}")
        if not 0.0 <= self.emb_dropout < 1.0:
            raise ValueError(f"emb_dropout must be in [0, 1), got {self.emb_dropout}")
        if self.ngram_buckets < 0:
            raise ValueError(f"ngram_buckets must be >= 0 (0 turns bigrams off), got {self.ngram_buckets}")
        if self.causal and (self.variant != "transformer" or self.pooling == "cls"):
            raise ValueError("causal needs variant 'transformer' with mean, max or meanmax pooling "
                             "(a cls token in front would see nothing under a causal mask), "
                             f"got variant {self.variant!r} with pooling {self.pooling!r}")
        if self.ngram_buckets and (self.variant != "pool" or self.pooling == "cls"):
            raise ValueError("ngram_buckets needs variant 'pool' with mean, max or meanmax pooling, "
                             f"got variant {self.variant!r} with pooling {self.pooling!r}")

    @property
    def max_tokens(self) -> int:
        """How many input tokens fit: context_len, less one for the cls token."""
        return self.context_len - (1 if self.pooling == "cls" else 0)


# --------------------------------------------------------------------------------------------
# the attention of each variant: (B, T, C) -> (B, T, C), padding_mask (B, T) True for real tokens


class NoAttention(nn.Module):
    """(a) Each token stays on its own: pooling sees a bag of word embeddings."""

    def __init__(self, cfg: ClassifierConfig):
        super().__init__()

    def forward(self, x, padding_mask):
        return x


class SimpleAttention(nn.Module):
    """(b) y_i = sum_j softmax_j(x_i · x_j) x_j: every token becomes a mix of the tokens like it."""

    def __init__(self, cfg: ClassifierConfig):
        super().__init__()

    def forward(self, x, padding_mask):
        return simple_self_attention(x, padding_mask[:, None, :])  # keys masked: (B, 1, T)


class ScaledAttention(SimpleAttention):
    """(c) As (b), with the scores scaled by 1/sqrt(C)."""

    def forward(self, x, padding_mask):
        return scaled_self_attention(x, padding_mask[:, None, :])


class KQVAttention(nn.Module):
    """(d) One head of self-attention with learned key, query and value projections."""

    def __init__(self, cfg: ClassifierConfig):
        super().__init__()
        self.attn = SelfAttention(cfg.d_model, scale=True)

    def forward(self, x, padding_mask):
        return self.attn(x, padding_mask[:, None, :])


class MultiHeadSelfAttention(nn.Module):
    """(e) n_heads heads of self-attention, merged by an output projection (Vaswani et al. 2017)."""

    def __init__(self, cfg: ClassifierConfig):
        super().__init__()
        self.attn = MultiHeadAttention(cfg.d_model, cfg.n_heads, bias=cfg.bias)
        self.fast = cfg.fast_attention

    def forward(self, x, padding_mask):
        return self.attn(x, padding_mask=padding_mask, fast=self.fast)


class TransformerBlocks(nn.Module):
    """(f) Position information, then n_layers transformer Blocks without a causal mask."""

    def __init__(self, cfg: ClassifierConfig):
        super().__init__()
        self.positions = build_positions(cfg.position, cfg.d_model, cfg.n_heads, cfg.context_len,
                                         rope_base=cfg.rope_base)
        self.drop = nn.Dropout(cfg.dropout)
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layers))
        self.norm_f = build_norm(cfg.norm, cfg.d_model, cfg.norm_eps, cfg.bias)
        self.causal = cfg.causal

    def forward(self, x, padding_mask):
        pos = self.positions.embed(0, x.size(1))  # (T, C) or None
        if pos is not None:
            x = x + pos
        x = self.drop(x)
        # - a batch without pads needs no mask, which lets attention use its fastest kernel
        mask = None if padding_mask.all() else padding_mask
        for block in self.blocks:
            x = block(x, causal=self.causal, padding_mask=mask, positions=self.positions)
        return self.norm_f(x)


ATTENTIONS: dict[str, type[nn.Module]] = {
    "pool": NoAttention,
    "simple": SimpleAttention,
    "scaled": ScaledAttention,
    "kqv": KQVAttention,
    "multihead": MultiHeadSelfAttention,
    "transformer": TransformerBlocks,
}


# --------------------------------------------------------------------------------------------
# hashed word bigrams (the pool variant's option)

BIGRAM_HASH_MULTIPLIER = 116_049_371  # a fixed odd multiplier (the one fastText uses for n-grams)


def bigram_ids(tokens: torch.Tensor, padding_mask: torch.Tensor, buckets: int):
    """Bucket id of every pair of neighbouring tokens, and which pairs are real.

    tokens, padding_mask: (B, T). Returns ids (B, T-1) in [0, buckets) and mask (B, T-1): a pair
    counts only if both of its tokens are real, so pairs that touch padding are left out.
    Two different bigrams may share a bucket (a hash collision); with enough buckets that is rare
    for the frequent ones, and it keeps the table a fixed size whatever the text.
    """
    first, second = tokens[:, :-1], tokens[:, 1:]  # (B, T-1) each
    # - a fixed integer hash: no randomness, so a saved model reads text the same way later
    ids = (first * BIGRAM_HASH_MULTIPLIER + second) % buckets  # (B, T-1); int64, no overflow for V < 10^10
    mask = padding_mask[:, :-1] & padding_mask[:, 1:]  # (B, T-1)
    return ids, mask


# --------------------------------------------------------------------------------------------
# the classifier


def pool(x: torch.Tensor, padding_mask: torch.Tensor, how: str) -> torch.Tensor:
    """(B, T, C) -> (B, C) over the real tokens only ((B, 2C) for meanmax).
    A sequence with no real token pools to zeros."""
    real = padding_mask[:, :, None]  # (B, T, 1)
    if how == "cls":
        return x[:, 0]  # (B, C): the cls token sits in front
    if how == "meanmax":
        return torch.cat([pool(x, padding_mask, "mean"), pool(x, padding_mask, "max")], dim=-1)  # (B, 2C)
    if how == "max":
        x = x.masked_fill(~real, float("-inf")).max(dim=1).values  # (B, C)
        return torch.where(torch.isinf(x), torch.zeros_like(x), x)
    total = (x * real).sum(dim=1)  # (B, C)
    return total / real.sum(dim=1).clamp(min=1)  # (B, C)


class Classifier(nn.Module):
    """Embedding -> attention -> pooling -> linear; `variant` picks the attention (see the module docstring).

    Lecture: "Transformers from scratch", Peter Bloem (https://peterbloem.nl/blog/transformers),
    the sequence classification example. With ngram_buckets > 0 (pool variant) the bag also holds
    hashed word bigrams: Joulin et al. 2016, "Bag of Tricks for Efficient Text Classification" (fastText).
    """

    def __init__(self, cfg: ClassifierConfig):
        super().__init__()
        self.config = cfg
        self.tok_emb = nn.Embedding(cfg.vocab_size, cfg.d_model)
        self.bigram_emb = nn.Embedding(cfg.ngram_buckets, cfg.d_model) if cfg.ngram_buckets else None
        self.cls = nn.Parameter(torch.zeros(cfg.d_model)) if cfg.pooling == "cls" else None
        self.emb_drop = nn.Dropout(cfg.emb_dropout)
        self.attention = ATTENTIONS[cfg.variant](cfg)
        pooled = 2 * cfg.d_model if cfg.pooling == "meanmax" else cfg.d_model  # meanmax: mean and max side by side
        self.head = nn.Linear(pooled, cfg.n_classes)
        self.apply(self._init_weights)
        if self.cls is not None:
            nn.init.normal_(self.cls, std=cfg.init_std)

    def _init_weights(self, module: nn.Module) -> None:
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, mean=0.0, std=self.config.init_std)
        if isinstance(module, nn.Linear) and module.bias is not None:
            nn.init.zeros_(module.bias)

    def num_params(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def forward(self, tokens: torch.Tensor, labels: torch.Tensor | None = None,
                padding_mask: torch.Tensor | None = None):
        """tokens: (B, T) ids; labels: (B,) class ids or None; padding_mask: (B, T) True for real tokens.

        Returns (logits (B, K), loss or None). Without a mask every position counts as real.
        """
        logits = self.head(self.features(tokens, padding_mask))  # (B, K)
        loss = F.cross_entropy(logits, labels) if labels is not None else None
        return logits, loss

    def features(self, tokens: torch.Tensor, padding_mask: torch.Tensor | None = None) -> torch.Tensor:
        """The pooled representation the head reads: (B, T) ids -> (B, C) ((B, 2C) for meanmax).
        Mixup in embedding space (models/mixup.py) mixes these."""
        B, T = tokens.shape
        if padding_mask is None:
            padding_mask = torch.ones(B, T, dtype=torch.bool, device=tokens.device)
        padding_mask = padding_mask.bool()
        if T > self.config.max_tokens:
            raise ValueError(f"input has {T} tokens but the model reads at most {self.config.max_tokens}; "
                             "truncate it first")
        x = self.tok_emb(tokens)  # (B, T, C)
        if self.cls is not None:
            # - a learned cls token in front of every sequence; attention gathers the summary into it
            x = torch.cat([self.cls.expand(B, 1, -1), x], dim=1)  # (B, 1+T, C)
            padding_mask = F.pad(padding_mask, (1, 0), value=True)  # (B, 1+T)
        if self.bigram_emb is not None and T > 1:
            # - (pool variant) bigrams join the bag beside the words; pooling averages both together
            ids, pair_mask = bigram_ids(tokens, padding_mask, self.config.ngram_buckets)  # (B, T-1) each
            x = torch.cat([x, self.bigram_emb(ids)], dim=1)  # (B, 2T-1, C)
            padding_mask = torch.cat([padding_mask, pair_mask], dim=1)  # (B, 2T-1)
        x = self.emb_drop(x)
        x = self.attention(x, padding_mask)  # (B, T, C)
        return pool(x, padding_mask, self.config.pooling)  # (B, C)


# --------------------------------------------------------------------------------------------
# starting from a pretrained language model (GPT-1's recipe: Radford et al. 2018)

# fields that must agree for a GPT's weights to fit the classifier (dropout may differ)
ARCHITECTURE_FIELDS = tuple(f.name for f in dataclasses.fields(TransformerConfig)
                            if f.name not in ("dropout", "attn_dropout", "fast_attention")) + ("vocab_size", "position", "rope_base")


def init_from_gpt(classifier: Classifier, gpt: GPT) -> None:
    """Copy a GPT's token embeddings, positions, blocks and final norm into a transformer classifier.

        GPT:         tok_emb ─ positions ─ blocks ─ norm_f ─ lm_head (dropped)
        Classifier:  tok_emb ─ attention.positions ─ attention.blocks ─ attention.norm_f ─ pool ─ head (new)

    Raises ValueError if the two do not share an architecture. Learned position tables are
    copied as far as both reach; RoPE has no weights, so the classifier may read longer inputs.
    """
    cfg = classifier.config
    if cfg.variant != "transformer":
        raise ValueError(f"only the transformer variant can start from a language model, not {cfg.variant!r}")
    differ = [f"{name} {getattr(cfg, name)!r} vs {getattr(gpt.config, name)!r}"
              for name in ARCHITECTURE_FIELDS if getattr(cfg, name) != getattr(gpt.config, name)]
    if differ:
        raise ValueError("the classifier and the language model differ in " + ", ".join(differ))
    with torch.no_grad():
        classifier.tok_emb.weight.copy_(gpt.tok_emb.weight)
        body = classifier.attention  # the transformer variant: positions, blocks, final norm
        body.blocks.load_state_dict(gpt.blocks.state_dict())
        body.norm_f.load_state_dict(gpt.norm_f.state_dict())
        if cfg.position == "learned":
            n = min(cfg.context_len, gpt.config.context_len)
            body.positions.table.weight[:n].copy_(gpt.positions.table.weight[:n])  # (n, C)
        else:
            body.positions.load_state_dict(gpt.positions.state_dict())
