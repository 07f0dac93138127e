"""Experiment `perceiver-vs-gpt`: does a Perceiver AR's latent bottleneck buy better language
modelling per unit of compute than a plain GPT when the context is long?

Hawthorne et al. (2022), "General-purpose, long-context autoregressive modeling with Perceiver
AR", find that it does at scale (PG-19 perplexity 28.9; a 60-layer Perceiver AR at context 8,192
beats a 42-layer Transformer-XL, faster). Here, character level on the built-in plays (any text
file works: --data.corpus), every model the same size (RoPE: no position table, so the
parameter counts are equal), each trained for the same wall-clock budget:

    perceiverN-T{T}   a Perceiver AR reading T characters, its last N positions as latents
    gptN              a GPT at context N: the same cost per step as the Perceiver AR's latents
    gpt{T}            a GPT at the full context T: the upper bound, at T/N times the attention cost

Every model is scored on the same positions: the last `eval_positions` characters of fixed
validation windows of `window` characters (the positions every Perceiver AR predicts). A GPT
whose context is shorter than the window predicts each of them from its own full context of
the characters just before it (a sliding window, stride 1), its best use of what it can see.

Each run is trained for `budget` (2m, 30m) of training (evaluation excluded): its step count is
the budget over the median step time measured after warm-up steps, and the schedule (warmup, then
cosine) is fitted to that count before training starts. The count is recorded in the row; a
rerun with `--steps_from SWEEP_FOLDER` trains every run for the recorded count instead, so the
figures are reproducible on any machine. `--plan_only true` measures the paces and fits the step
counts without training: run it on a quiet machine, then train the seeds with --steps_from on a
busy one (a seed with no row of its own takes the first recorded seed's count). Reports bpc, FLOPs (models/flops.py), tokens/s, steps,
and a learning curve per run (curve.json in its folder), drawn as bpc against training seconds
and against training FLOPs (bpc_vs_time.png, bpc_vs_flops.png).

    scratchformer experiment perceiver-vs-gpt --list
    scratchformer experiment perceiver-vs-gpt --seeds 3                   # the CPU scale: contexts 1,024, 4,096
    scratchformer experiment perceiver-vs-gpt --variants perceiver256-T4096,gpt256,gpt4096 --seeds 3
    scratchformer experiment perceiver-vs-gpt --scale gpu --seeds 3       # contexts up to 8,192 (untried at this size)

The long-range task that separates the models is its own experiment, `perceiver-retrieval`.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

from scratchformer.data.corpus import CorpusConfig, load_splits
from scratchformer.data.lm_data import LMData
from scratchformer.data.tokenizers import CharTokenizer
from scratchformer.devices import model_device
from scratchformer.errors import UserError
from scratchformer.experiments.harness import Experiment, Metric, Run
from scratchformer.experiments.summary import seeds_note
from scratchformer.models.flops import sequence_flops
from scratchformer.models.gpt import GPT
from scratchformer.models.perceiver import PerceiverAR, PerceiverARConfig
from scratchformer.training.budget import budget_seconds, parse_budget
from scratchformer.training.plots import pyplot, save
from scratchformer.training.trainer import TrainConfig, Trainer

KINDS = ("gpt", "perceiver_ar")


def default_model() -> PerceiverARConfig:
    return PerceiverARConfig(d_model=128, n_heads=4, n_layers=4, context_len=4096, n_latents=256,
                             position="rope", norm="rmsnorm", bias=False, dropout=0.0)


def default_train() -> TrainConfig:
    return TrainConfig(max_steps=1, batch_size=1, lr=2e-3, min_lr=2e-4, warmup_steps=20, schedule="cosine",
                       weight_decay=0.1, grad_clip=1.0, eval_interval=0, eval_batches=2, log_interval=10,
                       stats_interval=0, device="cpu", dtype="float32", compile=False, progress=False)


@dataclass
class ExperimentConfig:
    """The model every variant shares, the window it is scored on, and the budget."""

    data: CorpusConfig = field(default_factory=CorpusConfig)
    model: PerceiverARConfig = field(default_factory=default_model)
    """Shape of every model (vocab_size comes from the corpus); context_len is what the model reads:
    the window for a Perceiver AR or a full GPT, N for a short GPT. n_latents is N (a GPT ignores it)."""
    kind: str = "perceiver_ar"
    """gpt or perceiver_ar."""
    window: int = 4096
    """T: characters per validation window; every model is scored on its last eval_positions."""
    train: TrainConfig = field(default_factory=default_train)
    """Optimiser and schedule of every run; max_steps is set by the budget (or --steps_from), batch_size
    by tokens_per_step / window."""
    tokens_per_step: int = 16384
    """Window characters per step: every model takes batch_size = tokens_per_step / window sequences per
    step, and a GPT at context N reads N characters of each (so its step costs about what the
    Perceiver AR's latent stack costs: the same positions are predicted)."""
    budget: str | None = "2m"
    """Training time per run (evaluation excluded): 90s, 2m, 30m; None (--budget null) trains exactly
    train.max_steps steps."""
    steps_from: str | None = None
    """A finished sweep folder of this experiment: train each (variant, seed) for the steps its row recorded
    (a seed without a row takes the count of the variant's first recorded seed)."""
    plan_only: bool = False
    """Fit each run's step count to the budget and stop before training (a sweep for --steps_from)."""
    eval_positions: int = 64
    """Scored positions at the end of each validation window (at most the smallest n_latents)."""
    eval_windows: int = 48
    """Validation windows, spread evenly over the validation plays."""
    eval_from: int = 8192
    """Scored windows end at or after this character of the validation text, so every model, whatever
    its window (up to this), is scored on the same characters."""
    curve_points: int = 4
    """Validation points along the run for the learning curves (on eval_windows // 4 windows)."""

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {list(KINDS)}, got {self.kind!r}")
        if self.model.context_len > self.window:
            raise ValueError(f"model.context_len ({self.model.context_len}) is longer than the window ({self.window})")
        if self.tokens_per_step % self.window:
            raise ValueError(f"tokens_per_step ({self.tokens_per_step}) must be a multiple of the window "
                             f"({self.window}): every model takes the same number of sequences per step")
        if self.kind == "perceiver_ar" and self.eval_positions > self.model.n_latents:
            raise ValueError(f"eval_positions ({self.eval_positions}) must be at most n_latents "
                             f"({self.model.n_latents}): a Perceiver AR predicts only its latents' positions")
        if self.eval_from < self.window:
            raise ValueError(f"eval_from ({self.eval_from}) must be at least the window ({self.window})")
        if self.eval_positions < 1 or self.eval_windows < 1 or self.curve_points < 1:
            raise ValueError("eval_positions, eval_windows and curve_points must be at least 1")
        budget_seconds(self.budget)  # None, or a length: a budget of 0 or one that is not a length is one line


# --------------------------------------------------------------------------------------------
# the task: data, a model, a budgeted training run with a learning curve, and the score


def prepare_data(cfg: ExperimentConfig):
    """Character tokenizer and the train/val streams; a corpus shorter than one window is refused."""
    splits = load_splits(cfg.data)
    tokenizer = CharTokenizer.train(splits["train"])
    splits = {k: "".join(c for c in v if c in tokenizer.stoi) for k, v in splits.items()}
    for name, need in (("train", cfg.window + 1), ("val", cfg.eval_from + 2)):
        if len(splits.get(name, "")) < need:
            raise UserError(f"the corpus's {name} split has {len(splits.get(name, ''))} characters, fewer than the "
                            f"{need} that one window of {cfg.window} needs there; give a longer corpus")
    return tokenizer, {k: torch.tensor(tokenizer.encode(v)) for k, v in splits.items() if v}


def build_model(cfg: ExperimentConfig, vocab_size: int, seed: int):
    torch.manual_seed(seed)
    model_cfg = dataclasses.replace(cfg.model, vocab_size=vocab_size)
    return (PerceiverAR if cfg.kind == "perceiver_ar" else GPT)(model_cfg)


@torch.no_grad()
def bpc_last(model, tokens: torch.Tensor, window: int, positions: int, n_windows: int, eval_from: int,
             batch_size: int = 64) -> float:
    """Bits per character on the last `positions` characters of n_windows fixed windows of `window`.

    A model whose context is the window reads each window once; a GPT with a shorter context
    reads, for each scored position, the context_len characters that end there."""
    model.eval()
    T, P, ctx = window, positions, model.config.context_len
    ends = torch.linspace(eval_from, len(tokens) - 2, n_windows).long()  # (W,) the same for every model
    windows = tokens[ends[:, None] - T + 1 + torch.arange(T + 1)[None, :]].long()  # (W, T+1): inputs, then one more
    windows = windows.to(model_device(model))
    targets = windows[:, -P:]  # (W, P): the scored characters
    if ctx >= T:
        # - one forward per window; the Perceiver AR returns its N last positions, the GPT all T
        logits = torch.cat([model(windows[i:i + batch_size, :-1])[0][:, -P:] for i in range(0, len(windows), batch_size)])
    else:
        # - sliding: for scored position t, the ctx characters ending at t
        ends_in_window = torch.arange(T - P, T)  # (P,) input positions whose next character is scored
        offsets = ends_in_window[:, None] - ctx + 1 + torch.arange(ctx)[None, :]  # (P, ctx)
        inputs = windows[:, offsets].flatten(0, 1)  # (W*P, ctx)
        last = [model(inputs[i:i + batch_size], last_only=True)[0][:, -1] for i in range(0, len(inputs), batch_size)]
        logits = torch.cat(last).view(len(windows), P, -1)  # (W, P, V)
    nll = torch.nn.functional.cross_entropy(logits.flatten(0, 1).float(), targets.flatten())
    model.train()
    return nll.item() / math.log(2)


def measure_step_s(trainer: Trainer, warmup: int = 3, timed: int = 5) -> float:
    """Median seconds of a training step, after warm-up steps (first allocations, caches)."""
    for _ in range(warmup):
        trainer.train_step()
    times = []
    for _ in range(timed):
        start = time.perf_counter()
        trainer.train_step()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def recorded_plan(sweep: str, variant: str, seed: int) -> dict:
    """The step count (and the pace it came from) an earlier sweep recorded for this run, for --steps_from.

    The row of the same seed if there is one, else the variant's first recorded seed: one pace
    measurement, on a quiet machine, then fixed step counts for every seed on any machine."""
    rows = sorted((Path(sweep) / "rows").glob(f"{variant}-seed*.json"))
    mine = [p for p in rows if p.name == f"{variant}-seed{seed}.json"]
    if not rows:
        raise UserError(f"--steps_from {sweep}: no finished row for {variant} (in {Path(sweep) / 'rows'})")
    path = (mine or sorted(rows, key=lambda p: int(p.stem.rsplit("seed", 1)[1])))[0]
    metrics = json.loads(path.read_text())["metrics"]
    return {"steps": int(metrics["steps"]), "measured_step_s": metrics.get("measured_step_s"),
            "from": str(path)}


def plan(cfg: ExperimentConfig, run: Run, data: LMData, vocab_size: int, batch_size: int) -> dict:
    """How many steps this run trains for; decided once and kept in its folder (a resume reuses it)."""
    path = run.dir / "budget.json"
    if path.exists():
        return json.loads(path.read_text())
    if cfg.steps_from:
        out = recorded_plan(cfg.steps_from, run.variant, run.seed)
    elif cfg.budget is None:
        out = {"steps": cfg.train.max_steps, "from": "train.max_steps", "measured_step_s": None}
    else:
        # - time a throwaway copy of the run (same shapes), after warm-up, then fit the step count
        probe = Trainer(build_model(cfg, vocab_size, run.seed),
                        dataclasses.replace(cfg.train, batch_size=batch_size, max_steps=10**6), data)
        step_s = measure_step_s(probe)
        out = {"steps": max(1, int(parse_budget(cfg.budget) / step_s)), "from": f"budget {cfg.budget}",
               "measured_step_s": step_s, "load_1min": os.getloadavg()[0]}
    run.dir.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(out, indent=2) + "\n")
    return out


