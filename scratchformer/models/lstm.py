"""LSTM models in the same two kinds as the transformers: a sequence classifier and a language model.

Legend:  B batch, T sequence length, C d_model (hidden units per direction), L n_layers,
         D directions (2 if bidirectional), V vocab_size, K n_classes.

    classifier:  tokens (B, T) ─ tok_emb ─ dropout ─ LSTM (L layers, D directions) ─► (B, T, D*C)
                 ─ pool (last states, mean or max over real tokens) ─► (B, D*C) ─ head ─► logits (B, K)

    language model:  idx (B, T) ─ tok_emb ─ dropout ─ LSTM (L layers, forward only) ─ dropout ─ lm_head ─► logits (B, T, V)
                     carrying (h, c) from one call to the next (an LSTMCache), so generation reads each token once.

The recurrent stack is scratchformer.core.lstm: `fast` picks torch.nn.LSTM or the readable loop.
Tang et al. 2019, "Distilling Task-Specific Knowledge from BERT into Simple Neural Networks", use
the classifier (one bidirectional layer, last states) as the student of a transformer.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from scratchformer.core.lstm import LSTMCache, State, build_lstm
from scratchformer.models.classifier import pool

LSTM_POOLINGS = ("last", "mean", "max", "meanmax")


@dataclass
class LSTMConfig:
    """Shape of an LSTM model: vocabulary, widths, depth, dropout and which path runs."""

    vocab_size: int = 256
    """Tokens in the vocabulary (V); set from the tokenizer (or the teacher, when distilling)."""
    d_model: int = 256
    """Hidden units of each LSTM layer and direction (C)."""
    n_layers: int = 1
    """Stacked LSTM layers."""
    d_emb: int | None = None
    """Width of the token embeddings; None means d_model."""
    dropout: float = 0.0
    """Dropout on the embeddings, between LSTM layers and before the output layer."""
    fast: bool = True
    """Run torch.nn.LSTM; False runs the readable loop of scratchformer.core.lstm (same weights, same result)."""
    emb_init_std: float = 1.0
    """Std of the embeddings' normal initialisation: torch's default. The transformers' 0.02 starves the
    gates of signal (a small LSTM then cannot learn parity); with tie_weights this is the output layer's too."""
    init_std: float = 0.02
    """Std of the normal initialisation of the output layer."""

    def __post_init__(self):
        for name in ("vocab_size", "d_model", "n_layers"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.d_emb is not None and self.d_emb < 1:
            raise ValueError(f"d_emb must be at least 1 (or None for d_model), got {self.d_emb}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")
        if self.emb_init_std <= 0 or self.init_std <= 0:
            raise ValueError(f"emb_init_std and init_std must be > 0, got {self.emb_init_std} and {self.init_std}")

    @property
    def emb_dim(self) -> int:
        return self.d_emb or self.d_model


@dataclass
class LSTMClassifierConfig(LSTMConfig):
    """An LSTM classifier: the shape, both directions or one, the labels and the pooling."""

    bidirectional: bool = True
    """Read each sequence both ways (a BiLSTM, as Tang et al.)."""
    n_classes: int = 2
    """Number of labels (K)."""
    pooling: str = "last"
    """last (each direction's state after its last real token, side by side), or mean, max or
    meanmax over the real tokens' outputs."""

    def __post_init__(self):
        super().__post_init__()
        if self.n_classes < 2:
            raise ValueError(f"n_classes must be at least 2, got {self.n_classes}")
        if self.pooling not in LSTM_POOLINGS:
            raise ValueError(f"pooling must be one of {LSTM_POOLINGS}, got {self.pooling!r}")

    @property
    def max_tokens(self) -> int:
        """A recurrent model reads input of any length."""
        return sys.maxsize


@dataclass
class LSTMLMConfig(LSTMConfig):
    """An LSTM language model: the shape plus the training window."""

    context_len: int = 256
    """Tokens per training window, and the window generation slides over (as the GPT's): the state
    itself has no limit, see LSTMLM.forward."""
    tie_weights: bool = False
    """Share the embedding matrix with the output layer (Press & Wolf 2017); needs d_emb == d_model."""

    def __post_init__(self):
        super().__post_init__()
        if self.context_len < 1:
            raise ValueError(f"context_len must be at least 1, got {self.context_len}")
        if self.tie_weights and self.emb_dim != self.d_model:
            raise ValueError(f"tie_weights needs d_emb == d_model, got d_emb {self.d_emb} and d_model {self.d_model}")


def init_weights(model: nn.Module, cfg: LSTMConfig, head: nn.Linear) -> None:
    """Normal(0, emb_init_std) embeddings, a Normal(0, init_std) output layer with zero bias; the LSTM
    keeps torch's uniform(±1/sqrt(C))."""
    nn.init.normal_(model.tok_emb.weight, mean=0.0, std=cfg.emb_init_std)
    nn.init.normal_(head.weight, mean=0.0, std=cfg.init_std)
    if head.bias is not None:
        nn.init.zeros_(head.bias)


class LSTMClassifier(nn.Module):
    """Embedding -> (Bi)LSTM -> pooling -> linear, with the forward of models.classifier.Classifier.

    Tang et al. 2019's student: a BiLSTM whose last states feed the classifier. Pads never change the
    output: the LSTM skips them (core.lstm), pooling ignores them.
    """

    def __init__(self, cfg: LSTMClassifierConfig):
        super().__init__()
        self.config = cfg
        self.tok_emb = nn.Embedding(cfg.vocab_size, cfg.emb_dim)
        self.drop = nn.Dropout(cfg.dropout)
        self.lstm = build_lstm(cfg.emb_dim, cfg.d_model, cfg.n_layers, cfg.bidirectional, cfg.dropout, cfg.fast)
        D = 2 if cfg.bidirectional else 1
        pooled = D * cfg.d_model * (2 if cfg.pooling == "meanmax" else 1)
        self.head = nn.Linear(pooled, cfg.n_classes)
        init_weights(self, cfg, self.head)

    def num_params(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def forward(self, tokens: torch.Tensor, labels: torch.Tensor | None = None,
                padding_mask: torch.Tensor | None = None):
        """tokens: (B, T) ids; labels: (B,) or None; padding_mask: (B, T) True for real tokens (right padding).

        Returns (logits (B, K), loss or None)."""
        B, T = tokens.shape
        if padding_mask is None:
            padding_mask = torch.ones(B, T, dtype=torch.bool, device=tokens.device)
        padding_mask = padding_mask.bool()
        x = self.drop(self.tok_emb(tokens))  # (B, T, E)
        out, (h, _) = self.lstm(x, padding_mask)  # (B, T, D*C), h (L*D, B, C)
        if self.config.pooling == "last":
            # - the top layer's final states: forward after the last real token, backward after the first
            D = 2 if self.config.bidirectional else 1
            pooled = h[-D:].transpose(0, 1).reshape(B, -1)  # (D, B, C) -> (B, D*C)
        else:
            pooled = pool(out, padding_mask, self.config.pooling)  # (B, D*C) or (B, 2*D*C)
        logits = self.head(self.drop(pooled))  # (B, K)
        loss = F.cross_entropy(logits, labels) if labels is not None else None
        return logits, loss


class LSTMLM(nn.Module):
    """A recurrent language model (Mikolov et al. 2010; Zaremba et al. 2014's regularised LSTM),
    with the forward of models.gpt.GPT, so the Trainer and models.generate drive it alike."""

    def __init__(self, cfg: LSTMLMConfig):
        super().__init__()
        self.config = cfg
        self.tok_emb = nn.Embedding(cfg.vocab_size, cfg.emb_dim)
        self.drop = nn.Dropout(cfg.dropout)
        self.lstm = build_lstm(cfg.emb_dim, cfg.d_model, cfg.n_layers, False, cfg.dropout, cfg.fast)
        self.lm_head = nn.Linear(cfg.d_model, cfg.vocab_size, bias=False)
        init_weights(self, cfg, self.lm_head)
        if cfg.tie_weights:
            self.lm_head.weight = self.tok_emb.weight

    def num_params(self) -> int:
        """Parameter count (shared weights counted once)."""
        return sum(p.numel() for p in self.parameters())

    def new_cache(self, batch_size: int, max_len: int | None = None) -> LSTMCache:
        """An empty carried state; its memory does not grow with the text, but generation reads the
        same window of at most max_len (default context_len) tokens as a transformer would."""
        return LSTMCache(max_len or self.config.context_len)

    def forward(self, idx: torch.Tensor, targets: torch.Tensor | None = None, *,
                cache: LSTMCache | None = None, state: State | None = None, last_only: bool = False):
        """idx: (B, T) token ids; targets: (B, T) next-token ids, -100 to ignore a position.

        Returns (logits, loss): logits (B, T, V), or (B, 1, V) with last_only. With a cache, idx holds
        only the new tokens: the cache's state is read and then replaced by the state after them, so
        reading a text in pieces gives the logits of reading it at once. `state` starts from a given
        (h, c) instead (each (L, B, C)); the model reads any length, context_len bounds only the windows.
        """
        if cache is not None and cache.state is not None:
            state = cache.state
        x = self.drop(self.tok_emb(idx))  # (B, T, E)
        x, new_state = self.lstm(x, state=state)  # (B, T, C)
        if cache is not None:
            cache.state = new_state
            cache.advance(idx.size(1))
        if last_only:
            x = x[:, -1:, :]  # (B, 1, C)
        logits = self.lm_head(self.drop(x))  # (B, T, V)
        loss = None
        if targets is not None:
            loss = F.cross_entropy(logits.flatten(0, 1).float(), targets.flatten(), ignore_index=-100)
        return logits, loss
