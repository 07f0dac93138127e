"""The classifier goals of the augmentation question, judged over seeds from a finished sweep.

    scratchformer experiment augmentation --data.source ../shared/data/aclImdb.tar.gz \\
        --ood.source ../shared/data/sentiment_ood --ood.bbc_source ../shared/data/bbc_news.tar.gz \\
        --augment.wordnet.source ../shared/data/wordnet-3.0-dict.tar.gz --jobs 2 --threads 1
    python -m benchmarks.augmentation --sweep runs/experiments/augmentation   # benchmarks/results/augmentation.json

Trains nothing. For each model of the sweep (bigram, transformer, pretrained), at N = 500 labels,
paired by seed against no augmentation (the same model, the same 500 reviews), with the mean, the
spread and the 95% interval over seeds (Student t):
  - EDA's gain in validation accuracy (goal: >= 3 points);
  - consistency training's share of the gap between supervised N = 500 and full supervision
    (uda and uda-tsa; goal: >= 50%);
  - the best augmentation, chosen on validation accuracy (mean over seeds), and how far it narrows
    the IMDb -> Amazon accuracy gap (goal: >= 2 points);
  - every augmentation's gain in and out of distribution;
and, for any model with full-supervision rows, the far-OOD AUROC (BBC News against IMDb by maximum
softmax probability; the goal, >= 0.9, is the pretrained model's). All on IMDb validation: the test
split is for the final choices, with --final_test. A goal is "established" when its whole interval
is past the bound, "missed" when the mean is short, and otherwise met on the mean only.
"""

from __future__ import annotations

from pathlib import Path

from benchmarks.common import by_seed, over_seeds, read_sweep, report, sweep_parser
from scratchformer.experiments.augmentation import BUDGETS, EXPERIMENT, VARIANTS, parts

N = "500"
GOAL_EDA_GAIN = 0.03  # EDA adds >= 3 points of validation accuracy at N = 500
GOAL_GAP_CLOSED = 0.5  # consistency training closes >= 50% of the gap to full supervision
GOAL_AMAZON = 2.0  # the best augmentation narrows the IMDb -> Amazon gap by >= 2 points
GOAL_AUROC = 0.9  # far-OOD detection (BBC News vs IMDb), for the pretrained model


def paired(rows: list[dict], variant: str, anchor: str, metric: str, sign: float = 1.0) -> dict:
    """sign x (variant - anchor) of one metric over the seeds that have both."""
    mine, base = by_seed(rows, variant, metric), by_seed(rows, anchor, metric)
    return over_seeds({s: sign * (mine[s] - base[s]) for s in sorted(set(mine) & set(base))})


def verdict(d: dict, goal: float) -> str:
    """'established', 'met on the mean' or 'missed': the interval, then the mean, against the goal."""
    if d["mean"] is None:
        return "not run"
    if d["mean"] < goal:
        return "missed"
    return "established" if d["ci95_low"] is not None and d["ci95_low"] >= goal else "met on the mean"


def in_order(rows: list[dict]) -> list[str]:
    """The rows' variants in the experiment's order (models, then budgets, then augmentations)."""
    order = {name: i for i, name in enumerate(VARIANTS)}
    return sorted({r["variant"] for r in rows}, key=lambda v: order.get(v, len(order)))


def judge_model(rows: list[dict], model: str) -> dict | None:
    """The N = 500 goals of one model, or None if the sweep has no `{model}-N500-none` rows."""
    anchor = f"{model}-N{N}-none"
    if not by_seed(rows, anchor, "val_acc"):
        return None
    variants = [v for v in in_order(rows) if parts(v)[:2] == (model, N) and v != anchor]
    gains = {}
    for v in variants:
        gains[parts(v)[2]] = {
            "val_gain": paired(rows, v, anchor, "val_acc"),
            "ood_gain": paired(rows, v, anchor, "ood_acc"),
            "amazon_narrowed": paired(rows, v, anchor, "gap_amazon", sign=-1.0),
            "auroc_bbc_change": paired(rows, v, anchor, "auroc_bbc"),
        }
    out: dict = {"anchor": {k: over_seeds(by_seed(rows, anchor, k)) for k in ("val_acc", "ood_acc", "gap_amazon")},
                 "augmentations": gains}
    if "eda" in gains:
        out["eda"] = {**gains["eda"]["val_gain"], "verdict": verdict(gains["eda"]["val_gain"], GOAL_EDA_GAIN)}
    out["consistency"] = {}
    for name in ("uda", "uda-tsa"):
        closed = over_seeds(by_seed(rows, f"{model}-N{N}-{name}", "gap_closed"))
        if closed["n"]:
            out["consistency"][name] = {**closed, "verdict": verdict(closed, GOAL_GAP_CLOSED)}
    if gains:
        best = max(gains, key=lambda a: gains[a]["val_gain"]["mean"])
        narrowed = gains[best]["amazon_narrowed"]
        out["best"] = {"augmentation": best, "chosen_on": "mean validation gain over seeds",
                       "val_gain": gains[best]["val_gain"], "amazon_narrowed": narrowed,
                       "verdict": verdict(narrowed, GOAL_AMAZON)}
    return out


