"""The language-model distillation goals (issue 18), judged over seeds from a finished sweep, with
generation timed again on a quiet process.

    # the teacher: a character GPT on the built-in plays (12 minutes on 2 cores)
    scratchformer train --config configs/shakespeare_char_best.yaml --train.max_steps 4000 --model.dropout 0.1 \\
        --model.context_len 128 --train.eval_interval 500 --train.eval_batches 20 --out_dir runs/teachers --name gpt-char-4x128
    # the students (the CPU default is the first four; 1x256 added)
    scratchformer experiment distillation --task lm --teacher runs/teachers/gpt-char-4x128 --seeds 3 --jobs 2 \\
        --threads 1 --variants hard-1x128,soft-1x128,hard-2x128,soft-2x128,hard-1x256,soft-1x256 \\
        --out_dir runs/experiments/distillation-lm
    python -m benchmarks.distillation_lm --sweep runs/experiments/distillation-lm

The goals, each on the mean over seeds with the seeds' spread beside it:

  * "how many layers": the smallest student within 0.1 nats of the teacher's validation loss (both
    scored on the same fixed windows in every run), or the curve showing none is;
  * the LM student within 0.1 nats of the teacher at <= 1/4 of its generation time per token.

Why time generation again: each row of the sweep times greedy generation of 64 tokens in a few
pairs (5; rows recorded before that setting timed one call), while another run of the sweep shared
the machine, so a ratio near 4 can land either side of it. Here every seed's student and the
teacher are timed in alternating pairs (the same prompt, greedy, with each model's cache, one
intra-op thread), `--repeats` pairs each; a pair's sample is the
teacher's time over the student's, and the report gives the median and quartiles over all pairs of
a variant. This module trains nothing.
"""

from __future__ import annotations

import statistics
from pathlib import Path

from benchmarks.common import load_average, median, over_seeds, over_seeds_text, read_sweep, report, sweep_parser
from scratchformer.experiments.distillation import EXPERIMENT, ExperimentConfig

GOAL_NATS = 0.1  # student loss minus teacher loss, at most
GOAL_SPEEDUP = 4.0  # teacher's generation time per token over the student's, at least


def judge(rows: list[dict]) -> dict:
    """Each variant's losses over seeds, how far behind the teacher, the gap closed and its size."""
    variants = sorted({r["variant"] for r in rows}, key=lambda v: (rows_of(rows, v)[0]["metrics"]["student_params"],
                                                                   v.split("-")[0] != "hard", v))
    table = {}
    for v in variants:
        mine = rows_of(rows, v)
        table[v] = {
            "params": mine[0]["metrics"]["student_params"],
            "student_loss": over_seeds({r["seed"]: r["metrics"]["student_loss"] for r in mine}),
            # - the teacher is scored on the same windows in each run: behind is paired within a seed
            "behind": over_seeds({r["seed"]: r["metrics"]["student_loss"] - r["metrics"]["teacher_loss"] for r in mine}),
            "gap_closed": over_seeds({r["seed"]: r["metrics"]["gap_closed"] for r in mine
                                      if isinstance(r["metrics"].get("gap_closed"), float)}),
            "row_speedup": over_seeds({r["seed"]: r["metrics"]["speedup_ms_per_token"] for r in mine}),
        }
    teacher = {r["metrics"]["teacher_loss"] for r in rows}
    return {"variants": table, "teacher_loss": sorted(teacher), "teacher_params": rows[0]["metrics"]["teacher_params"],
            "seeds": sorted({r["seed"] for r in rows})}


def rows_of(rows: list[dict], variant: str) -> list[dict]:
    return sorted((r for r in rows if r["variant"] == variant), key=lambda r: r["seed"])


def time_generation(cfg: ExperimentConfig, rows: list[dict], repeats: int) -> tuple[dict, dict]:
    """Per variant: teacher/student generation time per token in alternating pairs over all its seeds;
    and the prompt's and the generation's lengths."""
    import torch  # late: render() needs no torch

    from scratchformer.data.corpus import load_splits
    from scratchformer.data.lm_data import LMData
    from scratchformer.tasks.distillation import generation_pairs, generation_prompt
    from scratchformer.tasks.language_model import restrict_to_vocabulary
    from scratchformer.tasks.runs import load_language_model, load_run

    torch.set_num_threads(1)
    teacher = load_language_model(cfg.teacher, command="benchmarks.distillation_lm")
    # - the prompt and length the experiment's rows use, from the validation text read as it reads it
    context_len = teacher.model.config.context_len
    splits = restrict_to_vocabulary(load_splits(cfg.corpus), teacher.tokenizer)
    prompt, new_tokens = generation_prompt(LMData.from_text(splits, teacher.tokenizer, context_len).tokens["val"],
                                           context_len)  # (1, 8), 64
    timed = {}
    for v in sorted({r["variant"] for r in rows}):
        ratios, student_ms, teacher_ms = [], [], []
        for r in rows_of(rows, v):
            student = load_run(r["run_dir"]).model.eval()
            for ms in generation_pairs(teacher.model, student, prompt, new_tokens, repeats):
                ratios.append(ms["teacher"] / ms["student"])
                student_ms.append(ms["student"])
                teacher_ms.append(ms["teacher"])
        q1, _, q3 = statistics.quantiles(ratios, n=4, method="inclusive")
        timed[v] = {"pairs": len(ratios), "speedup_median": round(median(ratios), 3),
                    "speedup_quartiles": [round(q1, 3), round(q3, 3)],
                    "student_ms_median": round(median(student_ms), 4), "teacher_ms_median": round(median(teacher_ms), 4)}
        print(f"{v}: {timed[v]}", flush=True)
    return timed, {"new_tokens": new_tokens, "prompt_tokens": prompt.size(1)}


