"""The language-model augmentation goal: chosen on the experiment's samples, confirmed on held-out text.

    scratchformer experiment lm-augmentation --jobs 2 --threads 1    # 7 variants x 3 seeds, about 16 minutes
    python -m benchmarks.lm_augmentation                             # writes benchmarks/results/lm_augmentation.json

The goal (issue 16): the best augmentation lowers the mean out-of-distribution bits per character
by >= 0.05, at an in-distribution cost <= 0.02. The experiment scores every model on one sample of
each text, and "the best" is chosen on those same figures, which flatters the winner. So this
module trains nothing and does three things:

  1. choose, from the finished rows: the variant with the largest mean `ood_gain` among those whose
     mean `id_cost` is within the bound (the largest gain of all where none is);
  2. confirm, once, for that variant and `none` only: each seed's saved model (RUN/checkpoint.pt,
     loaded by tasks/runs.py) is scored again on text no choice has seen: the held-out part of every
     OOD text (the documents the sample left out, data/lm_ood_texts.py; the histories are read whole
     and so drop out) and, for the cost, the built-in test plays in place of the validation plays;
  3. judge the goal both ways, paired by seed against `none`, with a Student-t 95% interval.

The scoring is the experiment's own (`bits_per_char`, the same number of characters, the same
windows rule), and the paths are the sweep's (its sweep.json, relative to where you run this: the
repository root beside ../shared, as for the experiment). A gain whose interval holds 0 is noise.
"""

from __future__ import annotations

import statistics
from pathlib import Path

import torch

from benchmarks.common import by_seed, over_seeds, read_sweep, report, sweep_parser
from scratchformer.data.lm_ood_texts import load_ood_texts
from scratchformer.data.play_genres import HISTORY, genre_splits
from scratchformer.experiments.harness import run_folder
from scratchformer.experiments.lm_augmentation import (EXPERIMENT, GOAL_ID_COST, GOAL_OOD_GAIN, ExperimentConfig,
                                                      bits_per_char)
from scratchformer.tasks.runs import load_language_model

ANCHOR = "none"


def judged(gain: dict[int, float], cost: dict[int, float]) -> dict:
    """The goal on one set of paired differences ({seed: value}): met on the mean, and whether each bound is established."""
    g, c = over_seeds(gain), over_seeds(cost)
    return {"ood_gain": g, "id_cost": c,
            "met": g["mean"] >= GOAL_OOD_GAIN and c["mean"] <= GOAL_ID_COST,
            "gain_established": g["ci95_low"] is not None and g["ci95_low"] >= GOAL_OOD_GAIN,
            "cost_established": c["ci95_high"] is not None and c["ci95_high"] <= GOAL_ID_COST,
            "seeds_meeting": sum(gain[s] >= GOAL_OOD_GAIN and cost[s] <= GOAL_ID_COST for s in gain)}


def choose(rows: list[dict]) -> tuple[str, dict]:
    """The best augmentation by the goal, on the rows' own (sample) figures; every variant's figures."""
    table = {}
    for variant in dict.fromkeys(r["variant"] for r in rows if r["variant"] != ANCHOR):
        # - (the seeds with a `none` row beside them have both)
        table[variant] = judged(by_seed(rows, variant, "ood_gain"), by_seed(rows, variant, "id_cost"))
    within = [v for v in table if table[v]["id_cost"]["mean"] <= GOAL_ID_COST] or list(table)
    return max(within, key=lambda v: table[v]["ood_gain"]["mean"]), table


def rescore(run_dir: Path, texts: dict[str, str], n_chars: int) -> dict[str, float]:
    """Bits per character of one saved model on each text, as the experiment scores."""
    loaded = load_language_model(run_dir, command="benchmarks.lm_augmentation")
    context = loaded.model.config.context_len
    return {name: bits_per_char(loaded.model, torch.tensor(loaded.tokenizer.encode(text)), context, n_chars)
            for name, text in texts.items()}


