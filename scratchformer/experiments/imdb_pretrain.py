"""Experiment `imdb-pretrain`: does pretraining a GPT on unlabelled reviews make a better classifier?

GPT-1's recipe (Radford et al. 2018) at course scale, in three stages:

  1. tokenizer   learned on the labelled training split only
  2. pretrain    a GPT, as a language model, on IMDb's 50,000 unlabelled reviews (train/unsup),
                 one token stream with a separator between reviews      -> NAME/lm/
  3. fine-tune   a transformer classifier that starts from the GPT's embeddings and blocks
                 (attention made bidirectional, mean pooling, a new linear head, layer-wise
                 learning-rate decay)                                        -> NAME/classifier/

  optional partner: a second classifier (say, pooling + hashed bigrams) trained beside it; the
                   ensemble averages the two models' probabilities           -> NAME/partner/
  optional control: the same classifier trained from scratch with the same fine-tuning budget -> NAME/scratch/

Each stage has a time budget; the learning-rate schedule is fitted to it, so every run ends with
a fully decayed rate whatever the machine's speed. The test split is read only with --final_test.
NAME/results.json holds every figure, with the wall-clock of each stage:

    scratchformer experiment imdb-pretrain --config configs/imdb_pretrain.yaml \\
        --data.source ../shared/data/aclImdb.tar.gz --final_test true

The classifier folder is an ordinary classifier run: `scratchformer classify --run NAME/classifier --text "..."`.
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
from scratchformer.models.classifier import ARCHITECTURE_FIELDS, ClassifierConfig
from scratchformer.models.gpt import GPT, GPTConfig
from scratchformer.tasks.classification import (ClassifierRunConfig, TokenizerConfig, accuracy,
                                                   build_tokenizer, fit_within_budget, prepare_data,
                                                   train_classifier)
from scratchformer.training.run_dir import new_run_folder
from scratchformer.training.trainer import TrainConfig, Trainer

HELP = "pretrain a GPT on IMDb's unlabelled reviews, then fine-tune it as a sentiment classifier"


def default_lm() -> GPTConfig:
    return GPTConfig(d_model=128, n_heads=4, n_layers=4, context_len=512, dropout=0.0, bias=False,
                     norm="rmsnorm", position="rope")


def default_lm_train() -> TrainConfig:
    return TrainConfig(max_steps=100_000, batch_size=16, optimizer="muon", lr=1e-2, min_lr=1e-3,
                       warmup_steps=50, beta2=0.99, eval_interval=0, eval_batches=20, progress=False, seed=0)


def default_finetune() -> TrainConfig:
    return TrainConfig(max_steps=100_000, batch_size=32, lr=1e-3, min_lr=1e-5, warmup_steps=50,
                       weight_decay=0.1, layer_lr_decay=0.7, eval_interval=0, progress=False, seed=0)


@dataclass
class ExperimentConfig:
    """The three stages, their models and their time budgets."""

    data: IMDbConfig = field(default_factory=IMDbConfig)
    tokenizer: TokenizerConfig = field(default_factory=lambda: TokenizerConfig(kind="bpe", vocab_size=8000))
    lm: GPTConfig = field(default_factory=default_lm)
    """The language model; the classifier takes the same architecture."""
    lm_train: TrainConfig = field(default_factory=default_lm_train)
    """Pretraining (max_steps is lowered to fit lm_time_budget_s)."""
    lm_time_budget_s: float = 2200.0
    """Seconds of language-model pretraining."""
    classifier: ClassifierConfig = field(default_factory=lambda: ClassifierConfig(causal=False, dropout=0.1,
                                                                                   attn_dropout=0.0))
    """Classifier options other than the architecture: pooling, causal, dropout."""
    finetune: TrainConfig = field(default_factory=default_finetune)
    """Fine-tuning (max_steps is lowered to fit finetune_time_budget_s)."""
    finetune_time_budget_s: float = 900.0
    """Seconds of fine-tuning."""
    batching: BatchingConfig = field(default_factory=lambda: BatchingConfig(max_len=400, truncate="both"))
    """How reviews are cut and batched for the classifier."""
    partner: ClassifierRunConfig | None = None
    """Optional: a second classifier (e.g. the settings of configs/imdb_bigram.yaml) trained beside the
    fine-tuned transformer, within total_s; the two models' averaged probabilities are reported as an
    ensemble. Its data, final_test, out_dir, name and threads come from this experiment."""
    control: bool = False
    """Also train the same classifier from scratch with the fine-tuning budget, for comparison."""
    final_test: bool = False
    """Read the test split and report test accuracy (a final evaluation only)."""
    threads: int = 0
    """CPU threads for PyTorch; 0 keeps the default."""
    out_dir: str = "runs"
    """Folder that holds run folders."""
    name: str | None = None
    """Run folder name; None makes one from the time. An existing run is never overwritten."""

    def __post_init__(self):
        if self.lm_time_budget_s <= 0 or self.finetune_time_budget_s <= 0:
            raise ValueError("lm_time_budget_s and finetune_time_budget_s must be positive")
        if self.threads < 0:
            raise ValueError(f"threads must be >= 0, got {self.threads}")
        if self.classifier.variant != "transformer":
            raise ValueError(f"classifier.variant must be 'transformer', got {self.classifier.variant!r}")


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


def pretrain(cfg: ExperimentConfig, imdb, tokenizer, folder: Path) -> dict:
    """Stage 2: train the GPT on train/unsup, validate on the validation split's reviews."""
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
    if trainer.run_dir is not None:
        trainer.run_dir.write_start(run_config, str(trainer.device))
    fit = fit_within_budget(trainer, cfg.lm_time_budget_s, fit_schedule=True)  # saves the checkpoint too
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
                               tokenizer=cfg.tokenizer, time_budget_s=cfg.finetune_time_budget_s,
                               final_test=cfg.final_test, out_dir=str(folder.parent), name=folder.name,
                               threads=cfg.threads, init=str(init) if init else None, fit_schedule_to_budget=True)


