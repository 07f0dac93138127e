"""Augmented training batches: fresh augmentations from the batch generator (so a resumed run draws
the same), untouched validation batches, and clean/noised unlabelled pairs."""

import torch

from scratchformer.data.augmentation import build_augmentation
from scratchformer.data.augmented_batches import AugmentedData
from scratchformer.data.text_batches import BatchingConfig
from scratchformer.data.tokenizers import TOKENIZERS

TEXTS = ["a great fun film", "a dull boring film", "the acting was superb", "the plot was awful and long"]


def data(augment="token-dropout=1.0", fraction=1.0, unlabelled=None):
    tok = TOKENIZERS["word"].train(TEXTS + ["_"], vocab_size=40)
    ids = {"train": [tok.encode(t) for t in TEXTS], "val": [tok.encode(t) for t in TEXTS[:2]]}
    labels = {"train": [1, 0, 1, 0], "val": [1, 0]}
    return AugmentedData(ids, labels, BatchingConfig(max_len=8, bucket=False), tok.pad_id, train_texts=TEXTS,
                         encode=tok.encode, augment=build_augmentation(augment), augment_fraction=fraction,
                         unlabelled=unlabelled, noise=build_augmentation("token-dropout=1.0") if unlabelled else None), tok


def test_train_batches_are_augmented_and_reproducible():
    d, tok = data()
    tokens, labels, mask = d.batch("train", 3, torch.Generator().manual_seed(0))
    mask_id = tok.encode("_")[0]
    assert (tokens[mask] == mask_id).all()  # every word dropped out
    again = d.batch("train", 3, torch.Generator().manual_seed(0))
    assert all(torch.equal(a, b) for a, b in zip((tokens, labels, mask), again))


def test_fraction_zero_and_other_splits_are_untouched():
    d, tok = data(fraction=0.0)
    g = torch.Generator().manual_seed(0)
    tokens, labels, mask = d.batch("train", 4, g)
    texts = sorted(tok.decode(t[m].tolist()) for t, m in zip(tokens, mask))
    assert all(t in [tok.decode(tok.encode(x)) for x in TEXTS] for t in texts)
    d2, _ = data()
    v = d2.batch("val", 2, torch.Generator().manual_seed(0))
    assert not (v[0][v[2]] == tok.encode("_")[0]).any()


def test_unlabelled_pairs_come_after_the_labelled_batch():
    d, tok = data(augment="none", unlabelled=["an unlabelled review here", "another one"])
    out = d.batch("train", 2, torch.Generator().manual_seed(0))
    assert len(out) == 7
    clean, clean_mask, noised, noised_mask = out[3:]
    assert clean.size(0) == noised.size(0) == 2
    assert (noised[noised_mask] == tok.encode("_")[0]).all() and not (clean[clean_mask] == tok.encode("_")[0]).all()
