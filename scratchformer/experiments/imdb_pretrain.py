"""Experiment `imdb-pretrain`: does pretraining a GPT on unlabelled reviews make a better classifier?

GPT-1's recipe (Radford et al. 2018) at course scale. One run (per seed) has three stages:

  1. tokenizer   learned on the labelled training split only
  2. pretrain    a GPT, as a language model, on IMDb's 50,000 unlabelled reviews (train/unsup),
                 one token stream with a separator between reviews          -> RUN/lm/
  3. fine-tune   a transformer classifier that starts from the GPT's embeddings and blocks
                 (attention made bidirectional, mean pooling, a new linear head, layer-wise
                 learning-rate decay)                                        -> RUN/classifier/

  optional partner: a second classifier (say, pooling + hashed bigrams) trained beside it; the
                   ensemble averages the two models' probabilities           -> RUN/partner/

Variants: `pretrained` (the recipe) and `scratch`, the control: the same classifier trained from
scratch with the same fine-tuning budget (no stage 2). RUN is the harness's run folder
(runs/experiments/imdb-pretrain/VARIANT/seed-S); a stage that finished is not redone when an
interrupted run resumes, and an unfinished stage continues from its checkpoint (its time budget
starts afresh). Without a preset, both variants together are budgeted to about 30 minutes on 2 CPU
cores (14 minutes of pretraining, 5 of each fine-tuning; not timed end to end); the preset is the
hour-long recipe whose figures the README reports. Each stage has a time budget; the learning-rate
schedule is fitted to it, so every run ends with a fully decayed rate whatever the machine's speed.
--budget_from replays an earlier run's steps instead (its run folder, or the benchmark's results
file), so a budgeted result is reproduced at fixed step counts on any machine.
The test split is read only with --final_test true:

    scratchformer experiment imdb-pretrain --config configs/imdb_pretrain.yaml \\
        --data.source ../shared/data/aclImdb.tar.gz --final_test true

The classifier folder is an ordinary classifier run:
`scratchformer classify --run runs/experiments/imdb-pretrain/pretrained/seed-0/classifier --text "..."`.
"""

from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

from scratchformer.data.imdb import IMDbConfig, load_imdb
from scratchformer.data.lm_data import LMData
from scratchformer.data.text_batches import BatchingConfig
from scratchformer.experiments.harness import Experiment, Metric, Run
from scratchformer.models.classifier import ARCHITECTURE_FIELDS, ClassifierConfig
from scratchformer.models.gpt import GPT, GPTConfig
from scratchformer.tasks.classification import (CLASSIFIER_TRAIN, ClassifierRunConfig, TokenizerConfig, accuracy,
                                                build_tokenizer, fit_within_budget, prepare_data,
                                                train_classifier)
from scratchformer.tasks.runs import load_language_model
from scratchformer.training.budget import BudgetPlan, budget_plan, parse_budget
from scratchformer.training.trainer import TrainConfig, Trainer, train_defaults


def default_lm() -> GPTConfig:
    return GPTConfig(d_model=128, n_heads=4, n_layers=4, context_len=512, dropout=0.0, bias=False,
                     norm="rmsnorm", position="rope")


# - the two trainings, as changes to the engine's TrainConfig defaults (see task_train_config)
PRETRAIN_TRAIN = dict(max_steps=100_000, batch_size=16, optimizer="muon", lr=1e-2, min_lr=1e-3,
                      warmup_steps=50, beta2=0.99, eval_interval=0, eval_batches=20, progress=False, seed=0)
FINETUNE_TRAIN = {**CLASSIFIER_TRAIN, "max_steps": 100_000, "batch_size": 32, "lr": 1e-3, "min_lr": 1e-5,
                  "layer_lr_decay": 0.7, "eval_batches": 20}


