"""The classifier goals of the augmentation question, judged over seeds from a finished sweep.

    scratchformer experiment augmentation --data.source ../shared/data/aclImdb.tar.gz \\
        --ood.source ../shared/data/sentiment_ood --ood.bbc_source ../shared/data/bbc_news.tar.gz \\
        --augment.wordnet.source ../shared/data/wordnet-3.0-dict.tar.gz --jobs 2 --threads 1
    python -m benchmarks.augmentation --sweep runs/experiments/augmentation   # benchmarks/results/augmentation.json
    python -m benchmarks.augmentation --sweep runs/experiments/augmentation-pretrained \
        --name augmentation_pretrained        # a sweep of pretrained-N* variants: augmentation_pretrained.json

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

The test split, once, for validation's choices: a second sweep of each model's chosen augmentation
and its anchor (no augmentation), run with --final_test true, given as --final_sweep:

    scratchformer experiment augmentation ... --final_test true \
        --variants bigram-N500-none,bigram-N500-crop,transformer-N500-none,transformer-N500-uda \
        --out_dir runs/experiments/augmentation-final-test
    python -m benchmarks.augmentation --sweep runs/experiments/augmentation \
        --final_sweep runs/experiments/augmentation-final-test

It reports test accuracy and the Amazon gap (against IMDb test) of the choice, paired by seed, and
how far the rerun's validation accuracy moved from the sweep's (the same seeds: 0 if training is
reproducible). A final sweep holding any other variant is refused: the test split is not for choosing.
"""

from __future__ import annotations

import sys
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


def judge_final(judged: dict, final_rows: list[dict], final_test: bool, folder: str) -> dict:
    """Validation's choice of each model against no augmentation on the test split, paired by seed,
    from a sweep run with --final_test; one line and exit if that sweep is not for the final choices."""
    if not final_test:
        sys.exit(f"error: the final sweep {folder} was run without --final_test true, so it holds no test "
                 "accuracy; rerun the chosen variants with --final_test true")
    chosen = {model: m["best"]["augmentation"] for model, m in judged["models"].items() if "best" in m}
    allowed = {f"{model}-N{N}-{a}" for model, best in chosen.items() for a in ("none", best)}
    if extra := sorted({r["variant"] for r in final_rows} - allowed):
        sys.exit(f"error: the final sweep {folder} scored the test split for {', '.join(extra)}, which validation "
                 f"did not choose (the choices: {', '.join(f'{m} {a}' for m, a in chosen.items())}); "
                 "run only the chosen variants and their anchors with --final_test")
    out = {}
    for model, best in chosen.items():
        anchor, mine = f"{model}-N{N}-none", f"{model}-N{N}-{best}"
        if not (by_seed(final_rows, anchor, "test_acc") and by_seed(final_rows, mine, "test_acc")):
            continue  # (this model's choice was not scored on test)
        narrowed = paired(final_rows, mine, anchor, "gap_amazon", sign=-1.0)
        out[model] = {"augmentation": best,
                      "test_acc": {a: over_seeds(by_seed(final_rows, f"{model}-N{N}-{a}", "test_acc"))
                                   for a in ("none", best)},
                      "test_gain": paired(final_rows, mine, anchor, "test_acc"),
                      "amazon_narrowed": narrowed, "verdict": verdict(narrowed, GOAL_AMAZON),
                      "gap_amazon_none": over_seeds(by_seed(final_rows, anchor, "gap_amazon"))}
    return out


def rerun_drift(rows: list[dict], final_rows: list[dict]) -> float | None:
    """The largest |validation accuracy of the final sweep - the sweep's| over the runs both have."""
    mine = {(r["variant"], r["seed"]): r["metrics"].get("val_acc") for r in rows}
    drift = [abs(r["metrics"]["val_acc"] - mine[key]) for r in final_rows
             if isinstance(mine.get(key := (r["variant"], r["seed"])), float)]
    return round(max(drift), 4) if drift else None


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


