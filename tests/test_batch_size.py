"""Batch-size finder: the largest batch that fits, the gradient noise scale, accumulation."""

import copy
import json

import pytest
import torch
from toolkit_helpers import pattern_data, tiny_gpt, tiny_preset  # noqa: F401
from torch import nn

from scratchformer.cli.main import main
from scratchformer.errors import UserError
from scratchformer.training.batch_size import (accumulation_for, find_max_batch, fixed_bytes, measure_noise_scale,
                                               saved_activation_bytes)


def test_largest_batch_that_fits_matches_a_linear_scan():
    model, data = tiny_gpt(), pattern_data()
    before = copy.deepcopy(model.state_dict())
    g = torch.Generator().manual_seed(0)
    need = {B: fixed_bytes(model) + saved_activation_bytes(model, data.batch("train", B, g)) for B in range(1, 41)}
    budget = need[29] + 1  # 29 fits, 30 does not
    result = find_max_batch(model, data, "cpu", budget_bytes=budget, max_batch=40)
    assert result.batch_size == 29
    assert max(B for B in range(1, 41) if need[B] <= budget) == 29
    # - doubling (1, 2, 4, 8, 16, 32) then binary search between 16 and 32: a few trials, not 40
    assert list(result.tried)[:5] == [1, 2, 4, 8, 16] and len(result.tried) <= 10
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in before.items())
    assert all(p.grad is None for p in model.parameters())


def test_max_batch_caps_the_search_and_a_tiny_budget_is_an_error():
    model, data = tiny_gpt(), pattern_data()
    assert find_max_batch(model, data, budget_bytes=10**12, max_batch=12).batch_size == 12
    with pytest.raises(UserError, match="even a batch of 1 does not fit"):
        find_max_batch(model, data, budget_bytes=1000)


class Quadratic(nn.Module):
    """loss = mean over rows of |w - x|²/2: per-row gradient w - x, so G = w - mu and tr(Σ) = d σ²."""

    def __init__(self, d):
        super().__init__()
        self.w = nn.Parameter(torch.zeros(d))

    def forward(self, x):
        return None, 0.5 * ((self.w - x) ** 2).sum(-1).mean()


class Gaussian:
    def __init__(self, mu, sigma):
        self.mu, self.sigma = mu, sigma

    def batch(self, split, B, generator):
        return (self.mu + self.sigma * torch.randn(B, len(self.mu), generator=generator),)


def test_noise_scale_recovers_the_known_value():
    d, sigma, mu = 50, 2.0, torch.full((50,), 0.5)
    truth = d * sigma**2 / float(mu.square().sum())  # tr(Σ) / |G|² = 200 / 12.5 = 16
    result = measure_noise_scale(Quadratic(d), Gaussian(mu, sigma), batch_size=4, n_batches=8, repeats=50)
    assert result["noise_scale"] == pytest.approx(truth, rel=0.15)
    assert result["trace_sigma"] == pytest.approx(d * sigma**2, rel=0.15)


def test_accumulation_reaches_the_target():
    assert accumulation_for(100, 32) == 4 and accumulation_for(8, 32) == 1


def test_find_batch_size_command(tmp_path, capsys):
    preset = tiny_preset(tmp_path)
    assert main(["find-batch-size", "--config", preset, "--budget_mb", "3", "--max_batch", "64",
                 "--noise.repeats", "2"]) == 0
    out = capsys.readouterr().out
    summary = json.loads(out.strip().splitlines()[-1])
    assert 1 <= summary["max_micro_batch"] < 64 and "largest micro-batch that fits" in out
    assert main(["find-batch-size", "--config", preset, "--train.batch_size", "0"]) == 2
    assert "batch_size must be at least 1" in capsys.readouterr().err
