"""Train an IMDb sentiment classifier end to end, evaluate it, and reload it from its run folder.

    IMDb reviews ─► tokenizer (train split only) ─► ClassificationData ─► Classifier ─► Trainer
                                                                    ─► runs/NAME/{config.yaml, checkpoint.pt, results.json}

Accuracy is measured on the *whole* validation split after training; the test split is read
and scored only when `final_test` is set (a final evaluation, never for choosing settings).
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path

import torch

from scratchformer.data.imdb import IMDb, LABELS
from scratchformer.data.token_cache import encode_cached, learn_tokenizer_cached
from scratchformer.data.labelled_texts import TextDataConfig, load_classification_data
from scratchformer.data.text_batches import BatchingConfig, ClassificationData, pad_batch, truncate
from scratchformer.data.tokenizers import TOKENIZERS
from scratchformer.devices import model_device
from scratchformer.errors import UserError
from scratchformer.models.classifier import ARCHITECTURE_FIELDS, Classifier, ClassifierConfig, init_from_gpt
from scratchformer.tasks.runs import load_language_model, load_run
from scratchformer.training.budget import (BudgetPlan, budget_plan, budget_seconds,  # noqa: F401 (re-exported)
                                           fit_within_budget)
from scratchformer.training.run_dir import new_run_folder
from scratchformer.training.trainer import TrainConfig, Trainer, train_defaults

SUBWORD_TRAIN_TEXTS = 25000  # BPE learns its merges from at most this many training reviews


@dataclass
class TokenizerConfig:
    """How reviews become token ids."""

    kind: str = "word"
    """word (lowercased words and punctuation) or bpe (byte-level subwords)."""
    vocab_size: int = 30000
    """Vocabulary size, special tokens included."""

    def __post_init__(self):
        if self.kind not in ("word", "bpe"):
            raise ValueError(f"tokenizer kind must be 'word' or 'bpe', got {self.kind!r}")
        if self.vocab_size < 3:
            raise ValueError(f"vocab_size must be at least 3, got {self.vocab_size}")


# - a classifier's training, as changes to the engine's TrainConfig defaults (see task_train_config)
CLASSIFIER_TRAIN = dict(max_steps=1000, batch_size=64, lr=2e-3, warmup_steps=50, eval_interval=0,
                        eval_batches=10, seed=0)


@dataclass
class ClassifierRunConfig:
    """A whole classifier run: what the configs/imdb*.yaml presets describe."""

    model: ClassifierConfig = field(default_factory=ClassifierConfig)
    train: TrainConfig = field(default_factory=train_defaults(CLASSIFIER_TRAIN))
    data: TextDataConfig = field(default_factory=TextDataConfig)
    batching: BatchingConfig = field(default_factory=BatchingConfig)
    tokenizer: TokenizerConfig = field(default_factory=TokenizerConfig)
    budget: str | None = None
    """Stop training after this long (90s, 10m, 1h) even if max_steps is not reached; None: no limit.
    The steps taken depend on the machine's speed: the run folder's budget.json records them."""
    eval_batch_size: int = 128
    """Reviews per batch when measuring accuracy."""
    final_test: bool = False
    """Read the test split and report test accuracy at the end (a final evaluation only)."""
    out_dir: str = "runs"
    """Folder that holds run folders."""
    name: str | None = None
    """Run folder name; None makes one from the time. An existing run is never overwritten."""
    save: bool = True
    """Write a run folder with the checkpoint (the ablation turns this off)."""
    threads: int = 0
    """CPU threads for PyTorch (set by the commands); 0 keeps the default. 1 is fastest on shared cores."""
    init: str | None = None
    """A language-model run folder or checkpoint (e.g. the lm/ folder of `experiment imdb-pretrain`).
    Its tokenizer is used, and its embeddings and blocks start the transformer classifier; the
    architecture (d_model, n_layers, position, ...) comes from it, the rest of --model from here."""
    fit_schedule_to_budget: bool = False
    """With a budget: lower max_steps, re-estimated as training goes, so the schedule ends with the budget."""
    budget_from: str | None = None
    """A previous run folder: take exactly the steps it took (and its schedule's refits) with no time
    budget, so a budgeted run is reproduced whatever this machine's speed. Overrides budget."""

    def __post_init__(self):
        if self.init is not None and self.model.variant != "transformer":
            raise ValueError(f"init (a pretrained language model) needs model.variant 'transformer', "
                             f"got {self.model.variant!r}")
        budget_seconds(self.budget)  # None, or a length: a budget of 0 or one that is not a length is one line
        if self.threads < 0:
            raise ValueError(f"threads must be >= 0, got {self.threads}")
        if self.eval_batch_size < 1:
            raise ValueError(f"eval_batch_size must be at least 1, got {self.eval_batch_size}")


# --------------------------------------------------------------------------------------------
# data


def build_tokenizer(cfg: TokenizerConfig, train_texts: list[str]):
    """Train the tokenizer on the training split only (never on validation or test text)."""
    if cfg.kind == "bpe":
        return TOKENIZERS["bpe"].train(train_texts[:SUBWORD_TRAIN_TEXTS], vocab_size=cfg.vocab_size, fast=True)
    return TOKENIZERS["word"].train(train_texts, vocab_size=cfg.vocab_size)


def prepare_data(cfg: ClassifierRunConfig, imdb: IMDb | None = None, tokenizer=None):
    """(tokenizer, ClassificationData, imdb) for a run. Pass `imdb`/`tokenizer` to reuse them across runs."""
    if imdb is None:
        imdb = load_classification_data(cfg.data, final_test=cfg.final_test)
        for note in imdb.notes:
            print(f"note: {note}")
    # - the class names go into the config, so the model (and its checkpoint) knows what each id means
    if getattr(imdb, "classes", None) is not None:
        cfg.data.classes = list(imdb.classes)
    if tokenizer is None and cfg.init is not None:
        # - a classifier that starts from a language model must read text the way the model learned it
        tokenizer = load_language_model(cfg.init, command="train-classifier --init").tokenizer
    # - tokenizer and token ids come from the cache when these texts were seen with these settings before
    cache = cfg.data.cache_dir if getattr(cfg.data, "cache_tokens", False) else None
    cached = []
    if tokenizer is None:
        settings = {**dataclasses.asdict(cfg.tokenizer), "max_texts": SUBWORD_TRAIN_TEXTS}
        tokenizer, hit = learn_tokenizer_cached(lambda: build_tokenizer(cfg.tokenizer, imdb["train"].texts),
                                                settings, imdb["train"].texts, cache)
        cached += ["tokenizer"] * hit
    splits = [s for s in ("train", "val", "test") if s in imdb.splits]
    ids = {}
    for s in splits:
        ids[s], hit = encode_cached(tokenizer, imdb[s].texts, cache)
        cached += [s] * hit
    if cached:
        print(f"{', '.join(cached)} read from the cache in {Path(cache).expanduser()} (tokenized once)")
    labels = {s: imdb[s].labels for s in splits}
    return tokenizer, ClassificationData(ids, labels, cfg.batching, pad_id=tokenizer.pad_id), imdb


def model_config_for(cfg: ClassifierRunConfig, tokenizer, lm=None) -> ClassifierConfig:
    """The model config with vocab_size from the tokenizer and context_len from the truncation length.

    Starting from a language model `lm` (a GPT), the architecture fields come from it.
    """
    extra = 1 if cfg.model.pooling == "cls" else 0
    model = cfg.model
    if lm is not None:
        model = dataclasses.replace(model, **{k: getattr(lm.config, k) for k in ARCHITECTURE_FIELDS})
    classes = getattr(cfg.data, "classes", None) or model.labels or list(LABELS)
    return dataclasses.replace(model, vocab_size=tokenizer.vocab_size, n_classes=len(classes), labels=list(classes),
                               context_len=max(cfg.model.context_len, cfg.batching.max_len + extra))


# --------------------------------------------------------------------------------------------
# training and evaluation


@torch.no_grad()
def probabilities(model: Classifier, data: ClassificationData, split: str, batch_size: int = 128,
                  dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """(N, K): each review's label probabilities, in the split's own order.

    dtype: bfloat16 or float16 runs the forward passes under autocast (as the model was trained).
    """
    model.eval()
    device = model_device(model)
    probs = torch.zeros(len(data.ids[split]), model.config.n_classes)
    for indices, (tokens, _, mask) in data.in_order(split, batch_size):
        with torch.autocast(device.type, dtype=dtype, enabled=dtype != torch.float32):
            logits, _ = model(tokens.to(device), padding_mask=mask.to(device))  # (B, K)
        probs[indices] = logits.float().softmax(-1).cpu()
    return probs


def accuracy(probs: torch.Tensor, labels: torch.Tensor) -> float:
    """Fraction of reviews whose most likely label is right. probs: (N, K), labels: (N,)."""
    return (probs.argmax(-1) == labels).double().mean().item() if len(probs) else 0.0


def train_classifier(cfg: ClassifierRunConfig, tokenizer, data: ClassificationData,
                     run_config: dict | None = None, probs_out: dict | None = None,
                     resume: bool = False, build_model=Classifier,
                     replay: BudgetPlan | None = None) -> tuple[Classifier, dict]:
    """Train one classifier and measure it: {'val_acc', ['test_acc'], 'params', 'train_s', 'step', ...}.

    probs_out: a dict to fill with each scored split's label probabilities, (N, K) (for ensembles).
    build_model: ClassifierConfig -> the model to train; a Classifier subclass with its own training
    loss (tasks/augmented_classification.py) saves a checkpoint that loads as a plain Classifier. If
    it has training_from(step, max_steps, grad_accum), that is called before training, after any resume.
    resume: write into out_dir/name even if it exists, continuing from its checkpoint if there is
    one (an experiment's unfinished run) instead of refusing the folder; a time budget starts afresh.
    replay: the steps of an earlier budgeted run to take again (one stage of a multi-stage run);
    without it, cfg.budget_from's folder gives them, if set.
    """
    lm = load_language_model(cfg.init, command="train-classifier --init").model if cfg.init is not None else None
    model_cfg = model_config_for(cfg, tokenizer, lm)
    torch.manual_seed(cfg.train.seed)
    model = build_model(model_cfg)
    if lm is not None:
        if lm.config.vocab_size != tokenizer.vocab_size:
            raise UserError(f"the language model in {cfg.init} reads {lm.config.vocab_size} token ids but the "
                            f"tokenizer has {tokenizer.vocab_size}; fine-tune with the model's own tokenizer")
        init_from_gpt(model, lm)
    if not cfg.save:
        folder = None
    elif resume and cfg.name is not None:  # an experiment's run: its folder, with any checkpoint to continue
        folder = Path(cfg.out_dir) / cfg.name
    else:
        folder = new_run_folder(cfg.out_dir, cfg.name, prefix="imdb")
    run_config = run_config or json.loads(json.dumps(dataclasses.asdict(cfg)))
    run_config["model"] = dataclasses.asdict(model_cfg)
    trainer = Trainer(model, cfg.train, data, run_dir=folder, tokenizer=tokenizer, run_config=run_config,
                      model_kind="classifier")
    run_config["train"] = dataclasses.asdict(trainer.cfg)  # after the checks before training
    if resume and folder is not None and (folder / "checkpoint.pt").exists():
        trainer.resume(folder)
    elif trainer.run_dir is not None:  # under torchrun only rank 0 has a run folder
        trainer.run_dir.write_start(run_config, str(trainer.device))
    if hasattr(model, "training_from"):  # (a training loss that follows the run's progress, such as TSA's)
        model.training_from(trainer.step, trainer.cfg.max_steps, trainer.cfg.grad_accum)
    if replay is None and cfg.budget_from:
        replay = budget_plan(cfg.budget_from)
    fit = fit_within_budget(trainer, 0 if replay else budget_seconds(cfg.budget),
                            fit_schedule=cfg.fit_schedule_to_budget, replay=replay)
    result = {"step": fit["step"], "train_s": round(fit["train_s"], 1), "params": model.num_params(),
              "val_loss": fit.get("val_loss"), "budget": fit["budget"]}
    for split in ("val", "test") if cfg.final_test else ("val",):
        probs = probabilities(model, data, split, cfg.eval_batch_size, trainer.dtype)  # (N, K)
        result[f"{split}_acc"] = accuracy(probs, data.labels[split])
        if probs_out is not None:
            probs_out[split] = probs
    # (the checkpoint is written: fit() saves when it returns, on every rank as FSDP needs)
    if trainer.run_dir is not None:
        (folder / "results.json").write_text(json.dumps(result, indent=2) + "\n")
        result["run"] = str(folder)
    return model.eval(), result


# --------------------------------------------------------------------------------------------
# using a trained classifier


def load_classifier(path: str | Path, device: str = "cpu", command: str = "classify"):
    """(model, tokenizer, batching config) from a classifier run folder or checkpoint file: load_run,
    plus how the run cut and padded its texts. command: who asks, for the error on another kind."""
    run = load_run(path, device, expect=("classifier",), command=command)
    try:
        batching = BatchingConfig(**run.config.get("batching", {}))
    except (TypeError, ValueError) as e:
        raise UserError(f"checkpoint {path} holds an invalid batching config ({e})") from None
    return run.model, run.tokenizer, batching


@torch.no_grad()
def classify(model: Classifier, tokenizer, text: str, batching: BatchingConfig) -> tuple[str, float]:
    """(label, probability of that label) for one review. Any text works: empty, long, non-ASCII."""
    ids = tokenizer.encode(text)
    # - cut to what the model reads, the same way as in training
    ids = truncate(ids, min(batching.max_len, model.config.max_tokens), batching.truncate)
    tokens, mask = pad_batch([ids], tokenizer.pad_id)  # (1, T) each
    logits, _ = model(tokens, padding_mask=mask)
    probs = logits.softmax(-1)[0]  # (K,)
    k = int(probs.argmax())
    return (model.config.labels or LABELS)[k], float(probs[k])
