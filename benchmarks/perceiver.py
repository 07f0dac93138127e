"""The Perceiver AR's goals, each judged from the experiments' rows with the seeds' spread.

    scratchformer experiment perceiver-vs-gpt --plan_only true --seeds 1 --out_dir runs/experiments/perceiver-vs-gpt-plan
    scratchformer experiment perceiver-vs-gpt --seeds 3 --steps_from runs/experiments/perceiver-vs-gpt-plan
    scratchformer experiment perceiver-retrieval --seeds 3
    python -m benchmarks.perceiver_generate
    python -m benchmarks.perceiver          # reads the three, writes benchmarks/results/perceiver.json

This module trains nothing: the experiments do (the first line measures each model's pace on a
quiet machine and fits its step count to the budget; the second trains every seed for those
counts, on any machine). It reads their finished rows and the generation benchmark's file,
and states each goal as met or missed, by how much, over the seeds:

  lm_vs_short_gpt   at context 4,096 and equal wall-clock, perceiver256-T4096 beats gpt256 by >= 0.05 bpc
  lm_vs_full_gpt    ... and comes within 0.03 bpc of gpt4096, at <= 1/4 of its time per step
  retrieval         needle at distance 2,048: the Perceiver AR >= 99%, the GPT at context 256 at chance
  generation        cached decoding at context 4,096 >= 3x the GPT's tokens/s
  cpu_time          the CPU default takes <= 30 minutes per seed on 2 cores

Differences are paired by seed (the same seed's data order and initialisation), with a
Student-t 95% interval over the seeds; a difference whose interval holds 0 is called noise.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
from pathlib import Path

from benchmarks.common import RESULTS, by_seed, over_seeds, read_rows, report, rounded
from scratchformer.data.retrieval import CHANCE
from scratchformer.experiments.perceiver_vs_gpt import EXPERIMENT, ExperimentConfig
from scratchformer.experiments.summary import stats
from scratchformer.training.budget import parse_budget

PERCEIVER, SHORT, FULL = "perceiver256-T4096", "gpt256", "gpt4096"
GOAL_BPC_MARGIN, GOAL_BPC_NEAR, GOAL_STEP_RATIO = 0.05, 0.03, 0.25
GOAL_RETRIEVAL, RETRIEVAL_DISTANCE = 0.99, 2048
GOAL_GENERATION, GOAL_MINUTES = 3.0, 30.0


def paired(rows: list[dict], a: str, b: str, metric: str) -> dict:
    """metric(a) - metric(b) for every seed both finished, with its mean, std and 95% interval."""
    left, right = by_seed(rows, a, metric), by_seed(rows, b, metric)
    seeds = sorted(set(left) & set(right))
    out = {"seeds": seeds, **over_seeds({s: left[s] - right[s] for s in seeds})}
    out["noise"] = None if out["n"] < 2 else out["ci95_low"] <= 0 <= out["ci95_high"]
    return out


def variant_table(rows: list[dict]) -> dict:
    """Every variant's mean, std and 95% interval over its seeds, for the metrics the docs quote."""
    table = {}
    for variant in dict.fromkeys(r["variant"] for r in rows):
        table[variant] = {m: rounded(stats(list(by_seed(rows, variant, m).values())))
                          for m in ("bpc", "steps", "measured_step_s", "paced_train_s", "train_s",
                                    "input_tokens_per_s", "train_flops_per_predicted_token", "params")}
        table[variant]["peak_mem_mb"] = rounded(stats([r["peak_mem_mb"] for r in rows
                                                       if r["variant"] == variant and r.get("peak_mem_mb")]))
    return table


def lm_goals(rows: list[dict]) -> dict:
    short = paired(rows, SHORT, PERCEIVER, "bpc")  # > 0: the Perceiver AR is better
    full = paired(rows, PERCEIVER, FULL, "bpc")  # <= 0.03: near the full GPT
    step_p, step_f = by_seed(rows, PERCEIVER, "measured_step_s"), by_seed(rows, FULL, "measured_step_s")
    ratio = statistics.fmean(step_p.values()) / statistics.fmean(step_f.values()) if step_p and step_f else None
    return {
        "lm_vs_short_gpt": {
            "goal": f"{SHORT} bpc - {PERCEIVER} bpc >= {GOAL_BPC_MARGIN}", **short,
            "met": short["mean"] is not None and short["mean"] >= GOAL_BPC_MARGIN,
            "missed_by": None if short["mean"] is None else round(max(0.0, GOAL_BPC_MARGIN - short["mean"]), 4)},
        "lm_vs_full_gpt": {
            "goal": f"{PERCEIVER} bpc - {FULL} bpc <= {GOAL_BPC_NEAR}, at <= {GOAL_STEP_RATIO} of its time per step",
            **full, "step_time_ratio": None if ratio is None else round(ratio, 4),
            "step_time_met": ratio is not None and ratio <= GOAL_STEP_RATIO,
            "met": full["mean"] is not None and full["mean"] <= GOAL_BPC_NEAR and ratio is not None
            and ratio <= GOAL_STEP_RATIO},
    }


