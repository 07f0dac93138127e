"""Contextual replacement with a tiny local language model as the span filler."""

import random

import torch

from scratchformer.data.augmentation import build_augmentation, contextual_replacement
from scratchformer.data.tokenizers import TOKENIZERS
from scratchformer.models.gpt import GPT, GPTConfig
from scratchformer.tasks.span_filler import SpanFiller

CORPUS = ["the film was great fun and the acting was superb",
          "the plot was dull and the ending was awful", "a moving and beautiful film"]
TEXT = "the film was great fun and the acting was superb but the ending was awful"


def tiny_filler():
    tokenizer = TOKENIZERS["word"].train(CORPUS, vocab_size=50)
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=tokenizer.vocab_size, context_len=32, d_model=16, n_heads=2, n_layers=1))
    return SpanFiller(model, tokenizer, context_tokens=16), tokenizer


def test_filler_gives_at_most_n_words_from_its_vocabulary():
    fill, tokenizer = tiny_filler()
    words = fill("the film was", 3, "and the end", random.Random(0))
    assert 1 <= len(words) <= 3
    vocab = {tokenizer.decode([i]) for i in range(tokenizer.vocab_size)}
    assert all(w in vocab for w in words)
    assert fill("", 2, "", random.Random(0))  # a span at the start still gets words


def test_contextual_replacement_changes_only_masked_spans_reproducibly():
    fill, _ = tiny_filler()
    out = contextual_replacement(TEXT, 0.3, random.Random(1), fill)
    assert out == contextual_replacement(TEXT, 0.3, random.Random(1), fill)
    before, after = TEXT.split(), out.split()
    assert len(after) == len(before)
    changed = sum(a != b for a, b in zip(before, after))
    assert 0 < changed <= round(0.3 * len(before))


def test_contextual_replacement_keeps_originals_where_the_filler_gives_nothing():
    silent = lambda left, n, right, rng: []  # noqa: E731
    assert contextual_replacement(TEXT, 0.5, random.Random(0), silent) == TEXT
    # - the filler sees the text before the span, with earlier spans already filled
    seen = []

    def record(left, n, right, rng):
        seen.append((left, right))
        return ["X"] * n

    out = build_augmentation("contextual=0.4", fill=record)(TEXT, random.Random(2))
    assert "X" in out and len(seen) >= 1
    for left, right in seen[1:]:
        assert "X" in left
