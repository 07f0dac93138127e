"""Overhead of gradient statistics and tracking, in training tokens/s.

    python -m benchmarks.overhead [--steps 100] [--repeats 3]

The same small GPT trains the same steps in four ways:
  plain           no statistics, no run folder, no trackers
  stats           gradient statistics at the default stats_interval
  stats+tracking  the above, plus the run folder's metrics.jsonl, TensorBoard and wandb (offline)
  stats_every     gradient statistics on every step (the worst case, for scale)
The four trainers advance in turns of stats_interval steps (`fit(until=...)`), so each turn holds
one statistics step and load from other processes hits every variant of a turn alike. A turn's
time is the `elapsed_s` of its last logged step (tracker start-up and the checkpoint written at
the end of each `fit` call are outside it; logging, tracking and statistics are inside). Each
turn gives a paired sample: plain's time / the variant's time. Reported: the median and
quartiles of these ratios over all turns, and the median tokens/s. One intra-op thread, for
steadier timings on a shared CPU.

Turns are seconds long, so other processes make their ratios noisy (about +-10% here). The
`components` part is steadier: a statistics step against a plain step, alternating step by
step, and the time of one tracked `log` call; from them, the overhead at the default intervals:
    (statistics_step_extra / stats_interval + log_call / log_interval) / plain_step
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import torch

from benchmarks.common import RandomTokens, report
from scratchformer.models.gpt import GPT, GPTConfig
from scratchformer.provenance import git_commit, machine
from scratchformer.training.trainer import TrainConfig, Trainer

MODEL = dict(vocab_size=65, context_len=64, d_model=128, n_heads=4, n_layers=2, dropout=0.0, position="rope",
             norm="rmsnorm", bias=False)
BATCH = 16


def make_trainer(name: str, steps: int, data, workdir: Path) -> Trainer:
    defaults = TrainConfig()
    stats_interval = {"plain": 0, "stats": defaults.stats_interval, "stats+tracking": defaults.stats_interval,
                      "stats_every": 1}[name]
    tracked = name == "stats+tracking"
    cfg = TrainConfig(max_steps=steps, batch_size=BATCH, warmup_steps=10, eval_interval=0, eval_batches=1,
                      stats_interval=stats_interval, track="tensorboard,wandb" if tracked else "none",
                      progress=False, device="cpu", compile=False, seed=1)
    torch.manual_seed(0)
    run_dir = workdir / f"{name}-{time.monotonic_ns()}" if tracked else None
    return Trainer(GPT(GPTConfig(**MODEL)), cfg, data, run_dir=run_dir)


def one_repeat(variants: list[str], steps: int, data, workdir: Path) -> list[dict[str, float]]:
    """Seconds per turn of each variant: a turn is stats_interval steps (one statistics step)."""
    trainers = {v: make_trainer(v, steps, data, workdir) for v in variants}
    turn = TrainConfig().stats_interval
    turns = []
    for k, start in enumerate(range(0, steps, turn)):
        seconds = {}
        for v in variants[k % len(variants):] + variants[:k % len(variants)]:  # rotate who goes first
            trainer = trainers[v]
            before = len(trainer.history)
            trainer.fit(until=start + turn)
            seconds[v] = [r for r in trainer.history[before:] if "loss" in r][-1]["elapsed_s"]
        turns.append(seconds)
    return turns


def components(data, workdir: Path, pairs: int = 30) -> dict:
    """Low-noise cost of the parts: a statistics step against a plain step (alternating, paired),
    and one `log` call of a tracked run (metrics.jsonl + TensorBoard + wandb)."""
    plain = make_trainer("plain", 10_000, data, workdir)
    stats = make_trainer("stats_every", 10_000, data, workdir)
    step, extra = [], []
    for _ in range(pairs):
        t0 = time.perf_counter()
        plain.train_step()
        t1 = time.perf_counter()
        stats.train_step()
        t2 = time.perf_counter()
        step.append(t1 - t0)
        extra.append((t2 - t1) - (t1 - t0))
    tracked = make_trainer("stats+tracking", 10_000, data, workdir)
    tracked.fit(until=TrainConfig().stats_interval)  # opens the trackers; a record with every statistic
    record = dict([r for r in tracked.history if "clip_frac" in r][-1])
    log = []
    for _ in range(50):
        t0 = time.perf_counter()
        tracked.log(record)
        log.append(time.perf_counter() - t0)
    tracked.close_trackers()
    defaults = TrainConfig()
    step_s, extra_s, log_s = statistics.median(step), statistics.median(extra), statistics.median(log)
    return {"plain_step_ms": round(1e3 * step_s, 2), "statistics_step_extra_ms": round(1e3 * extra_s, 3),
            "tracked_log_call_ms": round(1e3 * log_s, 3),
            "estimated_overhead_pct_at_defaults": round(
                100 * (extra_s / defaults.stats_interval + log_s / defaults.log_interval) / step_s, 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(1)
    os.environ.setdefault("WANDB_MODE", "offline")
    os.environ.setdefault("WANDB_SILENT", "true")
    variants = ["plain", "stats", "stats+tracking", "stats_every"]
    data = RandomTokens(MODEL["vocab_size"], MODEL["context_len"])  # throughput does not depend on the text
    turns: list[dict[str, float]] = []
    with tempfile.TemporaryDirectory() as tmp:
        one_repeat(["plain"], 20, data, Path(tmp))  # warm-up: allocator, thread pool
        parts = components(data, Path(tmp))
        print(f"components: {parts}", flush=True)
        for r in range(args.repeats):
            turns += one_repeat(variants, args.steps, data, Path(tmp))
            last = turns[-(args.steps // TrainConfig().stats_interval):]
            print(f"repeat {r + 1}, seconds per turn: " + "; ".join(
                f"{v} " + " ".join(f"{t[v]:.2f}" for t in last) for v in variants), flush=True)
    turn_tokens = TrainConfig().stats_interval * BATCH * MODEL["context_len"]
    # - each turn pairs the variants under the same load: the ratio of their times is the sample
    ratios = {v: [t["plain"] / t[v] for t in turns] for v in variants[1:]}
    ratio = {v: statistics.median(x) for v, x in ratios.items()}
    quartiles = {v: [round(q, 4) for q in statistics.quantiles(x, n=4)[::2]] for v, x in ratios.items()}
    speeds = {v: [turn_tokens / t[v] for t in turns] for v in variants}
    defaults = TrainConfig()
    report("overhead", {
        "benchmark": "overhead",
        "what": "training tokens/s with gradient statistics and tracking against the same run without them",
        "model": MODEL, "batch_size": BATCH, "steps": args.steps, "repeats": args.repeats,
        "log_interval": defaults.log_interval, "stats_interval": defaults.stats_interval,
        "trackers": "metrics.jsonl + tensorboard + wandb (offline)",
        "tokens_per_s_median": {v: round(statistics.median(s)) for v, s in speeds.items()},
        "paired_turns": len(turns),
        "paired_ratio_to_plain_median": {v: round(x, 4) for v, x in ratio.items()},
        "paired_ratio_to_plain_quartiles": quartiles,
        "overhead_pct": {v: round(100 * (1 - x), 2) for v, x in ratio.items()},
        "components": parts,
        "goal_pct": 3.0,
        "meets_goal_at_default_interval": bool(100 * (1 - ratio["stats+tracking"]) < 3.0),
        "machine": machine(), "commit": git_commit(),
    })


if __name__ == "__main__":
    main()