@dataclass
class ExperimentConfig:
    """The three stages, their models and their time budgets."""

    data: IMDbConfig = field(default_factory=IMDbConfig)
    tokenizer: TokenizerConfig = field(default_factory=lambda: TokenizerConfig(kind="bpe", vocab_size=8000))
    lm: GPTConfig = field(default_factory=default_lm)
    """The language model; the classifier takes the same architecture."""
    lm_train: TrainConfig = field(default_factory=train_defaults(PRETRAIN_TRAIN))
    """Pretraining (max_steps is lowered to fit lm_budget; the seed is the run's)."""
    lm_budget: str = "14m"
    """How long the language model pretrains: 90s, 14m, 1h (the preset configs/imdb_pretrain.yaml: 2200s)."""
    classifier: ClassifierConfig = field(default_factory=lambda: ClassifierConfig(causal=False, dropout=0.1,
                                                                                   attn_dropout=0.0))
    """Classifier options other than the architecture: pooling, causal, dropout."""
    finetune: TrainConfig = field(default_factory=train_defaults(FINETUNE_TRAIN))
    """Fine-tuning (max_steps is lowered to fit finetune_budget; the seed is the run's)."""
    finetune_budget: str = "5m"
    """How long the classifier fine-tunes (the preset: 15m)."""
    batching: BatchingConfig = field(default_factory=lambda: BatchingConfig(max_len=400, truncate="both"))
    """How reviews are cut and batched for the classifier."""
    partner: ClassifierRunConfig | None = None
    """Optional: a second classifier (e.g. the settings of configs/imdb_bigram.yaml) trained beside the
    fine-tuned transformer; the two models' averaged probabilities are reported as an ensemble. Its data,
    final_test, run folder and seed come from this experiment."""
    pretrain: bool = True
    """Pretrain the language model and start the classifier from it; false trains the classifier from
    scratch with the same fine-tuning budget (the `scratch` variant, the control)."""
    final_test: bool = False
    """Read the test split and report test accuracy (a final evaluation only)."""
    budget_from: str | None = None
    """Take again the steps of an earlier run instead of the time budgets: its run folder (holding
    lm/ and classifier/) or its results file (`python -m benchmarks.imdb_pretrain`'s, with
    lm_budget and classifier_budget). Each stage replays that run's steps and the refits of its
    schedule, whatever this machine's speed, so a time-budgeted result is reproduced at fixed
    step counts. The time budgets are then not used."""

    def __post_init__(self):
        parse_budget(self.lm_budget)  # a budget of 0, or one that is not a length: one line
        parse_budget(self.finetune_budget)
        if self.classifier.variant != "transformer":
            raise ValueError(f"classifier.variant must be 'transformer', got {self.classifier.variant!r}")
        for stage in self.replayed_stages():  # a plan that cannot be read fails here, before any work
            budget_plan(self.budget_from, stage)

    def replayed_stages(self) -> tuple[str, ...]:
        """The stages whose steps budget_from gives: both, or the fine-tuning alone for the control."""
        if not self.budget_from:
            return ()
        return ("lm", "classifier") if self.pretrain else ("classifier",)


# --------------------------------------------------------------------------------------------
# the task


def review_stream(texts: list[str], tokenizer) -> list[int]:
    """All reviews as one token stream, each followed by the pad id as a separator.

    The classifier never reads the pad token (padding is masked), so the language model can use it
    to learn where one review ends and an unrelated one begins.
    """
    stream: list[int] = []
    for text in texts:
        stream.extend(tokenizer.encode(text))
        stream.append(tokenizer.pad_id)
    return stream


def pretrain(cfg: ExperimentConfig, imdb, tokenizer, folder: Path, replay: BudgetPlan | None = None) -> dict:
    """Stage 2: train the GPT on train/unsup, validate on the validation split's reviews.

    Continues from folder's checkpoint if an earlier attempt left one (with a fresh time budget).
    replay: an earlier run's steps to take instead of the time budget."""
    start = time.perf_counter()
    stream = {"train": review_stream(imdb["unsup"].texts, tokenizer),
              "val": review_stream(imdb["val"].texts, tokenizer)}
    chars = {"train": sum(map(len, imdb["unsup"].texts)), "val": sum(map(len, imdb["val"].texts))}
    data = LMData(stream, cfg.lm.context_len, {k: chars[k] / len(v) for k, v in stream.items()})
    encode_s = time.perf_counter() - start
    model_cfg = dataclasses.replace(cfg.lm, vocab_size=tokenizer.vocab_size)
    torch.manual_seed(cfg.lm_train.seed)
    model = GPT(model_cfg)
    run_config = {"model": dataclasses.asdict(model_cfg), "train": dataclasses.asdict(cfg.lm_train),
                  "data": dataclasses.asdict(cfg.data), "tokenizer": cfg.tokenizer.kind}
    trainer = Trainer(model, cfg.lm_train, data, run_dir=folder, tokenizer=tokenizer, run_config=run_config,
                      model_kind="gpt")
    if (folder / "checkpoint.pt").exists():
        trainer.resume(folder)
    elif trainer.run_dir is not None:
        trainer.run_dir.write_start(run_config, str(trainer.device))
    fit = fit_within_budget(trainer, 0 if replay else parse_budget(cfg.lm_budget), fit_schedule=True,
                            replay=replay)  # saves the checkpoint too
    # - fit() validated at its last step, unless the time ran out first: {'val_loss', 'val_bpc'}
    val = {k: v for k, v in fit.items() if k.startswith("val_")} or trainer.evaluate()
    return {"tokens": len(stream["train"]), "encode_s": round(encode_s, 1), "steps": fit["step"],
            "train_s": round(fit["train_s"], 1), "tokens_seen": fit["step"] * cfg.lm_train.batch_size * cfg.lm.context_len,
            "params": model.num_params(), **{k: round(v, 4) for k, v in val.items() if isinstance(v, float)}}


