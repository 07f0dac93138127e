"""Experiment `positions`: which position schemes still work on inputs longer than in training?

Course week 6. One small character-level GPT per scheme (learned, sinusoidal, rope, shaw,
transformer_xl, t5, alibi, none) is trained on the built-in Shakespeare at context 128, with the
same data, budget and seed. Each is then evaluated on the validation plays at lengths 128, 256,
512 and 1024: the same trained weights, in a model built with the longer context_len.

Evaluation reads the validation text as consecutive windows of L characters and averages the
loss over every position of every window, in bits per character; each length reads about the
same number of characters. Learned absolute positions have no vector for position 128 and
beyond, so their longer lengths are n/a (not clamped: a clamped table would be a different model).

    scratchformer experiment positions                        # about 8 minutes on one CPU core
    scratchformer experiment positions --variants alibi,rope --train.max_steps 200 --seeds 2

Besides the harness's table and bar charts, bpc_vs_length.png draws each scheme's bits per
character against the evaluation length.
"""

from __future__ import annotations

import dataclasses
import json
import math
import statistics
from dataclasses import dataclass, field
from pathlib import Path

import torch

from scratchformer.data.corpus import CorpusConfig, load_splits
from scratchformer.data.lm_data import LMData
from scratchformer.data.tokenizers import CharTokenizer
from scratchformer.devices import model_device
from scratchformer.experiments.harness import Experiment, Metric, Run, fit
from scratchformer.experiments.summary import seeds_note
from scratchformer.models.gpt import GPT, GPTConfig
from scratchformer.training.evaluation import stream_loss
from scratchformer.training.plots import pyplot, save
from scratchformer.training.trainer import TrainConfig, Trainer, train_defaults


def default_model() -> GPTConfig:
    return GPTConfig(d_model=64, n_heads=4, n_layers=2, context_len=128, dropout=0.0)


# - this experiment's training, as changes to the engine's TrainConfig defaults (see task_train_config)
POSITIONS_TRAIN = dict(max_steps=400, batch_size=16, lr=3e-3, min_lr=3e-4, warmup_steps=40, eval_interval=0,
                       eval_batches=10, log_interval=80, checkpoint_interval=100, device="cpu", dtype="float32",
                       compile=False, progress=False)


@dataclass
class ExperimentConfig:
    """The model every scheme shares, how it trains, and where it is evaluated."""

    data: CorpusConfig = field(default_factory=CorpusConfig)
    model: GPTConfig = field(default_factory=default_model)
    """Every scheme's GPT (vocab_size comes from the characters; position is the variant); context_len is
    the training context."""
    train: TrainConfig = field(default_factory=train_defaults(POSITIONS_TRAIN))
    """Training of every run (its seed is the run's)."""
    eval_lens: list[int] = field(default_factory=lambda: [128, 256, 512, 1024])
    """Evaluation lengths."""
    eval_chars: int = 32768
    """Characters read at each evaluation length (rounded to whole windows)."""

    def __post_init__(self):
        if not self.eval_lens or min(self.eval_lens) < 2:
            raise ValueError(f"eval_lens must name lengths of at least 2, got {self.eval_lens}")
        if self.eval_chars < 2:
            raise ValueError(f"eval_chars must be at least 2, got {self.eval_chars}")


# --------------------------------------------------------------------------------------------
# the task


def prepare_data(cfg: ExperimentConfig):
    """Character tokenizer and LMData for the corpus; val/test lose characters unseen in train."""
    splits = load_splits(cfg.data)
    tokenizer = CharTokenizer.train(splits["train"])
    splits = {k: "".join(c for c in v if c in tokenizer.stoi) for k, v in splits.items()}
    return tokenizer, LMData.from_text(splits, tokenizer, cfg.model.context_len)


