"""Experiment `imdb-ablation`: how much does each step of self-attention help an IMDb classifier?

Course weeks 2-3. The six variants of scratchformer.models.classifier, each a step on top of
the last, are trained with the same data, tokenizer, budget and seeds:

  pool -> simple -> scaled -> kqv -> multihead -> transformer

Each (variant, seed) is one run, written as one row of runs.csv (seed, commit, metrics). The
summary gives mean ± std over seeds of validation and test accuracy, parameters and wall-clock,
as CSV, Markdown and a plot. Budgets are small so the whole table fits a CPU in about 20 minutes:

    scratchformer experiment imdb-ablation --data.source ../shared/data/aclImdb.tar.gz
"""

from __future__ import annotations

import csv
import dataclasses
import random
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

from scratchformer.data.imdb import IMDbConfig, load_imdb
from scratchformer.data.text_batches import BatchingConfig
from scratchformer.models.classifier import ATTENTIONS, ClassifierConfig
from scratchformer.tasks.classification import (ClassifierRunConfig, TokenizerConfig, default_train,
                                                   prepare_data, train_classifier)
from scratchformer.training.run_dir import git_commit

HELP = "train classifiers (a)-(f) with 3 seeds each and write a results table and plot"


@dataclass
class ExperimentConfig:
    """The ablation's grid and its per-run budget."""

    data: IMDbConfig = field(default_factory=IMDbConfig)
    variants: list[str] = field(default_factory=lambda: list(ATTENTIONS))
    """Classifier variants to compare, in order."""
    seeds: list[int] = field(default_factory=lambda: [0, 1, 2])
    """One run per seed and variant (the seed sets initialisation and batch order)."""
    d_model: int = 64
    """Embedding width (C) of every variant."""
    n_heads: int = 4
    """Heads of the multihead and transformer variants."""
    n_layers: int = 1
    """Blocks of the transformer variant."""
    pooling: str = "mean"
    """mean, max or cls."""
    vocab_size: int = 20000
    """Word vocabulary size."""
    max_len: int = 128
    """Truncation length (tokens per review)."""
    steps: int = 400
    """Optimizer steps per run."""
    batch_size: int = 64
    """Reviews per step."""
    lr: float = 2e-3
    """Peak learning rate (AdamW, warmup then cosine decay)."""
    time_budget_s: float = 60.0
    """Stop a run after this many seconds of training even if steps remain; 0 means no limit."""
    test_reviews: int = 5000
    """Score test accuracy on a fixed random sample of this many test reviews (0: all 25,000)."""
    threads: int = 1
    """CPU threads for PyTorch; 1 is fastest when the cores are shared with other jobs; 0 keeps the default."""
    out_dir: str = "benchmarks/results/imdb_ablation"
    """Folder for runs.csv, summary.csv, summary.md and accuracy.png."""

    def __post_init__(self):
        unknown = [v for v in self.variants if v not in ATTENTIONS]
        if unknown or not self.variants:
            raise ValueError(f"variants must be a non-empty list drawn from {list(ATTENTIONS)}; got {self.variants}")
        if not self.seeds:
            raise ValueError("seeds must hold at least one seed")
        if self.steps < 1 or self.max_len < 1 or self.batch_size < 1:
            raise ValueError("steps, max_len and batch_size must each be at least 1")


