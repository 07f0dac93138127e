"""Key-value retrieval: the windows say what the docstring says, and the task separates contexts."""

import pytest
import torch

from scratchformer.data.retrieval import ALPHABET, CHANCE, RetrievalConfig, RetrievalData, answer_accuracy, make_batch
from scratchformer.models.gpt import GPT, GPTConfig
from scratchformer.models.perceiver import PerceiverAR, PerceiverARConfig


def text(row) -> str:
    return "".join(ALPHABET[i] for i in row.tolist())


@pytest.mark.parametrize("distance", [4, 17, 60])
def test_the_answer_is_the_value_of_the_queried_key_exactly_distance_back(distance):
    cfg = RetrievalConfig(context_len=64, distance=distance, n_pairs=3, task="key_value")
    x, y = make_batch(cfg, 8, torch.Generator().manual_seed(0))
    assert x.shape == y.shape == (8, 64)
    assert (y[:, :-1] == -100).all()  # one target per window
    for row, answer in zip(x, y[:, -1]):
        s = text(row)
        assert s[-3] == "?" and s[-1] == "="
        key = s[-2]
        # - the answer sits at position T; its value is `distance` back, right after "#key="
        value_pos = 64 - distance
        assert s[value_pos - 3:value_pos] == f"#{key}="
        assert s[value_pos] == ALPHABET[answer]
        assert ALPHABET[answer].isdigit()
        # - the queried key appears in exactly one pair
        assert s.count(f"#{key}=") == 1


@pytest.mark.parametrize("distance", [2, 17, 63])
def test_the_needle_is_the_only_digit_exactly_distance_back(distance):
    x, y = make_batch(RetrievalConfig(context_len=64, distance=distance), 8, torch.Generator().manual_seed(0))
    for row, answer in zip(x, y[:, -1]):
        s = text(row)
        assert s[-1] == "?" and sum(c.isdigit() for c in s) == 1
        assert s[64 - distance] == ALPHABET[answer]


def test_distances_can_be_drawn_per_window():
    cfg = RetrievalConfig(context_len=64, distance=2, max_distance=60)
    x, _ = make_batch(cfg, 64, torch.Generator().manual_seed(0))
    where = [next(i for i, c in enumerate(text(row)) if c.isdigit()) for row in x]
    assert len(set(where)) > 20 and min(where) >= 4 and max(where) <= 62


def test_bad_settings_are_one_sentence():
    with pytest.raises(ValueError, match="beyond the context"):
        RetrievalConfig(context_len=256, distance=2048)
    with pytest.raises(ValueError, match="at least 2"):
        RetrievalConfig(context_len=256, distance=1)
    with pytest.raises(ValueError, match="one of"):
        RetrievalConfig(context_len=256, distance=8, task="copy")


def test_eval_windows_are_fixed_and_seeded():
    a, b = RetrievalData(RetrievalConfig(64, 30), eval_windows=16), RetrievalData(RetrievalConfig(64, 30), eval_windows=16)
    assert torch.equal(a.fixed["val"][0], b.fixed["val"][0])
    assert not torch.equal(a.fixed["val"][0], a.fixed["test"][0])


def train(model, data, steps=150, batch_size=32, lr=3e-3):
    g = torch.Generator().manual_seed(0)
    opt = torch.optim.AdamW(model.parameters(), lr=lr)
    for _ in range(steps):
        x, y = data.batch("train", batch_size, g)
        _, loss = model(x[:, -model.config.context_len:], y[:, -model.config.context_len:])
        opt.zero_grad()
        loss.backward()
        opt.step()
    return model


def test_a_perceiver_ar_retrieves_past_its_latents_and_a_short_gpt_cannot():
    torch.manual_seed(0)
    data = RetrievalData(RetrievalConfig(context_len=48, distance=2, max_distance=40), eval_windows=200)
    par = train(PerceiverAR(PerceiverARConfig(vocab_size=data.vocab_size, context_len=48, n_latents=8, d_model=32,
                                              n_heads=2, n_layers=2, position="rope")), data)
    short = train(GPT(GPTConfig(vocab_size=data.vocab_size, context_len=8, d_model=32, n_heads=2, n_layers=2,
                                position="rope")), data)
    # - at distance 30, past the Perceiver's 8 latents and the GPT's context of 8
    x, y = make_batch(RetrievalConfig(context_len=48, distance=30), 200, torch.Generator().manual_seed(5))
    assert answer_accuracy(par, x, y, 48) > 0.9
    assert answer_accuracy(short, x, y, 8) < CHANCE + 0.1  # sees the query, never the needle
