"""Padding, masks, truncation and length bucketing."""

import pytest
import torch


from scratchformer.data.text_batches import BatchingConfig, ClassificationData, pad_batch, truncate



def test_pad_batch_pads_right_and_marks_real_tokens():
    tokens, mask = pad_batch([[5, 6, 7], [8], []], pad_id=0)
    assert tokens.tolist() == [[5, 6, 7], [8, 0, 0], [0, 0, 0]]
    assert mask.tolist() == [[True, True, True], [True, False, False], [False, False, False]]
    tokens, mask = pad_batch([[]], pad_id=9)  # an empty review still makes a (1, 1) batch
    assert tokens.tolist() == [[9]] and mask.tolist() == [[False]]


def test_truncate_keeps_start_end_or_both():
    ids = list(range(10))
    assert truncate(ids, 4, "start") == [0, 1, 2, 3]
    assert truncate(ids, 4, "end") == [6, 7, 8, 9]
    assert truncate(ids, 5, "both") == [0, 1, 2, 8, 9]
    assert truncate(ids, 20, "both") == ids


def make_data(n=200, **kwargs):
    g = torch.Generator().manual_seed(0)
    lengths = torch.randint(1, 60, (n,), generator=g).tolist()
    ids = [[i + 1] * n_tok for i, n_tok in enumerate(lengths)]  # review i is all token i+1
    labels = [i % 2 for i in range(n)]
    return ClassificationData({"train": ids}, {"train": labels}, BatchingConfig(**kwargs))


def test_epoch_visits_every_review_once_with_matching_labels():
    data = make_data(max_len=30)
    seen = []
    for tokens, labels, mask in data.epoch("train", 16, torch.Generator().manual_seed(1)):
        assert tokens.shape == mask.shape and tokens.size(1) <= 30
        first = tokens[:, 0] - 1  # which review each row is
        assert (labels == first % 2).all()
        seen += first.tolist()
    assert sorted(seen) == list(range(200))


def test_bucketing_cuts_padding():
    def pad_fraction(data):
        pads = total = 0
        for _, _, mask in data.epoch("train", 16, torch.Generator().manual_seed(0)):
            pads += (~mask).sum().item()
            total += mask.numel()
        return pads / total

    assert pad_fraction(make_data(bucket=True)) < 0.5 * pad_fraction(make_data(bucket=False))


def test_random_batches_are_bucketed_label_mixed_and_reproducible():
    data = make_data(bucket=True, bucket_pool=8)
    a = data.batch("train", 16, torch.Generator().manual_seed(3))
    b = data.batch("train", 16, torch.Generator().manual_seed(3))
    assert all(torch.equal(x, y) for x, y in zip(a, b))
    labels = torch.cat([data.batch("train", 16, torch.Generator().manual_seed(s))[1] for s in range(10)])
    assert 0.3 < labels.float().mean() < 0.7
    index, batch = next(iter(data.in_order("train", 50)))
    assert batch[2].sum(1).tolist() == sorted(batch[2].sum(1).tolist())  # evaluation: sorted by length


def test_bad_settings():
    with pytest.raises(ValueError, match="truncate"):
        BatchingConfig(truncate="middle")
    with pytest.raises(ValueError, match="labels"):
        ClassificationData({"train": [[1]]}, {"train": [0, 1]})
