"""Augmented language-model batches: which rows change, the second corpus, rows always full, resumable."""

import random

import pytest
import torch

from scratchformer.data.augmented_lm_data import AugmentedLMData
from scratchformer.data.lm_data import LMData
from scratchformer.data.tokenizers import ByteTokenizer

TEXT = "to be or not to be that is the question\n" * 40
T = 16


def data(**kw) -> AugmentedLMData:
    tok = ByteTokenizer()
    lm = LMData.from_text({"train": TEXT, "val": TEXT.upper()}, tok, T)
    return AugmentedLMData(lm, tok, **kw)


def rows_text(x: torch.Tensor) -> list[str]:
    return [bytes(r.tolist()).decode() for r in x]


def shout(text: str, rng: random.Random) -> str:
    return text.upper()


def test_without_augmentation_rows_are_windows_of_the_text_and_targets_shift_by_one():
    x, y = data().batch("train", 8, torch.Generator().manual_seed(0))
    assert x.shape == y.shape == (8, T) and x.dtype == torch.long
    assert torch.equal(x[:, 1:], y[:, :-1])
    assert all(row in TEXT for row in rows_text(x))


def test_prob_one_augments_every_row_and_prob_zero_none():
    x, _ = data(augment=shout, prob=1.0).batch("train", 8, torch.Generator().manual_seed(0))
    assert all(row == row.upper() and row.upper() in TEXT.upper() for row in rows_text(x))
    x, _ = data(augment=shout, prob=0.0).batch("train", 8, torch.Generator().manual_seed(0))
    assert all(row in TEXT for row in rows_text(x))


def test_about_prob_of_the_rows_are_augmented():
    x, _ = data(augment=shout, prob=0.5).batch("train", 400, torch.Generator().manual_seed(0))
    shouted = sum(any(c.isupper() for c in row) for row in rows_text(x))
    assert 150 < shouted < 250


def test_validation_is_never_augmented():
    x, _ = data(augment=lambda t, r: "#" * len(t), prob=1.0).batch("val", 8, torch.Generator().manual_seed(0))
    assert "#" not in "".join(rows_text(x))


def test_rows_stay_full_when_an_augmentation_shortens_the_text_or_empties_it():
    half = data(augment=lambda t, r: t[: len(t) // 3], prob=1.0)
    x, y = half.batch("train", 8, torch.Generator().manual_seed(0))
    assert x.shape == (8, T) and y.shape == (8, T)
    empty = data(augment=lambda t, r: "", prob=1.0)
    x, _ = empty.batch("train", 8, torch.Generator().manual_seed(0))
    assert x.shape == (8, T) and all(row in TEXT for row in rows_text(x))  # filled with plain text


def test_mix_draws_about_mix_prob_of_the_rows_from_the_second_corpus():
    second = torch.tensor(list(("#" * 30 + "\n").encode()) * 20, dtype=torch.uint8)
    x, _ = data(mix=second, mix_prob=0.25).batch("train", 400, torch.Generator().manual_seed(0))
    mixed = sum("#" in row for row in rows_text(x))
    assert 60 < mixed < 140


def test_the_same_generator_state_gives_the_same_augmented_batch():
    rng_aug = lambda t, r: "".join(c for c in t if r.random() > 0.3)  # noqa: E731 (random deletion)
    d = data(augment=rng_aug, prob=0.5)
    g = torch.Generator().manual_seed(3)
    state = g.get_state()
    first = d.batch("train", 4, g)
    g.set_state(state)
    again = d.batch("train", 4, g)
    assert torch.equal(first[0], again[0])
    assert not torch.equal(first[0], d.batch("train", 4, g)[0])  # the generator moved on


def test_probabilities_outside_0_1_are_refused():
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        data(augment=shout, prob=1.5)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        data(mix_prob=-0.1)
