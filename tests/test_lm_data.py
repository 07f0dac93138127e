"""Language-modelling batches: random windows for training, and the whole split in windows side by side."""

import pytest
import torch

from scratchformer.data.lm_data import LMData


@pytest.mark.parametrize("length", [41, 40, 33])  # one short of a multiple of T, a multiple, a window and a bit
def test_windows_make_every_prediction_of_the_split_exactly_once(length):
    T = 8
    ids = torch.arange(length) % 251
    data = LMData({"train": ids, "val": ids}, T)
    pairs = [(int(a), int(b)) for x, y in data.windows("val", batch_size=2) for a, b in zip(x.flatten(), y.flatten())]
    # - each target is the token after its input, and every token but the first is a target once
    assert pairs == [(int(ids[i]), int(ids[i + 1])) for i in range(length - 1)]


def test_windows_are_full_context_except_the_last():
    data = LMData({"train": torch.arange(30), "val": torch.arange(30)}, 8)
    shapes = [tuple(x.shape) for x, _ in data.windows("val", batch_size=2)]
    assert shapes == [(2, 8), (1, 8), (1, 5)]  # 3 full windows (24 predictions), then the 5 left of 29


def test_batches_are_random_windows_with_next_token_targets():
    data = LMData({"train": torch.arange(100), "val": torch.arange(100)}, 8)
    x, y = data.batch("train", 4, torch.Generator().manual_seed(0))
    assert x.shape == y.shape == (4, 8)
    assert torch.equal(y, x + 1)
