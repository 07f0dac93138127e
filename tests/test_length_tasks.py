"""Length tasks: right answers, balanced labels, seeded sets, the graded positions, and the training
wiring (an LSTM learns parity at short lengths and keeps it at 4x the length)."""

import dataclasses
from collections import Counter

import pytest
import torch

from scratchformer.data.length_tasks import (IGNORE, SEP, STOI, LengthTaskConfig, LengthTaskData, examples,
                                             is_counting, is_dyck, to_batch)
from scratchformer.models.gpt import GPTConfig
from scratchformer.models.lstm import LSTMLMConfig
from scratchformer.tasks.length_generalisation import LengthRunConfig, default_train, sequence_accuracy, train_length_task

RECOGNISERS = {
    "parity": lambda s: s.count("1") % 2 == 1,
    "dyck1": lambda s: is_dyck(s) and set(s) <= set("()"),
    "dyck2": is_dyck,
    "counting": is_counting,
}


def test_recognisers_by_hand():
    assert is_dyck("([]())") and is_dyck("")
    assert not is_dyck("([)]") and not is_dyck(")(") and not is_dyck("((")
    assert is_counting("aabb") and not is_counting("abab") and not is_counting("aab") and not is_counting("")


@pytest.mark.parametrize("task", list(RECOGNISERS))
@pytest.mark.parametrize("length", [2, 8, 32])
def test_answers_are_right_and_balanced_at_every_length(task, length):
    pairs = examples(task, 400, length, length, seed=length)
    assert all(len(s) == length for s, _ in pairs)  # negatives are as long as positives
    assert all((a == "yes") == RECOGNISERS[task](s) for s, a in pairs)
    yes = Counter(a for _, a in pairs)["yes"]
    assert 150 < yes < 250


def test_dyck_negatives_are_near_misses():
    """Dyck-2 negatives include strings whose brackets add up per kind but do not nest."""
    pairs = examples("dyck2", 400, 12, 12, seed=0)
    counts_match = [s for s, a in pairs if a == "no" and s.count("(") == s.count(")") and s.count("[") == s.count("]")]
    assert len(counts_match) > 50


def test_copy_answers_are_the_input():
    assert all(s == a and set(s) <= set("0123456789") for s, a in examples("copy", 50, 1, 9, seed=0))


def test_seeded_lengths_within_range_and_even_tasks_even():
    assert examples("dyck1", 20, 2, 9, seed=3) == examples("dyck1", 20, 2, 9, seed=3)
    assert examples("dyck1", 20, 2, 9, seed=3) != examples("dyck1", 20, 2, 9, seed=4)
    lengths = {len(s) for s, _ in examples("dyck1", 300, 1, 9, seed=0)}
    assert lengths == {2, 4, 6, 8}
    assert {len(s) for s, _ in examples("parity", 300, 3, 5, seed=0)} == {3, 4, 5}


def test_batch_grades_only_the_answer():
    x, y = to_batch([("0110", "no"), ("12", "12")])
    d = STOI
    assert x.tolist() == [[d["0"], d["1"], d["1"], d["0"], SEP], [d["1"], d["2"], SEP, d["1"], 0]]
    assert y.tolist() == [[IGNORE] * 4 + [d["no"]], [IGNORE, IGNORE, d["1"], d["2"], IGNORE]]


def test_config_defaults_and_errors():
    cfg = LengthTaskConfig(train_len=10)
    assert cfg.test_lengths == [10, 20, 40] and cfg.test_lens == []
    assert LengthTaskConfig(task="copy", train_len=10).max_sequence_len == 80  # 40 digits, '=', 40 digits, less one
    with pytest.raises(ValueError, match=r"test lengths \[5\] are below the training length 10"):
        LengthTaskConfig(train_len=10, test_lens=[5, 20])
    with pytest.raises(ValueError, match="unknown length task"):
        LengthTaskConfig(task="reverse")
    with pytest.raises(ValueError, match="unknown model"):
        LengthRunConfig(model="lstmm")


def test_data_sets_are_fixed_and_train_batches_follow_the_generator():
    data = LengthTaskData(LengthTaskConfig(train_len=6, test_examples=20))
    assert set(data.sets) == {"val", "test_6", "test_12", "test_24"}
    assert all(len(s) == 24 for s, _ in data.sets["test_24"])
    a = data.batch("train", 8, torch.Generator().manual_seed(1))
    b = data.batch("train", 8, torch.Generator().manual_seed(1))
    assert all(torch.equal(p, q) for p, q in zip(a, b))


class Oracle(torch.nn.Module):
    """Predicts every next token right: its logits are the one-hot of the true next token."""

    def __init__(self, pairs):
        super().__init__()
        self.w = torch.nn.Parameter(torch.zeros(1))
        self.y = to_batch(pairs)[1]

    def forward(self, x):
        return torch.nn.functional.one_hot(self.y.clamp(min=0), len(STOI)).float(), None


def test_sequence_accuracy_counts_whole_answers():
    pairs = [("0110", "no"), ("12", "12")]
    assert sequence_accuracy(Oracle(pairs), pairs) == 1.0
    wrong = [("0110", "yes"), ("12", "13")]  # the oracle knows the other answers
    assert sequence_accuracy(Oracle(pairs), wrong) == 0.0


def test_lstm_learns_parity_and_keeps_it_at_four_times_the_length():
    cfg = LengthRunConfig(task=LengthTaskConfig(task="parity", train_len=4, test_examples=200), model="lstm",
                          lstm=LSTMLMConfig(d_model=16),
                          train=dataclasses.replace(default_train(), max_steps=500, lr=1e-2, min_lr=1e-3,
                                                    warmup_steps=20, seed=1))
    result = train_length_task(cfg)
    assert result["val_acc"] == 1.0 and result["acc_16"] >= 0.95


def test_lstm_learns_copy_at_the_training_length():
    # - copy is learnable through this wiring (the answer graded, teacher-forced): a small LSTM gets
    #   3 digits right in 300 steps, so no model copying 16 digits in the CPU default is the budget
    cfg = LengthRunConfig(task=LengthTaskConfig(task="copy", train_len=3, min_len=1, test_examples=200), model="lstm",
                          lstm=LSTMLMConfig(d_model=64),
                          train=dataclasses.replace(default_train(), max_steps=300, lr=1e-2, min_lr=1e-4,
                                                    warmup_steps=20, seed=0))
    result = train_length_task(cfg)
    assert result["val_acc"] >= 0.95 and result["acc_3"] >= 0.9  # chance: 1 in 1,000
    assert result["acc_12"] <= 0.05  # and, trained on 3 digits, it cannot copy 12


@pytest.mark.parametrize("position", ["learned", "alibi", "none"])
def test_transformer_reads_four_times_the_training_length(position):
    cfg = LengthRunConfig(task=LengthTaskConfig(task="copy", train_len=3, test_examples=20), model=position,
                          gpt=GPTConfig(d_model=16, n_heads=2, n_layers=1),
                          train=dataclasses.replace(default_train(), max_steps=5))
    result = train_length_task(cfg)
    assert set(result) >= {"acc_3", "acc_6", "acc_12", "val_acc", "params"}
    assert all(0.0 <= result[k] <= 1.0 for k in ("acc_3", "acc_6", "acc_12"))
