"""Evaluation: a sampled estimate over a few batches, and the exact loss over the whole split."""

import math

import pytest
import torch
import torch.nn.functional as F
from toolkit_helpers import pattern_data, tiny_gpt

from scratchformer.training.evaluation import evaluate_loss, evaluate_whole_split


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
