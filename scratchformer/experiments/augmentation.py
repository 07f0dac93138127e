"""Experiment `augmentation`: does augmenting the few labelled reviews help a sentiment classifier,
in distribution and out of it?

The task: a classifier trained on N labelled IMDb reviews (a balanced sample drawn with the run's
seed), with one way of making more of them (tasks/augmented_classification.py), then measured on
IMDb validation and on every out-of-distribution set (data/sentiment_ood.py, tasks/ood_evaluation.py).

The variants, MODEL-N{N}-AUGMENTATION (one line each in VARIANTS):
  models          bigram (mean of word and hashed-bigram embeddings: the fastText baseline),
                  transformer (from scratch), pretrained (the transformer started from an
                  IMDb-pretrained GPT: needs --pretrained RUN, the lm/ folder of `experiment imdb-pretrain`)
  label budgets   N = 100, 500, 2500, and all (the whole training split, 22,500 reviews after
                  the validation split: the issue's 25,000 less the held-out movies)
  augmentations   none, eda (Wei & Zou's four operations, alpha 0.1), token-dropout, span-mask,
                  crop, char-noise, contextual (a language model rewrites spans: needs
                  --augment.contextual_lm), mixup (in embedding space), uda (consistency training
                  on the 50,000 unlabelled reviews, EDA as the noise, confidence masking and sharpening),
                  uda-tsa (the same with training-signal annealing, exp schedule: UDA's choice for few labels)

The metrics: validation accuracy (choose on this), test accuracy (with --final_test, for the final
choices only), accuracy on each labelled out-of-distribution set, the mean gap (in-distribution
accuracy minus out-of-distribution, in points) and the Amazon gap, expected calibration error
in and out of distribution, and AUROC of telling BBC News (and the other sets) from IMDb by
maximum softmax probability. The in-distribution reference for gaps and AUROC is IMDb validation,
and IMDb test with --final_test. Derived across rows: each variant's gain over no augmentation
(same model, N and seed) and, for uda and uda-tsa, its share of the gap between supervised N and full supervision.

    scratchformer experiment augmentation --data.source ../shared/data/aclImdb.tar.gz \\
        --ood.source ../shared/data/sentiment_ood --ood.bbc_source ../shared/data/bbc_news.tar.gz \\
        --augment.wordnet.source ../shared/data/wordnet-3.0-dict.tar.gz
    scratchformer experiment augmentation --variants bigram-N500-none,bigram-N500-eda --seeds 1 ...
"""

from __future__ import annotations

import dataclasses
import json
import math
import random
import statistics
from dataclasses import dataclass, field
from pathlib import Path

from scratchformer.data.imdb import IMDbConfig, load_imdb
from scratchformer.data.sentiment_ood import LABELLED, OODConfig, load_ood
from scratchformer.data.text_batches import BatchingConfig
from scratchformer.errors import UserError
from scratchformer.experiments.harness import Experiment, Metric, Run
from scratchformer.experiments.summary import seeds_note
from scratchformer.models.classifier import ClassifierConfig
from scratchformer.tasks.augmented_classification import (AugmentationConfig, ObjectiveClassifier,
                                                          augmentation_resources, augmented_data)
from scratchformer.tasks.classification import (CLASSIFIER_TRAIN, ClassifierRunConfig, TokenizerConfig,
                                                prepare_data, train_classifier)
from scratchformer.tasks.ood_evaluation import evaluate_ood
from scratchformer.training.budget import budget_seconds
from scratchformer.training.plots import label_points, pyplot, save
from scratchformer.training.trainer import TrainConfig, train_defaults

AUGMENT_TRAIN = {**CLASSIFIER_TRAIN, "max_steps": 300, "warmup_steps": 30, "weight_decay": 0.1}


