"""Experiment `positions`: which position schemes still work on inputs longer than in training?

Course week 6. One small character-level GPT per scheme (learned, sinusoidal, rope, shaw,
transformer_xl, t5, alibi, none) is trained on the built-in Shakespeare at context 128, with the
same data, budget and seed. Each is then evaluated on the validation plays at lengths 128, 256,
512 and 1024: the same trained weights, in a model built with the longer context_len.

Evaluation reads the validation text as consecutive windows of L characters and averages the
loss over every position of every window, in bits per character; each length reads about the
same number of characters. Learned absolute positions have no vector for position 128 and
beyond, so their longer lengths are n/a (not clamped: a clamped table would be a different model).

Writes to out_dir: runs.csv (one row per scheme and seed: seed, commit, wall-clock, bpc per
length), results.md (mean ± std over seeds), and bpc_vs_length.png.

    scratchformer experiment positions                       # about 8 minutes on one CPU core
    scratchformer experiment positions --steps 100 --schemes '[alibi, rope]'
"""

from __future__ import annotations

import csv
import dataclasses
import math
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

from scratchformer.data.corpus import CorpusConfig, load_splits
from scratchformer.data.lm_data import LMData
from scratchformer.data.tokenizers import CharTokenizer
from scratchformer.models.gpt import GPT, GPTConfig
from scratchformer.core.position_schemes import POSITIONS
from scratchformer.training.run_dir import git_commit
from scratchformer.training.trainer import TrainConfig, Trainer

HELP = "train a GPT per position scheme at context 128 and evaluate bits per character at 128..1024"

SCHEMES = ["learned", "sinusoidal", "rope", "shaw", "transformer_xl", "t5", "alibi", "none"]


@dataclass
class ExperimentConfig:
    """The schemes, the model every scheme shares, and the training budget."""

    data: CorpusConfig = field(default_factory=CorpusConfig)
    schemes: list[str] = field(default_factory=lambda: list(SCHEMES))
    """Position schemes to compare (names from scratchformer.core.position_schemes.POSITIONS)."""
    seeds: list[int] = field(default_factory=lambda: [0])
    """One run per seed and scheme."""
    context_len: int = 128
    """Training context."""
    eval_lens: list[int] = field(default_factory=lambda: [128, 256, 512, 1024])
    """Evaluation lengths."""
    eval_chars: int = 32768
    """Characters read at each evaluation length (rounded to whole windows)."""
    d_model: int = 64
    """Width of every model."""
    n_heads: int = 4
    """Heads of every model."""
    n_layers: int = 2
    """Blocks of every model."""
    steps: int = 400
    """Optimizer steps per run."""
    batch_size: int = 16
    """Sequences per step."""
    lr: float = 3e-3
    """Peak learning rate (warmup, then cosine decay)."""
    threads: int = 1
    """torch CPU threads (tiny models run best on one)."""
    out_dir: str = "runs/positions"
    """Where runs.csv, results.md and the plot go."""

    def __post_init__(self):
        unknown = [s for s in self.schemes if s not in POSITIONS]
        if unknown:
            raise ValueError(f"unknown position schemes {unknown}; choose from {sorted(POSITIONS)}")
        if not self.schemes or not self.seeds or not self.eval_lens:
            raise ValueError("schemes, seeds and eval_lens must each name at least one value")
        if min(self.eval_lens) < 2 or self.context_len < 2:
            raise ValueError("context_len and every eval length must be at least 2")
        if self.steps < 1 or self.batch_size < 1 or self.threads < 1:
            raise ValueError("steps, batch_size and threads must be at least 1")


def prepare_data(cfg: ExperimentConfig):
    """Character tokenizer and LMData for the corpus; val/test lose characters unseen in train."""
    splits = load_splits(cfg.data)
    tokenizer = CharTokenizer.train(splits["train"])
    splits = {k: "".join(c for c in v if c in tokenizer.stoi) for k, v in splits.items()}
    return tokenizer, LMData.from_text(splits, tokenizer, cfg.context_len)


