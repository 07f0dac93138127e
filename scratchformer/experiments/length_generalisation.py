"""Experiment `length-generalisation`: which models still answer right on inputs longer than in training?

Five synthetic tasks (data/length_tasks.py): parity, Dyck-1 and Dyck-2 recognition, copy, and
counting (a^n b^n). Six models: a small GPT with learned, sinusoidal, RoPE, ALiBi or no positions,
and an LSTM. Each (task, model) pair is one variant, named TASK-MODEL (`parity-rope`,
`copy-lstm`); each trains on inputs of 2 .. L symbols with the same data, steps and loss, and is
graded on fixed test sets at exactly L, 2L and 4L symbols (tasks/length_generalisation.py). An
example counts as right when every answer token is the model's most likely one.

    scratchformer experiment length-generalisation --seeds 3 --jobs 2          # the whole table
    scratchformer experiment length-generalisation --variants parity-lstm,parity-alibi --seeds 1
    scratchformer experiment length-generalisation --task.train_len 8 --train.max_steps 300

Chance: the yes/no tasks (parity, dyck1, dyck2, counting) are half yes at every length, so
guessing scores 50%; copy has no chance level worth drawing (1 in 10^n).
Learned positions have no vector past the training lengths: the transformer is built for the
longest test, and those rows are never trained (what the comparison is about).

Besides the harness's table and bar charts: accuracy_table.md, a task per line and a model per
column (each cell: accuracy at L / 2L / 4L), and accuracy_vs_length.png, per task each model's
accuracy against the test length.
"""

from __future__ import annotations

import dataclasses
import statistics
from dataclasses import dataclass, field
from pathlib import Path

import torch

from scratchformer.data.length_tasks import TASKS, LengthTaskData
from scratchformer.experiments.harness import Experiment, Metric, Run, fit
from scratchformer.experiments.summary import seeds_note
from scratchformer.models.lstm import LSTMLMConfig
from scratchformer.tasks.length_generalisation import LengthRunConfig, build_length_model, sequence_accuracy
from scratchformer.training.plots import pyplot, save
from scratchformer.training.trainer import TrainConfig, Trainer

MODELS = ["learned", "sinusoidal", "rope", "alibi", "none", "lstm"]
YES_NO = {"parity", "dyck1", "dyck2", "counting"}  # half yes at every length: chance is 50%


def default_train() -> TrainConfig:
    return TrainConfig(max_steps=600, batch_size=32, lr=3e-3, min_lr=3e-4, warmup_steps=50, weight_decay=0.0,
                       eval_interval=0, eval_batches=4, log_interval=100, stats_interval=0, checkpoint_interval=200,
                       progress=False, device="cpu", dtype="float32", compile=False, seed=0)


@dataclass
class ExperimentConfig(LengthRunConfig):
    """The task layer's config (the task with train_len L and test_lens, the model, the GPT's and the
    LSTM's shapes, the trainer) with this experiment's training budget. The variants set task.task
    and model."""

    lstm: LSTMLMConfig = field(default_factory=lambda: LSTMLMConfig(d_model=128, n_layers=1))
    """The LSTM's shape: 128 units hold about as many parameters as the default GPT (~0.1M)."""
    train: TrainConfig = field(default_factory=default_train)


# --------------------------------------------------------------------------------------------
# the task


def metric_name(n: int, train_len: int) -> str:
    """acc_L, acc_2L, acc_4L for multiples of the training length; acc_N otherwise."""
    if n % train_len:
        return f"acc_{n}"
    k = n // train_len
    return "acc_L" if k == 1 else f"acc_{k}L"


def run(cfg: LengthRunConfig, run: Run) -> dict[str, float]:
    """Train one model on one task with the run's seed; its accuracy at each test length."""
    data = run.cached(repr(cfg.task), lambda: LengthTaskData(cfg.task))  # the fixed test sets, once per process
    train = dataclasses.replace(cfg.train, seed=run.seed)
    torch.manual_seed(run.seed)
    model = build_length_model(cfg, data.vocab_size)
    trainer = Trainer(model, train, data, run_dir=run.dir, model_kind="lstm_lm" if cfg.model == "lstm" else "gpt",
                      run_config={"model": dataclasses.asdict(model.config), "train": dataclasses.asdict(train),
                                  "task": dataclasses.asdict(cfg.task)})
    fit(trainer, run)  # continues from run.dir's checkpoint if an earlier attempt left one
    metrics = {"val_acc": sequence_accuracy(model, data.sets["val"], cfg.eval_batch_size),
               "params": model.num_params()}
    for n in cfg.task.test_lengths:
        metrics[metric_name(n, cfg.task.train_len)] = sequence_accuracy(model, data.sets[f"test_{n}"],
                                                                        cfg.eval_batch_size)
    return metrics


# --------------------------------------------------------------------------------------------
# the variants: every task x every model, named TASK-MODEL

VARIANTS = {f"{task}-{model}": {"task.task": task, "model": model}
            for task in ("parity", "dyck1", "dyck2", "copy", "counting") for model in MODELS}
# (one more is one line: VARIANTS["copy-lstm2"] = {"task.task": "copy", "model": "lstm", "lstm.n_layers": 2})

# --scale gpu (not tried here): wider, deeper models trained longer, at the same lengths
SCALES = {
    "cpu": {},
    "gpu": {"gpt.d_model": 256, "gpt.n_heads": 8, "gpt.n_layers": 4, "lstm.d_model": 256, "lstm.n_layers": 2,
            "train.max_steps": 10000, "train.batch_size": 128, "train.lr": 1e-3, "train.min_lr": 1e-4,
            "train.warmup_steps": 500, "train.device": "auto", "task.test_examples": 2000},
}


# --------------------------------------------------------------------------------------------
# the metrics