def judge(rows: list[dict]) -> dict:
    """Every model's N = 500 goals, accuracy against N, far-OOD AUROC and the minutes per seed."""
    models = list(dict.fromkeys(parts(v)[0] for v in in_order(rows)))
    by_n = {}
    for v in sorted(in_order(rows), key=lambda v: list(BUDGETS).index(parts(v)[1])):
        model, n, augmentation = parts(v)
        if augmentation in ("none", "eda"):
            by_n.setdefault(f"{model}-{augmentation}", {})[n] = over_seeds(by_seed(rows, v, "val_acc"))
    auroc = {v: over_seeds(by_seed(rows, v, "auroc_bbc")) for v in in_order(rows) if parts(v)[1:] == ("all", "none")}
    seeds = sorted({r["seed"] for r in rows})
    minutes = {str(s): round(sum(r.get("wall_s", 0.0) for r in rows if r["seed"] == s) / 60, 1) for s in seeds}
    return {"seeds": seeds, "models": {m: j for m in models if (j := judge_model(rows, m)) is not None},
            "accuracy_by_n": by_n, "auroc_bbc_full": auroc, "run_minutes_per_seed": minutes}


# --------------------------------------------------------------------------------------------
# the table in docs/augmentation.md


def pts(d: dict, scale: float = 100.0, digits: int = 1) -> str:
    """A paired difference as 'mean ± std [low, high]', in points (or as given)."""
    if d["mean"] is None:
        return "n/a"
    text = f"{d['mean'] * scale:+.{digits}f}"
    if d["std"] is not None:
        text += f" ± {d['std'] * scale:.{digits}f} [{d['ci95_low'] * scale:+.{digits}f}, {d['ci95_high'] * scale:+.{digits}f}]"
    return text


def render(results: dict) -> str:
    """Per model: every augmentation's gains at N = 500, then the goals with their verdicts."""
    j = results["judged"]
    lines = [f"{len(j['seeds'])} seed(s) ({', '.join(map(str, j['seeds']))}); each cell: mean ± std over seeds "
             "[95% interval of the mean, Student t], paired by seed against no augmentation at N = 500 (same model, "
             "same labelled reviews). IMDb validation; the test split was not read."]
    for model, m in j["models"].items():
        a = m["anchor"]
        lines += ["", f"**{model}**, no augmentation at N = {N}: validation {a['val_acc']['mean'] * 100:.1f}%, "
                  f"mean OOD {a['ood_acc']['mean'] * 100:.1f}%, Amazon gap {a['gap_amazon']['mean']:.1f} points.", "",
                  "| augmentation | validation gain (points) | mean OOD gain (points) | Amazon gap narrowed (points) "
                  "| BBC AUROC change |", "| --- | ---: | ---: | ---: | ---: |"]
        for name, g in m["augmentations"].items():
            lines.append(f"| {name} | {pts(g['val_gain'])} | {pts(g['ood_gain'])} | "
                         f"{pts(g['amazon_narrowed'], scale=1.0)} | {pts(g['auroc_bbc_change'], scale=1.0, digits=3)} |")
        goals = []
        if "eda" in m:
            goals.append(f"EDA gain ≥ {GOAL_EDA_GAIN * 100:.0f} points: **{m['eda']['verdict']}** ({pts(m['eda'])})")
        for name, c in m["consistency"].items():
            goals.append(f"{name} closes ≥ {GOAL_GAP_CLOSED:.0%} of the gap to full supervision: **{c['verdict']}** "
                         f"({pts(c, digits=0)}%)")
        if "best" in m:
            b = m["best"]
            goals.append(f"the best augmentation on validation, `{b['augmentation']}`, narrows the Amazon gap by "
                         f"≥ {GOAL_AMAZON:.0f} points: **{b['verdict']}** ({pts(b['amazon_narrowed'], scale=1.0)})")
        lines += ["", "Goals: " + "; ".join(goals) + "."]
    lines += ["", "Validation accuracy against N (%): " + "; ".join(
        f"{key} " + ", ".join(f"N{n} {d['mean'] * 100:.1f}" + (f" ± {d['std'] * 100:.1f}" if d["std"] is not None else "")
                              for n, d in ns.items()) for key, ns in j["accuracy_by_n"].items()) + "."]
    lines += ["", f"Far-OOD AUROC (BBC News against IMDb validation) with full supervision, goal ≥ {GOAL_AUROC} for "
              "the pretrained model: " + "; ".join(f"{v} {d['mean']:.3f}" + (f" ± {d['std']:.3f}" if d["std"] is not None else "")
                                                  for v, d in j["auroc_bbc_full"].items())
              + ("" if any(v.startswith("pretrained") for v in j["auroc_bbc_full"]) else " (no pretrained rows here)")
              + "."]
    lines += ["", "Run minutes per seed, summed over its runs (with `--jobs 2` the wall-clock is about half): "
              + ", ".join(f"seed {s} {m}" for s, m in j["run_minutes_per_seed"].items()) + ".", "",
              f"Rows: {results['n_rows']} runs at commit(s) {', '.join(c[:7] for c in results['row_commits'])}"
              + (" (some **dirty**)" if results["rows_dirty"] else " (clean)") + "."]
    return "\n".join(lines)


def main(argv=None) -> dict:
    args = sweep_parser(__doc__, EXPERIMENT.name).parse_args(argv)
    _, rows, about = read_sweep(Path(args.sweep), EXPERIMENT)
    return report("augmentation", {"benchmark": "augmentation", **about, "judged": judge(rows)},
                  results_dir=args.results_dir)


if __name__ == "__main__":
    main()
