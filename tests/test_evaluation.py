"""Evaluation: a sampled estimate over a few batches, the exact loss over the whole split, and the loss of each text."""

import math

import pytest
import torch
import torch.nn.functional as F
from toolkit_helpers import pattern_data, tiny_gpt

from scratchformer.training.evaluation import evaluate_loss, evaluate_whole_split, text_losses


def test_whole_split_is_the_mean_loss_over_every_prediction():
    model, data = tiny_gpt().eval(), pattern_data(n=1000)
    val = data.tokens["val"].long()  # 200 tokens: 199 predictions
    T = data.context_len
    assert (len(val) - 1) % T  # a split that windows of T do not tile
    # - by hand: each window of T tokens from the start, then one window ending at the split's end that
    #   scores only the predictions left (with a full context, not a short one)
    losses = []
    for start in range(0, len(val) - 1 - T, T):
        chunk = val[start:start + T + 1]
        logits, _ = model(chunk[None, :-1])
        losses.append(F.cross_entropy(logits[0], chunk[1:], reduction="none"))
    left = len(val) - 1 - sum(len(x) for x in losses)
    chunk = val[-T - 1:]
    logits, _ = model(chunk[None, :-1])
    losses.append(F.cross_entropy(logits[0], chunk[1:], reduction="none")[-left:])
    expected = torch.cat(losses).mean().item()
    out = evaluate_whole_split(model, data, "val", batch_size=3)
    assert out["val_tokens"] == len(val) - 1
    assert out["val_loss"] == pytest.approx(expected, rel=1e-5)
    assert out["val_bpc"] == pytest.approx(expected / math.log(2), rel=1e-5)


def test_whole_split_does_not_depend_on_the_batch_size_and_restores_training_mode():
    model, data = tiny_gpt(dropout=0.1), pattern_data(n=1000)
    a = evaluate_whole_split(model, data, "val", batch_size=1)
    b = evaluate_whole_split(model, data, "val", batch_size=64)
    assert a["val_loss"] == pytest.approx(b["val_loss"], rel=1e-5)  # (dropout is off while evaluating)
    assert model.training


def test_a_sampled_estimate_scatters_around_the_whole_split():
    model, data = tiny_gpt().eval(), pattern_data(n=4000)
    exact = evaluate_whole_split(model, data, "val")["val_loss"]
    estimates = [evaluate_loss(model, data, "val", batches=2, batch_size=2, seed=s)["val_loss"] for s in range(20)]
    # - each estimate sees 4 windows: they differ from each other, and their mean is near the exact loss
    assert len(set(estimates)) > 1
    assert sum(estimates) / len(estimates) == pytest.approx(exact, abs=0.05)


def test_each_text_is_scored_as_if_alone_cut_to_max_tokens_and_the_context():
    model = tiny_gpt(dropout=0.1)
    T = model.config.context_len
    texts = [[1, 2, 3, 4, 5], [6, 7], [3] * (T + 10), [4], list(range(2, 2 + T // 2))]
    # - batches of 2 mix lengths, so padding is there to get wrong; max_tokens above the context
    losses = text_losses(model, texts, max_tokens=T + 100, batch_size=2)
    assert model.training  # (dropout is off while scoring, and back on after)
    model.eval()
    for ids, got in zip(texts, losses):
        if len(ids) < 2:
            assert math.isnan(got)  # one token: nothing to predict
            continue
        ids = torch.tensor(ids[:T + 1])[None]  # (1, <= T+1): at most a context of predictions
        _, alone = model(ids[:, :-1], ids[:, 1:])
        assert got.item() == pytest.approx(alone.item(), rel=1e-5)
    # - max_tokens cuts: 3 predictions of the first text are its first 4 tokens' loss
    ids = torch.tensor(texts[0][:4])[None]
    _, first = model(ids[:, :-1], ids[:, 1:])
    assert text_losses(model, texts[:1], max_tokens=3)[0].item() == pytest.approx(first.item(), rel=1e-5)
    with pytest.raises(ValueError, match="max_tokens"):
        text_losses(model, texts, max_tokens=0)
