"""Experiment `recurrent-lm`: can a language model read past its context with a memory between segments,
and does the course's trick (the previous segment's last hidden states put in front) work without training?

The task (scratchformer.tasks.recurrent_lm): one base LM per seed, shared by every variant (our GPT,
pretrained here on the text and cached; or `--base.init smollm2` for the untrained variants), reads
the validation text in segments of S tokens with a memory between them (scratchformer.models.segment_memory).
The variants: no memory; a sliding window; a Transformer-XL cache; RMT memory tokens trained with
backprop through 3 segments; the untrained trick at the input or at every layer, with the last 1 or
8 hidden states; the same with a trained linear map or adapter into the 8 prefix vectors (base frozen).

The metrics: perplexity overall and on the first 32 tokens of each segment (the first segment, which
nothing helps, left out), time per token, accuracy on a recall task whose fact sits in the previous
segment (chance 1 / recall.values), the trained parameters, and each variant's change of first-32
perplexity against no memory and of perplexity against RMT (same seed).
"""

from __future__ import annotations

import copy
import dataclasses
import json
import math
from pathlib import Path

from scratchformer.experiments.harness import Experiment, Metric, Run
from scratchformer.experiments.summary import t95
from scratchformer.tasks.recurrent_lm import (FIRST, SegmentLMConfig, base_key, base_model, check_before_training,
                                              load_text, measure)
from scratchformer.training.plots import pyplot, save


@dataclasses.dataclass
class ExperimentConfig(SegmentLMConfig):
    """Everything of scratchformer.tasks.recurrent_lm.SegmentLMConfig; the variants set `memory`."""


# --------------------------------------------------------------------------------------------
# the task


def run(cfg: ExperimentConfig, run: Run) -> dict[str, float]:
    """One memory on the seed's base: train it if it has parameters, then score it."""
    check_before_training(cfg)  # a memory that does not fit the base: one sentence, before any training
    text = run.cached(f"text {cfg.corpus} {cfg.ptb}", lambda: load_text(cfg))
    # - the base: pretrained once per seed (cached on disk beside the variants, and in this process)
    base = run.cached(f"base {base_key(cfg, run.seed)}", lambda: base_model(cfg, run.seed, run.dir.parents[1], text))
    # - rmt adds LoRA to the model it is given: it gets a copy (the others leave the weights as they are)
    if cfg.memory.kind == "rmt":
        base = dataclasses.replace(base, model=copy.deepcopy(base.model))
    scores, _ = measure(cfg, base, run.seed)
    (run.dir / "per_position.json").write_text(json.dumps({
        "segment_len": cfg.segment_len, "loss": scores.pop("per_position"),
        "per_stream": scores.pop("per_stream"), "per_stream_first": scores.pop("per_stream_first")}))
    # - filled in by derive_changes, from the other rows of the seed
    return scores | {"first_vs_none": math.nan, "ppl_vs_rmt": math.nan, "first_delta": math.nan,
                     "first_delta_ci95": math.nan}


def paired_difference(mine: list[float], anchor: list[float]) -> tuple[float, float]:
    """Mean of mine - anchor over the same streams, and the half-width of its 95% interval (Student t)."""
    diffs = [a - b for a, b in zip(mine, anchor)]
    n = len(diffs)
    mean = sum(diffs) / n
    if n < 2:
        return mean, math.nan
    sd = math.sqrt(sum((d - mean) ** 2 for d in diffs) / (n - 1))
    return mean, t95(n - 1) * sd / math.sqrt(n)


def streams_of(row: dict) -> list[float] | None:
    path = Path(row.get("run_dir", "")) / "per_position.json"
    return json.loads(path.read_text()).get("per_stream_first") if path.exists() else None


def derive_changes(cfg: ExperimentConfig, rows: list[dict]) -> list[dict]:
    """first_vs_none: first-32 perplexity / that of `none` (same seed) - 1; ppl_vs_rmt: perplexity /
    that of `rmt` - 1. Negative is better. None where the anchor row is missing."""
    by = {(r["variant"], r["seed"]): r["metrics"] for r in rows}
    none_rows = {r["seed"]: r for r in rows if r["variant"] == "none"}
    out = []
    for r in rows:
        m = dict(r["metrics"])
        none, rmt = by.get(("none", r["seed"])), by.get(("rmt", r["seed"]))
        m["first_vs_none"] = m["ppl_first"] / none["ppl_first"] - 1 if none and none.get("ppl_first") else None
        m["ppl_vs_rmt"] = m["ppl"] / rmt["ppl"] - 1 if rmt and rmt.get("ppl") else None
        # - the first-32 loss against no memory, stream by stream (the same text): a paired interval
        mine, anchor = streams_of(r), streams_of(none_rows.get(r["seed"], {}))
        delta = paired_difference(mine, anchor) if mine and anchor and len(mine) == len(anchor) else (None, None)
        m["first_delta"], m["first_delta_ci95"] = delta
        out.append(r | {"metrics": m})
    return out


# --------------------------------------------------------------------------------------------
# the variants: one line each (k = memory.length)


def hidden(at: str, k: int, map: str = "none") -> dict:
    return {"memory.kind": "hidden", "memory.at": at, "memory.length": k, "memory.map": map}


