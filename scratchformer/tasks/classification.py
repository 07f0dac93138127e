"""Train an IMDb sentiment classifier end to end, evaluate it, and reload it from its run folder.

    IMDb reviews ─► tokenizer (train split only) ─► ClassificationData ─► Classifier ─► Trainer
                                                                    ─► runs/NAME/{config.yaml, checkpoint.pt, results.json}

Accuracy is measured on the *whole* validation split after training; the test split is read
and scored only when `final_test` is set (a final evaluation, never for choosing settings).
"""

from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

from scratchformer.data.imdb import IMDb, IMDbConfig, LABELS, load_imdb
from scratchformer.data.text_batches import BatchingConfig, ClassificationData, pad_batch, truncate
from scratchformer.data.tokenizers import TOKENIZERS, tokenizer_from_dict
from scratchformer.errors import UserError
from scratchformer.models.classifier import ARCHITECTURE_FIELDS, Classifier, ClassifierConfig, init_from_gpt
from scratchformer.training.checkpoint import load_checkpoint, load_weights
from scratchformer.tasks.language_model import load_run
from scratchformer.training.trainer import TrainConfig, Trainer

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


def default_train() -> TrainConfig:
    return TrainConfig(max_steps=1000, batch_size=64, lr=2e-3, min_lr=1e-4, warmup_steps=50,
                       weight_decay=0.1, eval_interval=0, eval_batches=10, progress=False, seed=0)


