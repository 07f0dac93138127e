"""Experiment `perceiver-retrieval`: a long-range task that separates a Perceiver AR from a GPT.

The companion of `perceiver-vs-gpt` (same models, same budget rule): each model is trained on
windows of T characters whose one target is a character d positions back (data/retrieval.py),
with d drawn anew for every window, then scored at fixed distances. Chance is 10% (one of ten
digits). A GPT at context N cannot see past N characters, so beyond d = N it can only guess;
the Perceiver AR reads the whole window in its cross-attention, whatever its N latents.

    needle      copy the window's one digit, d characters back (the default)
    key_value   find the queried key's pair among distractors: two hops, see data/retrieval.py

    scratchformer experiment perceiver-retrieval --seeds 3
    scratchformer experiment perceiver-retrieval --plan_only true --out_dir runs/experiments/perceiver-retrieval-plan
    scratchformer experiment perceiver-retrieval --seeds 3 --steps_from runs/experiments/perceiver-retrieval-plan
    scratchformer experiment perceiver-retrieval --retrieval.task key_value --seeds 1
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import torch

from scratchformer.data.retrieval import CHANCE, RetrievalConfig, RetrievalData, answer_accuracy, make_batch
from scratchformer.experiments.harness import Experiment, Metric, Run
from scratchformer.experiments.summary import seeds_note
from scratchformer.experiments.perceiver_vs_gpt import KINDS, default_model, default_train, plan, train_budgeted
from scratchformer.models.gpt import GPT
from scratchformer.models.perceiver import PerceiverAR, PerceiverARConfig
from scratchformer.training.budget import budget_seconds
from scratchformer.training.plots import pyplot, save
from scratchformer.training.trainer import TrainConfig

DISTANCES = [16, 64, 256, 1024, 2048, 4000]


def default_retrieval() -> RetrievalConfig:
    return RetrievalConfig(context_len=4096, distance=2, max_distance=4096, task="needle")


@dataclass
class ExperimentConfig:
    """The models (as in perceiver-vs-gpt), the task, and the budget."""

    model: PerceiverARConfig = field(default_factory=default_model)
    """Shape of every model (vocab_size comes from the task); context_len is what the model reads."""
    kind: str = "perceiver_ar"
    """gpt or perceiver_ar."""
    retrieval: RetrievalConfig = field(default_factory=default_retrieval)
    """The training windows: context_len is the window T; distances drawn from distance .. max_distance."""
    distances: list[int] = field(default_factory=lambda: list(DISTANCES))
    """Distances scored after training (each at most the window)."""
    train: TrainConfig = field(default_factory=default_train)
    """Optimiser and schedule; max_steps is set by the budget (or --steps_from)."""
    tokens_per_step: int = 16384
    """Window characters per step: every model takes tokens_per_step / window sequences per step (a GPT at
    context N reads the last N characters of each)."""
    budget: str | None = "2m"
    """Training time per run: 90s, 2m, 30m; None (--budget null) trains exactly train.max_steps steps."""
    steps_from: str | None = None
    """A finished sweep folder of this experiment: train each run for the steps its row recorded
    (a seed without a row takes the count of the variant's first recorded seed)."""
    plan_only: bool = False
    """Fit each run's step count to the budget and stop before training (a sweep for --steps_from)."""
    eval_windows: int = 200
    """Windows scored at each distance."""
    curve_points: int = 2
    """Checkpoints along the run (each scored on the middle distance, for the curve)."""

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {list(KINDS)}, got {self.kind!r}")
        if self.model.context_len > self.retrieval.context_len:
            raise ValueError(f"model.context_len ({self.model.context_len}) is longer than the window "
                             f"({self.retrieval.context_len})")
        if self.tokens_per_step % self.retrieval.context_len:
            raise ValueError(f"tokens_per_step ({self.tokens_per_step}) must be a multiple of the window "
                             f"({self.retrieval.context_len})")
        too_far = [d for d in self.distances if d > self.retrieval.longest]
        if too_far:
            raise ValueError(f"retrieval distances {too_far} are beyond the context ({self.retrieval.context_len} "
                             f"characters); use distances <= {self.retrieval.longest}")
        if not self.distances or self.eval_windows < 1:
            raise ValueError("give at least one distance, and eval_windows >= 1")
        budget_seconds(self.budget)  # None, or a length: a budget of 0 or one that is not a length is one line


def accuracy_at(model, cfg: ExperimentConfig, distance: int, seed: int) -> float:
    """Answer accuracy on eval_windows fixed windows at one distance (the same windows for every model)."""
    task = dataclasses.replace(cfg.retrieval, distance=distance, max_distance=None)
    x, y = make_batch(task, cfg.eval_windows, torch.Generator().manual_seed(10_000 + distance))
    return answer_accuracy(model, x, y, model.config.context_len)


def run(cfg: ExperimentConfig, run: Run) -> dict[str, float]:
    """Train one model on the task for the budget; its accuracy at each distance."""
    data = RetrievalData(cfg.retrieval, eval_windows=64, seed=run.seed, read_len=cfg.model.context_len)
    torch.manual_seed(run.seed)
    model_cfg = dataclasses.replace(cfg.model, vocab_size=data.vocab_size)
    model = (PerceiverAR if cfg.kind == "perceiver_ar" else GPT)(model_cfg)
    batch_size = cfg.tokens_per_step // cfg.retrieval.context_len  # the same sequences per step for every model
    budget = plan(cfg, run, data, data.vocab_size, batch_size)
    steps = budget["steps"]
    if cfg.plan_only:  # - the pace and the step count only: the row --steps_from replays
        return {"steps": steps, "measured_step_s": budget["measured_step_s"]}
    middle = sorted(cfg.distances)[len(cfg.distances) // 2]
    trainer, _, train_s = train_budgeted(cfg, run, model, data, batch_size, steps,
                                         lambda quick=False: accuracy_at(model, cfg, middle, run.seed))
    metrics = {f"acc_{d}": accuracy_at(model, cfg, d, run.seed) for d in cfg.distances}
    return {**metrics, "steps": trainer.step, "train_s": train_s, "measured_step_s": budget["measured_step_s"]}


def variants() -> dict[str, dict]:
    T = 4096
    table = {f"perceiver{N}-T{T}": {"kind": "perceiver_ar", "model.context_len": T, "model.n_latents": N}
             for N in (64, 256)}
    table["gpt256"] = {"kind": "gpt", "model.context_len": 256, "model.n_latents": 256}
    table[f"gpt{T}"] = {"kind": "gpt", "model.context_len": T, "model.n_latents": 256}
    return table


def metrics(cfg: ExperimentConfig) -> list[Metric]:
    return [Metric(f"acc_{d}", "%", scale=100, baseline=CHANCE, headline=d == max(cfg.distances), digits=1,
                   label=f"accuracy at distance {d}") for d in cfg.distances] + \
        [Metric("steps", digits=0), Metric("train_s", "s", higher_is_better=False, digits=0, label="training seconds")]


def accuracy_vs_distance(cfg: ExperimentConfig, rows: list[dict], out):
    """Each variant's mean accuracy against the distance, with the seeds' range and chance."""
    plt = pyplot()

    fig, ax = plt.subplots(figsize=(8, 4.5))
    for variant in dict.fromkeys(r["variant"] for r in rows):
        mine = [r["metrics"] for r in rows if r["variant"] == variant]
        means = [100 * sum(m[f"acc_{d}"] for m in mine) / len(mine) for d in cfg.distances]
        lows = [100 * min(m[f"acc_{d}"] for m in mine) for d in cfg.distances]
        highs = [100 * max(m[f"acc_{d}"] for m in mine) for d in cfg.distances]
        line, = ax.plot(cfg.distances, means, marker="o", label=variant)
        ax.fill_between(cfg.distances, lows, highs, color=line.get_color(), alpha=0.15)
    ax.axhline(100 * CHANCE, color="grey", linestyle=":", label="chance (10%)")
    ax.set_xscale("log", base=2)
    ax.set_xticks(cfg.distances, [str(d) for d in cfg.distances])
    ax.set_ylim(0, 102)
    ax.set_xlabel("distance from the answer back to what it copies (characters)")
    ax.set_ylabel("answer accuracy (%)")
    note = seeds_note(rows)
    ax.set_title(f"{cfg.retrieval.task} retrieval in windows of {cfg.retrieval.context_len} "
                 f"({note if note == 'one seed' else f'{note}; bands: their range'})", fontsize=10)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return [save(fig, out / "accuracy_vs_distance.png", dpi=120)]


EXPERIMENT = Experiment(
    name="perceiver-retrieval",
    help="copy a character from far back: accuracy against distance for Perceiver ARs and GPTs",
    config=ExperimentConfig,
    run=run,
    variants=variants(),
    metrics=metrics,
    scales={"cpu": {}, "gpu": {"model.d_model": 768, "model.n_heads": 12, "model.n_layers": 12,
                               "budget": "30m", "train.device": "auto", "train.dtype": "auto",
                               "train.compile": True, "train.lr": 6e-4, "train.min_lr": 6e-5}},
    seeds=3,
    threads=2,
    figures=accuracy_vs_distance,
    quick={"model.d_model": 16, "model.n_heads": 2, "model.n_layers": 2, "model.n_latents": 8, "model.context_len": 64,
           "distances": [4, 32, 60], "retrieval": RetrievalConfig(context_len=64, distance=2, max_distance=64),
           "tokens_per_step": 256, "budget": None, "train.max_steps": 4, "eval_windows": 20},
    quick_variants={"perceiver8-T64": {"kind": "perceiver_ar", "model.context_len": 64, "model.n_latents": 8},
                    "gpt8": {"kind": "gpt", "model.context_len": 8, "model.n_latents": 8}},
)