def variants(S: int, k: int) -> dict[str, dict]:
    """Every variant for segments of S tokens, with k hidden states or memory vectors."""
    return {
        "none": {"memory.kind": "none"},
        "window": {"memory.kind": "window", "memory.length": S},
        "xl": {"memory.kind": "xl", "memory.length": S},
        "rmt": {"memory.kind": "rmt", "memory.length": k},
        "trick-input-k1": hidden("input", 1),
        f"trick-input-k{k}": hidden("input", k),
        "trick-layers-k1": hidden("layers", 1),
        f"trick-layers-k{k}": hidden("layers", k),
        f"linear-input-k{k}": hidden("input", k, "linear"),
        f"linear-layers-k{k}": hidden("layers", k, "linear"),
        f"adapter-input-k{k}": hidden("input", k, "adapter"),
        f"adapter-layers-k{k}": hidden("layers", k, "adapter"),
    }


VARIANTS = variants(64, 8)
UNTRAINED = [name for name, v in VARIANTS.items() if v.get("memory.map", "none") == "none" and name != "rmt"]

SCALES = {
    "cpu": {},
    # - untried here: a bigger base, segments of 256, longer training, on a GPU
    "gpu": {"base.model.d_model": 512, "base.model.n_heads": 8, "base.model.n_layers": 8,
            "base.model.context_len": 512, "base.train.max_steps": 20000, "base.train.batch_size": 32,
            "base.train.device": "auto", "memory_train.steps": 3000, "memory_train.batch_size": 16},
}


# --------------------------------------------------------------------------------------------
# the metrics


def metrics(cfg: ExperimentConfig) -> list[Metric]:
    chance = 1.0 / cfg.recall.values
    return [
        Metric("ppl_first", higher_is_better=False, headline=True, digits=3,
               label=f"perplexity, first {FIRST} tokens of a segment"),
        Metric("ppl", higher_is_better=False, headline=True, digits=3, label="perplexity, all tokens"),
        Metric("recall", "%", scale=100, headline=True, digits=1, baseline=chance,
               baseline_label=f"chance (1/{cfg.recall.values})", label="recall across a segment boundary"),
        Metric("first_vs_none", "%", scale=100, higher_is_better=False, digits=1,
               label=f"first-{FIRST} perplexity change against no memory"),
        Metric("first_delta", "nats", higher_is_better=False, digits=4,
               label=f"first-{FIRST} loss minus no memory's, over the same streams"),
        Metric("first_delta_ci95", "nats", digits=4, label="its paired 95% interval (±)"),
        Metric("ppl_vs_rmt", "%", scale=100, higher_is_better=False, digits=1, label="perplexity change against RMT"),
        Metric("bpc_first", "bits/char", higher_is_better=False, label=f"bits per character, first {FIRST} tokens"),
        Metric("bpc", "bits/char", higher_is_better=False, label="bits per character"),
        Metric("loss_ci95", "nats", higher_is_better=False, label="95% interval of the loss over streams (±)"),
        Metric("ms_per_token", "ms", higher_is_better=False, digits=3, label="evaluation time per token"),
        Metric("trained_params", higher_is_better=False, digits=0, label="trained parameters"),
    ]


def per_position_figure(cfg: ExperimentConfig, rows: list[dict], out: Path) -> list[Path]:
    """Perplexity against the position in a segment, drawn over two consecutive segments to show the
    boundary (left), and the first 16 positions of a segment up close (right)."""
    plt = pyplot()

    fig, (ax, near) = plt.subplots(1, 2, figsize=(13, 5), gridspec_kw={"width_ratios": [2, 1]})
    S = cfg.segment_len
    first_seed = min(r["seed"] for r in rows)
    for r in sorted(rows, key=lambda r: r["variant"]):
        path = Path(r["run_dir"]) / "per_position.json"
        if r["seed"] != first_seed or not path.exists():
            continue
        ppl = [math.exp(v) for v in json.loads(path.read_text())["loss"]]
        style = "--" if r["variant"] in UNTRAINED else "-"
        ax.plot(range(2 * S), ppl + ppl, style, label=r["variant"], linewidth=1)
        near.plot(range(min(16, S)), ppl[:16], style, marker=".", label=r["variant"], linewidth=1)
    ax.axvline(S, color="black", linewidth=0.8)
    ax.axvspan(S, S + min(FIRST, S), color="grey", alpha=0.1, label=f"first {FIRST} tokens")
    ax.set_xlabel(f"position (tokens) over two segments of {S}; the line is a segment boundary")
    near.set_xlabel("position in the segment (tokens), the first 16")
    for a in (ax, near):
        a.set_yscale("log")
        a.set_ylabel("perplexity at the position (validation, log scale)")
    ax.set_title(f"base {cfg.base.init}: perplexity by position (one seed; dashed: untrained)", fontsize=10)
    near.set_title("the start of a segment, where a memory matters", fontsize=10)
    near.legend(fontsize=7, ncol=2)
    return [save(fig, out / "ppl_by_position.png")]


EXPERIMENT = Experiment(
    name="recurrent-lm",
    help="a memory between segments on a shared base LM: none, window, Transformer-XL, RMT, the course's "
         "hidden-state trick untrained and trained",
    config=ExperimentConfig,
    run=run,
    variants=VARIANTS,
    metrics=metrics,
    scales=SCALES,
    seeds=3,
    threads=1,
    figures=per_position_figure,
    derive=derive_changes,
    # - --quick: a tiny base on segments of 8 tokens, a few steps each
    quick={"base.model.d_model": 16, "base.model.n_heads": 2, "base.model.n_layers": 1,
           "base.model.context_len": 24, "base.train.max_steps": 10, "base.train.batch_size": 4,
           "base.train.warmup_steps": 2, "base.train.checkpoint_interval": 0, "segment_len": 8,
           "memory_train.steps": 2, "memory_train.batch_size": 2, "recall.examples": 8,
           "eval_streams": 2, "eval_segments": 3},
    quick_variants=variants(8, 2),
)