@dataclass
class ExperimentConfig:
    """What every variant shares: data, the out-of-distribution sets, model size, training budget."""

    data: IMDbConfig = field(default_factory=IMDbConfig)
    ood: OODConfig = field(default_factory=OODConfig)
    """Where the out-of-distribution sets come from."""
    model: ClassifierConfig = field(default_factory=lambda: ClassifierConfig(
        variant="pool", d_model=64, n_heads=4, n_layers=1, d_ff=128, dropout=0.1, pooling="mean",
        ngram_buckets=200_000, context_len=257))
    """The classifier (the variant sets model.variant and the bigram table; vocab_size comes from the tokenizer)."""
    train: TrainConfig = field(default_factory=train_defaults(AUGMENT_TRAIN))
    """Training of every run (its seed is the run's); the same steps for every N and augmentation."""
    batching: BatchingConfig = field(default_factory=lambda: BatchingConfig(max_len=256, truncate="both"))
    tokenizer: TokenizerConfig = field(default_factory=lambda: TokenizerConfig("word", 30000))
    augment: AugmentationConfig = field(default_factory=AugmentationConfig)
    """Label budget and augmentation (the variants set labels, augment, mixup_alpha, consistency_weight)."""
    pretrained: str | None = None
    """An IMDb-pretrained GPT run (the lm/ folder of `experiment imdb-pretrain`), for the pretrained-* variants."""
    use_pretrained: bool = False
    """Start the transformer from `pretrained` (set by the pretrained-* variants)."""
    budget: str | None = None
    """Stop a run after this long (90s, 5m) of training even if steps remain; None: no limit."""
    ood_texts: int = 2000
    """Score a fixed random sample of at most this many texts of each out-of-distribution set (0: all)."""
    test_reviews: int = 5000
    """With final_test: score a fixed random sample of this many test reviews (0: all 25,000)."""
    final_test: bool = False
    """Also measure test accuracy, and use IMDb test as the reference of gaps and AUROC (final choices only)."""

    def __post_init__(self):
        budget_seconds(self.budget)  # None, or a length: a budget of 0 or one that is not a length is one line
        if self.ood_texts < 0 or self.test_reviews < 0:
            raise ValueError("ood_texts and test_reviews must be >= 0 (0: all)")
        if self.augment.tsa != "none" and self.budget is not None:
            raise ValueError("augment.tsa anneals over train.max_steps, which a time budget changes: "
                             "give no budget with tsa")


# --------------------------------------------------------------------------------------------
# the task


def sample(reviews, n: int):
    """A fixed random sample (seed 0) of at most n reviews, in their own order; n = 0: all."""
    if n == 0 or n >= len(reviews):
        return reviews
    return reviews.subset(sorted(random.Random(0).sample(range(len(reviews)), n)))


def load_reviews(cfg: ExperimentConfig, unsup: bool):
    """IMDb's splits (and the unlabelled reviews if asked); test, with final_test, cut to a fixed sample."""
    imdb = load_imdb(cfg.data, final_test=cfg.final_test, unsup=unsup)
    for note in imdb.notes:
        print(f"note: {note}")
    if cfg.final_test:
        imdb.splits["test"] = sample(imdb["test"], cfg.test_reviews)
    return imdb


def load_ood_sets(cfg: ExperimentConfig):
    ood = load_ood(cfg.ood)
    for note in ood.notes:
        print(f"note: {note}")
    return {name: sample(reviews, cfg.ood_texts) for name, reviews in ood.sets.items()}


def classifier_run(cfg: ExperimentConfig, run: Run) -> ClassifierRunConfig:
    if cfg.use_pretrained and cfg.pretrained is None:
        raise UserError(f"variant {run.variant} starts from an IMDb-pretrained GPT: give --pretrained RUN (the lm/ "
                        "folder of `experiment imdb-pretrain`), or leave the pretrained-* variants out")
    return ClassifierRunConfig(model=cfg.model, train=dataclasses.replace(cfg.train, seed=run.seed), data=cfg.data,
                               batching=cfg.batching, tokenizer=cfg.tokenizer, budget=cfg.budget,
                               final_test=cfg.final_test, out_dir=str(run.dir.parent), name=run.dir.name,
                               init=cfg.pretrained if cfg.use_pretrained else None)


