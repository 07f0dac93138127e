"""IMDb sentiment after language-model pretraining on train/unsup: test accuracy and total wall-clock.

    python -m benchmarks.imdb_pretrain              # about 60 minutes
    python -m benchmarks.imdb_pretrain --control    # + 15 min from scratch
    python -m benchmarks.imdb_pretrain --seed 1     # another seed: results/imdb_pretrain_seed1.json
    python -m benchmarks.imdb_pretrain --quick                                          # 1-minute stages: a smoke run

It runs `scratchformer experiment imdb-pretrain --config configs/imdb_pretrain.yaml` on
../shared/data/aclImdb.tar.gz (or $SCRATCHFORMER_DATA/aclImdb.tar.gz) with the final test
evaluation on: tokenizer, 37 minutes of GPT pretraining on the 50,000 unlabelled reviews, 15
minutes of fine-tuning, then accuracy on all 25,000 test reviews (and the preset's partner, the
bigram model, about 4 minutes more, reported apart). The goal (from the issue):
>= 91% test accuracy within 60 minutes in all, on this machine's 2 CPU cores. `--control` also
trains the same classifier from scratch for the same 15 minutes, which shows what pretraining adds.

Both stages are time-budgeted, so what they reach depends on the machine: the results carry the
commit, the CPU and its load, and each stage's budget record (steps taken, the schedule's refits,
warm-up and pace; from RUN/lm/budget.json and RUN/classifier/budget.json). A rerun that takes the
same steps, with the same schedule, whatever the machine's speed replays those records:

    scratchformer experiment imdb-pretrain --config configs/imdb_pretrain.yaml \
        --data.source ../shared/data/aclImdb.tar.gz --budget_from benchmarks/results/imdb_pretrain.json
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

from benchmarks.common import peak_rss_mb, report, shared_file

ROOT = Path(__file__).resolve().parents[1]
GOAL_ACC, GOAL_S = 0.91, 3600.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--control", action="store_true", help="also train the classifier from scratch")
    parser.add_argument("--quick", action="store_true", help="1-minute budgets: a smoke run, not the figures")
    parser.add_argument("--seed", type=int, default=0, help="seed of pretraining, fine-tuning and the partner "
                        "(the validation split stays the same)")
    args = parser.parse_args()

    from scratchformer.cli.main import build_parser
    from scratchformer.errors import config_from_options
    from scratchformer.experiments.imdb_pretrain import ExperimentConfig, stages
    from scratchformer.provenance import git_commit, machine

    commit = git_commit()

    overrides = ["--data.source", str(shared_file("aclImdb.tar.gz")), "--final_test", "true",
                 "--lm_train.seed", str(args.seed), "--finetune.seed", str(args.seed),
                 "--partner.train.seed", str(args.seed)]
    if args.quick:
        overrides += ["--lm_budget", "60s", "--finetune_budget", "60s"]  # (scoring the test split still takes minutes)
    cli = build_parser("experiment")
    ns = cli.instantiate(cli.parse_args(["experiment", "imdb-pretrain", "--config",
                                                 str(ROOT / "configs/imdb_pretrain.yaml"), *overrides]))
    cfg = config_from_options(ExperimentConfig, ns["experiment"]["imdb-pretrain"])
    root = Path("runs") / time.strftime("bench-imdb-pretrain-%Y%m%d-%H%M%S")
    results = stages(cfg, root)
    if args.control:  # the same classifier from scratch, same budget (the experiment's `scratch` variant)
        results["scratch"] = stages(dataclasses.replace(cfg, pretrain=False, partner=None), root / "scratch")["finetuned"]

    finetuned = results["finetuned"]
    summary = {
        "benchmark": "imdb_pretrain",
        "commit": commit,
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": machine(),
        "preset": "configs/imdb_pretrain.yaml",
        "quick": args.quick,
        "seed": args.seed,
        "test_acc": finetuned["test_acc"],
        "val_acc": finetuned["val_acc"],
        "total_s": results["transformer_s"],
        "prepare_s": results["prepare_s"],
        "lm": results["lm"],
        "finetune_train_s": finetuned["train_s"],
        "finetune_steps": finetuned["step"],
        "params": finetuned["params"],
        "peak_rss_mb": round(peak_rss_mb(), 1),
        "goal": f"test accuracy >= {GOAL_ACC} within {GOAL_S:.0f} s in all",
        "goal_met": finetuned["test_acc"] >= GOAL_ACC and results["transformer_s"] <= GOAL_S,
        "run": finetuned.get("run"),
    }
    # - each stage's budget record: the steps and schedule a rerun can replay
    for stage in ("lm", "classifier"):
        record = root / stage / "budget.json"
        summary[f"{stage}_budget"] = json.loads(record.read_text()) if record.exists() else None
    if "partner" in results:
        summary["partner_test_acc"] = results["partner"]["test_acc"]
        summary["partner_val_acc"] = results["partner"]["val_acc"]
        summary["partner_train_s"] = results["partner"]["train_s"]
        summary["ensemble_test_acc"] = results["ensemble"]["test_acc"]
        summary["ensemble_val_acc"] = results["ensemble"]["val_acc"]
        summary["total_s_with_partner"] = results["total_s"]
    if "scratch" in results:
        summary["from_scratch_test_acc"] = results["scratch"]["test_acc"]
        summary["from_scratch_val_acc"] = results["scratch"]["val_acc"]
        summary["pretraining_gain_points"] = round(100 * (finetuned["test_acc"] - results["scratch"]["test_acc"]), 2)
    name = "imdb_pretrain_quick" if args.quick else "imdb_pretrain"
    report(name if args.seed == 0 else f"{name}_seed{args.seed}", summary)


def render(results: dict) -> str:
    """The README's table (python -m benchmarks.report): each model's time and accuracy, and the goal."""
    lm, pct = results["lm"], lambda x: f"{100 * x:.1f}%"
    rows = [("the transformer, pretrained then fine-tuned",
             f"{results['total_s']:,.0f} s in all (LM {lm['train_s']:,.0f} s, {lm['steps']:,} steps, "
             f"{lm['tokens_seen'] / 1e6:.1f}M tokens; fine-tuning {results['finetune_train_s']:,.0f} s, "
             f"{results['finetune_steps']:,} steps)", results["val_acc"], f"**{100 * results['test_acc']:.2f}%**")]
    if "partner_test_acc" in results:
        rows += [("the bigram model (the preset's `partner`)", f"{results['partner_train_s']:,.0f} s",
                  results["partner_val_acc"], pct(results["partner_test_acc"])),
                 ("ensemble of the two (mean of their probabilities)",
                  f"{results['total_s_with_partner']:,.0f} s in all", results["ensemble_val_acc"],
                  pct(results["ensemble_test_acc"]))]
    if "from_scratch_test_acc" in results:
        rows.append(("the same classifier from scratch (`--control`)", "the fine-tuning budget",
                     results["from_scratch_val_acc"], pct(results["from_scratch_test_acc"])))
    lines = ["| model | time | val acc | test acc |", "| --- | --- | --- | --- |"]
    lines += [f"| {name} | {time} | {pct(val)} | {test} |" for name, time, val, test in rows]
    missed = max(0.0, GOAL_ACC - results["test_acc"])
    verdict = "**met**" if results["goal_met"] else (
        f"**missed**, by {100 * missed:.2f} points" if missed else "**missed** on time")
    load = results["machine"].get("load_avg") or results.get("load_average_at_end")
    lines += ["", f"Goal: ≥ {100 * GOAL_ACC:.0f}% test accuracy within {GOAL_S / 60:.0f} minutes in all: {verdict} "
              f"({100 * results['test_acc']:.2f}% in {results['total_s'] / 60:.1f} minutes). Seed {results['seed']}, "
              f"{results['machine']['cpu']}, {results['machine']['threads']} threads, load average "
              f"{load[0]} at the end; both stages are time-budgeted, so the steps depend on the machine "
              "(`experiment imdb-pretrain --budget_from` this file replays them)."]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
