"""Experiment `cramming`: how good a model does a fixed wall-clock budget buy, and which speedrun
tricks make the budget count?

Geiping & Goldstein (2022), "Cramming", train BERT in a day on one GPU (GLUE 78.6 against
BERT-base's 80.9); the modded-nanogpt speedrun takes GPT-2 small to 3.28 FineWeb loss in minutes.
Here every run trains for the same `budget` of seconds on this machine (training/budget.py: the
schedule and the ramps are fitted to the step time measured after warm-up, so each run ends
fully decayed at the budget; validation is left out, compiling counts). The tricks are switches:

    rope        rotary positions instead of a learned table        model.position
    qk_norm     RMS-normalised queries and keys                     model.qk_norm
    relu2       ReLU squared in the MLP instead of GELU             model.mlp
    untied      an output layer of its own                          model.tie_weights
    zero_init   residual output projections start at zero           model.zero_init_out
    rmsnorm     RMSNorm and no biases instead of LayerNorm + biases model.norm, model.bias
    muon        Muon on the blocks' matrices, AdamW for the rest    train.optimizer
    wsd         warmup-stable-decay instead of cosine               train.schedule
    ramps       batch-size and sequence-length ramps from 1/4       ramp_start_share
    bf16        bfloat16 autocast                                   train.dtype
    compile     torch.compile (its time counts in the budget)       train.compile

Two ablations, as variants (3 seeds each by default):
    add one     baseline (nanoGPT's recipe: learned positions, LayerNorm, GELU, tied, AdamW, cosine)
                and plus-TRICK, the baseline with that one trick;
    remove one  best (every trick but bf16 and compile, which cost more than they give on CPU
                cores: plus-bf16 and plus-compile measure that) and minus-TRICK, best without it.
    and         minus-zero_init+rmsnorm, best without the two that did not earn their place;
                minus-untied+ramps, best with a tied head and no ramps (with --model.d_model 256,
                the 60-minute PTB recipe without its ramps, which cost at 15 minutes on CPU cores).

Metrics: the final validation loss, and the time to the target, the baseline's final validation
loss of the same seed (training seconds, compiling included, evaluation excluded, read off each
run's learning curve). Derived across rows: each run's change in loss against its anchor
(baseline for plus-*, best for minus-*) and its speed-up to the target against the baseline.

    scratchformer experiment cramming --list
    scratchformer experiment cramming --variants baseline,plus-rope,plus-muon --seeds 3 --budget 2m \\
        --data.corpus ../shared/data/tinyshakespeare.txt
    scratchformer experiment cramming --task ptb --ptb.source ../shared/data/ptb --budget 15m --variants baseline,best
    scratchformer experiment cramming --task imdb --data_imdb ... (see --task imdb below)

--task ptb crams a word-level GPT on Penn Treebank and reports test perplexity over the whole test
file against Zaremba et al. (2014)'s LSTMs (small 114.5, medium 82.7), and the fraction of the way
from this sweep's baseline (same seed) to each. --task imdb runs experiment imdb-pretrain's
pretraining and fine-tuning with its pretraining budget set to --budget (the LM there keeps its own
architecture; the tricks apply to the language-model tasks) and reports the validation accuracy
against BERT-base's 94.6% (Sun et al. 2019), as a fraction of the way from this sweep's baseline
(same seed; with --budget 60m that is our own one-hour recipe, measured in the same run, never a
constant). An unfinished run starts again (a time budget cannot be resumed).
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

from scratchformer.data.corpus import CorpusConfig
from scratchformer.data.ptb import PTBConfig
from scratchformer.experiments import imdb_pretrain
from scratchformer.experiments.harness import Experiment, Metric, Run
from scratchformer.models.gpt import GPTConfig
from scratchformer.tasks.cramming import cram, fraction_of_way, load_tokens, stream_nll, time_to_target
from scratchformer.training.budget import parse_budget
from scratchformer.training.trainer import TrainConfig

TASKS = ("shakespeare", "ptb", "imdb")
ZAREMBA = {"small": 114.5, "medium": 82.7}  # PTB test perplexity of Zaremba et al. (2014)'s LSTMs
BERT_BASE_IMDB = 0.946  # IMDb accuracy of BERT-base fine-tuned (Sun et al. 2019)


def baseline_model() -> GPTConfig:
    """nanoGPT's layout at a CPU size: learned positions, LayerNorm with biases, GELU, tied head."""
    return GPTConfig(d_model=128, n_heads=4, n_layers=4, context_len=128, dropout=0.0)


