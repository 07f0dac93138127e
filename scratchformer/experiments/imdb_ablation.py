"""Experiment `imdb-ablation`: how much does each step of self-attention help an IMDb classifier?

Course weeks 2-3. The six variants of scratchformer.models.classifier, each a step on top of
the last, are trained with the same data, tokenizer, budget and seeds:

  pool -> simple -> scaled -> kqv -> multihead -> transformer

Each (variant, seed) is one run; the harness writes its row, the table (mean ± std and a 95%
interval over seeds) and a plot per accuracy. Choices are made on validation accuracy; test
accuracy (on a fixed sample of test reviews) is measured only with --final_test true. Budgets are
small so the whole grid of 6 variants x 3 seeds fits a CPU in about 20 minutes:

    scratchformer experiment imdb-ablation --data.source ../shared/data/aclImdb.tar.gz
    scratchformer experiment imdb-ablation --train.max_steps 1000 --batching.max_len 256 --budget null
"""

from __future__ import annotations

import dataclasses
import json
import random
from dataclasses import dataclass, field

from scratchformer.data.imdb import IMDbConfig, load_imdb
from scratchformer.data.text_batches import BatchingConfig
from scratchformer.experiments.harness import Experiment, Metric, Run
from scratchformer.models.classifier import ClassifierConfig
from scratchformer.tasks.classification import (CLASSIFIER_TRAIN, ClassifierRunConfig, TokenizerConfig,
                                                prepare_data, train_classifier)
from scratchformer.training.budget import budget_seconds
from scratchformer.training.trainer import TrainConfig, train_defaults

# - a classifier's training (tasks/classification.py), shorter
ABLATION_TRAIN = {**CLASSIFIER_TRAIN, "max_steps": 400, "warmup_steps": 40}


@dataclass
class ExperimentConfig:
    """What every variant shares: data, tokenizer, model size, training budget."""

    data: IMDbConfig = field(default_factory=IMDbConfig)
    model: ClassifierConfig = field(default_factory=lambda: ClassifierConfig(d_model=64, n_heads=4, n_layers=1,
                                                                             pooling="mean", context_len=129))
    """Every variant's classifier (the variant sets model.variant; vocab_size comes from the tokenizer)."""
    train: TrainConfig = field(default_factory=train_defaults(ABLATION_TRAIN))
    """Training of every run (its seed is the run's)."""
    batching: BatchingConfig = field(default_factory=lambda: BatchingConfig(max_len=128))
    """How reviews are cut (max_len tokens) and batched."""
    tokenizer: TokenizerConfig = field(default_factory=lambda: TokenizerConfig("word", 20000))
    budget: str | None = "60s"
    """Stop a run after this long (60s, 2m) of training even if steps remain; None (--budget null): no limit."""
    test_reviews: int = 5000
    """With final_test: score a fixed random sample of this many test reviews (0: all 25,000)."""
    final_test: bool = False
    """Also measure test accuracy (a final evaluation only: choose on validation)."""

    def __post_init__(self):
        budget_seconds(self.budget)  # None, or a length: a budget of 0 or one that is not a length is one line
        if self.test_reviews < 0:
            raise ValueError(f"test_reviews must be >= 0 (0: all), got {self.test_reviews}")


# --------------------------------------------------------------------------------------------
# the task


def load_reviews(cfg: ExperimentConfig):
    """IMDb's splits; the test split (with final_test) cut to a fixed sample that every run shares."""
    imdb = load_imdb(cfg.data, final_test=cfg.final_test)
    for note in imdb.notes:
        print(f"note: {note}")
    if cfg.final_test and 0 < cfg.test_reviews < len(imdb["test"]):
        keep = sorted(random.Random(0).sample(range(len(imdb["test"])), cfg.test_reviews))
        imdb.splits["test"] = imdb["test"].subset(keep)
    return imdb


def classifier_run(cfg: ExperimentConfig, run: Run) -> ClassifierRunConfig:
    """The classifier run of one (variant, seed), writing into the run's folder."""
    return ClassifierRunConfig(model=cfg.model, train=dataclasses.replace(cfg.train, seed=run.seed), data=cfg.data,
                               batching=cfg.batching, tokenizer=cfg.tokenizer, budget=cfg.budget,
                               final_test=cfg.final_test, out_dir=str(run.dir.parent), name=run.dir.name)


def run(cfg: ExperimentConfig, run: Run) -> dict[str, float]:
    """Train one classifier and measure it; the reviews and their token ids are shared by every run."""
    run_cfg = classifier_run(cfg, run)
    shared = json.dumps([dataclasses.asdict(cfg.data), cfg.final_test, cfg.test_reviews,
                         dataclasses.asdict(cfg.tokenizer), dataclasses.asdict(cfg.batching)])
    imdb = run.cached("reviews " + shared, lambda: load_reviews(cfg))
    tokenizer, data, _ = run.cached("tokens " + shared, lambda: prepare_data(run_cfg, imdb))
    _, result = train_classifier(run_cfg, tokenizer, data, resume=True)
    return {k: result[k] for k in ("val_acc", "test_acc", "params", "train_s") if k in result} | {"steps": result["step"]}


# --------------------------------------------------------------------------------------------
# the variants: each adds one step of self-attention to the one above it

VARIANTS = {
    "pool": {"model.variant": "pool"},
    "simple": {"model.variant": "simple"},
    "scaled": {"model.variant": "scaled"},
    "kqv": {"model.variant": "kqv"},
    "multihead": {"model.variant": "multihead"},
    "transformer": {"model.variant": "transformer"},
}

# --scale gpu (not tried here): wider models, longer reviews, ten times the steps, no time limit
SCALES = {
    "cpu": {},
    "gpu": {"model.d_model": 256, "model.n_heads": 8, "model.n_layers": 4, "model.context_len": 513,
            "batching.max_len": 512, "tokenizer.vocab_size": 30000, "train.max_steps": 4000,
            "train.device": "auto", "train.dtype": "auto", "budget": None, "test_reviews": 0},
}


# --------------------------------------------------------------------------------------------
# the metrics

METRICS = [
    Metric("val_acc", "%", scale=100, baseline=0.5, headline=True, digits=1, label="validation accuracy"),
    Metric("test_acc", "%", scale=100, baseline=0.5, headline=True, digits=1, label="test accuracy"),
    Metric("params", digits=0, higher_is_better=False, label="parameters"),
    Metric("train_s", "s", higher_is_better=False, digits=0, label="training time"),
    Metric("steps", digits=0, label="optimizer steps"),
]

EXPERIMENT = Experiment(
    name="imdb-ablation",
    help="train classifiers (a)-(f) with 3 seeds each and write a results table and plot",
    config=ExperimentConfig,
    run=run,
    variants=VARIANTS,
    metrics=METRICS,
    scales=SCALES,
    seeds=3,
    threads=1,  # fastest when the cores are shared with other jobs
    quick={"model.d_model": 8, "model.n_heads": 2, "batching.max_len": 12, "tokenizer.vocab_size": 50,
           "train.max_steps": 30, "train.batch_size": 8, "train.lr": 1e-2, "train.warmup_steps": 3},
)
