"""Tables and figures from an experiment's rows: mean, std and a 95% interval per variant and metric.

    summarise(rows, variants, metrics)   -> one entry per (variant, metric): n, mean, std, ci95_low, ci95_high
    summary_csv(summary)                 -> summary.csv
    summary_markdown(...)                -> summary.md: `mean ± std [95% interval]`, "one seed" when n = 1
    seeds_note(rows)                     -> "one seed", "mean over 3 seeds": what a figure's points average
    plot_metric(...)                     -> METRIC.png: a bar per variant from zero, a dot per seed,
                                            ± one std, the baseline as a dashed line

The interval is the mean's: mean ± t(0.975, n-1) * std / sqrt(n), Student's t over the seeds.
"""

from __future__ import annotations

import csv
import io
import math
import statistics
from pathlib import Path

from scratchformer.experiments.harness import Metric
from scratchformer.training.plots import pyplot, save

# two-sided 95% quantiles of Student's t, by degrees of freedom (1..30); 1.96 beyond
T95 = [12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145,
       2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048,
       2.045, 2.042]


def t95(df: int) -> float:
    return T95[df - 1] if df <= len(T95) else 1.96


def stats(values: list[float]) -> dict:
    """n, mean, std (over seeds, n-1 in the denominator) and the 95% interval of the mean (Student t)."""
    n = len(values)
    if n == 0:
        return {"n": 0, "mean": None, "std": None, "ci95_low": None, "ci95_high": None}
    mean = statistics.fmean(values)
    if n == 1:
        return {"n": 1, "mean": mean, "std": None, "ci95_low": None, "ci95_high": None}
    std = statistics.stdev(values)
    half = t95(n - 1) * std / math.sqrt(n)
    return {"n": n, "mean": mean, "std": std, "ci95_low": mean - half, "ci95_high": mean + half}


WALL = Metric("wall_s", "s", higher_is_better=False, digits=0, label="wall-clock")
"""Every row's wall-clock, measured by the harness, tabled beside the experiment's own metrics."""


def value_of(row: dict, m: Metric) -> float | None:
    value = row["wall_s"] if m is WALL else row["metrics"].get(m.name)
    return value if isinstance(value, (int, float)) and math.isfinite(value) else None


def summarise(rows: list[dict], variants: list[str], metrics: list[Metric]) -> list[dict]:
    """One entry per variant and metric, over the seeds that reported it (None and NaN are left out)."""
    summary = []
    for variant in variants:
        mine = [r for r in rows if r["variant"] == variant]
        for m in metrics:
            values = [v for v in (value_of(r, m) for r in mine) if v is not None]
            summary.append({"variant": variant, "metric": m.name, "unit": m.unit, "scale": m.scale,
                            "higher_is_better": m.higher_is_better, **stats(values)})
    return summary


def summary_csv(summary: list[dict]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(summary[0]) if summary else ["variant"])
    writer.writeheader()
    writer.writerows(summary)
    return buffer.getvalue()


def shown(value: float, m: Metric) -> str:
    """A stored value as a table shows it: scaled, m.digits decimals, thousands separated (1,280,130)."""
    return f"{value * m.scale:,.{m.digits}f}"


def cell_text(entry: dict, m: Metric) -> str:
    """`mean ± std [95% interval]`; one seed, or seeds that all agree, say so instead."""
    if entry["n"] == 0:
        return "n/a"
    mean = shown(entry["mean"], m)
    if entry["n"] == 1:
        return f"{mean} (one seed)"
    if entry["std"] == 0:
        return f"{mean} (every seed)"
    return f"{mean} ± {shown(entry['std'], m)} [{shown(entry['ci95_low'], m)}, {shown(entry['ci95_high'], m)}]"