def classifier_run_config(cfg: ExperimentConfig, folder: Path, init: Path | None) -> ClassifierRunConfig:
    """The run config of a fine-tuning (init = the LM folder) or of the from-scratch control."""
    # - the LM's architecture (vocab_size comes from the tokenizer later)
    model = dataclasses.replace(cfg.classifier, **{k: getattr(cfg.lm, k) for k in ARCHITECTURE_FIELDS
                                                   if k != "vocab_size"})
    return ClassifierRunConfig(model=model, train=cfg.finetune, data=cfg.data, batching=cfg.batching,
                               tokenizer=cfg.tokenizer, budget=cfg.finetune_budget,
                               final_test=cfg.final_test, out_dir=str(folder.parent), name=folder.name,
                               init=str(init) if init else None, fit_schedule_to_budget=True)


def classifier_stage(run_cfg: ClassifierRunConfig, tokenizer, data,
                     replay: BudgetPlan | None = None) -> tuple[dict, dict]:
    """Train a classifier into run_cfg's folder, or read it back if an earlier attempt finished it:
    (its results, its label probabilities per scored split). replay: an earlier run's steps."""
    folder = Path(run_cfg.out_dir) / run_cfg.name
    if (folder / "results.json").exists() and (folder / "probs.pt").exists():
        return json.loads((folder / "results.json").read_text()), torch.load(folder / "probs.pt")
    probs: dict = {}  # split -> (N, K) label probabilities
    _, result = train_classifier(run_cfg, tokenizer, data, probs_out=probs, resume=True, replay=replay)
    torch.save(probs, folder / "probs.pt")
    return result, probs


def with_seed(cfg: ExperimentConfig, seed: int) -> ExperimentConfig:
    """The run's seed in every stage: pretraining, fine-tuning and the partner."""
    partner = cfg.partner and dataclasses.replace(cfg.partner, train=dataclasses.replace(cfg.partner.train, seed=seed))
    return dataclasses.replace(cfg, lm_train=dataclasses.replace(cfg.lm_train, seed=seed),
                               finetune=dataclasses.replace(cfg.finetune, seed=seed), partner=partner)