@torch.no_grad()
def bits_per_char(model: GPT, tokens: torch.Tensor, length: int, n_chars: int, batch_size: int = 4) -> float:
    """Mean loss in bits over consecutive windows of `length` tokens (about n_chars in all): the
    stream of the first n_windows * length + 1 tokens, in windows side by side, on the model's device."""
    n_windows = max(1, min(n_chars // length, (len(tokens) - 1) // length))
    stream = tokens[:n_windows * length + 1]  # (every prediction of it made once)
    device = model_device(model)
    return stream_loss(model, stream, length, stride=length, batch_size=batch_size, device=device) / math.log(2)


def run(cfg: ExperimentConfig, run: Run) -> dict[str, float]:
    """Train one scheme at model.context_len, then evaluate it at every length."""
    key = json.dumps([dataclasses.asdict(cfg.data), cfg.model.context_len])
    tokenizer, data = run.cached(key, lambda: prepare_data(cfg))
    model_cfg = dataclasses.replace(cfg.model, vocab_size=tokenizer.vocab_size)
    torch.manual_seed(run.seed)
    model = GPT(model_cfg)
    train = dataclasses.replace(cfg.train, seed=run.seed)
    trainer = Trainer(model, train, data, run_dir=run.dir, tokenizer=tokenizer,
                      run_config={"model": dataclasses.asdict(model_cfg), "train": dataclasses.asdict(train)})
    fit(trainer, run)  # continues from run.dir's checkpoint if an earlier attempt left one
    metrics = {"params": model.num_params()}
    for length in cfg.eval_lens:
        if model_cfg.position == "learned" and length > model_cfg.context_len:
            metrics[f"bpc_{length}"] = float("nan")  # no position vectors beyond the training context
            continue
        # - the same weights in a model whose context_len covers the evaluation length
        long_model = GPT(dataclasses.replace(model_cfg, context_len=max(length, model_cfg.context_len)))
        long_model.load_state_dict(model.state_dict())
        long_model.to(trainer.device)  # (evaluated where it was trained)
        metrics[f"bpc_{length}"] = bits_per_char(long_model, data.tokens["val"], length, cfg.eval_chars)
    return metrics


# --------------------------------------------------------------------------------------------
# the variants: one line per position scheme

VARIANTS = {
    "learned": {"model.position": "learned"},
    "sinusoidal": {"model.position": "sinusoidal"},
    "rope": {"model.position": "rope"},
    "shaw": {"model.position": "shaw"},
    "transformer_xl": {"model.position": "transformer_xl"},
    "t5": {"model.position": "t5"},
    "alibi": {"model.position": "alibi"},
    "none": {"model.position": "none"},
}

# --scale gpu (not tried here): a bigger model trained longer, still at context 128
SCALES = {
    "cpu": {},
    "gpu": {"model.d_model": 384, "model.n_heads": 6, "model.n_layers": 6, "train.max_steps": 5000,
            "train.batch_size": 64, "train.lr": 1e-3, "train.min_lr": 1e-4, "train.warmup_steps": 200,
            "train.device": "auto", "train.dtype": "auto", "train.compile": True, "eval_chars": 262144},
}


# --------------------------------------------------------------------------------------------
# the metrics


def metrics(cfg: ExperimentConfig) -> list[Metric]:
    """Bits per character at each evaluation length; the training length and the longest are headlines."""
    headlines = (cfg.model.context_len, max(cfg.eval_lens))
    return [Metric(f"bpc_{n}", "bits/char", higher_is_better=False, headline=n in headlines,
                   label=f"validation bpc at length {n}") for n in cfg.eval_lens] + \
        [Metric("params", higher_is_better=False, digits=0, label="parameters")]


def bpc_vs_length(cfg: ExperimentConfig, rows: list[dict], out: Path) -> list[Path]:
    """Each scheme's mean bits per character against the evaluation length (n/a leaves a gap)."""
    plt = pyplot()

    fig, ax = plt.subplots(figsize=(8.5, 4.5))
    for variant in dict.fromkeys(r["variant"] for r in rows):
        mine = [r["metrics"] for r in rows if r["variant"] == variant]
        means = [statistics.fmean(v) if (v := [m[f"bpc_{n}"] for m in mine if m.get(f"bpc_{n}") is not None])
                 else float("nan") for n in cfg.eval_lens]
        ax.plot(cfg.eval_lens, means, marker="o", label=variant)
    ax.axvline(cfg.model.context_len, color="grey", linestyle=":", label="training context")
    ax.set_xscale("log", base=2)
    ax.set_xticks(cfg.eval_lens, [str(n) for n in cfg.eval_lens])
    ax.set_xlabel("evaluation length (characters)")
    ax.set_ylabel("validation bits per character (lower is better)")
    ax.set_title(f"Length extrapolation, trained at context {cfg.model.context_len} "
                 f"({seeds_note(rows)})")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))  # outside, clear of the lines
    return [save(fig, out / "bpc_vs_length.png", dpi=120)]


EXPERIMENT = Experiment(
    name="positions",
    help="train a GPT per position scheme at context 128 and evaluate bits per character at 128..1024",
    config=ExperimentConfig,
    run=run,
    variants=VARIANTS,
    metrics=metrics,
    scales=SCALES,
    seeds=1,
    threads=1,  # tiny models run best on one thread
    figures=bpc_vs_length,
    quick={"model.d_model": 16, "model.n_heads": 2, "model.n_layers": 1, "model.context_len": 16,
           "train.max_steps": 10, "train.batch_size": 4, "eval_lens": [16, 32], "eval_chars": 512},
)