def train_budgeted(cfg: ExperimentConfig, run: Run, model, data, batch_size: int, steps: int,
                   score) -> tuple[Trainer, list[dict], float]:
    """Train for `steps` in curve_points chunks, scoring after each; returns (trainer, curve, train seconds).

    Continues from run.dir's checkpoint and curve.json when an earlier attempt left them (a stop
    loses at most the steps since the last curve point)."""
    train = dataclasses.replace(cfg.train, seed=run.seed, batch_size=batch_size, max_steps=steps,
                                warmup_steps=min(cfg.train.warmup_steps, max(0, steps - 1)))
    trainer = Trainer(model, train, data, run_dir=run.dir,
                      run_config={"experiment": dataclasses.asdict(cfg), "variant": run.variant, "seed": run.seed})
    curve_path = run.dir / "curve.json"
    curve: list[dict] = []
    if run.checkpoint.exists():
        trainer.resume(run.dir)
        curve = json.loads(curve_path.read_text()) if curve_path.exists() else []
        curve = [p for p in curve if p["step"] <= trainer.step]  # points past the checkpoint are redone
    else:
        trainer.run_dir.write_start(trainer.run_config, str(trainer.device))
    train_s = curve[-1]["train_s"] if curve else 0.0
    marks = sorted({max(1, round(steps * (i + 1) / cfg.curve_points)) for i in range(cfg.curve_points)})
    for mark in [m for m in marks if m > trainer.step]:
        # - train to the next curve point, timing the steps only (checkpoints and scoring excluded)
        while trainer.step < mark:
            start = time.perf_counter()
            trainer.train_step()
            train_s += time.perf_counter() - start
        curve.append({"step": trainer.step, "train_s": round(train_s, 3), "bpc": score(quick=True)})
        curve_path.write_text(json.dumps(curve, indent=2) + "\n")
        trainer.save()  # a stopped run resumes from the last curve point
    return trainer, curve, train_s