def run(cfg: ExperimentConfig, run: Run) -> dict[str, float]:
    """Train one classifier on N labelled reviews with the variant's augmentation; measure it in and
    out of distribution. Reviews, tokens, WordNet and the OOD sets are shared by the runs of a process."""
    run_cfg = classifier_run(cfg, run)
    aug = cfg.augment
    shared = json.dumps([dataclasses.asdict(cfg.data), cfg.final_test, cfg.test_reviews, dataclasses.asdict(cfg.tokenizer),
                         dataclasses.asdict(cfg.batching), cfg.pretrained if cfg.use_pretrained else None])
    imdb = run.cached(f"reviews {aug.uses_unlabelled} {shared}", lambda: load_reviews(cfg, aug.uses_unlabelled))
    tokenizer, base, _ = run.cached("tokens " + shared, lambda: prepare_data(run_cfg, imdb))
    resources = run.cached(f"resources {aug.augment} {aug.consistency_noise} {aug.uses_unlabelled} {aug.wordnet} "
                           f"{aug.contextual_lm}", lambda: augmentation_resources(aug))
    ood = run.cached("ood " + json.dumps([dataclasses.asdict(cfg.ood), cfg.ood_texts]), lambda: load_ood_sets(cfg))
    data = augmented_data(aug, imdb, tokenizer, base, run.seed, resources)
    probs = {}
    model, result = train_classifier(run_cfg, tokenizer, data, resume=True, probs_out=probs,
                                     build_model=lambda model_cfg: ObjectiveClassifier(model_cfg, aug))
    # - out of distribution, against IMDb validation (test only for a final evaluation)
    reference = "test" if cfg.final_test else "val"
    rows = evaluate_ood(model, tokenizer, cfg.batching, imdb[reference], ood, in_probs=probs[reference])
    by_set = {r["set"]: r for r in rows}
    labelled = [by_set[s] for s in LABELLED if s in by_set]
    out = {k: result[k] for k in ("val_acc", "test_acc", "train_s") if k in result} | {"steps": result["step"]}
    out |= {f"acc_{r['set']}": r["accuracy"] for r in labelled}
    out["ood_acc"] = statistics.fmean(r["accuracy"] for r in labelled) if labelled else math.nan
    out["ood_gap"] = statistics.fmean(r["gap"] for r in labelled) if labelled else math.nan
    out["gap_amazon"] = by_set["amazon"]["gap"] if "amazon" in by_set else math.nan
    out["ece"] = rows[0]["ece"]
    out["ece_ood"] = statistics.fmean(r["ece"] for r in labelled) if labelled else math.nan
    out["auroc_bbc"] = by_set["bbc"]["auroc"] if "bbc" in by_set else math.nan
    out["auroc_ood"] = statistics.fmean(r["auroc"] for r in labelled) if labelled else math.nan
    out["labels"] = len(data.ids["train"])
    return out | {"gain": math.nan, "gap_closed": math.nan}  # (filled in across rows: derive)


# --------------------------------------------------------------------------------------------
# the variants: MODEL-N{N}-AUGMENTATION

MODELS = {
    "bigram": {"model.variant": "pool", "train.lr": 1e-2},  # (the bigram table: model.ngram_buckets)
    "transformer": {"model.variant": "transformer", "model.ngram_buckets": 0, "train.lr": 2e-3},
    "pretrained": {"model.variant": "transformer", "model.ngram_buckets": 0, "model.causal": True,
                   "train.lr": 5e-4, "use_pretrained": True},
}
BUDGETS = {"100": 100, "500": 500, "2500": 2500, "all": 0}
AUGMENTATIONS = {
    "none": {},
    "eda": {"augment.augment": "eda=0.1"},
    "token-dropout": {"augment.augment": "token-dropout=0.1"},
    "span-mask": {"augment.augment": "span-mask=0.15"},
    "crop": {"augment.augment": "crop=0.5"},
    "char-noise": {"augment.augment": "char-noise=0.03"},
    "contextual": {"augment.augment": "contextual=0.15"},
    "mixup": {"augment.mixup_alpha": 0.4},
    "uda": {"augment.consistency_weight": 1.0},
    "uda-tsa": {"augment.consistency_weight": 1.0, "augment.tsa": "exp"},
}


def variant(model: str, budget: str, augmentation: str) -> tuple[str, dict]:
    return (f"{model}-N{budget}-{augmentation}",
            {**MODELS[model], "augment.labels": BUDGETS[budget], **AUGMENTATIONS[augmentation]})


