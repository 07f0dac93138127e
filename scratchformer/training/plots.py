"""Figures for the training toolkit, written as PNG files (matplotlib, no display needed).

  plot_lr_finder(result, path)        loss against learning rate (log axis), suggestions marked
  plot_schedules(names, path, ...)    learning rate against step for one or more schedules
  plot_runs(run_folders, path)        loss, learning rate and gradient norm of several runs
  label_points(ax, points)            name each point of a scatter, no label drawn over another
"""

from __future__ import annotations

import json
from pathlib import Path

from scratchformer.errors import UserError


def pyplot():
    """matplotlib's pyplot with the file-only Agg backend (works without a display)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_lr_finder(result, path: str | Path) -> Path:
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.5))
    ax.plot(result.lrs, result.raw_losses, color="0.75", linewidth=1, label="loss")
    ax.plot(result.lrs, result.losses, color="C0", linewidth=2, label="smoothed loss")
    for name, lr, color in (("steepest", result.steepest, "C1"), ("valley", result.valley, "C2")):
        style = "-" if name == result.rule else "--"
        ax.axvline(lr, color=color, linestyle=style, label=f"{name}: {lr:.2e}" + (" (suggested)" if name == result.rule else ""))
    ax.set_xscale("log")
    ax.set_xlabel("learning rate")
    ax.set_ylabel("training loss")
    ax.set_title("learning-rate range test" + (" (stopped on divergence)" if result.diverged else ""))
    # - keep the blow-up from squashing the interesting part of the curve
    low, high = min(result.losses), result.losses[0]
    ax.set_ylim(low - 0.1 * (high - low + 1e-9), high + 0.5 * (high - low + 1e-9))
    ax.legend()
    return save(fig, path)


def plot_schedules(names: list[str], path: str | Path, *, max_steps: int, lr: float, min_lr: float,
                   warmup_steps: int) -> Path:
    """Small multiples: one panel per schedule, on shared axes, so no curve hides another (constant and
    warmup coincide after the warmup) and no legend covers them. Each panel shows the others faintly."""
    import math

    from scratchformer.training.schedules import get_schedule

    plt = pyplot()
    steps = list(range(max_steps))
    curves = {name: [get_schedule(name)(s, max_steps=max_steps, lr=lr, min_lr=min_lr, warmup_steps=warmup_steps)
                     for s in steps] for name in names}
    cols = min(3, len(names))
    rows = math.ceil(len(names) / cols)
    size = (max(6.5, 3.6 * cols + 0.6), 2.8 * rows + 1.0)  # inches
    fig, axes = plt.subplots(rows, cols, figsize=size, sharex=True, sharey=True, squeeze=False)
    for i, (name, values) in enumerate(curves.items()):
        ax = axes[i // cols][i % cols]
        # - the other schedules in light grey, for comparison
        for other, other_values in curves.items():
            if other != name:
                ax.plot(steps, other_values, color="0.85", linewidth=1)
        ax.plot(steps, values, color=f"C{i % 10}", linewidth=2)
        ax.set_title(name)
        if warmup_steps:
            ax.axvline(warmup_steps, color="0.6", linestyle=":", linewidth=1)
        ax.grid(alpha=0.3)
    for j in range(len(names), rows * cols):  # empty cells of the grid
        axes[j // cols][j % cols].set_visible(False)
    for ax in axes[-1]:
        ax.set_xlabel("step")
    for row in axes:
        row[0].set_ylabel("learning rate")
    # - an empty cell's neighbour above needs its own step labels
    for j in range(len(names) - cols, len(names)):
        if 0 <= j and j // cols < rows - 1:
            axes[j // cols][j % cols].xaxis.set_tick_params(labelbottom=True)
            axes[j // cols][j % cols].set_xlabel("step")
    fig.suptitle(f"learning-rate schedules\npeak lr {lr:g}, min_lr {min_lr:g}, warmup {warmup_steps} of "
                 f"{max_steps} steps (dotted: end of warmup)", fontsize=10)
    return save(fig, path)


def read_metrics(run: str | Path) -> list[dict]:
    path = Path(run) / "metrics.jsonl"
    if not path.exists():
        raise UserError(f"{run} has no metrics.jsonl; give run folders written by `scratchformer train`")
    # - a metric written as null (it was NaN or inf) is drawn as a gap
    return [{k: float("nan") if v is None else v for k, v in json.loads(line).items()}
            for line in path.read_text().splitlines() if line.strip()]


def plot_runs(runs: list[str | Path], path: str | Path) -> Path:
    """Three panels sharing the step axis: loss (train solid, validation dashed), lr, gradient norm."""
    if not runs:
        raise UserError("give at least one run folder to plot")
    plt = pyplot()
    fig, (ax_loss, ax_lr, ax_norm) = plt.subplots(3, 1, figsize=(8, 9), sharex=True)
    for i, run in enumerate(runs):
        records = read_metrics(run)
        name, color = Path(run).name, f"C{i % 10}"

        def series(key):
            rows = [r for r in records if key in r]
            return [r["step"] for r in rows], [r[key] for r in rows]

        ax_loss.plot(*series("loss"), color=color, label=f"{name} train")
        if any("val_loss" in r for r in records):
            ax_loss.plot(*series("val_loss"), color=color, linestyle="--", marker="o", label=f"{name} val")
        ax_lr.plot(*series("lr"), color=color, label=name)
        ax_norm.plot(*series("grad_norm"), color=color, label=name)
    ax_loss.set_ylabel("loss (nats)")
    ax_lr.set_ylabel("learning rate")
    ax_norm.set_ylabel("gradient norm")
    ax_norm.set_yscale("log")
    ax_norm.set_xlabel("step")
    ax_loss.legend(fontsize="small")
    return save(fig, path)


def label_points(ax, points: dict[str, tuple[float, float]], fontsize: int = 6) -> None:
    """Write each name beside its (x, y), stacking a label upwards past any label it would overlap
    (points that nearly coincide); a thin line ties a moved label to its point. Call it last, once
    the axes' limits are final."""
    renderer = ax.figure.canvas.get_renderer()
    beside = (3, 3)  # a label's offset from its point, in points, before any move
    placed = []
    for name, (x, y) in points.items():
        label = ax.annotate(name, (x, y), xytext=beside, textcoords="offset points", fontsize=fontsize)
        # - up a line at a time until it is clear of every label already placed
        while any(label.get_window_extent(renderer).overlaps(box) for box in placed):
            label.xyann = (label.xyann[0], label.xyann[1] + fontsize + 2)
        placed.append(label.get_window_extent(renderer))
        if label.xyann != beside:
            # - a moved label: a line from the corner of its text to its point
            ax.annotate("", (x, y), xytext=label.xyann, textcoords="offset points",
                        arrowprops={"arrowstyle": "-", "color": "0.6", "linewidth": 0.5, "shrinkA": 0})


def save(fig, path: str | Path, dpi: int = 110, rect: tuple[float, float, float, float] | None = None) -> Path:
    """Lay `fig` out (inside `rect`, figure fractions, where a legend sits beside the axes), write it
    to `path` and close it: a sweep draws many figures, and pyplot keeps every open one alive."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout(rect=rect)
    fig.savefig(path, dpi=dpi)
    pyplot().close(fig)
    return path