def run(cfg: ExperimentConfig, run: Run) -> dict[str, float]:
    """Train one variant for the budget; score it on the last eval_positions of every window."""
    key = json.dumps([dataclasses.asdict(cfg.data), cfg.window])
    tokenizer, tokens = run.cached(key, lambda: prepare_data(cfg))
    data = LMData(tokens, cfg.model.context_len)
    model = build_model(cfg, tokenizer.vocab_size, run.seed)
    batch_size = cfg.tokens_per_step // cfg.window  # the same sequences per step for every model
    budget = plan(cfg, run, data, tokenizer.vocab_size, batch_size)
    steps, step_s = budget["steps"], budget["measured_step_s"]
    flops = sequence_flops(model.config, cfg.kind)
    if cfg.plan_only:  # - the pace and the step count only: the row --steps_from replays
        return {"steps": steps, "measured_step_s": step_s}

    def score(quick: bool = False) -> float:
        n = max(1, cfg.eval_windows // 4) if quick else cfg.eval_windows
        return bpc_last(model, tokens["val"], cfg.window, cfg.eval_positions, n, cfg.eval_from)

    trainer, curve, train_s = train_budgeted(cfg, run, model, data, batch_size, steps, score)
    for point in curve:  # FLOPs of the training done by each curve point, and its time at the planned pace
        point["train_flops"] = point["step"] * batch_size * flops.train
        point["paced_s"] = point["step"] * step_s if step_s else point["train_s"]
    (run.dir / "curve.json").write_text(json.dumps(curve, indent=2) + "\n")
    eval_start = time.perf_counter()
    bpc = score()
    return {
        "bpc": bpc,
        "steps": trainer.step,
        "train_s": train_s,
        "measured_step_s": step_s,
        "paced_train_s": trainer.step * step_s if step_s else train_s,
        "eval_s": time.perf_counter() - eval_start,
        "input_tokens_per_s": trainer.step * batch_size * cfg.model.context_len / max(train_s, 1e-9),
        "train_gflops_per_step": batch_size * flops.train / 1e9,
        "train_flops_per_predicted_token": flops.train_per_predicted_token,
        "train_pflops": trainer.step * batch_size * flops.train / 1e15,
        "params": sum(p.numel() for p in model.parameters()),
    }


# --------------------------------------------------------------------------------------------
# the variants: one line each


def variants(contexts: list[int], latents: list[int]) -> dict[str, dict]:
    table = {}
    for N in latents:  # a GPT at context N costs about what N latents cost: scored on the same positions
        table[f"gpt{N}"] = {"kind": "gpt", "model.context_len": N, "model.n_latents": N}
    for T in contexts:
        for N in latents:
            table[f"perceiver{N}-T{T}"] = {"kind": "perceiver_ar", "window": T, "model.context_len": T,
                                           "model.n_latents": N}
        table[f"gpt{T}"] = {"kind": "gpt", "window": T, "model.context_len": T, "model.n_latents": max(latents)}
    return table


CPU_VARIANTS = variants([1024, 4096], [64, 128, 256])
GPU_VARIANTS = variants([8192], [256, 512])
VARIANTS = {**CPU_VARIANTS, **GPU_VARIANTS}

# --scale gpu (untried at this size; only --quick ran on a GPU): a GPT-2-small-like width, bf16 and compile, on
# contexts of 8,192 by default
SCALES = {
    "cpu": {},
    "gpu": {"model.d_model": 768, "model.n_heads": 12, "model.n_layers": 12, "tokens_per_step": 262144,
            "budget": "30m", "train.device": "auto", "train.dtype": "auto", "train.compile": True,
            "train.lr": 6e-4, "train.min_lr": 6e-5, "train.warmup_steps": 200, "eval_windows": 256},
}


# --------------------------------------------------------------------------------------------
# the metrics and the learning-curve figures


METRICS = [
    Metric("bpc", "bits/char", higher_is_better=False, headline=True, digits=3,
           label="validation bpc, last positions of each window"),
    Metric("paced_train_s", "s", higher_is_better=False, digits=0,
           label="training seconds at the planned pace (steps x step time measured after warm-up)"),
    Metric("train_s", "s", higher_is_better=False, digits=0, label="training seconds as run (depends on the load)"),
    Metric("measured_step_s", "s", higher_is_better=False, digits=3, label="seconds per step, measured after warm-up"),
    Metric("steps", digits=0),
    Metric("input_tokens_per_s", "chars/s", digits=0, label="characters read per second"),
    Metric("train_flops_per_predicted_token", "FLOPs", higher_is_better=False, digits=0,
           label="training FLOPs per predicted character"),
    Metric("train_pflops", "PFLOPs", digits=4, label="training FLOPs in all"),
    Metric("eval_s", "s", higher_is_better=False, digits=1, label="evaluation seconds (not in the budget)"),
    Metric("params", higher_is_better=False, digits=0, label="parameters"),
]


def curves(cfg: ExperimentConfig, rows: list[dict], out: Path) -> list[Path]:
    """bpc against training seconds and against training FLOPs: one curve per variant (mean over seeds)."""
    plt = pyplot()

    written = []
    note = seeds_note(rows)
    for x_key, x_label, name in (("paced_s", "training time at the measured pace (s, evaluation excluded)",
                                  "bpc_vs_time.png"),
                                 ("train_flops", "training FLOPs", "bpc_vs_flops.png")):
        fig, ax = plt.subplots(figsize=(8.5, 4.8))
        # - up to 20 distinct colours: tab20's dark shades first, then its light ones
        palette = plt.get_cmap("tab20").colors
        for k, variant in enumerate(dict.fromkeys(r["variant"] for r in rows)):
            runs = [json.loads(p.read_text()) for r in rows if r["variant"] == variant
                    and (p := Path(r["run_dir"]) / "curve.json").exists()]
            if not runs:
                continue
            # - average the seeds point by point (every seed has the same number of points)
            n = min(len(c) for c in runs)
            xs = [statistics.fmean(c[i][x_key] for c in runs) for i in range(n)]
            ys = [statistics.fmean(c[i]["bpc"] for c in runs) for i in range(n)]
            style = "-" if variant.startswith("perceiver") else "--"
            ax.plot(xs, ys, style, marker="o", label=variant, color=palette[(2 * k) % 20 + (2 * k // 20) % 2])
        if x_key == "train_flops":
            ax.set_xscale("log")
        ax.set_xlabel(x_label)
        ax.set_ylabel("validation bits per character (lower is better)")
        ax.set_title(f"Perceiver AR (solid) and GPT (dashed), {note}; "
                     f"on a quarter of the validation windows", fontsize=9)
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
        written.append(save(fig, out / name, dpi=120))
    return written


EXPERIMENT = Experiment(
    name="perceiver-vs-gpt",
    help="Perceiver AR against GPTs at short and full context, at equal size and wall-clock: bpc, FLOPs, speed",
    config=ExperimentConfig,
    run=run,
    variants=VARIANTS,
    metrics=METRICS,
    scales=SCALES,
    scale_variants={"cpu": list(CPU_VARIANTS), "gpu": list(GPU_VARIANTS)},
    seeds=3,
    threads=2,
    figures=curves,
    # - --quick: windows of 128, models of width 16, a few fixed steps
    quick={"model.d_model": 16, "model.n_heads": 2, "model.n_layers": 2, "model.n_latents": 16,
           "model.context_len": 128, "window": 128,
           "eval_from": 128, "tokens_per_step": 512, "budget": None, "train.max_steps": 4, "eval_windows": 4,
           "eval_positions": 8, "curve_points": 2},
    quick_variants=variants([128], [16]),
)