def run_config(cfg: ExperimentConfig, variant: str, seed: int) -> ClassifierRunConfig:
    """The classifier run for one cell of the grid."""
    train = dataclasses.replace(default_train(), max_steps=cfg.steps, batch_size=cfg.batch_size, lr=cfg.lr,
                                min_lr=cfg.lr / 20, warmup_steps=min(50, cfg.steps // 10), seed=seed)
    model = ClassifierConfig(variant=variant, d_model=cfg.d_model, n_heads=cfg.n_heads, n_layers=cfg.n_layers,
                             pooling=cfg.pooling, context_len=cfg.max_len + 1)
    return ClassifierRunConfig(model=model, train=train, data=cfg.data, batching=BatchingConfig(max_len=cfg.max_len),
                               tokenizer=TokenizerConfig("word", cfg.vocab_size), time_budget_s=cfg.time_budget_s,
                               final_test=True, save=False)


def summarise(rows: list[dict], variants: list[str]) -> list[dict]:
    """One row per variant: mean ± std over seeds."""
    out = []
    for v in variants:
        runs = [r for r in rows if r["variant"] == v]
        if not runs:
            continue
        row = {"variant": v, "seeds": len(runs), "params": runs[0]["params"]}
        for key in ("val_acc", "test_acc", "train_s"):
            values = [r[key] for r in runs]
            row[f"{key}_mean"] = statistics.mean(values)
            row[f"{key}_std"] = statistics.stdev(values) if len(values) > 1 else 0.0
        out.append(row)
    return out


def test_note(cfg: ExperimentConfig) -> str:
    if cfg.test_reviews:
        return f"a fixed random sample of {cfg.test_reviews:,} of the 25,000 test reviews"
    return "all 25,000 test reviews"


def markdown_table(summary: list[dict], cfg: ExperimentConfig, commit: str) -> str:
    lines = [
        f"IMDb ablation: {cfg.steps} steps of {cfg.batch_size} reviews (or {cfg.time_budget_s:.0f} s) per run, "
        f"reviews cut to {cfg.max_len} word tokens, {cfg.threads or torch.get_num_threads()} CPU thread(s), vocabulary {cfg.vocab_size}, d_model {cfg.d_model}, "
        f"mean ± std over seeds {cfg.seeds}; test accuracy on {test_note(cfg)}; commit {commit}. "
        "Wall-clock on a 2-core CPU shared with other jobs (noisy).",
        "",
        "| variant | val acc (%) | test acc (%) | parameters | train time (s) |",
        "| --- | --- | --- | --- | --- |",
    ]
    for r in summary:
        lines.append(f"| {r['variant']} | {100 * r['val_acc_mean']:.1f} ± {100 * r['val_acc_std']:.1f} "
                     f"| {100 * r['test_acc_mean']:.1f} ± {100 * r['test_acc_std']:.1f} | {r['params']:,} "
                     f"| {r['train_s_mean']:.0f} ± {r['train_s_std']:.0f} |")
    return "\n".join(lines) + "\n"


def plot(summary: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [r["variant"] for r in summary]
    xs = range(len(names))
    fig, ax = plt.subplots(figsize=(7, 3.5))
    for offset, key, label in ((-0.2, "val_acc", "validation"), (0.2, "test_acc", "test")):
        ax.bar([x + offset for x in xs], [100 * r[f"{key}_mean"] for r in summary], width=0.4,
               yerr=[100 * r[f"{key}_std"] for r in summary], capsize=3, label=label)
    lo = min(100 * r["test_acc_mean"] for r in summary)
    ax.set_ylim(max(0.0, lo - 10), 100)
    ax.set_xticks(list(xs), names)
    ax.set_ylabel("accuracy (%)")
    ax.set_title("IMDb sentiment: each step of self-attention (mean ± std over seeds)")
    ax.legend(loc="upper left")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def write_csv(path: Path, rows: list[dict]) -> None:
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def run(cfg: ExperimentConfig) -> list[dict]:
    """Train the grid; write runs.csv, summary.csv, summary.md and accuracy.png; return the summary."""
    out = Path(cfg.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    commit = git_commit()
    # - data and tokenizer are shared by every run: load and encode them once
    start = time.perf_counter()
    imdb = load_imdb(cfg.data, final_test=True)
    if 0 < cfg.test_reviews < len(imdb["test"]):
        # - a fixed sample (seed 0) keeps 18 evaluations cheap; every run sees the same reviews
        keep = sorted(random.Random(0).sample(range(len(imdb["test"])), cfg.test_reviews))
        imdb.splits["test"] = imdb["test"].subset(keep)
    tokenizer, data, _ = prepare_data(run_config(cfg, cfg.variants[0], cfg.seeds[0]), imdb)
    print(f"data ready in {time.perf_counter() - start:.0f} s: {len(data.ids['train'])} train, "
          f"{len(data.ids['val'])} val, {len(data.ids['test'])} test reviews")
    rows = []
    for variant in cfg.variants:
        for seed in cfg.seeds:
            _, result = train_classifier(run_config(cfg, variant, seed), tokenizer, data)
            row = {"variant": variant, "seed": seed, "commit": commit, "val_acc": result["val_acc"],
                   "test_acc": result["test_acc"], "params": result["params"], "train_s": result["train_s"],
                   "steps": result["step"]}
            rows.append(row)
            print(f"{variant:12s} seed {seed}: val {100 * row['val_acc']:.1f}%  test {100 * row['test_acc']:.1f}%  "
                  f"{row['steps']} steps in {row['train_s']:.0f} s", flush=True)
            write_csv(out / "runs.csv", rows)  # after every run: nothing is lost if it stops
    summary = summarise(rows, cfg.variants)
    write_csv(out / "summary.csv", summary)
    (out / "summary.md").write_text(markdown_table(summary, cfg, commit))
    plot(summary, out / "accuracy.png")
    print(markdown_table(summary, cfg, commit))
    print(f"wrote {out}/runs.csv, summary.csv, summary.md, accuracy.png")
    return summary