def verdicts(judged: dict, timed: dict) -> dict:
    """Which variants are within 0.1 nats (on the mean; and whether the seeds' interval settles it),
    which are also >= 4x faster, and the smallest within 0.1 nats."""
    within, fast = {}, {}
    for v, t in judged["variants"].items():
        b = t["behind"]
        settled = "one seed" if b["ci95_high"] is None else \
            "established" if b["ci95_high"] <= GOAL_NATS else "ruled out" if b["ci95_low"] > GOAL_NATS else "open"
        within[v] = {"met": b["mean"] <= GOAL_NATS, "interval": settled}
        fast[v] = timed[v]["speedup_median"] >= GOAL_SPEEDUP
    smallest = next((v for v in judged["variants"] if within[v]["met"]), None)  # variants are ordered by size
    return {"within": within, "fast": fast, "smallest_within": smallest,
            "goal_met_by": [v for v in judged["variants"] if within[v]["met"] and fast[v]]}


def render(results: dict) -> str:
    """Every student over seeds, the generation timings, then the two goals' verdicts."""
    j, t, g = results["judged"], results["timed"], results["verdicts"]
    teacher = ", ".join(f"{x:.3f}" for x in j["teacher_loss"])
    lines = [f"{len(j['seeds'])} seed(s) per student; mean ± std over seeds, [95% interval of the mean]. The teacher "
             f"({j['teacher_params']:,} parameters) scores {teacher} nats on the same validation windows. `behind`: "
             "student loss minus the teacher's, paired within each run. Generation: greedy, "
             f"{results['new_tokens']} tokens after a prompt of {results['prompt_tokens']} tokens, one thread, "
             f"{results['repeats']} alternating teacher/student pairs per seed, median [quartiles] of the pairs' ratios.",
             "",
             "| student | parameters | validation loss (nats) | behind the teacher (nats) | gap closed (%) "
             "| student ms/token | teacher ms/token | generation speed-up (×) |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for v, r in j["variants"].items():
        s = t[v]
        lines.append(f"| {v} | {r['params']:,} | {over_seeds_text(r['student_loss'], 3)} "
                     f"| {over_seeds_text(r['behind'], 3, sign=True, spread='ci95')} "
                     f"| {'(the anchor)' if v.startswith('hard-') else over_seeds_text(r['gap_closed'], 0, 100)} "
                     f"| {s['student_ms_median']:.3f} | {s['teacher_ms_median']:.3f} "
                     f"| {s['speedup_median']:.2f} [{s['speedup_quartiles'][0]:.2f}, {s['speedup_quartiles'][1]:.2f}] |")
    smallest = g["smallest_within"]
    met = g["goal_met_by"]
    words = {"established": "the seeds' interval is under 0.1 too", "open": "the seeds' interval holds 0.1",
             "ruled out": "", "one seed": "one seed"}
    lines += ["", "Goals, on the means over seeds:", "",
              "- **How many layers (within 0.1 nats): " + (
                  f"`{smallest}`**, behind by {j['variants'][smallest]['behind']['mean']:.3f} "
                  f"({words[g['within'][smallest]['interval']]})." if smallest else
                  "none of the students tried** (the closest: " + min(
                      j["variants"], key=lambda v: j["variants"][v]["behind"]["mean"]) + ").")
              + " Within 0.1 on the mean: " + (", ".join(v for v, w in g["within"].items() if w["met"]) or "none") + ".",
              "- **Within 0.1 nats at ≤ 1/4 of the teacher's generation time: "
              + (f"met by {', '.join(met)}**." if met else "missed**: no student is both.")
              + " ≥ 4× faster (median): " + (", ".join(v for v, ok in g["fast"].items() if ok) or "none") + ".",
              "", f"Timed on {results['cpu']} with load average {results['load_before'][0]:.2f} before and "
              f"{results['load_average_at_end'][0]:.2f} at the end. Rows: {results['n_rows']} runs at commit(s) "
              + ", ".join(c[:7] for c in results["row_commits"])
              + (" (some **dirty**)." if results["rows_dirty"] else " (clean).")]
    return "\n".join(lines)


def main(argv=None) -> dict:
    parser = sweep_parser(__doc__, "distillation-lm")
    parser.add_argument("--repeats", type=int, default=15, help="timed teacher/student pairs per seed's student")
    args = parser.parse_args(argv)
    cfg, rows, about = read_sweep(Path(args.sweep), EXPERIMENT)
    if cfg.task != "lm":
        raise SystemExit(f"error: {args.sweep} is a --task {cfg.task} sweep; this benchmark judges --task lm")
    load_before = load_average()
    judged = judge(rows)
    timed, lengths = time_generation(cfg, rows, args.repeats)
    result = {"benchmark": "distillation_lm", **about, "teacher": cfg.teacher, "repeats": args.repeats,
              **lengths, "load_before": load_before,
              "judged": judged, "timed": timed, "verdicts": verdicts(judged, timed)}
    return report("distillation_lm", result, results_dir=args.results_dir)


if __name__ == "__main__":
    main()