def metrics(cfg: LengthRunConfig) -> list[Metric]:
    """Accuracy at each test length (L and the longest are headlines), validation accuracy, parameters."""
    L, lens = cfg.task.train_len, cfg.task.test_lengths
    return [Metric(metric_name(n, L), "%", scale=100, headline=n in (L, max(lens)), baseline=0.5,
                   baseline_label="chance on the yes/no tasks (copy: none)", digits=1,
                   label=f"accuracy at {metric_name(n, L)[4:]} = {n}") for n in lens] + [
        Metric("val_acc", "%", scale=100, digits=1, label=f"validation accuracy (lengths {cfg.task.min_len}..{L})"),
        Metric("params", higher_is_better=False, digits=0, label="parameters")]


def accuracy_vs_length(cfg: LengthRunConfig, rows: list[dict], out: Path) -> list[Path]:
    """One panel per task: each model's mean accuracy (and each seed) against the test length."""
    plt = pyplot()

    L, lens = cfg.task.train_len, sorted(cfg.task.test_lengths)
    tasks = [t for t in TASKS if any(r["variant"].startswith(f"{t}-") for r in rows)]
    fig, axes = plt.subplots(1, len(tasks), figsize=(3.6 * len(tasks) + 1.6, 3.8), squeeze=False, sharey=True)
    for ax, task in zip(axes[0], tasks):
        for model in MODELS:
            mine = [r["metrics"] for r in rows if r["variant"] == f"{task}-{model}"]
            if not mine:
                continue
            per_len = [[m[k] for m in mine if m.get(k := metric_name(n, L)) is not None] for n in lens]
            means = [100 * statistics.fmean(v) if v else float("nan") for v in per_len]
            line, = ax.plot(lens, means, marker="o", label=model)
            for n, v in zip(lens, per_len):  # each seed, faint
                ax.scatter([n] * len(v), [100 * x for x in v], color=line.get_color(), alpha=0.3, s=10)
        if task in YES_NO:
            ax.axhline(50, color="grey", linestyle="--", label="chance (50%)")
        ax.axvline(L, color="grey", linestyle=":", label="longest training input")
        ax.set_xscale("log", base=2)
        ax.set_xticks(lens, [str(n) for n in lens])
        ax.set_ylim(0, 102)  # from zero: a drop to chance is seen as what it is
        ax.set_title(task)
        ax.set_xlabel("test input length (symbols)")
    axes[0][0].set_ylabel("exact-answer accuracy (%)")
    handles, labels = axes[0][0].get_legend_handles_labels()
    for ax in axes[0][1:]:  # one legend for the figure, every model named once
        for h, lab in zip(*ax.get_legend_handles_labels()):
            if lab not in labels:
                handles.append(h)
                labels.append(lab)
    fig.legend(handles, labels, fontsize=8, loc="center right")
    note = seeds_note(rows)
    fig.suptitle(f"Trained on lengths {cfg.task.min_len}..{L}, tested at {', '.join(map(str, lens))} "
                 f"({note if note == 'one seed' else f'{note}; dots: each seed'})")
    return [save(fig, out / "accuracy_vs_length.png", rect=(0, 0, 1 - 1.4 / fig.get_figwidth(), 1))]


def accuracy_table(cfg: LengthRunConfig, rows: list[dict], out: Path) -> list[Path]:
    """accuracy_table.md: a task per line, a model per column, each cell the mean accuracy at L / 2L / 4L."""
    L, lens = cfg.task.train_len, sorted(cfg.task.test_lengths)
    names = " / ".join(metric_name(n, L)[4:] for n in lens)
    lines = [f"# length-generalisation: accuracy (%) at {names} (lengths {', '.join(map(str, lens))})", "",
             f"Trained on inputs of {cfg.task.min_len}..{L} symbols; "
             f"{seeds_note(rows)}. Chance is 50 on the yes/no tasks "
             "(parity, dyck1, dyck2, counting); blank: not run.", "",
             "| task | " + " | ".join(MODELS) + " |", "| --- |" + " --- |" * len(MODELS)]
    for task in TASKS:
        cells = []
        for model in MODELS:
            mine = [r["metrics"] for r in rows if r["variant"] == f"{task}-{model}"]
            values = [[m[k] for m in mine if m.get(k := metric_name(n, L)) is not None] for n in lens]
            cells.append(" / ".join(f"{100 * statistics.fmean(v):.0f}" if v else "n/a" for v in values)
                         if mine else "")
        if any(cells):
            lines.append(f"| {task} | " + " | ".join(cells) + " |")
    path = out / "accuracy_table.md"
    path.write_text("\n".join(lines) + "\n")
    return [path]


def figures(cfg: LengthRunConfig, rows: list[dict], out: Path) -> list[Path]:
    return accuracy_table(cfg, rows, out) + accuracy_vs_length(cfg, rows, out)


EXPERIMENT = Experiment(
    name="length-generalisation",
    help="parity, Dyck-1/2, copy and counting: transformers (5 position schemes) and an LSTM tested at L, 2L, 4L",
    config=ExperimentConfig,
    run=run,
    variants=VARIANTS,
    metrics=metrics,
    scales=SCALES,
    seeds=3,
    threads=1,  # tiny models run best on one thread; --jobs 2 uses both cores
    figures=figures,
    # - --quick: a width of 16, 6 steps, short inputs; one task, each kind of model
    quick={"gpt.d_model": 16, "gpt.n_heads": 2, "gpt.n_layers": 1, "lstm.d_model": 16, "train.max_steps": 6,
           "train.batch_size": 8, "train.warmup_steps": 2, "task.train_len": 4, "task.test_examples": 20},
    quick_variants={name: VARIANTS[name] for name in ("parity-rope", "parity-alibi", "parity-lstm")},
)
