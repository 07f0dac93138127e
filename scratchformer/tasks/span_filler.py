"""A language model as the span filler of contextual replacement (data/augmentation/contextual.py).

    fill = load_span_filler("runs/imdb-lm")       # our GPT (e.g. the lm/ run of `experiment imdb-pretrain`)
    fill = load_span_filler("smollm2")            # or a pretrained model (models/pretrained)
    build_augmentation("contextual=0.15", fill=fill)

The filler reads the last `context_tokens` tokens before a span and samples a continuation
(temperature and top-k), then keeps its first n words. A causal model does not read the text
after the span. The sampling seed is drawn from the augmentation's random.Random, so the same
seed gives the same words. Sampling costs one forward pass per token: on a CPU, SmolLM2 (135M
parameters) takes about a second per review at p = 0.15, so use it on small label budgets.
"""

from __future__ import annotations

import random
from pathlib import Path

import torch

from scratchformer.models.generate import SamplingConfig, generate


class SpanFiller:
    """fill(left, n, right, rng) -> up to n words sampled from a causal language model after `left`."""

    def __init__(self, model, tokenizer, context_tokens: int = 64, temperature: float = 0.9, top_k: int = 50,
                 tokens_per_word: int = 2):
        self.model, self.tokenizer = model.eval(), tokenizer
        self.context_tokens = min(context_tokens, model.config.context_len - 1)
        self.temperature, self.top_k, self.tokens_per_word = temperature, top_k, tokens_per_word

    @torch.no_grad()
    def __call__(self, left: str, n: int, right: str, rng: random.Random) -> list[str]:
        ids = self.tokenizer.encode(left)[-self.context_tokens:]
        if not ids:  # (a span at the very start: begin from a full stop)
            ids = self.tokenizer.encode(".") or [0]
        cfg = SamplingConfig(max_new_tokens=max(1, n * self.tokens_per_word + 1), temperature=self.temperature,
                             top_k=self.top_k, seed=rng.getrandbits(62))
        new = generate(self.model, torch.tensor([ids]), cfg)[0, len(ids):]  # (max_new_tokens,)
        # - the continuation's first n whitespace-separated words (a subword model may give fewer)
        return self.tokenizer.decode(new.tolist()).split()[:n]


def load_span_filler(source: str | Path, device: str = "cpu", **options) -> SpanFiller:
    """A SpanFiller from a language-model run folder (our GPT) or a pretrained name or path."""
    from scratchformer.models.pretrained import PRETRAINED, from_pretrained
    from scratchformer.tasks.runs import load_language_model

    if str(source) in PRETRAINED or str(source).endswith(".gguf"):
        model, tokenizer = from_pretrained(source, context_len=256)
    else:
        loaded = load_language_model(source, device, command="experiment augmentation --contextual_lm")
        model, tokenizer = loaded.model, loaded.tokenizer
    return SpanFiller(model, tokenizer, **options)