def baseline_train() -> TrainConfig:
    """nanoGPT's training: AdamW (beta2 0.99), cosine to lr/10, warm-up, clipping; fp32, no compile.
    max_steps is an upper bound: the budget sets the run's length."""
    return TrainConfig(max_steps=1_000_000, batch_size=16, lr=1e-3, min_lr=1e-4, warmup_steps=30, schedule="cosine",
                       weight_decay=0.1, beta2=0.99, grad_clip=1.0, eval_interval=0, eval_batches=20,
                       stats_interval=0, log_interval=50, device="cpu", dtype="float32", compile=False,
                       progress=False)


@dataclass
class ExperimentConfig:
    """The task, the baseline recipe every variant changes, and the budget."""

    task: str = "shakespeare"
    """shakespeare (characters of data.corpus), ptb (Penn Treebank words) or imdb (experiment imdb-pretrain)."""
    budget: str = "2m"
    """Training time per run: 90s, 15m, 1h (evaluation excluded, compiling included). For imdb: the pretraining's."""
    data: CorpusConfig = field(default_factory=CorpusConfig)
    """The text of the shakespeare task (built-in plays, or a file such as tinyshakespeare.txt: its last 10% is validation)."""
    ptb: PTBConfig = field(default_factory=PTBConfig)
    """Where Penn Treebank comes from (the ptb task)."""
    model: GPTConfig = field(default_factory=baseline_model)
    """The baseline model (vocab_size comes from the data)."""
    train: TrainConfig = field(default_factory=baseline_train)
    """The baseline training (max_steps: an upper bound; the budget ends the run)."""
    steps: int = 0
    """Train exactly this many steps instead of for the budget (0: the budget). Losses per step stay
    comparable on a machine whose load makes seconds untrustworthy; time-to-target is then read in
    steps (steps_to_target), the seconds still recorded."""
    ramp_start_share: float = 0.0
    """Batch and length ramps: start at this share of batch_size and of context_len (0: no ramps)."""
    curve_points: int = 8
    """Validations along each run, for its time to the target (left out of the budget)."""
    imdb: imdb_pretrain.ExperimentConfig = field(default_factory=imdb_pretrain.ExperimentConfig)
    """The imdb task: experiment imdb-pretrain's config; its lm_budget is set from budget."""

    def __post_init__(self):
        if self.task not in TASKS:
            raise ValueError(f"unknown task {self.task!r}; choose one of {list(TASKS)}")
        parse_budget(self.budget)  # a one-line error for a budget of 0 or one that is not a length
        if not 0.0 <= self.ramp_start_share <= 1.0:
            raise ValueError(f"ramp_start_share must be in [0, 1] (0: no ramps), got {self.ramp_start_share}")
        if self.steps < 0:
            raise ValueError(f"steps must be >= 0 (0: train for the budget), got {self.steps}")
        if self.curve_points < 1:
            raise ValueError(f"curve_points must be at least 1, got {self.curve_points}")


# --------------------------------------------------------------------------------------------
# the task


def ramped(cfg: ExperimentConfig) -> TrainConfig:
    """The train config with the ramps' starts set from ramp_start_share."""
    if not cfg.ramp_start_share:
        return cfg.train
    return dataclasses.replace(cfg.train, batch_ramp_start=max(1, round(cfg.train.batch_size * cfg.ramp_start_share)),
                               seq_ramp_start=max(8, round(cfg.model.context_len * cfg.ramp_start_share)))


def run_imdb(cfg: ExperimentConfig, run: Run) -> dict[str, float]:
    """imdb-pretrain's pretrained variant, its pretraining given the budget and this sweep's schedule."""
    imdb = dataclasses.replace(cfg.imdb, lm_budget=cfg.budget,
                               lm_train=dataclasses.replace(cfg.imdb.lm_train, schedule=cfg.train.schedule))
    metrics = imdb_pretrain.run(imdb, run)
    return {"val_acc": metrics["val_acc"], "lm_val_bpc": metrics.get("lm_val_bpc"), "total_s": metrics.get("total_s")}


