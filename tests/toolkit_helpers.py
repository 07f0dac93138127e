"""Tiny models and data shared by the training-toolkit tests; CPU only, seconds each."""

from __future__ import annotations

import torch
from torch import nn

from scratchformer.data.lm_data import LMData
from scratchformer.models.gpt import GPT, GPTConfig
from scratchformer.training.trainer import TrainConfig

VOCAB, CONTEXT = 16, 16


def pattern_data(n: int = 4000, noise: float = 0.2, seed: int = 0) -> LMData:
    """A counting sequence 0, 1, ..., 15, 0, 1, ... with a fraction of random tokens: learnable, not trivial."""
    g = torch.Generator().manual_seed(seed)
    base = torch.arange(VOCAB).repeat(n // VOCAB)
    random = torch.randint(0, VOCAB, base.shape, generator=g)
    tokens = torch.where(torch.rand(base.shape, generator=g) < noise, random, base)
    return LMData({"train": tokens, "val": tokens[: n // 5]}, CONTEXT)


def tiny_gpt(seed: int = 0, **overrides) -> GPT:
    torch.manual_seed(seed)
    cfg = dict(vocab_size=VOCAB, context_len=CONTEXT, d_model=32, n_heads=2, n_layers=1, dropout=0.0)
    return GPT(GPTConfig(**{**cfg, **overrides}))


def tiny_cfg(**overrides) -> TrainConfig:
    cfg = dict(max_steps=8, batch_size=8, lr=3e-3, warmup_steps=2, eval_interval=0, eval_batches=2,
               log_interval=1, stats_interval=0, progress=False, device="cpu", compile=False)
    return TrainConfig(**{**cfg, **overrides})


class TinyClassifier(nn.Module):
    """The classifier interface: model(tokens, labels, padding_mask) -> (logits, loss)."""

    def __init__(self, vocab: int = VOCAB, d: int = 16, classes: int = 2):
        super().__init__()
        self.emb = nn.Embedding(vocab, d)
        self.head = nn.Linear(d, classes)

    def forward(self, tokens, labels, padding_mask):
        x = self.emb(tokens) * padding_mask[..., None]  # (B, T, C)
        x = x.sum(1) / padding_mask.sum(1, keepdim=True).clamp_min(1)  # (B, C)
        logits = self.head(x)  # (B, classes)
        return logits, nn.functional.cross_entropy(logits, labels)


class ClassifierData:
    """Label 1 when token 3 occurs in the sequence: learnable by a bag of embeddings."""

    def batch(self, split, B, generator):
        tokens = torch.randint(0, VOCAB, (B, 12), generator=generator)
        mask = torch.ones(B, 12, dtype=torch.bool)
        labels = (tokens == 3).any(1).long()
        return tokens, labels, mask




def worker_cfg(**overrides) -> TrainConfig:
    """The run of tests/ddp_worker.py: a global batch of 8 in two micro-batches, statistics on."""
    return tiny_cfg(max_steps=4, batch_size=8, grad_accum=2, stats_interval=2, **overrides)


def tiny_preset(folder, max_steps: int = 20, **train) -> str:
    """A text corpus and a YAML preset for the command line; returns the preset's path."""
    import yaml

    corpus = folder / "corpus.txt"
    corpus.write_text("To be, or not to be, that is the question.\n" * 200)
    train_cfg = {**dict(batch_size=8, max_steps=max_steps, warmup_steps=2, eval_interval=0, eval_batches=2,
                        device="cpu", progress=False, stats_interval=0), **train}
    preset = {"model": {"d_model": 32, "n_heads": 2, "n_layers": 1, "context_len": 32}, "train": train_cfg,
              "data": {"corpus": str(corpus)}, "tokenizer": "char", "out_dir": str(folder / "runs"),
              "sample": {"max_new_tokens": 5}}
    path = folder / "tiny.yaml"
    path.write_text(yaml.safe_dump(preset))
    return str(path)


def tiny_imdb(folder):
    """A few dozen reviews in the IMDb folder layout: positive and negative words plus filler."""
    import random

    rng = random.Random(0)
    words = {"pos": "great wonderful superb moving".split(), "neg": "awful boring terrible dull".split()}
    filler = "the film movie was and a plot actor".split()
    for split in ("train", "test"):
        for label, rating in (("pos", 8), ("neg", 2)):
            path = folder / "aclImdb" / split / label
            path.mkdir(parents=True)
            for i in range(30):
                text = " ".join(rng.choice(words[label] + filler) for _ in range(15))
                (path / f"{i}_{rating}.txt").write_text(text)
    return str(folder)
