"""Train a model on a synthetic length task at lengths <= L, and measure it at L, 2L, 4L.

    LengthTaskData (data/length_tasks.py) ─► a GPT with a position scheme, or an LSTM LM ─► Trainer
                                          ─► exact-answer accuracy on fixed test sets at each test length

Both models read the task as a causal sequence ("input = answer") and are graded on the answer
only, so the transformer and the LSTM see exactly the same data, steps and loss. The transformer's
context is the longest test sequence; with learned positions, the rows past the training lengths
are never trained (which is the point of the comparison).
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field

import torch

from scratchformer.core.position_schemes import POSITIONS
from scratchformer.data.length_tasks import IGNORE, LengthTaskConfig, LengthTaskData, to_batch
from scratchformer.devices import model_device
from scratchformer.models.gpt import GPT, GPTConfig
from scratchformer.models.lstm import LSTMLM, LSTMLMConfig
from scratchformer.training.interrupt import TrainingInterrupted
from scratchformer.training.trainer import TrainConfig, Trainer


def default_train() -> TrainConfig:
    return TrainConfig(max_steps=1000, batch_size=32, lr=3e-3, min_lr=3e-4, warmup_steps=50, weight_decay=0.0,
                       eval_interval=0, eval_batches=4, log_interval=50, stats_interval=0, progress=False,
                       device="cpu", seed=0)


@dataclass
class LengthRunConfig:
    """One model on one length task: which model, its shape, and the training budget."""

    task: LengthTaskConfig = field(default_factory=LengthTaskConfig)
    model: str = "lstm"
    """lstm, or a transformer with this position scheme: learned, sinusoidal, rope, alibi, none, ..."""
    gpt: GPTConfig = field(default_factory=lambda: GPTConfig(d_model=64, n_heads=4, n_layers=2))
    """The transformer's shape (vocab_size, context_len and position are set by the task)."""
    lstm: LSTMLMConfig = field(default_factory=lambda: LSTMLMConfig(d_model=64, n_layers=1))
    """The LSTM's shape (vocab_size and context_len are set by the task)."""
    train: TrainConfig = field(default_factory=default_train)
    eval_batch_size: int = 100
    """Examples per batch when measuring accuracy."""

    def __post_init__(self):
        if self.model != "lstm" and self.model not in POSITIONS:
            raise ValueError(f"unknown model {self.model!r}; choose 'lstm' or a position scheme: {sorted(POSITIONS)}")
        if self.eval_batch_size < 1:
            raise ValueError(f"eval_batch_size must be at least 1, got {self.eval_batch_size}")


def build_length_model(cfg: LengthRunConfig, vocab_size: int) -> GPT | LSTMLM:
    """The LSTM, or the GPT with cfg.model as its position scheme, sized for the longest test."""
    context_len = cfg.task.max_sequence_len
    if cfg.model == "lstm":
        return LSTMLM(dataclasses.replace(cfg.lstm, vocab_size=vocab_size, context_len=context_len))
    return GPT(dataclasses.replace(cfg.gpt, vocab_size=vocab_size, context_len=context_len, position=cfg.model))


@torch.no_grad()
def sequence_accuracy(model, pairs: list[tuple[str, str]], batch_size: int = 100) -> float:
    """Fraction of (input, answer) pairs whose every answer token is the model's most likely one
    (teacher-forced: each answer token is predicted from the true tokens before it)."""
    was_training = model.training
    model.eval()
    device = model_device(model)
    right = 0
    for b in range(0, len(pairs), batch_size):
        x, y = to_batch(pairs[b:b + batch_size])  # (B, T) each
        logits, _ = model(x.to(device))  # (B, T, V)
        pred = logits.argmax(-1).cpu()  # (B, T)
        right += ((pred == y) | (y == IGNORE)).all(dim=1).sum().item()
    model.train(was_training)
    return right / len(pairs)


def train_length_task(cfg: LengthRunConfig) -> dict:
    """Train one model and measure it: {'acc_N' per test length N, 'val_acc', 'params', 'train_s', 'step'}."""
    data = LengthTaskData(cfg.task)
    torch.manual_seed(cfg.train.seed)
    model = build_length_model(cfg, data.vocab_size)
    trainer = Trainer(model, cfg.train, data, model_kind="gpt" if cfg.model != "lstm" else "lstm_lm")
    start = time.perf_counter()
    fit = trainer.fit()
    if fit.get("interrupted"):  # Ctrl-C / SIGTERM: stop here rather than measure a half-trained model
        raise TrainingInterrupted(fit["interrupted"])
    result = {"model": cfg.model, "task": cfg.task.task, "train_len": cfg.task.train_len,
              "params": model.num_params(), "step": fit["step"], "train_s": round(time.perf_counter() - start, 1),
              "val_loss": fit.get("val_loss"),
              "val_acc": sequence_accuracy(model, data.sets["val"], cfg.eval_batch_size)}
    for n in cfg.task.test_lengths:
        result[f"acc_{n}"] = sequence_accuracy(model, data.sets[f"test_{n}"], cfg.eval_batch_size)
    return result
