"""The recurrent-lm goals, judged over seeds from a finished sweep of the experiment.

    scratchformer experiment recurrent-lm --ptb.source ../shared/data/ptb --seeds 3   # the CPU default
    python -m benchmarks.recurrent_lm --sweep runs/experiments/recurrent-lm   # writes benchmarks/results/recurrent_lm.json

The goals (issue 17), each judged on the mean over seeds, with the seeds' spread beside it:

  * every trained memory (rmt, linear-*, adapter-*) cuts the first-32 perplexity by >= 5% against
    no memory (the same seed's base, the same streams);
  * the hidden-state prefix (the trick, untrained or through a trained map) comes within 2% of RMT's
    perplexity;
  * recall across a segment boundary >= 95%, where no memory is at chance;
  * the CPU default runs in <= 30 minutes per seed (the seed's rows' wall-clock added up: the base's
    pretraining is in the first variant's).

And the question that is not a goal: does the untrained trick help or harm the first 32 tokens? Its
first-32 loss minus no memory's, stream by stream, with a paired interval per seed and over seeds.
This module trains nothing: it reads the rows (derive_changes pairs them, as the experiment does).
"""

from __future__ import annotations

from pathlib import Path

from benchmarks.common import by_seed, over_seeds, over_seeds_text, read_sweep, report, sweep_parser
from scratchformer.experiments.recurrent_lm import EXPERIMENT, ExperimentConfig

GOAL_FIRST_CUT = -0.05  # first-32 perplexity change against no memory, at most
GOAL_VS_RMT = 0.02  # perplexity change against RMT, at most
GOAL_RECALL = 0.95
GOAL_MINUTES = 30.0
ORDER = ("none", "window", "xl", "rmt", "trick-input", "trick-layers", "linear-input", "linear-layers",
         "adapter-input", "adapter-layers")  # the experiment's order: anchors, then the trick untrained and trained
METRICS = ("ppl", "ppl_first", "first_vs_none", "first_delta", "ppl_vs_rmt", "recall", "ms_per_token",
           "trained_params")


def judge(rows: list[dict], cfg: ExperimentConfig) -> dict:
    place = {name: i for i, name in enumerate(ORDER)}
    variants = sorted({r["variant"] for r in rows}, key=lambda v: (place.get(v.rsplit("-k", 1)[0], len(ORDER)), v))
    table = {v: {m: over_seeds(by_seed(rows, v, m)) for m in METRICS} for v in variants}
    # - a trained memory is one with parameters of its own (whatever its k, unlike a list of names)
    trained = [v for v in variants if table[v]["trained_params"]["mean"]]
    hidden = [v for v in variants if v.startswith(("trick-", "linear-", "adapter-"))]
    seeds = sorted({r["seed"] for r in rows})
    minutes = {str(s): sum(r["wall_s"] for r in rows if r["seed"] == s) / 60 for s in seeds}
    chance = 1.0 / cfg.recall.values
    return {
        "variants": table,
        "chance": chance,
        "recall_examples_per_seed": cfg.recall.examples,
        "first_cut": {v: table[v]["first_vs_none"]["mean"] <= GOAL_FIRST_CUT for v in trained},
        "within_rmt": {v: table[v]["ppl_vs_rmt"]["mean"] <= GOAL_VS_RMT for v in hidden},
        "recall_met": {v: table[v]["recall"]["mean"] >= GOAL_RECALL for v in variants if v != "none"},
        # - the untrained trick: help (< 0) or harm (> 0), each seed's paired interval over streams
        "trick": {v: {"delta": table[v]["first_delta"],
                      "per_seed_ci95": {str(r["seed"]): round(r["metrics"]["first_delta_ci95"], 4) for r in rows
                                        if r["variant"] == v
                                        and isinstance(r["metrics"].get("first_delta_ci95"), float)}}
                  for v in variants if v.startswith("trick-")},
        "minutes_per_seed": {s: round(m, 1) for s, m in minutes.items()},
        "threads": sorted({r.get("threads") for r in rows}),
        "jobs": sorted({r["jobs"] for r in rows if r.get("jobs")}),  # runs side by side (rows record it since 2026-12-05)
        "load_avg_at_row_ends": [min(r["load_avg"][0] for r in rows), max(r["load_avg"][0] for r in rows)],
    }


