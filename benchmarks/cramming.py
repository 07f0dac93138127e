"""The cramming ablations, judged over seeds from a finished sweep of the experiment.

    scratchformer experiment cramming --budget 2m --seeds 3 --jobs 2 --threads 1 \\
        --data.corpus ../shared/data/tinyshakespeare.txt --variants baseline,plus-...,best,minus-...
    python -m benchmarks.cramming --sweep runs/experiments/cramming   # writes benchmarks/results/cramming.json

    # best against best without zero-init and RMSNorm, and without each, in one sweep:
    scratchformer experiment cramming --budget 2m --seeds 3 --jobs 2 --threads 1 \\
        --data.corpus ../shared/data/tinyshakespeare.txt \\
        --variants baseline,best,minus-zero_init,minus-rmsnorm,minus-zero_init+rmsnorm \\
        --out_dir runs/experiments/cramming-lean
    python -m benchmarks.cramming --sweep runs/experiments/cramming-lean --name cramming_lean

    # each trick added to the baseline at 15 minutes (three seeds, two runs at a time on a thread each):
    scratchformer experiment cramming --budget 15m --seeds 3 --jobs 2 --threads 1 --model.dropout 0.1 \\
        --data.corpus ../shared/data/tinyshakespeare.txt --variants baseline,plus-rope,...,plus-ramps \\
        --out_dir runs/experiments/cramming-15m-plus
    python -m benchmarks.cramming --sweep runs/experiments/cramming-15m-plus --name cramming_15m_plus

    # each trick removed from the record's recipe at 15 minutes, the same way:
    scratchformer experiment cramming --budget 15m --seeds 3 --jobs 2 --threads 1 --model.dropout 0.1 \\
        --data.corpus ../shared/data/tinyshakespeare.txt --variants best,minus-rope,...,minus-ramps \\
        --out_dir runs/experiments/cramming-15m-minus
    python -m benchmarks.cramming --sweep runs/experiments/cramming-15m-minus --name cramming_15m_minus

Two ablations (issue 15): each trick added to the nanoGPT-style baseline (plus-TRICK, against
`baseline`) and each removed from the best recipe (minus-TRICK, against `best`). Per variant, over
seeds (mean, std and the 95% interval of the mean, Student t):

  * the change in final loss against its anchor, same seed, on the whole validation split (every
    character once: `val_loss_whole`; the 20-batch estimate `val_loss` has a standard error of
    about 0.01 nats and is reported beside it);
  * the time to the target (the baseline's final 20-batch validation loss, same seed) and the
    speed-up to it against the baseline, over the seeds that reached it.

A change whose interval holds 0 is called within the noise. For plus-* a negative change means the
trick helps the baseline; for minus-* a positive one means the trick helps the best recipe.
This module trains nothing: it reads the rows (the experiment's `derive` pairs them).
"""

from __future__ import annotations

from pathlib import Path

from benchmarks.common import by_seed, over_seeds, over_seeds_text, read_sweep, report, sweep_parser
from scratchformer.data.corpus import BUILTIN
from scratchformer.experiments.cramming import EXPERIMENT, TRICKS, anchor_of

METRICS = ("val_loss_whole", "val_loss", "delta_val_loss", "time_to_target_s", "speedup_to_target",
           "steps", "tokens_per_s", "compile_s", "ended_decayed")


def verdict(change: dict, lower_is_better: bool = True) -> str:
    """helps / harms / within the noise, from the interval of a change (lower loss is better)."""
    low, high = change["ci95_low"], change["ci95_high"]
    if low is None:
        return "one seed"
    if high < 0:
        return "helps" if lower_is_better else "harms"
    if low > 0:
        return "harms" if lower_is_better else "helps"
    return "within the noise"


def judge(rows: list[dict]) -> dict:
    present = {r["variant"] for r in rows}
    order = ["baseline", *(f"plus-{t}" for t in TRICKS), "best", *(f"minus-{t}" for t in TRICKS)]
    variants = [v for v in order if v in present] + sorted(present - set(order))  # then minus-A+B and the like
    table = {}
    for v in variants:
        t = {m: over_seeds(by_seed(rows, v, m)) for m in METRICS}
        # - the whole-split change against the anchor, seed by seed (derive pairs only the estimate)
        anchor = by_seed(rows, anchor_of(v), "val_loss_whole")
        mine = by_seed(rows, v, "val_loss_whole")
        t["delta_whole"] = over_seeds({s: mine[s] - anchor[s] for s in mine if s in anchor})
        t["reached_target"] = f"{t['time_to_target_s']['n']} of {t['val_loss']['n']}"
        table[v] = t
    tricks = {}
    for trick in TRICKS:
        entry = {}
        for kind, name in (("added", f"plus-{trick}"), ("removed", f"minus-{trick}")):
            if name in table:
                change = table[name]["delta_whole"]
                # - removing a trick that helps raises the loss: read minus-* the other way round
                entry[kind] = {"delta_whole": change, "verdict": verdict(change, lower_is_better=kind == "added")}
        tricks[trick] = entry
    return {"variants": table, "tricks": tricks,
            "threads": sorted({r.get("threads") for r in rows}), "cpu": sorted({r.get("cpu") for r in rows}),
            "load_avg_at_row_ends": [min(r["load_avg"][0] for r in rows), max(r["load_avg"][0] for r in rows)],
            "wall_minutes": round(sum(r["wall_s"] for r in rows) / 60, 1)}