def retrieval_goal(rows: list[dict]) -> dict:
    metric = f"acc_{RETRIEVAL_DISTANCE}"
    perceiver = stats(list(by_seed(rows, PERCEIVER, metric).values()))
    short = stats(list(by_seed(rows, SHORT, metric).values()))
    # - "at chance": within two binomial standard errors of 10% on the windows scored
    windows = rows[0].get("config", {}).get("eval_windows", 200)
    band = 2 * math.sqrt(CHANCE * (1 - CHANCE) / windows)
    at_chance = short["mean"] is not None and abs(short["mean"] - CHANCE) <= band
    return {"goal": f"{PERCEIVER} >= {GOAL_RETRIEVAL:.0%} at distance {RETRIEVAL_DISTANCE}; {SHORT} at chance",
            "perceiver": rounded(perceiver), "short_gpt": rounded(short), "chance": CHANCE,
            "chance_band": round(band, 4), "short_gpt_at_chance": at_chance,
            "met": perceiver["mean"] is not None and perceiver["mean"] >= GOAL_RETRIEVAL and at_chance,
            "missed_by": None if perceiver["mean"] is None else round(max(0.0, GOAL_RETRIEVAL - perceiver["mean"]), 4)}


def generation_goal(path: Path) -> dict:
    if not path.exists():
        return {"goal": f">= {GOAL_GENERATION}x the GPT's tokens/s", "met": None, "source": f"{path} (missing)"}
    result = json.loads(path.read_text())
    speedup = result.get("decode_speedup_perceiver_over_gpt")
    return {"goal": f">= {GOAL_GENERATION}x the GPT's decode tokens/s at context 4,096", "speedup": speedup,
            "met": speedup is not None and speedup >= GOAL_GENERATION, "source": str(path),
            "source_commit": result.get("commit")}


def time_goal(rows: list[dict], cpu_variants: list[str], budget_s: float) -> dict:
    """Minutes per seed of the CPU default: its planned training seconds plus the evaluation measured.

    A seed that ran only some of the default's variants is completed by an estimate: each missing
    variant trains for the budget and evaluates for the mean evaluation time of those that ran."""
    per_seed = {}
    for seed in sorted({r["seed"] for r in rows}):
        mine = [r for r in rows if r["seed"] == seed and r["variant"] in cpu_variants]
        paced = sum((r["metrics"].get("paced_train_s") or 0) + (r["metrics"].get("eval_s") or 0) for r in mine)
        missing = len(set(cpu_variants) - {r["variant"] for r in mine})
        mean_eval = statistics.fmean(r["metrics"].get("eval_s") or 0 for r in mine) if mine else 0.0
        per_seed[seed] = {"runs": len(mine), "of": len(cpu_variants),
                          "wall_minutes_as_run": round(sum(r["wall_s"] for r in mine) / 60, 1),
                          "paced_minutes": round((paced + missing * (budget_s + mean_eval)) / 60, 1),
                          "estimated": missing > 0}
    worst = max(v["paced_minutes"] for v in per_seed.values())
    return {"goal": f"the CPU default ({len(cpu_variants)} variants) <= {GOAL_MINUTES:.0f} minutes per seed",
            "per_seed": per_seed, "met": worst <= GOAL_MINUTES,
            "note": "paced_minutes: the planned steps at the pace measured on a quiet machine, plus evaluation "
                    "(estimated for variants a seed did not run); wall_minutes_as_run: on a machine shared with "
                    "other jobs"}


def _pm(stat: dict, digits: int = 3, scale: float = 1.0) -> str:
    """`mean ± std` (or the one value) of a stats dict."""
    if stat.get("mean") is None:
        return "n/a"
    if stat.get("std") is None:
        return f"{stat['mean'] * scale:.{digits}f}"
    return f"{stat['mean'] * scale:.{digits}f} ± {stat['std'] * scale:.{digits}f}"