def render(results: dict, bases_made_here: bool = True) -> str:
    """Every variant's figures over seeds, then each goal's verdict. bases_made_here False: some of
    the sweep's bases were made by another sweep, so its rows do not time a whole seed."""
    j, n = results["judged"], results["seeds"]
    lines = [f"{len(n)} seed(s) ({', '.join(map(str, n))}); mean ± std over seeds. `vs none`: first-32 "
             "perplexity change against no memory, same seed; `Δ first-32`: first-32 loss minus no memory's "
             "over the same streams (nats).", "",
             "| variant | trained params | perplexity | first 32 | vs none, first 32 (%) | Δ first-32 (nats) "
             "| vs RMT (%) | recall (%) | ms/token |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for v, t in j["variants"].items():
        cells = [f"{t['trained_params']['mean']:,.0f}", over_seeds_text(t["ppl"], 3),
                 over_seeds_text(t["ppl_first"], 3), over_seeds_text(t["first_vs_none"], 1, 100, True),
                 over_seeds_text(t["first_delta"], 3, sign=True), over_seeds_text(t["ppl_vs_rmt"], 1, 100, True),
                 over_seeds_text(t["recall"], 1, 100), over_seeds_text(t["ms_per_token"], 3)]
        lines.append(f"| {v} | {' | '.join(cells)} |")

    def listed(verdicts: dict, met: bool) -> str:
        names = [v for v, ok in verdicts.items() if ok == met]
        return ", ".join(names) or "no variant"

    cut, rmt, rec = j["first_cut"], j["within_rmt"], j["recall_met"]
    none_recall = j["variants"]["none"]["recall"]["mean"]  # (no memory is every change's anchor)
    minutes, load = j["minutes_per_seed"], j["load_avg_at_row_ends"]
    lines += ["", "Goals, on the means over seeds:", "",
              f"- **Every trained memory cuts first-32 perplexity by ≥ 5%: "
              f"{'met' if all(cut.values()) else 'missed'}** ({sum(cut.values())} of {len(cut)}). "
              f"Met: {listed(cut, True)}. Missed: {listed(cut, False)}.",
              f"- **The hidden-state prefix within 2% of RMT's perplexity:** met by {listed(rmt, True)}; "
              f"missed by {listed(rmt, False)}.",
              f"- **Recall ≥ 95% where no memory is at chance:** no memory {100 * none_recall:.1f}% "
              f"(chance {100 * j['chance']:.2f}%, {j['recall_examples_per_seed']} questions a seed); "
              f"met by {listed(rec, True)}; missed by {listed(rec, False)}.",
              (f"- **CPU default ≤ {GOAL_MINUTES:.0f} minutes per seed: "
               f"{'met' if max(minutes.values()) <= GOAL_MINUTES else 'missed'}**, " if bases_made_here else
               "- **Time** (a seed's rows added up; a base made by another sweep and copied is not in them, "
               "one made here is in its first row): ")
              + f"{min(minutes.values()):.1f}–{max(minutes.values()):.1f} minutes a seed on "
              f"{'/'.join(map(str, j['threads']))} thread(s) a run"
              + (f", {'/'.join(map(str, j['jobs']))} run(s) side by side" if j.get("jobs") else "")
              + f" (load average {load[0]:.1f}–{load[1]:.1f} at the rows' ends)."]
    if j["trick"]:
        lines += ["", "The untrained trick (a question, not a goal): first-32 loss minus no memory's, "
                  "mean over seeds, and each seed's paired 95% interval over the streams:", ""]
    for v, t in j["trick"].items():
        d = t["delta"]
        word = "helps" if d["ci95_high"] is not None and d["ci95_high"] < 0 else \
            "harms" if d["ci95_low"] is not None and d["ci95_low"] > 0 else "within the noise"
        per = ", ".join(f"{d['per_seed'][s]:+.3f} ± {ci:.3f}" for s, ci in t["per_seed_ci95"].items())
        lines.append(f"- `{v}`: {d['mean']:+.3f} nats [{d['ci95_low']:+.3f}, {d['ci95_high']:+.3f}] over seeds: "
                     f"**{word}**" + (f" (per seed: {per})" if per else "") + "."
                     if d["ci95_low"] is not None else f"- `{v}`: {d['mean']:+.3f} nats (one seed).")
    lines += ["", f"Rows: {results['n_rows']} runs at commit(s) {', '.join(c[:7] for c in results['row_commits'])}"
              + (" (some **dirty**)" if results["rows_dirty"] else " (clean)") + "."]
    return "\n".join(lines)


def render_memory3000(results: dict) -> str:
    """The trained memories with ten times the default's steps, mostly on the default sweep's bases."""
    return render(results, bases_made_here=False)


def main(argv=None) -> dict:
    args = sweep_parser(__doc__, EXPERIMENT.name).parse_args(argv)
    cfg, rows, about = read_sweep(Path(args.sweep), EXPERIMENT)
    result = {
        "benchmark": "recurrent_lm",
        **about,
        "base": cfg.base.init,
        "seeds": sorted({r["seed"] for r in rows}),
        "judged": judge(rows, cfg),
    }
    return report("recurrent_lm", result, results_dir=args.results_dir)


if __name__ == "__main__":
    main()