VARIANTS = dict(variant(m, n, a) for m in MODELS for n in BUDGETS for a in AUGMENTATIONS)

# - the CPU default: accuracy against N for none and eda on the bigram model, every augmentation
#   at N = 500 on both models trained from scratch (contextual needs a language model: --variants)
CPU_VARIANTS = ([f"bigram-N{n}-{a}" for n in BUDGETS for a in ("none", "eda")]
                + [f"bigram-N500-{a}" for a in AUGMENTATIONS if a not in ("none", "eda", "contextual")]
                + [f"transformer-N500-{a}" for a in ("none", "eda", "mixup", "uda", "uda-tsa")] + ["transformer-Nall-none"])
GPU_VARIANTS = [name for name in VARIANTS if not name.endswith("-contextual")]

QUICK_VARIANTS = {name.replace("N500", "N20"): {**VARIANTS[name], "augment.labels": 20} for name in
                  ("bigram-N500-none", "bigram-N500-span-mask", "bigram-N500-mixup", "bigram-N500-uda",
                   "transformer-N500-none")} | {"bigram-Nall-none": VARIANTS["bigram-Nall-none"]}

SCALES = {
    "cpu": {},
    "gpu": {"model.d_model": 256, "model.n_heads": 8, "model.n_layers": 4, "model.d_ff": 1024,
            "model.context_len": 513, "batching.max_len": 512, "train.max_steps": 3000,
            "augment.unlabelled_ratio": 4, "train.device": "auto", "ood_texts": 0, "test_reviews": 0},
}


# --------------------------------------------------------------------------------------------
# the metrics


def parts(name: str) -> tuple[str, str, str]:
    """'bigram-N500-span-mask' -> ('bigram', '500', 'span-mask')."""
    model, budget, augmentation = name.split("-", 2)
    return model, budget.removeprefix("N"), augmentation


def derive(cfg: ExperimentConfig, rows: list[dict]) -> list[dict]:
    """gain: validation accuracy over the same model, N and seed without augmentation; gap_closed
    (uda and uda-tsa): (uda - supervised N) / (supervised all - supervised N), from the none rows."""
    acc = {(*parts(r["variant"]), r["seed"]): r["metrics"].get("val_acc") for r in rows}
    out = []
    for r in rows:
        model, budget, augmentation = parts(r["variant"])
        mine = r["metrics"].get("val_acc")
        plain = acc.get((model, budget, "none", r["seed"]))
        full = acc.get((model, "all", "none", r["seed"]))
        gain = mine - plain if None not in (mine, plain) and augmentation != "none" else None
        closed = None
        if augmentation.startswith("uda") and None not in (mine, plain, full) and full > plain:
            closed = (mine - plain) / (full - plain)
        out.append(r | {"metrics": r["metrics"] | {"gain": gain, "gap_closed": closed}})
    return out


METRICS = [
    Metric("val_acc", "%", scale=100, baseline=0.5, headline=True, digits=1, label="IMDb validation accuracy"),
    Metric("test_acc", "%", scale=100, baseline=0.5, digits=1, label="IMDb test accuracy (final choices only)"),
    Metric("gain", "points", scale=100, digits=1, label="validation accuracy over no augmentation"),
    Metric("gap_closed", "%", scale=100, digits=0, label="uda, uda-tsa: share of the gap to full supervision closed"),
    Metric("ood_acc", "%", scale=100, baseline=0.5, headline=True, digits=1, label="mean out-of-distribution accuracy"),
    *[Metric(f"acc_{s}", "%", scale=100, baseline=0.5, digits=1, label=f"accuracy on {s}") for s in LABELLED],
    Metric("ood_gap", "points", higher_is_better=False, digits=1, label="mean gap, in- minus out-of-distribution"),
    Metric("gap_amazon", "points", higher_is_better=False, digits=1, label="IMDb -> Amazon accuracy gap"),
    Metric("ece", "%", scale=100, higher_is_better=False, digits=1, label="ECE in distribution"),
    Metric("ece_ood", "%", scale=100, higher_is_better=False, digits=1, label="mean ECE out of distribution"),
    Metric("auroc_bbc", digits=3, baseline=0.5, headline=True, label="AUROC, BBC News vs IMDb (max softmax prob.)"),
    Metric("auroc_ood", digits=3, baseline=0.5, label="mean AUROC, labelled OOD sets vs IMDb"),
    Metric("labels", digits=0, label="labelled reviews (N)"),
    Metric("steps", digits=0, label="optimizer steps"),
    Metric("train_s", "s", higher_is_better=False, digits=0, label="training time"),
]