def confirm(rows: list[dict], folder: Path, cfg: ExperimentConfig, chosen: str) -> dict:
    """The chosen variant against `none` on the held-out OOD parts and the test plays, seed by seed."""
    texts = {"test": genre_splits(held_out=HISTORY)["test"], **load_ood_texts(cfg.ood, held_out=True)}
    seeds = sorted(set(by_seed(rows, chosen, "ood_mean")) & set(by_seed(rows, ANCHOR, "ood_mean")))
    scores = {v: {s: rescore(run_folder(folder, v, s), texts, cfg.eval_chars) for s in seeds}
              for v in (ANCHOR, chosen)}
    ood = [name for name in texts if name != "test"]
    mean_ood = {v: {s: statistics.fmean(scores[v][s][n] for n in ood) for s in seeds} for v in scores}
    return {"texts": {n: len(t) for n, t in texts.items()}, "seeds": seeds,
            "bpc": {v: {f"seed{s}": {n: round(b, 4) for n, b in scores[v][s].items()} for s in seeds}
                    for v in scores},
            "per_text_gain": {n: over_seeds({s: scores[ANCHOR][s][n] - scores[chosen][s][n] for s in seeds}) for n in ood},
            **judged({s: mean_ood[ANCHOR][s] - mean_ood[chosen][s] for s in seeds},
                     {s: scores[chosen][s]["test"] - scores[ANCHOR][s]["test"] for s in seeds})}


def _pm(d: dict) -> str:
    if d["std"] is None:
        return f"{d['mean']:+.3f}"
    return f"{d['mean']:+.3f} ± {d['std']:.3f} [{d['ci95_low']:+.3f}, {d['ci95_high']:+.3f}]"


def render(results: dict) -> str:
    """The choice on the sample, every variant's figures, and the confirmation on held-out text."""
    chosen, sample, held = results["chosen"], results["sample"], results["held_out"]

    def verdict(j: dict) -> str:
        word = "**met**" if j["met"] else "**missed**"
        return (f"{word} on the mean; gain {'established' if j['gain_established'] else 'not established'}, "
                f"cost {'established' if j['cost_established'] else 'not established'}; "
                f"{j['seeds_meeting']} of {j['ood_gain']['n']} seeds meet both")

    lines = [f"Goal: mean OOD gain ≥ {GOAL_OOD_GAIN} bits per character at an ID cost ≤ {GOAL_ID_COST}, "
             f"paired by seed against `{ANCHOR}` (mean ± std [95% interval, Student t]).", "",
             "| variant | OOD gain (sample) | ID cost (validation plays) | goal |", "| --- | --- | --- | --- |"]
    for variant, j in sample.items():
        name = f"**{variant}** (chosen)" if variant == chosen else variant
        lines.append(f"| {name} | {_pm(j['ood_gain'])} | {_pm(j['id_cost'])} | {verdict(j)} |")
    texts = ", ".join(f"{n} {c:,}" for n, c in held["texts"].items())
    lines += ["", f"Confirmed once, `{chosen}` against `{ANCHOR}` on text no choice has seen "
              f"(characters read: {texts}):", "",
              "| | OOD gain (held-out parts) | ID cost (test plays) | goal |", "| --- | --- | --- | --- |",
              f"| {chosen} | {_pm(held['ood_gain'])} | {_pm(held['id_cost'])} | {verdict(held)} |", "",
              "Held-out gain text by text: " + "; ".join(f"{n} {_pm(d)}" for n, d in held["per_text_gain"].items())
              + ".", "",
              f"Rows: {results['n_rows']} runs at commit(s) {', '.join(c[:7] for c in results['row_commits'])}"
              + (" (some **dirty**)" if results["rows_dirty"] else " (clean)") + "."]
    return "\n".join(lines)


def main(argv=None) -> dict:
    args = sweep_parser(__doc__, EXPERIMENT.name).parse_args(argv)
    folder = Path(args.sweep)
    cfg, rows, about = read_sweep(folder, EXPERIMENT)
    chosen, sample = choose(rows)
    result = {
        "benchmark": "lm_augmentation",
        **about,
        "chosen": chosen,
        "sample": sample,
        "held_out": confirm(rows, folder, cfg, chosen),
    }
    return report("lm_augmentation", result, results_dir=args.results_dir)


if __name__ == "__main__":
    main()
