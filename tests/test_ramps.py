"""Batch-size and sequence-length ramps: their values at the start and end, in the trainer, bad inputs."""

import pytest
import torch

from scratchformer.data.lm_data import LMData
from scratchformer.errors import UserError
from scratchformer.models.gpt import GPT, GPTConfig
from scratchformer.training.ramps import ramp_value
from scratchformer.training.trainer import TrainConfig, Trainer


def test_a_ramp_starts_at_its_start_ends_at_its_end_and_never_falls():
    values = [ramp_value(4, 12, step, ramp_steps=100, stages=4) for step in range(150)]
    assert values[0] == 4 and values[99] == 10 and values[100] == 12 and values[-1] == 12
    assert values == sorted(values) and sorted(set(values)) == [4, 6, 8, 10, 12]  # four stages, then the end
    assert ramp_value(0, 12, 0, 100) == 12  # start 0: no ramp
    assert ramp_value(4, 12, 0, 0) == 12  # no ramp steps: no ramp


def trainer(**train):
    torch.manual_seed(0)
    data = LMData({"train": torch.randint(0, 20, (500,)), "val": torch.randint(0, 20, (200,))}, context_len=32)
    model = GPT(GPTConfig(vocab_size=20, d_model=16, n_heads=2, n_layers=1, context_len=32))
    cfg = TrainConfig(max_steps=40, batch_size=8, warmup_steps=2, eval_interval=0, eval_batches=1, stats_interval=0,
                      progress=False, device="cpu", **train)
    return Trainer(model, cfg, data)


def test_the_trainer_draws_small_short_batches_first_and_full_ones_after_the_ramp():
    t = trainer(batch_ramp_start=2, seq_ramp_start=8, ramp_fraction=0.5, ramp_stages=2)
    x, y = t.next_batch()
    assert x.shape == y.shape == (2, 8)  # the start of both ramps
    # - the targets are still the next tokens of the shortened windows
    t.step = 10  # half-way up the ramp (20 steps): the second stage
    x, _ = t.next_batch()
    assert x.shape == (5, 20)
    t.step = 20  # the ramp is over
    x, y = t.next_batch()
    assert x.shape == (8, 32) and not t.ramping()
    t.step = 0
    assert t.ramping()
    assert t.fit()["step"] == 40 and len(t.shapes_seen) == 3  # two stages and the full size


def test_a_ramp_whose_end_is_below_its_start_is_a_one_line_error():
    with pytest.raises(ValueError, match="batch ramp ends below its start: batch_ramp_start 16 > batch_size 8"):
        TrainConfig(batch_size=8, batch_ramp_start=16)
    with pytest.raises(UserError, match="sequence-length ramp ends below its start: seq_ramp_start 64 > "
                                        "the model's context_len 32"):
        trainer(seq_ramp_start=64)
    with pytest.raises(ValueError, match="ramp_fraction must be in"):
        TrainConfig(ramp_fraction=0.0)