def stages(cfg: ExperimentConfig, root: Path) -> dict:
    """All stages of one run into root/{lm, classifier, partner}; every figure, with each stage's wall-clock.

    {'prepare_s', 'lm' (with pretraining), 'finetuned', 'transformer_s', 'total_s', and with a partner
    'partner' and 'ensemble'}. A stage that finished in an earlier attempt is read back, not redone."""
    start = time.perf_counter()
    results: dict = {}
    plans = {stage: budget_plan(cfg.budget_from, stage) for stage in cfg.replayed_stages()}  # steps to replay

    # 1. data and tokenizer (learned on the labelled training split only; a resumed run keeps its own)
    imdb = load_imdb(cfg.data, final_test=cfg.final_test, unsup=cfg.pretrain)
    for note in imdb.notes:
        print(f"note: {note}")
    if (root / "lm" / "checkpoint.pt").exists():
        tokenizer = load_language_model(root / "lm").tokenizer
    else:
        tokenizer = build_tokenizer(cfg.tokenizer, imdb["train"].texts)
    results["prepare_s"] = round(time.perf_counter() - start, 1)
    print(f"tokenizer: {cfg.tokenizer.kind}, {tokenizer.vocab_size} tokens ({results['prepare_s']} s)", flush=True)

    # 2. pretraining (a finished stage leaves lm/results.json)
    if cfg.pretrain:
        done = root / "lm" / "results.json"
        if not done.exists():
            done.parent.mkdir(parents=True, exist_ok=True)
            done.write_text(json.dumps(pretrain(cfg, imdb, tokenizer, root / "lm", plans.get("lm")), indent=2) + "\n")
        results["lm"] = json.loads(done.read_text())
        print(f"pretrained: {json.dumps(results['lm'])}", flush=True)

    # 3. fine-tuning, from the language model (or from scratch: the control)
    run_cfg = classifier_run_config(cfg, root / "classifier", init=root / "lm" if cfg.pretrain else None)
    _, data, _ = prepare_data(run_cfg, imdb=imdb, tokenizer=tokenizer)
    results["finetuned"], probs = classifier_stage(run_cfg, tokenizer, data, plans.get("classifier"))
    results["transformer_s"] = results["total_s"] = round(time.perf_counter() - start, 1)
    print(f"fine-tuned: {json.dumps(results['finetuned'])}", flush=True)

    # 4. optional: a partner classifier, and the ensemble of the two (averaged probabilities)
    if cfg.partner is not None:
        partner_cfg = dataclasses.replace(cfg.partner, data=cfg.data, final_test=cfg.final_test,
                                          out_dir=str(root), name="partner")
        partner_tokenizer, partner_data, _ = prepare_data(partner_cfg, imdb=imdb)
        results["partner"], partner_probs = classifier_stage(partner_cfg, partner_tokenizer, partner_data)
        results["ensemble"] = {}
        for split, p in probs.items():
            mean = (p + partner_probs[split]) / 2  # (N, K)
            results["ensemble"][f"{split}_acc"] = accuracy(mean, data.labels[split])
        results["total_s"] = round(time.perf_counter() - start, 1)
        print(f"partner: {json.dumps(results['partner'])}\nensemble: {json.dumps(results['ensemble'])}", flush=True)

    (root / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    return results


def run(cfg: ExperimentConfig, run: Run) -> dict[str, float]:
    """One run: every stage with the run's seed; the figures a row needs."""
    results = stages(with_seed(cfg, run.seed), run.dir)
    finetuned = results["finetuned"]
    metrics = {"val_acc": finetuned["val_acc"], "finetune_steps": finetuned["step"], "total_s": results["total_s"]}
    if "test_acc" in finetuned:
        metrics["test_acc"] = finetuned["test_acc"]
    if "lm" in results:
        metrics |= {"lm_val_bpc": results["lm"].get("val_bpc"), "lm_tokens_seen": results["lm"]["tokens_seen"]}
    for key in ("partner", "ensemble"):
        for split in ("val", "test"):
            if f"{split}_acc" in results.get(key, {}):
                metrics[f"{key}_{split}_acc"] = results[key][f"{split}_acc"]
    return metrics


# --------------------------------------------------------------------------------------------
# the variants: the recipe, and its control

VARIANTS = {
    "pretrained": {},
    "scratch": {"pretrain": False},
}

# --scale gpu (not tried here): a GPT-1-sized model with longer budgets on one GPU
SCALES = {
    "cpu": {},
    "gpu": {"lm.d_model": 768, "lm.n_heads": 12, "lm.n_layers": 12, "lm_train.batch_size": 32,
            "lm_train.lr": 3e-3, "lm_train.device": "auto", "lm_train.dtype": "auto", "lm_train.compile": True,
            "finetune.device": "auto", "finetune.dtype": "auto", "finetune.lr": 1e-4,
            "tokenizer.vocab_size": 16000, "lm_budget": "3h", "finetune_budget": "30m"},
}


# --------------------------------------------------------------------------------------------
# the metrics


def percent(name: str, label: str, headline: bool = False) -> Metric:
    return Metric(name, "%", scale=100, baseline=0.5, headline=headline, digits=2, label=label)


METRICS = [
    percent("val_acc", "validation accuracy", headline=True),
    percent("test_acc", "test accuracy", headline=True),
    percent("partner_val_acc", "partner's validation accuracy"),
    percent("partner_test_acc", "partner's test accuracy"),
    percent("ensemble_val_acc", "ensemble's validation accuracy"),
    percent("ensemble_test_acc", "ensemble's test accuracy"),
    Metric("lm_val_bpc", "bits/char", higher_is_better=False, label="language model's validation bpc"),
    Metric("lm_tokens_seen", "tokens", digits=0, label="pretraining tokens"),
    Metric("finetune_steps", "steps", digits=0, label="fine-tuning steps"),
    Metric("total_s", "s", higher_is_better=False, digits=0, label="wall-clock of the classifier"),
]

EXPERIMENT = Experiment(
    name="imdb-pretrain",
    help="pretrain a GPT on IMDb's unlabelled reviews, then fine-tune it as a sentiment classifier",
    config=ExperimentConfig,
    run=run,
    variants=VARIANTS,
    metrics=METRICS,
    scales=SCALES,
    seeds=1,
    quick={"tokenizer.kind": "word", "tokenizer.vocab_size": 60, "lm.d_model": 16, "lm.n_heads": 2, "lm.n_layers": 1,
           "lm.context_len": 32, "lm_train.batch_size": 4, "batching.max_len": 32, "lm_train.max_steps": 30,
           "finetune.max_steps": 40, "finetune.warmup_steps": 5, "lm_budget": "60s",
           "finetune_budget": "60s"},
)
