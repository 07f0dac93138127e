"""The learning-rate range test (issue 4)."""

import copy
import dataclasses
import math

import pytest
import torch
from toolkit_helpers import (ClassifierData, TinyClassifier, pattern_data, tiny_cfg, tiny_gpt,  # noqa: F401
                             tiny_imdb, tiny_preset)

from scratchformer.cli.main import main
from scratchformer.training.lr_finder import LRFinderConfig, exponential_lr, lr_range_test, steepest_index, valley_index
from scratchformer.training.trainer import Trainer


def test_suggested_rate_trains_better_than_100x_larger_or_smaller():
    data, model = pattern_data(), tiny_gpt()
    cfg = tiny_cfg(max_steps=40, schedule="constant", warmup_steps=0, grad_clip=0, eval_batches=4, log_interval=10)
    before, rng = copy.deepcopy(model.state_dict()), torch.get_rng_state()
    result = lr_range_test(model, data, cfg, LRFinderConfig(start_lr=1e-5, end_lr=10, num_steps=50))
    # - the model and the global random stream are untouched
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in before.items())
    assert torch.equal(rng, torch.get_rng_state())
    assert result.diverged and result.lrs[0] == pytest.approx(1e-5)
    val = {}
    for factor in (0.01, 1, 100):
        trainer = Trainer(copy.deepcopy(model), dataclasses.replace(cfg, lr=result.suggestion * factor), data)
        val[factor] = trainer.fit()["val_loss"]
    assert val[1] < val[0.01] - 0.1 and val[1] < val[100] - 0.1, (result.suggestion, val)


def test_a_classifiers_suggestion_lies_in_the_fall_and_trains_well():
    """Label 1 when token 3 occurs: a bag of embeddings learns it. The suggestion must lie past the flat
    start (where the loss has not moved from ln 2), below the rate of the lowest loss and so below the
    blow-up; and it must train far better than 100x less or more."""
    model, data = TinyClassifier(), ClassifierData()
    cfg = tiny_cfg(max_steps=60, schedule="constant", warmup_steps=0, grad_clip=0, eval_batches=4, log_interval=10)
    result = lr_range_test(model, data, cfg, LRFinderConfig(start_lr=1e-5, end_lr=100, num_steps=60))
    lrs, losses = result.lrs, result.losses
    assert result.diverged and len(lrs) == len(losses) < 60  # the sweep stopped on the blow-up
    first_fall = next(i for i, loss in enumerate(losses) if loss < losses[0] - 0.03)  # the end of the flat start
    lowest = min(range(len(losses)), key=losses.__getitem__)
    assert lrs[first_fall] <= result.suggestion < lrs[lowest] < lrs[-1], (result.suggestion, lrs[first_fall])
    val = {}
    for factor in (0.01, 1, 100):
        trainer = Trainer(copy.deepcopy(model), dataclasses.replace(cfg, lr=result.suggestion * factor), data)
        val[factor] = trainer.fit()["val_loss"]
    assert val[0.01] > math.log(2) - 0.1  # hardly moves from chance
    assert val[1] < 0.2 and val[100] > val[1] + 0.5, (result.suggestion, val)


def test_sweep_is_exponential():
    lrs = [exponential_lr(s, start_lr=1e-6, end_lr=1.0, num_steps=7) for s in range(7)]
    assert lrs[0] == pytest.approx(1e-6) and lrs[-1] == pytest.approx(1.0)
    assert all(b / a == pytest.approx(10.0) for a, b in zip(lrs, lrs[1:]))


def test_suggestions_on_a_known_curve():
    # - flat, then falling fastest at index 12, a minimum at index 16, then blowing up
    lrs = [10 ** (-6 + i * 0.25) for i in range(20)]
    losses = [3.0] * 8 + [2.95, 2.9, 2.8, 2.6, 2.2, 1.9, 1.8, 1.75, 1.7, 2.5, 4.0, 8.0]
    assert steepest_index(lrs, losses) == 12
    assert 9 <= valley_index(losses) <= 13  # inside the fall, not on the flat start
    noisy = [3.0 + 0.01 * math.sin(7 * i) for i in range(8)] + losses[8:]
    assert 9 <= valley_index(noisy) <= 13


@pytest.mark.parametrize("start,end", [(1.0, 1.0), (1.0, 1e-3), (0.0, 1.0)])
def test_empty_or_reversed_range_is_an_error(start, end):
    with pytest.raises(ValueError, match="range"):
        LRFinderConfig(start_lr=start, end_lr=end)


def test_find_lr_command_prints_a_suggestion_and_writes_a_png(tmp_path, capsys):
    preset = tiny_preset(tmp_path)
    png = tmp_path / "lr.png"
    assert main(["find-lr", "--config", preset, "--finder.num_steps", "30", "--plot", str(png)]) == 0
    out = capsys.readouterr().out
    assert "suggested (valley): --train.lr" in out and "steepest descent" in out
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert main(["find-lr", "--config", preset, "--finder.start_lr", "1", "--finder.end_lr", "0.001"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and "empty or reversed" in err and "\n" not in err


def test_find_lr_command_on_a_classifier(tmp_path, capsys):
    source = tiny_imdb(tmp_path)
    args = ["find-lr", "--task", "classifier", "--classifier.data.source", source, "--classifier.model.d_model", "16",
            "--classifier.model.n_heads", "2", "--classifier.train.batch_size", "8", "--finder.num_steps", "20",
            "--plot", str(tmp_path / "c.png")]
    assert main(args) == 0
    assert "suggested (valley): --classifier.train.lr" in capsys.readouterr().out
    assert (tmp_path / "c.png").exists()