def run(cfg: ExperimentConfig, run: Run) -> dict[str, float]:
    """Cram one variant for the budget; its final validation loss, learning curve and speed."""
    if cfg.task == "imdb":
        return run_imdb(cfg, run)
    key = json.dumps([cfg.task, dataclasses.asdict(cfg.data), dataclasses.asdict(cfg.ptb)])
    vocab_size, tokens = run.cached(key, lambda: load_tokens(cfg.task, cfg.data, cfg.ptb))
    model_cfg = dataclasses.replace(cfg.model, vocab_size=vocab_size)
    budget_s = parse_budget(cfg.budget)
    trainer, result = cram(model_cfg, ramped(cfg), tokens, 0.0 if cfg.steps else budget_s, cfg.curve_points,
                           seed=run.seed, steps=cfg.steps)
    record = result["budget"]
    run.dir.mkdir(parents=True, exist_ok=True)
    (run.dir / "budget.json").write_text(json.dumps(record, indent=2) + "\n")
    (run.dir / "curve.json").write_text(json.dumps(record["curve"], indent=2) + "\n")
    metrics = {
        "val_loss": result["val_loss"],
        "steps": trainer.step,
        "train_s": result["train_s"],
        "eval_s": record["eval_s"],
        "compile_s": record.get("compile_s"),
        "tokens_per_s": trainer.tokens_seen / max(result["train_s"], 1e-9),
        "final_lr_share": trainer.lr_at(trainer.step) / trainer.cfg.lr,
        "ended_decayed": float(trainer.step == trainer.cfg.max_steps and not record.get("cut_by_time")),
        "params": sum(p.numel() for p in trainer.eager_model.parameters()),
    }
    if cfg.task == "ptb":
        metrics["val_ppl"] = math.exp(stream_nll(trainer, tokens["val"]))
        metrics["test_ppl"] = math.exp(stream_nll(trainer, tokens["test"]))
    else:
        # - the whole validation split, every character predicted once: the figure for a record
        #   (val_loss, from eval_batches random batches, is an estimate with a standard error of ~0.01)
        metrics["val_loss_whole"] = stream_nll(trainer, tokens["val"])
    return metrics


# --------------------------------------------------------------------------------------------
# the variants: the tricks, added one at a time to the baseline, removed one at a time from the best


TRICKS: dict[str, dict] = {
    "rope": {"model.position": "rope"},
    "qk_norm": {"model.qk_norm": True},
    "relu2": {"model.mlp": "relu2"},
    "untied": {"model.tie_weights": False},
    "zero_init": {"model.zero_init_out": True},
    "rmsnorm": {"model.norm": "rmsnorm", "model.bias": False},
    "muon": {"train.optimizer": "muon"},
    "wsd": {"train.schedule": "wsd"},
    "ramps": {"ramp_start_share": 0.25},
    "bf16": {"train.dtype": "bfloat16"},
    "compile": {"train.compile": True},
}
DEVICE_TRICKS = ("bf16", "compile")  # speed switches that cost more than they give on CPU cores
BEST = {k: v for name, changes in TRICKS.items() if name not in DEVICE_TRICKS for k, v in changes.items()}


def without(*tricks: str) -> dict:
    """The best recipe with these tricks put back to the baseline's settings."""
    base_model, base_train = baseline_model(), baseline_train()
    defaults = {"model": base_model, "train": base_train}
    out = dict(BEST)
    for key in (key for trick in tricks for key in TRICKS[trick]):
        section, _, name = key.partition(".")
        out[key] = getattr(defaults[section], name) if name else ExperimentConfig.__dataclass_fields__[key].default
    return out


VARIANTS: dict[str, dict] = {
    "baseline": {},
    **{f"plus-{name}": changes for name, changes in TRICKS.items()},
    "best": BEST,
    **{f"minus-{name}": without(name) for name in TRICKS if name not in DEVICE_TRICKS},
    # - the two tricks that did not earn their place at 2-minute budgets (docs/cramming.md), both out
    "minus-zero_init+rmsnorm": without("zero_init", "rmsnorm"),
    # - ramps cost at 15 minutes (docs/cramming.md), so the PTB 60-minute recipe without them as well
    "minus-untied+ramps": without("untied", "ramps"),
}
ADD_ONE = ["baseline"] + [f"plus-{n}" for n in TRICKS]
REMOVE_ONE = ["best"] + [f"minus-{n}" for n in TRICKS if n not in DEVICE_TRICKS]