@torch.no_grad()
def bits_per_char(model: GPT, tokens: torch.Tensor, length: int, n_chars: int, batch_size: int = 4) -> float:
    """Mean loss in bits over consecutive windows of `length` tokens (about n_chars in all)."""
    n_windows = max(1, min(n_chars // length, (len(tokens) - 1) // length))
    starts = torch.arange(n_windows) * length  # (W,) consecutive, non-overlapping
    model.eval()
    total, count = 0.0, 0
    for i in range(0, n_windows, batch_size):
        offsets = starts[i:i + batch_size, None] + torch.arange(length + 1)[None, :]  # (b, L+1)
        window = tokens[offsets].long()  # (b, L+1)
        _, loss = model(window[:, :-1], window[:, 1:])
        total += loss.item() * window[:, 1:].numel()
        count += window[:, 1:].numel()
    return total / count / math.log(2)


def model_config(cfg: ExperimentConfig, scheme: str, vocab_size: int, context_len: int) -> GPTConfig:
    return GPTConfig(vocab_size=vocab_size, context_len=context_len, position=scheme, d_model=cfg.d_model,
                     n_heads=cfg.n_heads, n_layers=cfg.n_layers, dropout=0.0)


def run_one(cfg: ExperimentConfig, scheme: str, seed: int, tokenizer, data: LMData) -> dict:
    """Train one scheme at context_len, evaluate it at every length; one row of runs.csv."""
    torch.manual_seed(seed)
    model = GPT(model_config(cfg, scheme, tokenizer.vocab_size, cfg.context_len))
    train = TrainConfig(max_steps=cfg.steps, batch_size=cfg.batch_size, lr=cfg.lr, min_lr=cfg.lr / 10,
                        warmup_steps=min(100, cfg.steps // 10), eval_interval=0, eval_batches=10,
                        log_interval=max(1, cfg.steps // 5), seed=seed, device="cpu", dtype="float32",
                        compile=False, progress=False)
    trainer = Trainer(model, train, data)
    start = time.perf_counter()
    trainer.fit()
    row = {"scheme": scheme, "seed": seed, "commit": git_commit(), "params": model.num_params(),
           "train_s": round(time.perf_counter() - start, 1)}
    for length in cfg.eval_lens:
        if scheme == "learned" and length > cfg.context_len:
            row[f"bpc_{length}"] = float("nan")  # no position vectors beyond the training context
            continue
        # - the same weights in a model whose context_len covers the evaluation length
        long_model = GPT(model_config(cfg, scheme, tokenizer.vocab_size, max(length, cfg.context_len)))
        long_model.load_state_dict(model.state_dict())
        row[f"bpc_{length}"] = round(bits_per_char(long_model, data.tokens["val"], length, cfg.eval_chars), 4)
    return row


def summarise(cfg: ExperimentConfig, rows: list[dict]) -> str:
    """A Markdown table: one line per scheme, mean ± std over seeds for each length."""
    head = "| scheme | " + " | ".join(f"bpc @ {n}" for n in cfg.eval_lens) + " | train s |"
    lines = [head, "|" + "---|" * (len(cfg.eval_lens) + 2)]
    for scheme in cfg.schemes:
        mine = [r for r in rows if r["scheme"] == scheme]
        cells = []
        for n in cfg.eval_lens:
            values = [r[f"bpc_{n}"] for r in mine]
            if any(math.isnan(v) for v in values):
                cells.append("n/a")
            elif len(values) > 1:
                cells.append(f"{statistics.mean(values):.3f} ± {statistics.stdev(values):.3f}")
            else:
                cells.append(f"{values[0]:.3f}")
        train_s = statistics.mean(r["train_s"] for r in mine)
        lines.append(f"| {scheme} | " + " | ".join(cells) + f" | {train_s:.0f} |")
    return "\n".join(lines) + "\n"


def plot(cfg: ExperimentConfig, rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8.5, 4.5))
    for scheme in cfg.schemes:
        mine = [r for r in rows if r["scheme"] == scheme]
        means = [statistics.mean(r[f"bpc_{n}"] for r in mine) for n in cfg.eval_lens]
        ax.plot(cfg.eval_lens, means, marker="o", label=scheme)  # NaN (learned, > 128) leaves a gap
    ax.axvline(cfg.context_len, color="grey", linestyle=":", label="training context")
    ax.set_xscale("log", base=2)
    ax.set_xticks(cfg.eval_lens, [str(n) for n in cfg.eval_lens])
    ax.set_xlabel("evaluation length (characters)")
    ax.set_ylabel("validation bits per character")
    ax.set_title(f"Length extrapolation, trained at context {cfg.context_len}")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))  # outside, clear of the lines
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def run(cfg: ExperimentConfig) -> list[dict]:
    torch.set_num_threads(cfg.threads)
    out = Path(cfg.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tokenizer, data = prepare_data(cfg)
    rows = []
    for seed in cfg.seeds:
        for scheme in cfg.schemes:
            row = run_one(cfg, scheme, seed, tokenizer, data)
            rows.append(row)
            shown = ", ".join(f"{k} {v}" for k, v in row.items() if k.startswith("bpc_"))
            print(f"{scheme:>15} seed {seed}: {shown} (trained in {row['train_s']} s)", flush=True)
    with (out / "runs.csv").open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    table = summarise(cfg, rows)
    settings = {k: v for k, v in dataclasses.asdict(cfg).items() if k != "data"}
    (out / "results.md").write_text(f"# Position schemes: length extrapolation\n\nSettings: {settings}\n\n{table}")
    plot(cfg, rows, out / "bpc_vs_length.png")
    print("\n" + table + f"\nwritten: {out / 'runs.csv'}, {out / 'results.md'}, {out / 'bpc_vs_length.png'}")
    return rows