def render(results: dict) -> str:
    """The goals, then every variant: mean ± std over the seeds (for benchmarks.report)."""
    goals, n = results["goals"], len(results["seeds"])
    verdict = {True: "met", False: "**missed**", None: "not judged"}

    def interval(g: dict) -> str:
        if g.get("ci95_low") is None:
            return "one seed"
        return f"[{g['ci95_low']:+.3f}, {g['ci95_high']:+.3f}]" + (" (noise)" if g.get("noise") else "")

    worst = max(goals["cpu_time"]["per_seed"].values(), key=lambda v: v["paced_minutes"])
    short, full, ret, gen = goals["lm_vs_short_gpt"], goals["lm_vs_full_gpt"], goals["retrieval"], goals["generation"]
    lines = [f"| goal (context 4,096, {n} seeds) | measured | 95% interval | verdict |", "| --- | --- | --- | --- |",
             f"| gpt256 bpc − perceiver256 bpc ≥ 0.05 | {_pm(short, 3)} | {interval(short)} | {verdict[short['met']]} |",
             f"| perceiver256 bpc − gpt4096 bpc ≤ 0.03 | {_pm(full, 3)} | {interval(full)} | {verdict[full['met']]} |",
             f"| ... at ≤ 1/4 of gpt4096's time per step | {full['step_time_ratio']:.3f} of it | measured once, "
             f"quiet machine | {verdict[full['step_time_met']]} |",
             f"| needle retrieval at distance 2,048 ≥ 99% (gpt256 at chance) | {_pm(ret['perceiver'], 1, 100)}% "
             f"(gpt256 {_pm(ret['short_gpt'], 1, 100)}%) | | {verdict[ret['met']]} |",
             f"| cached generation ≥ 3× the GPT's tokens/s | {gen.get('speedup', 'n/a')}× | perceiver_generate.json "
             f"| {verdict[gen['met']]} |",
             f"| CPU default ({worst['of']} variants) ≤ 30 min per seed | {worst['paced_minutes']:.1f} min at the "
             f"measured pace{' (estimated: not every variant ran)' if worst['estimated'] else ''} | as run on a "
             f"shared machine: {worst['wall_minutes_as_run']:.1f} min of runs, summed | "
             f"{verdict[goals['cpu_time']['met']]} |",
             "", "| variant | seeds | bpc (last 64 of each window) | 95% interval | steps | step time (s) | "
             "training FLOPs per predicted char | peak memory (MB) |", "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    # - best first: the order a student reads the answer in
    for name, v in sorted(results["variants"].items(), key=lambda kv: kv[1]["bpc"]["mean"]):
        bpc = v["bpc"]
        span = "one seed" if bpc.get("ci95_low") is None else f"[{bpc['ci95_low']:.3f}, {bpc['ci95_high']:.3f}]"
        lines.append(f"| {name} | {bpc['n']} | {_pm(bpc, 3)} | {span} | {_pm(v['steps'], 0)} | "
                     f"{_pm(v['measured_step_s'], 3)} | {_pm(v['train_flops_per_predicted_token'], 0)} | "
                     f"{_pm(v['peak_mem_mb'], 0)} |")
    # - the needle: accuracy against distance, every variant that ran
    accuracy = results.get("retrieval_accuracy") or {}
    if accuracy:
        distances = list(next(iter(accuracy.values())))
        lines += ["", "| needle retrieval, accuracy (%) | seeds | " + " | ".join(f"d = {int(d[4:]):,}" for d in distances)
                  + " |", "| --- | --- | " + " | ".join("---" for _ in distances) + " |"]
        for name, accs in accuracy.items():
            lines.append(f"| {name} | {accs[distances[0]]['n']} | "
                         + " | ".join(_pm(accs[d], 1, 100) for d in distances) + " |")
    lines += ["", f"Mean ± std over seeds {results['seeds']} (chance in retrieval: 10%); each model trained for the steps that fit 120 s at its "
              "pace measured after warm-up on a quiet machine (the plan), so the comparison is at equal "
              "wall-clock and reproducible at fixed step counts. "
              + (f"The rows ended at load averages {min(results['load_avg_at_row_ends'])}–"
                 f"{max(results['load_avg_at_row_ends'])}." if results.get("load_avg_at_row_ends")
                 else "The rows' load averages were not recorded (their code predates that field).")]
    return "\n".join(lines)


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sweep", default="runs/experiments/perceiver-vs-gpt")
    parser.add_argument("--retrieval", default="runs/experiments/perceiver-retrieval")
    parser.add_argument("--generate", default=str(RESULTS / "perceiver_generate.json"))
    args = parser.parse_args(argv)
    lm_rows = read_rows(Path(args.sweep), "scratchformer experiment perceiver-vs-gpt (see python -m benchmarks.perceiver --help)")
    retrieval_rows = read_rows(Path(args.retrieval), "scratchformer experiment perceiver-retrieval")
    commits = sorted({r.get("commit") for r in lm_rows + retrieval_rows})
    result = {
        "benchmark": "perceiver",
        "sweeps": {"lm": args.sweep, "retrieval": args.retrieval},
        "row_commits": commits,
        "rows_dirty": any(r.get("dirty") for r in lm_rows + retrieval_rows),
        "seeds": sorted({r["seed"] for r in lm_rows}),
        "load_avg_at_row_ends": sorted({r["load_avg"][0] for r in lm_rows if "load_avg" in r}),
        "variants": variant_table(lm_rows),
        "goals": {**lm_goals(lm_rows), "retrieval": retrieval_goal(retrieval_rows),
                  "generation": generation_goal(Path(args.generate)),
                  "cpu_time": time_goal(lm_rows, EXPERIMENT.scale_variants["cpu"], parse_budget(ExperimentConfig().budget))},
        "retrieval_accuracy": {v: {k: rounded(stats(list(by_seed(retrieval_rows, v, k).values())))
                                   for k in sorted({m for r in retrieval_rows for m in r["metrics"] if m.startswith("acc_")},
                                                   key=lambda m: int(m[4:]))}
                               for v in dict.fromkeys(r["variant"] for r in retrieval_rows)},
    }
    return report("perceiver", result)


if __name__ == "__main__":
    main()