def pct(d: dict) -> str:
    """An accuracy over seeds as 'mean% ± std'."""
    return f"{d['mean'] * 100:.1f}%" + (f" ± {d['std'] * 100:.1f}" if d["std"] is not None else "")


def drift_text(drift: float | None) -> str:
    """How the final sweep's validation accuracy compares with the sweep's, run for run."""
    if drift is None:
        return ""
    if drift == 0:
        return "; their validation accuracy is the sweep's, run for run (training is reproducible)"
    return f"; their validation accuracy is within {drift * 100:.2f} points of the sweep's, run for run"


def render(results: dict) -> str:
    """Per model: every augmentation's gains at N = 500, then the goals with their verdicts."""
    j = results["judged"]
    lines = [f"{len(j['seeds'])} seed(s) ({', '.join(map(str, j['seeds']))}); each cell: mean ± std over seeds "
             "[95% interval of the mean, Student t], paired by seed against no augmentation at N = 500 (same model, "
             "same labelled reviews). IMDb validation; "
             + ("the test split only below, for the final choices." if results.get("final") else "the test split was not read.")]
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
    if final := results.get("final"):
        lines += ["", f"**The test split, read once** for validation's choices ({len(final['seeds'])} seeds, "
                  f"{final['n_rows']} runs with `--final_test` at commit(s) "
                  f"{', '.join(c[:7] for c in final['row_commits'])}"
                  + (", some **dirty**" if final["rows_dirty"] else ", clean")
                  + f"; IMDb test: {final['test_reviews'] or 'all'} reviews"
                  + drift_text(final["val_drift"]) + "):"]
        for model, f in final["models"].items():
            best = f["augmentation"]
            lines.append(f"- {model}: no augmentation {pct(f['test_acc']['none'])}, `{best}` {pct(f['test_acc'][best])} "
                         f"on IMDb test; gain {pts(f['test_gain'])} points; the Amazon gap against IMDb test "
                         f"({f['gap_amazon_none']['mean']:.1f} points without augmentation) narrowed by "
                         f"{pts(f['amazon_narrowed'], scale=1.0)}: **{f['verdict']}** against ≥ {GOAL_AMAZON:.0f}.")
    lines += ["", "Run minutes per seed, summed over its runs (with `--jobs 2` the wall-clock is about half): "
              + ", ".join(f"seed {s} {m}" for s, m in j["run_minutes_per_seed"].items()) + ".", "",
              f"Rows: {results['n_rows']} runs at commit(s) {', '.join(c[:7] for c in results['row_commits'])}"
              + (" (some **dirty**)" if results["rows_dirty"] else " (clean)") + "."]
    return "\n".join(lines)


def main(argv=None) -> dict:
    parser = sweep_parser(__doc__, EXPERIMENT.name)
    parser.add_argument("--final_sweep", default=None,
                        help="a sweep of the chosen variants and their anchors run with --final_test true")
    parser.add_argument("--name", default="augmentation", choices=("augmentation", "augmentation_pretrained"),
                        help="the results file: augmentation (the CPU default grid), or augmentation_pretrained "
                             "(a sweep of the pretrained-N* variants, which need --pretrained RUN/lm)")
    args = parser.parse_args(argv)
    _, rows, about = read_sweep(Path(args.sweep), EXPERIMENT)
    result = {"benchmark": "augmentation", **about, "judged": judge(rows)}
    if args.final_sweep:
        final_cfg, final_rows, final_about = read_sweep(Path(args.final_sweep), EXPERIMENT)
        result["final"] = {**final_about, "seeds": sorted({r["seed"] for r in final_rows}),
                           "test_reviews": final_cfg.test_reviews,
                           "val_drift": rerun_drift(rows, final_rows),
                           "models": judge_final(result["judged"], final_rows, final_cfg.final_test, args.final_sweep)}
    return report(args.name, result, results_dir=args.results_dir)


render_pretrained = render  # augmentation_pretrained.json: the same judgement of another sweep


if __name__ == "__main__":
    main()