def run(cfg: ExperimentConfig) -> dict:
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    root = new_run_folder(cfg.out_dir, cfg.name, prefix="imdb-pretrain")
    start = time.perf_counter()
    results: dict = {"config": json.loads(json.dumps(dataclasses.asdict(cfg)))}

    # 1. data and tokenizer (learned on the labelled training split only)
    imdb = load_imdb(cfg.data, final_test=cfg.final_test, unsup=True)
    for note in imdb.notes:
        print(f"note: {note}")
    tokenizer = build_tokenizer(cfg.tokenizer, imdb["train"].texts)
    results["prepare_s"] = round(time.perf_counter() - start, 1)
    print(f"tokenizer: {cfg.tokenizer.kind}, {tokenizer.vocab_size} tokens ({results['prepare_s']} s)", flush=True)

    # 2. pretraining
    results["lm"] = pretrain(cfg, imdb, tokenizer, root / "lm")
    print(f"pretrained: {json.dumps(results['lm'])}", flush=True)

    # 3. fine-tuning, from the language model
    run_cfg = classifier_run_config(cfg, root / "classifier", init=root / "lm")
    _, data, _ = prepare_data(run_cfg, imdb=imdb, tokenizer=tokenizer)
    probs: dict = {}  # split -> (N, K) label probabilities of the fine-tuned classifier
    _, results["finetuned"] = train_classifier(run_cfg, tokenizer, data, probs_out=probs)
    results["transformer_s"] = results["total_s"] = round(time.perf_counter() - start, 1)
    print(f"fine-tuned: {json.dumps(results['finetuned'])}", flush=True)

    # 4. optional: a partner classifier, and the ensemble of the two (averaged probabilities)
    if cfg.partner is not None:
        partner_cfg = dataclasses.replace(cfg.partner, data=cfg.data, final_test=cfg.final_test,
                                          out_dir=str(root), name="partner", threads=cfg.threads)
        partner_tokenizer, partner_data, _ = prepare_data(partner_cfg, imdb=imdb)
        partner_probs: dict = {}
        _, results["partner"] = train_classifier(partner_cfg, partner_tokenizer, partner_data, probs_out=partner_probs)
        results["ensemble"] = {}
        for split, p in probs.items():
            mean = (p + partner_probs[split]) / 2  # (N, K)
            results["ensemble"][f"{split}_acc"] = accuracy(mean, data.labels[split])
        results["total_s"] = round(time.perf_counter() - start, 1)
        print(f"partner: {json.dumps(results['partner'])}\nensemble: {json.dumps(results['ensemble'])}", flush=True)

    # optional control: the same classifier from scratch, same budget (not counted in total_s)
    if cfg.control:
        _, results["scratch"] = train_classifier(classifier_run_config(cfg, root / "scratch", init=None), tokenizer, data)
        print(f"from scratch: {json.dumps(results['scratch'])}", flush=True)

    root.mkdir(parents=True, exist_ok=True)
    (root / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    print(f"results: {root / 'results.json'} (total {results['total_s']} s)")
    return results
