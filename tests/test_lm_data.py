"""Language-modelling batches: random windows for training (the whole split is training/evaluation.stream_loss's)."""

import torch

from scratchformer.data.lm_data import LMData


def test_batches_are_random_windows_with_next_token_targets():
    data = LMData({"train": torch.arange(100), "val": torch.arange(100)}, 8)
    x, y = data.batch("train", 4, torch.Generator().manual_seed(0))
    assert x.shape == y.shape == (4, 8)
    assert torch.equal(y, x + 1)