def figures(cfg: ExperimentConfig, rows: list[dict], out: Path) -> list[Path]:
    """accuracy_vs_N.png: validation accuracy against N, one line per (model, augmentation);
    id_vs_ood.png: in- against out-of-distribution accuracy, one point per variant (mean over seeds)."""
    plt = pyplot()

    def mean_of(variant: str, key: str):
        values = [r["metrics"][key] for r in rows if r["variant"] == variant and r["metrics"].get(key) is not None]
        return statistics.fmean(values) if values else None

    note = seeds_note(rows)
    variants = list(dict.fromkeys(r["variant"] for r in rows))
    paths = []
    # - accuracy against the label budget, N = all drawn at the size of the training split
    fig, ax = plt.subplots(figsize=(7.5, 4.5))
    lines: dict[tuple[str, str], dict[float, float]] = {}
    for v in variants:
        model, budget, augmentation = parts(v)
        n = mean_of(v, "labels")
        acc = mean_of(v, "val_acc")
        if n is not None and acc is not None:
            lines.setdefault((model, augmentation), {})[n] = 100 * acc
    for (model, augmentation), points in sorted(lines.items()):
        if len(points) > 1:
            xs = sorted(points)
            ax.plot(xs, [points[x] for x in xs], marker="o", label=f"{model}, {augmentation}")
    ax.axhline(50, color="grey", linestyle=":", label="chance")
    ax.set_xscale("log")
    ax.set_xlabel("labelled training reviews N (log scale)")
    ax.set_ylabel("IMDb validation accuracy (%)")
    ax.set_title(f"Accuracy against label budget ({note})")
    ax.legend(fontsize=8)
    paths.append(save(fig, out / "accuracy_vs_N.png", dpi=120))
    # - in against out of distribution, one point per variant
    fig, ax = plt.subplots(figsize=(7.5, 5))
    points = {}
    for v in variants:
        x, y = mean_of(v, "val_acc"), mean_of(v, "ood_acc")
        if x is not None and y is not None:
            points[v] = (100 * x, 100 * y)
            ax.scatter(*points[v])
    low = min([ax.get_xlim()[0], ax.get_ylim()[0]])
    high = max([ax.get_xlim()[1], ax.get_ylim()[1]])
    ax.plot([low, high], [low, high], color="grey", linestyle="--", label="no gap (y = x)")
    ax.axhline(50, color="grey", linestyle=":", label="chance")
    ax.set_xlabel("IMDb validation accuracy (%)")
    ax.set_ylabel("mean out-of-distribution accuracy (%)")
    ax.set_title(f"In- against out-of-distribution accuracy ({note})")
    ax.legend(fontsize=8)
    label_points(ax, points)
    paths.append(save(fig, out / "id_vs_ood.png", dpi=120))
    return paths


EXPERIMENT = Experiment(
    name="augmentation",
    help="few labels, augmented: EDA, dropout, masking, crops, noise, mixup, contextual and UDA at N = 100..all, in and out of distribution",
    config=ExperimentConfig,
    run=run,
    variants=VARIANTS,
    metrics=METRICS,
    scales=SCALES,
    seeds=3,
    threads=1,
    figures=figures,
    derive=derive,
    scale_variants={"cpu": CPU_VARIANTS, "gpu": GPU_VARIANTS},
    # - --quick: a few steps of tiny models on 20 labels; no WordNet needed (the noise is token dropout)
    quick={"model.d_model": 8, "model.n_heads": 2, "model.d_ff": 16, "model.ngram_buckets": 64,
           "model.context_len": 17, "batching.max_len": 16, "tokenizer.vocab_size": 60, "train.max_steps": 6,
           "train.batch_size": 8, "train.warmup_steps": 1, "ood_texts": 20, "augment.consistency_noise": "token-dropout=0.2"},
    quick_variants=QUICK_VARIANTS,
)