def _ci(d: dict, digits: int = 3, sign: bool = False) -> str:
    return over_seeds_text(d, digits, sign=sign, spread="ci95")


def render(results: dict) -> str:
    """Both ablations, every variant over seeds, then each trick's verdict."""
    j = results["judged"]
    lines = [variant_table(results), "",
             "Each trick, from the Δ's interval (added: below 0 helps; removed: above 0 means it helped):", "",
             "| trick | added to the baseline | removed from best |", "| --- | --- | --- |"]
    for trick, e in j["tricks"].items():
        cells = [f"{e[k]['verdict']} ({e[k]['delta_whole']['mean']:+.3f})" if k in e and
                 e[k]["delta_whole"]["mean"] is not None else "not run" for k in ("added", "removed")]
        lines.append(f"| {trick} | {cells[0]} | {cells[1]} |")
    return "\n".join(lines + ["", machine_line(results)])


def render_few(results: dict) -> str:
    """A sweep of a few variants: the variants over seeds, and the verdict on each change against its
    anchor (cramming_lean.json: best without the tricks that did not earn their place;
    cramming_15m_plus.json and cramming_15m_minus.json: each trick added to the baseline, or removed
    from best, at a 15-minute budget)."""
    j = results["judged"]
    lines = [variant_table(results), ""]
    for v, t in j["variants"].items():
        anchor = anchor_of(v)
        if v != anchor and t["delta_whole"]["mean"] is not None:
            lines.append(f"- {v} against {anchor}: {verdict(t['delta_whole'])} ({_ci(t['delta_whole'], sign=True)} "
                         f"nats/char; below 0: better than {anchor})")
    return "\n".join(lines + ["", machine_line(results)])


render_lean = render_15m_plus = render_15m_minus = render_few


def variant_table(results: dict) -> str:
    """Every variant over seeds: losses, the change against its anchor, the time to the target."""
    j, seeds = results["judged"], results["seeds"]
    seeds_text = f"{len(seeds)} seed{'s' * (len(seeds) != 1)} ({', '.join(map(str, seeds))})"
    spread = ("Mean [95% interval of the mean, Student t] over seeds." if len(seeds) > 1
              else "One run each: no interval.")
    lines = [f"{seeds_text}, budget {results['budget']} of training each (evaluation apart), {results['corpus']}. "
             f"{spread} "
             "Δ: final loss on the whole validation split minus the anchor's (the baseline for plus-*, best for "
             "minus-*), same seed. Target: the baseline's final loss, same seed.", "",
             "| variant | final loss, whole split | Δ vs anchor (nats/char) | final loss, 20 batches | steps | "
             "time to target (s) | reached | speed-up to target | tokens/s |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for v, t in j["variants"].items():
        lines.append(f"| {v} | {_ci(t['val_loss_whole'])} | {_ci(t['delta_whole'], sign=True)} | "
                     f"{_ci(t['val_loss'])} | {t['steps']['mean']:,.0f} | {_ci(t['time_to_target_s'], 1)} | "
                     f"{t['reached_target']} | {_ci(t['speedup_to_target'], 2)} | {t['tokens_per_s']['mean']:,.0f} |")
    return "\n".join(lines)


def machine_line(results: dict) -> str:
    j = results["judged"]
    load = j["load_avg_at_row_ends"]
    commits = ", ".join(c[:7] for c in results["row_commits"])
    return (f"{results['n_rows']} runs on {', '.join(j['cpu'])}, {'/'.join(map(str, j['threads']))} "
            f"thread(s) each; load average {load[0]:.1f}–{load[1]:.1f} at the rows' ends. Rows at commit(s) "
            f"{commits}" + (" (some **dirty**)" if results["rows_dirty"] else " (clean)") + ".")


def main(argv=None) -> dict:
    parser = sweep_parser(__doc__, EXPERIMENT.name)
    parser.add_argument("--name", default="cramming", choices=("cramming", "cramming_lean", "cramming_15m_plus",
                                                                  "cramming_15m_minus"),
                        help="the results file: cramming (both ablations), or cramming_lean, cramming_15m_plus "
                             "and cramming_15m_minus (a few variants, each against its anchor)")
    args = parser.parse_args(argv)
    cfg, rows, about = read_sweep(Path(args.sweep), EXPERIMENT)
    if cfg.task != "shakespeare":
        raise SystemExit(f"error: this judges the character-level ablations; the sweep is --task {cfg.task}")
    result = {"benchmark": "cramming", **about, "budget": cfg.budget,
              "corpus": "the built-in plays" if cfg.data.corpus == BUILTIN else Path(cfg.data.corpus).name,
              "seeds": sorted({r["seed"] for r in rows}), "judged": judge(rows)}
    return report(args.name, result, results_dir=args.results_dir)


if __name__ == "__main__":
    main()