# --scale gpu: a GPT-2-small shape with the same switches. On a GPU, bf16 and compile are in every
# variant, the baseline included, as in nanoGPT's train.py (on an H200 compiling paid for itself in
# about a minute: docs/cramming.md), so plus-bf16 and plus-compile are not run there.
# (A 45 s smoke run on an H200 predates this: its baseline and best ran in fp32, eager.)
SCALES = {
    "cpu": {},
    "gpu": {"model.d_model": 768, "model.n_heads": 12, "model.n_layers": 12, "model.context_len": 1024,
            "train.batch_size": 32, "train.device": "auto", "train.lr": 6e-4, "train.min_lr": 6e-5,
            "train.warmup_steps": 200, "train.dtype": "bfloat16", "train.compile": True, "budget": "15m"},
}
GPU_VARIANTS = [v for v in VARIANTS if v not in (f"plus-{t}" for t in DEVICE_TRICKS)]


# --------------------------------------------------------------------------------------------
# the metrics, and those derived across rows


def anchor_of(variant: str) -> str:
    return "best" if variant == "best" or variant.startswith("minus-") else "baseline"


def to_target(row: dict, target: float | None, x: str = "train_s") -> float | None:
    """Training seconds (x="train_s") or steps (x="step") at which a run's curve first reaches target;
    None if never, or if there is no target. A row whose run folder is gone (one copied back from a
    published rows.jsonl, to add seeds beside it) keeps the figure it carries, if that was derived
    for the same target: its curve can no longer say."""
    if target is None:
        return None
    curve_path = Path(row.get("run_dir", "")) / "curve.json"
    if curve_path.is_file():
        return time_to_target(json.loads(curve_path.read_text()), target, x=x)
    carried = row.get("metrics", {})
    return carried.get("time_to_target_s" if x == "train_s" else "steps_to_target") \
        if carried.get("target_loss") == target else None


def derive(cfg: ExperimentConfig, rows: list[dict]) -> list[dict]:
    """Per row: the target (the baseline's final loss, same seed), the time to it, the change in loss
    against the anchor of the same seed, the speed-up against the baseline; for ptb and imdb the
    fraction of the way from the baseline to the old model."""
    row_of = {(r["variant"], r["seed"]): r for r in rows}
    by = {key: r["metrics"] for key, r in row_of.items()}
    out = []
    for r in rows:
        m, seed = dict(r["metrics"]), r["seed"]
        base, anchor = by.get(("baseline", seed)), by.get((anchor_of(r["variant"]), seed))
        if cfg.task == "imdb":
            # - from the baseline of the same seed, measured in this sweep (as ptb's fractions are)
            acc, base_acc = m.get("val_acc"), base.get("val_acc") if base else None
            known = None not in (acc, base_acc)
            m["frac_to_bert"] = fraction_of_way(acc, base_acc, BERT_BASE_IMDB) if known else None
            out.append(r | {"metrics": m})
            continue
        target = base.get("val_loss") if base else None
        m["target_loss"] = target
        m["time_to_target_s"] = to_target(r, target)
        m["steps_to_target"] = to_target(r, target, x="step")
        base_time = to_target(row_of.get(("baseline", seed), {}), target)
        m["speedup_to_target"] = base_time / m["time_to_target_s"] if base_time and m["time_to_target_s"] else None
        known = anchor is not None and None not in (anchor.get("val_loss"), m.get("val_loss"))
        m["delta_val_loss"] = m["val_loss"] - anchor["val_loss"] + 0.0 if known else None
        if cfg.task == "ptb":
            base_ppl = base.get("test_ppl") if base else None
            for name, ppl in ZAREMBA.items():
                ok = base_ppl is not None and m.get("test_ppl") is not None
                m[f"frac_to_zaremba_{name}"] = fraction_of_way(m["test_ppl"], base_ppl, ppl) if ok else None
        out.append(r | {"metrics": m})
    return out