def summary_markdown(name: str, metrics: list[Metric], variants: list[str], summary: list[dict],
                     rows: list[dict], n_runs: int, seeds: list[int]) -> str:
    """A title, what the cells mean and where the rows came from, and a row per variant."""
    commits = sorted({r["commit"][:10] + ("-dirty" if r["dirty"] else "") for r in rows})
    shown = [m for m in metrics if any(e["metric"] == m.name and e["n"] for e in summary)]
    machines = sorted({f"{r['cpu']}, {r['threads']} thread(s), {r['device']}" for r in rows})
    lines = [f"# {name}", "",
             f"{len(rows)} of {n_runs} runs finished; seeds {seeds[0]}..{seeds[-1]} per variant. "
             "Each cell: mean ± std over seeds [95% interval of the mean, Student t]; one seed shows no spread. "
             f"Commit(s): {', '.join(commits) or 'none'}. Machine(s): {'; '.join(machines) or 'none'}.", "",
             "| variant | " + " | ".join(f"{m.title()} {'↑' if m.higher_is_better else '↓'}" for m in shown) + " |",
             "| --- |" + " --- |" * len(shown)]
    for variant in variants:
        entries = {e["metric"]: e for e in summary if e["variant"] == variant}
        lines.append(f"| {variant} | " + " | ".join(cell_text(entries[m.name], m) for m in shown) + " |")
    return "\n".join(lines) + "\n"


def seeds_note(rows: list[dict]) -> str:
    """What a figure's points average, for its title: "one seed", "mean over 3 seeds", or "mean over
    2-3 seeds per variant" where the variants have different numbers of finished seeds."""
    per_variant = sorted({sum(r["variant"] == v for r in rows) for v in {r["variant"] for r in rows}})
    if per_variant == [1]:
        return "one seed"
    if len(per_variant) == 1:
        return f"mean over {per_variant[0]} seeds"
    return f"mean over {per_variant[0]}-{per_variant[-1]} seeds per variant"


def plot_metric(name: str, m: Metric, variants: list[str], rows: list[dict], summary: list[dict],
                out: Path) -> Path | None:
    """A bar per variant (the mean), a dot per seed, an error bar of ± one std, the baseline if any.

    The bars start at zero (a bar's length is its value), so differences are never magnified; where
    that leaves them hard to see, the dots and the table show them."""
    plt = pyplot()

    entries = {e["variant"]: e for e in summary if e["metric"] == m.name}
    if not any(entries[v]["n"] for v in variants):
        return None
    fig, ax = plt.subplots(figsize=(max(4.0, 1.0 + 0.9 * len(variants)) + 2.5, 4.0))
    xs = list(range(len(variants)))
    means = [entries[v]["mean"] * m.scale if entries[v]["n"] else 0.0 for v in variants]
    stds = [entries[v]["std"] * m.scale if entries[v]["n"] > 1 else 0.0 for v in variants]
    n_max = max(entries[v]["n"] for v in variants)
    ax.bar(xs, means, color="#9ecae1", edgecolor="#3182bd",
           label="mean of one seed" if n_max == 1 else "mean over seeds")
    if n_max > 1:
        ax.errorbar(xs, means, yerr=stds, fmt="none", ecolor="black", capsize=4, label="± one std over seeds")
    for x, v in zip(xs, variants):
        values = [value_of(r, m) * m.scale for r in rows if r["variant"] == v and value_of(r, m) is not None]
        ax.scatter([x] * len(values), values, color="#08519c", s=14, zorder=3,
                   label="each seed" if x == 0 else None)
        if not entries[v]["n"]:
            ax.text(x, 0, "n/a", ha="center", va="bottom")
    if m.baseline is not None:
        ax.axhline(m.baseline * m.scale, color="firebrick", linestyle="--", label=m.baseline_label)
    # - from zero (or below it, for negative values) to a little above the highest bar, dot or baseline
    dots = [value_of(r, m) * m.scale for r in rows if value_of(r, m) is not None]
    top = max([*dots, *(a + b for a, b in zip(means, stds)), (m.baseline or 0) * m.scale, 0.0])
    bottom = min([*dots, *(a - b for a, b in zip(means, stds)), 0.0])
    ax.set_ylim(bottom * 1.12, top * 1.12 if top > 0 else 1)
    # - slanted when the names would run into each other (many variants, or long names)
    crowded = len(variants) > 6 or sum(map(len, variants)) > 8 * len(variants)
    ax.set_xticks(xs, variants, rotation=20 if crowded else 0, ha="right" if crowded else "center")
    ax.set_xlabel("variant")
    ax.set_ylabel(m.title())
    better = "higher" if m.higher_is_better else "lower"
    seeds = "one seed" if n_max == 1 else f"{n_max} seeds"
    ax.set_title(f"{name}: {m.label or m.name}\n({better} is better; {seeds})", fontsize=10)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8)  # outside, clear of the bars
    return save(fig, out / f"{m.name}.png", dpi=120)