@dataclass
class ClassifierRunConfig:
    """A whole classifier run: what the configs/imdb*.yaml presets describe."""

    model: ClassifierConfig = field(default_factory=ClassifierConfig)
    train: TrainConfig = field(default_factory=default_train)
    data: IMDbConfig = field(default_factory=IMDbConfig)
    batching: BatchingConfig = field(default_factory=BatchingConfig)
    tokenizer: TokenizerConfig = field(default_factory=TokenizerConfig)
    time_budget_s: float = 0.0
    """Stop training after this many seconds even if max_steps is not reached; 0 means no limit."""
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
    """With time_budget_s: lower max_steps, re-estimated as training goes, so the schedule ends with the budget."""

    def __post_init__(self):
        if self.init is not None and self.model.variant != "transformer":
            raise ValueError(f"init (a pretrained language model) needs model.variant 'transformer', "
                             f"got {self.model.variant!r}")
        if self.time_budget_s < 0:
            raise ValueError(f"time_budget_s must be >= 0, got {self.time_budget_s}")
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
        imdb = load_imdb(cfg.data, final_test=cfg.final_test)
        for note in imdb.notes:
            print(f"note: {note}")
    if tokenizer is None and cfg.init is not None:
        # - a classifier that starts from a language model must read text the way the model learned it
        tokenizer = load_run(cfg.init)[1]
    if tokenizer is None:
        tokenizer = build_tokenizer(cfg.tokenizer, imdb["train"].texts)
    splits = [s for s in ("train", "val", "test") if s in imdb.splits]
    ids = {s: [tokenizer.encode(t) for t in imdb[s].texts] for s in splits}
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
    return dataclasses.replace(model, vocab_size=tokenizer.vocab_size,
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
    device = next(model.parameters()).device
    probs = torch.zeros(len(data.ids[split]), model.config.n_classes)
    for indices, (tokens, _, mask) in data.in_order(split, batch_size):
        with torch.autocast(device.type, dtype=dtype, enabled=dtype != torch.float32):
            logits, _ = model(tokens.to(device), padding_mask=mask.to(device))  # (B, K)
        probs[indices] = logits.float().softmax(-1).cpu()
    return probs


def accuracy(probs: torch.Tensor, labels: torch.Tensor) -> float:
    """Fraction of reviews whose most likely label is right. probs: (N, K), labels: (N,)."""
    return (probs.argmax(-1) == labels).double().mean().item() if len(probs) else 0.0


def fit_within_budget(trainer: Trainer, time_budget_s: float, chunk: int = 100, fit_schedule: bool = False) -> dict:
    """trainer.fit() in chunks of steps, stopping early once time_budget_s has passed (0: no limit).

    fit_schedule: after every chunk, set max_steps to the steps the time left allows at the speed
    so far, so the learning-rate schedule ends with the budget (fully decayed) instead of being cut
    off. The estimate settles as training goes; the rate moves smoothly as it does.
    Ctrl-C or SIGTERM stops the trainer after its current step; then this raises KeyboardInterrupt.
    """
    start = time.perf_counter()
    if not time_budget_s:
        result = trainer.fit()
    else:
        result, first_step, steps = {}, trainer.step, 10  # a short first chunk measures the speed
        limit = trainer.cfg.max_steps
        while trainer.step < trainer.cfg.max_steps and "interrupted" not in result:
            result = trainer.fit(until=trainer.step + steps)
            elapsed = time.perf_counter() - start
            if elapsed > time_budget_s:
                break
            # - a schedule fitted to the budget has ended: the budget is spent (extending it by the
            #   few seconds the estimate still allows would only validate again at each new end)
            if fit_schedule and trainer.step >= trainer.cfg.max_steps:
                break
            # - the next chunk: as many steps as the time left allows at the speed so far, at most `chunk`
            per_step = elapsed / (trainer.step - first_step)
            affordable = int((time_budget_s - elapsed) / per_step)
            if fit_schedule:
                max_steps = min(limit, trainer.step + max(1, affordable))
                trainer.cfg = dataclasses.replace(trainer.cfg, max_steps=max_steps)
            steps = max(1, min(chunk, affordable))
    if "interrupted" in result:
        raise KeyboardInterrupt(result["interrupted"])
    return {**result, "step": trainer.step, "train_s": time.perf_counter() - start}


def train_classifier(cfg: ClassifierRunConfig, tokenizer, data: ClassificationData,
                     run_config: dict | None = None, probs_out: dict | None = None,
                     resume: bool = False) -> tuple[Classifier, dict]:
    """Train one classifier and measure it: {'val_acc', ['test_acc'], 'params', 'train_s', 'step', ...}.

    probs_out: a dict to fill with each scored split's label probabilities, (N, K) (for ensembles).
    resume: continue from the checkpoint in the run folder if there is one (an experiment's
    unfinished run) instead of refusing the folder; a time budget starts afresh.
    """
    lm = load_run(cfg.init)[0] if cfg.init is not None else None
    model_cfg = model_config_for(cfg, tokenizer, lm)
    torch.manual_seed(cfg.train.seed)
    model = Classifier(model_cfg)
    if lm is not None:
        if lm.config.vocab_size != tokenizer.vocab_size:
            raise UserError(f"the language model in {cfg.init} reads {lm.config.vocab_size} token ids but the "
                            f"tokenizer has {tokenizer.vocab_size}; fine-tune with the model's own tokenizer")
        init_from_gpt(model, lm)
    folder = run_folder(cfg, resume) if cfg.save else None
    run_config = run_config or json.loads(json.dumps(dataclasses.asdict(cfg)))
    run_config["model"] = dataclasses.asdict(model_cfg)
    trainer = Trainer(model, cfg.train, data, run_dir=folder, tokenizer=tokenizer, run_config=run_config,
                      model_kind="classifier")
    if resume and folder is not None and (folder / "checkpoint.pt").exists():
        trainer.resume(folder)
    elif trainer.run_dir is not None:  # issue 4: under torchrun only rank 0 has a run folder
        trainer.run_dir.write_start(run_config, str(trainer.device))
    fit = fit_within_budget(trainer, cfg.time_budget_s, fit_schedule=cfg.fit_schedule_to_budget)
    result = {"step": fit["step"], "train_s": round(fit["train_s"], 1), "params": model.num_params(),
              "val_loss": fit.get("val_loss")}
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


def run_folder(cfg: ClassifierRunConfig, resume: bool = False) -> Path:
    """Where this run writes; refuses to reuse a folder that already holds a run (unless resuming it)."""
    name = cfg.name or time.strftime("imdb-%Y%m%d-%H%M%S")
    path = Path(cfg.out_dir) / name
    if (path / "checkpoint.pt").exists() and not resume:
        raise UserError(f"run folder {path} already holds a run; pick another --name")
    return path


# --------------------------------------------------------------------------------------------
# using a trained classifier


def load_classifier(path: str | Path, device: str = "cpu"):
    """(model, tokenizer, batching config) from a classifier run folder or checkpoint file."""
    state = load_checkpoint(path, map_location=device)
    if state.get("kind") != "classifier":
        raise UserError(f"{path} holds a {state.get('kind')!r} model, not a classifier; "
                        "give a run folder made by `scratchformer train-classifier`")
    try:
        model = Classifier(ClassifierConfig(**state["model_config"]))
        batching = BatchingConfig(**state.get("run_config", {}).get("batching", {}))
    except (TypeError, ValueError) as e:
        raise UserError(f"checkpoint {path} holds an invalid classifier config ({e})") from None
    load_weights(model, state["model"], source=f"checkpoint {path}")
    if state.get("tokenizer") is None:
        raise UserError(f"checkpoint {path} has no tokenizer, so it cannot read text")
    return model.to(device).eval(), tokenizer_from_dict(state["tokenizer"]), batching


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
    return LABELS[k], float(probs[k])