def metrics(cfg: ExperimentConfig) -> list[Metric]:
    if cfg.task == "imdb":
        return [Metric("val_acc", "%", scale=100, baseline=0.5, headline=True, digits=2, label="validation accuracy"),
                Metric("frac_to_bert", digits=2, label="fraction of the way from the baseline (same seed) to BERT-base's 94.6%"),
                Metric("lm_val_bpc", "bits/char", higher_is_better=False, label="language model's validation bpc"),
                Metric("total_s", "s", higher_is_better=False, digits=0, label="wall-clock of the classifier")]
    unit = "nats/word" if cfg.task == "ptb" else "nats/char"
    out = [
        Metric("val_loss", unit, higher_is_better=False, headline=True, label="final validation loss"),
        *([] if cfg.task == "ptb" else [Metric("val_loss_whole", unit, higher_is_better=False, label="final "
                                               "validation loss over the whole split, every character once")]),
        Metric("delta_val_loss", unit, higher_is_better=False, label="change in final loss against the anchor "
               "(baseline for plus-*, best for minus-*), same seed"),
        Metric("time_to_target_s", "s", higher_is_better=False, headline=True, digits=1,
               label="training seconds to the baseline's final loss (n/a: never reached)"),
        Metric("speedup_to_target", "x", digits=2, label="baseline's time to target / this run's"),
        Metric("steps_to_target", "steps", higher_is_better=False, digits=0,
               label="steps to the baseline's final loss (n/a: never reached)"),
        Metric("target_loss", unit, higher_is_better=False, label="target: the baseline's final loss, same seed"),
    ]
    if cfg.task == "ptb":
        out += [Metric("test_ppl", higher_is_better=False, headline=True, digits=1,
                       label="test perplexity, whole file", baseline=ZAREMBA["small"],
                       baseline_label="Zaremba et al. small LSTM (114.5)"),
                Metric("val_ppl", higher_is_better=False, digits=1, label="validation perplexity, whole file"),
                Metric("frac_to_zaremba_small", digits=2, label="fraction of the way from the baseline to 114.5"),
                Metric("frac_to_zaremba_medium", digits=2, label="fraction of the way from the baseline to 82.7")]
    out += [
        Metric("steps", digits=0),
        Metric("train_s", "s", higher_is_better=False, digits=1, label="training seconds (compiling included)"),
        Metric("eval_s", "s", higher_is_better=False, digits=1, label="validation seconds (not in the budget)"),
        Metric("compile_s", "s", higher_is_better=False, digits=1,
               label="first steps at each shape beyond the pace (compiling, first allocations)"),
        Metric("tokens_per_s", "tokens/s", digits=0, label="training tokens per second (depends on the load)"),
        Metric("final_lr_share", digits=3, higher_is_better=False,
               label="the schedule's rate where the run ended / peak (min_lr/lr: fully decayed)"),
        Metric("ended_decayed", digits=2, label="1 when the run reached its fitted schedule's end within the budget"),
        Metric("params", higher_is_better=False, digits=0, label="parameters"),
    ]
    return out


QUICK_VARIANTS = {name: VARIANTS[name]
                  for name in ("baseline", "plus-relu2", "best", "minus-muon", "minus-zero_init+rmsnorm")}

EXPERIMENT = Experiment(
    name="cramming",
    help="the speedrun tricks, added to a nanoGPT baseline and removed from the best recipe, at a fixed wall-clock budget",
    config=ExperimentConfig,
    run=run,
    variants=VARIANTS,
    metrics=metrics,
    scales=SCALES,
    scale_variants={"gpu": GPU_VARIANTS},
    seeds=3,
    threads=1,
    derive=derive,
    # - --quick: a tiny model for about two seconds a run (imdb: imdb-pretrain's own quick sizes)
    quick={"budget": "2s", "model.d_model": 16, "model.n_heads": 2, "model.n_layers": 1, "model.context_len": 16,
           "train.batch_size": 4, "train.warmup_steps": 2, "train.eval_batches": 2, "curve_points": 2,
           **{f"imdb.{k}": v for k, v in imdb_pretrain.EXPERIMENT.quick.items() if k != "lm_budget"}},
    quick_variants=QUICK_VARIANTS,
)
