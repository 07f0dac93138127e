"""Cramming: train a language model for a fixed wall-clock budget, and measure what it reached.

    tokens ─► LMData ─► GPT ─► Trainer ─► fit_within_budget(budget, fit_schedule) ─► curve, final loss

Geiping & Goldstein (2022), "Cramming: training a language model on a single GPU in one day", and
the modded-nanogpt speedrun ask the same question: how good a model does a fixed budget buy? Here
the budget is seconds of training on this machine (training/budget.py): the learning-rate
schedule (and the batch and length ramps, training/ramps.py) is fitted to the step time measured
after the warm-up, so every run ends fully decayed at the budget; validation is left out of the
budget and reported apart; compiling counts in it.

Two corpora: characters of a text (Tiny Shakespeare by default) and Penn Treebank's words
(data/ptb.py), whose whole test file gives the perplexity published models report.
A run's learning curve (validation loss against training seconds) gives its time to a target loss.
"""

from __future__ import annotations

import dataclasses
import time

import torch

from scratchformer.data.corpus import CorpusConfig, load_splits
from scratchformer.data.lm_data import LMData
from scratchformer.data.ptb import PTBConfig, load_ptb
from scratchformer.data.tokenizers import CharTokenizer
from scratchformer.models.gpt import GPT, GPTConfig
from scratchformer.training.budget import fit_within_budget
from scratchformer.training.evaluation import stream_loss
from scratchformer.training.trainer import TrainConfig, Trainer

CRAM_TASKS = ("shakespeare", "ptb")


def load_tokens(task: str, corpus: CorpusConfig, ptb: PTBConfig) -> tuple[int, dict[str, torch.Tensor]]:
    """(vocab_size, {split: ids}): characters of the corpus, or Penn Treebank's words (with its test split)."""
    if task == "ptb":
        vocab, tokens = load_ptb(ptb)
        return vocab.vocab_size, tokens
    splits = load_splits(corpus)
    tokenizer = CharTokenizer.train(splits["train"])
    # - a character never seen in training cannot be predicted: drop it from the other splits
    splits = {k: "".join(c for c in v if c in tokenizer.stoi) for k, v in splits.items() if v}
    return tokenizer.vocab_size, {k: torch.tensor(tokenizer.encode(v)) for k, v in splits.items()}


def cram(model_cfg: GPTConfig, train: TrainConfig, tokens: dict[str, torch.Tensor], budget_s: float,
         curve_points: int = 8, seed: int = 0, steps: int = 0) -> tuple[Trainer, dict]:
    """Train a fresh GPT on tokens['train'] for budget_s seconds (its schedule fitted to the budget),
    or, with steps, for exactly that many steps (no budget: for comparing losses per step on a
    machine whose load makes seconds untrustworthy).

    Returns the trainer and a result with 'val_loss', 'train_s' and 'budget' (fit_within_budget's
    record); result['budget']['curve'] holds curve_points validations and the final one, each with
    its step and its training seconds."""
    torch.manual_seed(seed)
    model = GPT(model_cfg)
    data = LMData({k: v for k, v in tokens.items() if k != "test"}, model_cfg.context_len)
    if steps:
        # - a fixed length: validate curve_points times along it (here a point's train_s counts the
        #   validations before it too: compare steps, not seconds, in this mode)
        train = dataclasses.replace(train, seed=seed, max_steps=steps, eval_interval=max(1, steps // curve_points),
                                    warmup_steps=min(train.warmup_steps, steps - 1))
        trainer = Trainer(model, train, data)
        start = time.perf_counter()
        result = trainer.fit()
        train_s = time.perf_counter() - start - trainer.eval_s
        curve = [{"step": r["step"], "train_s": r["elapsed_s"], "val_loss": r["val_loss"]}
                 for r in trainer.history if "val_loss" in r]
        record = {"steps": trainer.step, "max_steps": steps, "train_s": round(train_s, 1), "eval_s": round(trainer.eval_s, 1),
                  "curve": curve, "cut_by_time": False}
        return trainer, {**result, "train_s": train_s, "budget": record}
    # - no run folder: a checkpoint after every chunk would cost the budget time (the caller keeps the record)
    trainer = Trainer(model, dataclasses.replace(train, seed=seed, eval_interval=0), data)
    result = fit_within_budget(trainer, budget_s, chunk=50, fit_schedule=True,
                               curve_every_s=budget_s / max(1, curve_points))
    return trainer, result


def stream_nll(trainer: Trainer, tokens: torch.Tensor, stride: int | None = None) -> float:
    """Mean next-token loss in nats over a whole split, every token predicted once
    (training/evaluation.stream_loss); its exp is the split's perplexity."""
    model = trainer.eager_model  # (evaluation shapes differ from training's: no recompiles)
    return stream_loss(model, tokens, model.config.context_len, stride, batch_size=32, device=trainer.device,
                       autocast=trainer.autocast)


def time_to_target(curve: list[dict], target: float, key: str = "val_loss", x: str = "train_s") -> float | None:
    """Training seconds (or, with x="step", steps) at which the curve first reaches `target` (linear
    between its points); None if never."""
    before = None
    for point in curve:
        value = point.get(key)
        if value is None or point.get(x) is None:
            continue
        if value <= target:
            if before is None or before[1] <= value:
                return point[x]
            # - between the last point above the target and this one
            (t0, v0), t1 = before, point[x]
            return t0 + (t1 - t0) * (v0 - target) / (v0 - value)
        before = (point[x], value)
    return None


def fraction_of_way(value: float, start: float, goal: float) -> float | None:
    """How far value has come from start towards goal: 0 at start, 1 at goal (beyond 1: past it)."""
    if start == goal:
        return None
    return (start - value) / (start - goal)
