"""Distil a trained transformer (the teacher) into an LSTM (the student), and measure both.

    teacher run ─ load ─► teacher (frozen) ──────────────────────────┐ logits on each batch
    its tokenizer ─► the same data ─► batch (+ augmented inputs) ──────┴─► DistillationData ─► Distilled(student) ─► Trainer
                                                                          (tokens, labels, ..., teacher logits)

Two kinds, as the teachers:
  distill_classifier       an IMDb classifier run (tasks.classification) -> an LSTMClassifier;
                           accuracy on the validation split
  distill_language_model   a language-model run (tasks.language_model) -> an LSTMLM under token-level KL;
                           validation loss in nats

The student reads the teacher's tokens (its vocab_size is set from the teacher), so the losses of
training.distillation compare the two output by output. Each returns a dict of metrics: the
student's and the teacher's figure, the share of the gap closed (given a hard-label student's
figure), parameters, and tokens/s on the CPU at batch 1 and 64 for both.
"""

from __future__ import annotations

import dataclasses
import json
import random
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from scratchformer.data.corpus import CorpusConfig, load_splits
from scratchformer.data.imdb import IMDb, IMDbConfig, load_imdb
from scratchformer.data.lm_data import LMData
from scratchformer.data.text_batches import ClassificationData, pad_batch
from scratchformer.data.transfer_set import AugmentConfig, augment
from scratchformer.devices import model_device
from scratchformer.errors import UserError
from scratchformer.models.generate import SamplingConfig, generate
from scratchformer.models.lstm import LSTMClassifier, LSTMClassifierConfig, LSTMLM, LSTMLMConfig
from scratchformer.tasks.classification import accuracy, load_classifier, probabilities
from scratchformer.tasks.language_model import restrict_to_vocabulary
from scratchformer.tasks.runs import load_language_model
from scratchformer.training.checkpoint import CHECKPOINT_NAME
from scratchformer.training.distillation import IGNORE, DistillLossConfig, distillation_loss
from scratchformer.training.evaluation import evaluate_loss
from scratchformer.training.trainer import TrainConfig, Trainer

UNIGRAM_SAMPLE = 100_000  # training tokens kept to draw augmentation swaps from (their frequencies, not all of them)


# --------------------------------------------------------------------------------------------
# the data: every batch carries the teacher's logits


class DistillationData:
    """Batches of `base` (ClassificationData or LMData) with the teacher's logits appended.

    A classification training batch may first have some of its inputs replaced by augmented ones
    (data.transfer_set.augment), whose label becomes -100: they teach through the teacher only.
    With use_teacher False (a hard-label student) the teacher is not run: an empty tensor stands in.
    The teacher labels each review once, the first time a batch draws it, and its logits are kept
    (Tang et al. label their transfer set once): later epochs cost the student's steps alone.
    Augmented reviews are new every time, and language-model windows start anywhere: those the
    teacher reads afresh in every batch.
    """

    def __init__(self, base, teacher: nn.Module, augment_cfg: AugmentConfig | None = None,
                 augment_share: float = 0.0, mask_id: int = 0, seed: int = 0, use_teacher: bool = True):
        self.base, self.teacher, self.use_teacher = base, teacher.eval(), use_teacher
        self.augment_cfg, self.augment_share, self.mask_id = augment_cfg, augment_share, mask_id
        self.chars_per_token = getattr(base, "chars_per_token", {})
        self.kept: dict[str, dict[int, torch.Tensor]] = {}  # split -> review index -> teacher logits (K,)
        self.unigram: list[int] = []
        if augment_share > 0:
            train = [t for s in base.ids["train"] for t in s]
            self.unigram = random.Random(seed).sample(train, min(len(train), UNIGRAM_SAMPLE)) or [mask_id]

    @torch.no_grad()
    def teacher_logits(self, tokens: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        if not self.use_teacher:
            return torch.empty(0)
        device = model_device(self.teacher)
        if mask is None:
            logits, _ = self.teacher(tokens.to(device))  # (B, T, V)
        else:
            logits, _ = self.teacher(tokens.to(device), padding_mask=mask.to(device))  # (B, K)
        return logits.float().cpu()

    def augmented(self, tokens: torch.Tensor, labels: torch.Tensor, mask: torch.Tensor, generator: torch.Generator):
        """Replace a share of the rows by augmented inputs (label -100)."""
        # - a Python RNG seeded from the trainer's generator: a resumed run augments as the first did
        rng = random.Random(int(torch.randint(2**62, (), generator=generator)))
        rows, labels = [], labels.clone()
        for i in range(tokens.size(0)):
            ids = tokens[i, mask[i]].tolist()
            if rng.random() < self.augment_share:
                ids, labels[i] = augment(ids, rng, self.augment_cfg, self.mask_id, self.unigram), IGNORE
            rows.append(ids)
        tokens, mask = pad_batch(rows, self.base.pad_id)  # (B, T) each
        return tokens, labels, mask

    def labelled(self, split: str, indices: list[int], tokens: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """The teacher's logits for the reviews at `indices` of split, (B, K): those it has not read
        yet it reads now (tokens and mask are their batch, (B, T) each), the rest come from before."""
        if not self.use_teacher:
            return torch.empty(0)
        kept = self.kept.setdefault(split, {})
        new: dict[int, int] = {}  # review not yet labelled -> its first row in the batch
        for row, i in enumerate(indices):
            if i not in kept:
                new.setdefault(i, row)
        if new:
            rows = list(new.values())
            for i, logits in zip(new, self.teacher_logits(tokens[rows], mask[rows])):  # (len(new), K)
                kept[i] = logits
        return torch.stack([kept[i] for i in indices])  # (B, K)

    def batch(self, split: str, batch_size: int, generator: torch.Generator):
        if not hasattr(self.base, "draw"):  # language modelling: (x, y) windows at any offset
            x, y = self.base.batch(split, batch_size, generator)
            return x, y, self.teacher_logits(x)
        indices = self.base.draw(split, batch_size, generator)
        tokens, labels, mask = self.base.collate(split, indices)  # (B, T), (B,), (B, T)
        if split == "train" and self.augment_share > 0:
            tokens, labels, mask = self.augmented(tokens, labels, mask, generator)
            return tokens, labels, mask, self.teacher_logits(tokens, mask)  # augmented rows: read afresh
        return tokens, labels, mask, self.labelled(split, indices, tokens, mask)


class Distilled(nn.Module):
    """The student under a distillation loss: forward(*batch, teacher_logits) -> (logits, loss).

    Only the student's weights are here (the teacher sits in the data), so the optimizer trains the
    student alone, and a checkpoint holds the student's weights under their own names: the run
    folder loads as a plain student (tasks.runs.load_run), and resumes as a distillation.
    """

    def __init__(self, student: nn.Module, loss: DistillLossConfig):
        super().__init__()
        self.student, self.loss = student, loss
        self.config = student.config

    def state_dict(self, *args, **kwargs):
        return self.student.state_dict(*args, **kwargs)

    def load_state_dict(self, state_dict, strict: bool = True, assign: bool = False):
        return self.student.load_state_dict(state_dict, strict, assign)

    def forward(self, *batch):
        *inputs, teacher_logits = batch
        teacher_logits = teacher_logits if teacher_logits.numel() else None  # (empty: a hard-label student)
        if len(inputs) == 3:  # classification: tokens, labels, padding_mask
            tokens, labels, mask = inputs
            logits, _ = self.student(tokens, padding_mask=mask)  # (B, K)
        else:  # language modelling: x, y
            tokens, labels = inputs
            logits, _ = self.student(tokens)  # (B, T, V)
        loss, _ = distillation_loss(logits, teacher_logits, labels, self.loss)
        return logits, loss


# --------------------------------------------------------------------------------------------
# metrics


def gap_closed(student: float, hard_student: float, teacher: float, higher_is_better: bool = True) -> float:
    """(student - hard) / (teacher - hard): 0 is no better than the hard-label student, 1 is the teacher.

    higher_is_better: True for accuracy, False for a loss. nan when the teacher is no better than the
    hard-label student: there is no gap to close (the ratio would read as progress when it is not)."""
    sign = 1.0 if higher_is_better else -1.0
    gap = sign * (teacher - hard_student)
    return sign * (student - hard_student) / gap if gap > 0 else float("nan")


@torch.inference_mode()
def tokens_per_second(model: nn.Module, batch_size: int, seq_len: int, vocab_size: int,
                      repeats: int = 3, min_seconds: float = 0.5) -> float:
    """Tokens read per second by `model(tokens)` on the CPU, batch_size rows of seq_len random tokens.

    One warm-up call, then calls until both `repeats` and `min_seconds` are reached."""
    model = model.eval()
    device = model_device(model)
    tokens = torch.randint(0, vocab_size, (batch_size, seq_len), device=device)  # (B, T)
    model(tokens)  # warm-up: allocations, kernel choice
    calls, start = 0, time.perf_counter()
    while calls < repeats or time.perf_counter() - start < min_seconds:
        model(tokens)
        calls += 1
    return calls * batch_size * seq_len / (time.perf_counter() - start)


def generation_ms_per_token(model: nn.Module, prompt: torch.Tensor, new_tokens: int = 64) -> float:
    """Milliseconds per generated token (greedy, with the model's cache), after a warm-up."""
    cfg = SamplingConfig(max_new_tokens=new_tokens, temperature=0.0, seed=0)
    generate(model, prompt, dataclasses.replace(cfg, max_new_tokens=2))  # warm-up
    start = time.perf_counter()
    generate(model, prompt, cfg)
    return 1000 * (time.perf_counter() - start) / new_tokens


def generation_pairs(teacher: nn.Module, student: nn.Module, prompt: torch.Tensor, new_tokens: int,
                     pairs: int) -> list[dict[str, float]]:
    """`pairs` timings of both models generating, [{'teacher': ms, 'student': ms}, ...] per token;
    who goes first alternates, so a slow moment of the machine hits both alike."""
    timings = []
    for k in range(pairs):
        order = [("teacher", teacher), ("student", student)][:: 1 if k % 2 == 0 else -1]
        timings.append({name: generation_ms_per_token(model, prompt, new_tokens) for name, model in order})
    return timings


def generation_prompt(val_tokens: torch.Tensor, context_len: int) -> tuple[torch.Tensor, int]:
    """What the generation timing reads and writes: the validation text's first 8 tokens as the
    prompt (1, 8), and how many new tokens (64, or fewer where the context is shorter)."""
    return val_tokens[:8].long()[None], max(1, min(64, context_len - 8))


def speed(prefix: str, model: nn.Module, seq_len: int, vocab_size: int) -> dict:
    """{'PREFIX_tok_s_b1', 'PREFIX_tok_s_b64'}: CPU tokens/s at batch 1 and 64."""
    return {f"{prefix}_tok_s_b{B}": round(tokens_per_second(model, B, seq_len, vocab_size))
            for B in (1, 64)}


@torch.no_grad()
def lm_loss(model: nn.Module, data: LMData, split: str = "val", batches: int = 20, batch_size: int = 16,
            seed: int = 1) -> float:
    """Mean next-token loss in nats over fixed random windows of a split (the same for every model)."""
    result = evaluate_loss(model, data, split, batches, batch_size, seed=seed, device=model_device(model))
    return result[f"{split}_loss"]


# --------------------------------------------------------------------------------------------
# the run folder


def start_trainer(model: Distilled, cfg, data, tokenizer, run_dir, kind: str) -> Trainer:
    """A Trainer for the student; with a run_dir it records the config there and checkpoints the student."""
    run_config = json.loads(json.dumps(dataclasses.asdict(cfg)))
    run_config["student"] = dataclasses.asdict(model.config)  # with the teacher's vocab_size
    trainer = Trainer(model, cfg.train, data, run_dir=run_dir, tokenizer=tokenizer, run_config=run_config,
                      model_kind=kind)
    if trainer.run_dir is not None and (trainer.run_dir.path / CHECKPOINT_NAME).exists():
        trainer.resume(trainer.run_dir.path)  # an earlier attempt stopped part-way: continue it
    elif trainer.run_dir is not None:
        trainer.run_dir.write_start(run_config, str(trainer.device))
    return trainer


def train_student(trainer: Trainer) -> float:
    """trainer.fit(); its wall-clock in seconds. A Ctrl-C or SIGTERM has written a checkpoint (with a
    run folder): then this raises KeyboardInterrupt, and the next attempt resumes."""
    start = time.perf_counter()
    result = trainer.fit()
    if "interrupted" in result:
        raise KeyboardInterrupt(result["interrupted"])
    return time.perf_counter() - start


def finish_run(trainer: Trainer, result: dict) -> None:
    """results.json beside the checkpoint (fit() wrote that)."""
    if trainer.run_dir is not None:
        (trainer.run_dir.path / "results.json").write_text(json.dumps(result, indent=2) + "\n")
        result["run"] = str(trainer.run_dir.path)


# --------------------------------------------------------------------------------------------
# classification


def default_train() -> TrainConfig:
    return TrainConfig(max_steps=1000, batch_size=64, lr=2e-3, min_lr=1e-4, warmup_steps=50, weight_decay=0.0,
                       eval_interval=0, eval_batches=10, stats_interval=0, progress=False, device="cpu", seed=0)


@dataclass
class ClassifierDistillConfig:
    """Distil a classifier run into an LSTM classifier."""

    teacher: str = ""
    """The teacher's run folder or checkpoint (made by train-classifier or experiment imdb-pretrain)."""
    student: LSTMClassifierConfig = field(default_factory=lambda: LSTMClassifierConfig(d_model=256, n_layers=1))
    """The student's shape (vocab_size is set from the teacher's tokenizer)."""
    loss: DistillLossConfig = field(default_factory=DistillLossConfig)
    train: TrainConfig = field(default_factory=default_train)
    data: IMDbConfig = field(default_factory=IMDbConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    augment_share: float = 0.0
    """Share of each training batch replaced by augmented inputs (Tang et al.'s transfer set); 0 is off."""
    max_len: int | None = None
    """Cut reviews to this many tokens for training (None: as the teacher was trained)."""
    eval_max_len: int | None = None
    """Cut reviews to this many tokens for the accuracies (None: as max_len)."""
    hard_label_acc: float | None = None
    """The hard-label student's validation accuracy, to report the share of the gap closed."""
    eval_batch_size: int = 128
    """Reviews per batch when measuring accuracy."""
    measure_speed: bool = True
    """Measure tokens/s at batch 1 and 64 for student and teacher."""
    speed_seq_len: int = 256
    """Tokens per sequence in the speed measurement."""

    def __post_init__(self):
        if not self.teacher:
            raise ValueError("teacher must name a classifier run folder or checkpoint")
        if not 0.0 <= self.augment_share <= 1.0:
            raise ValueError(f"augment_share must be in [0, 1], got {self.augment_share}")
        for name in ("max_len", "eval_max_len"):
            if getattr(self, name) is not None and getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1 (or None), got {getattr(self, name)}")


@dataclass
class EncodedReviews:
    """Reviews in the teacher's token ids, whole, per split: encoded once, then cut to any length."""

    ids: dict[str, list[list[int]]]
    labels: dict[str, list[int]]
    pad_id: int


def encode_reviews(tokenizer, imdb: IMDb) -> EncodedReviews:
    """The loaded splits of IMDb (train and val; test only if it was loaded) in the teacher's tokens."""
    splits = [s for s in ("train", "val", "test") if s in imdb.splits]
    return EncodedReviews({s: [tokenizer.encode(t) for t in imdb[s].texts] for s in splits},
                          {s: imdb[s].labels for s in splits}, tokenizer.pad_id)


def classification_data(encoded: EncodedReviews, batching, max_len: int) -> ClassificationData:
    """The encoded reviews cut to max_len tokens, the way the teacher's run cuts them (batching.truncate)."""
    return ClassificationData(encoded.ids, encoded.labels, dataclasses.replace(batching, max_len=max_len),
                              pad_id=encoded.pad_id)


def distill_classifier(cfg: ClassifierDistillConfig, imdb: IMDb | None = None,
                       run_dir: str | Path | None = None,
                       encoded: EncodedReviews | None = None) -> tuple[LSTMClassifier, dict]:
    """Train an LSTM classifier against the teacher; returns it and its metrics:
    {'student_acc', 'teacher_acc', ['gap_closed'], 'student_params', 'teacher_params', 'train_s',
     'student_tok_s_b1', 'student_tok_s_b64', 'teacher_tok_s_b1', 'teacher_tok_s_b64', 'speedup_b1'}.

    Accuracies are on the validation split, each model reading at most eval_max_len tokens (the teacher
    no more than its context: 'teacher_eval_len'). run_dir: a folder for the student's run (config,
    metrics, checkpoint, results.json); None writes nothing. encoded: imdb already in the teacher's
    tokens (encode_reviews), to encode it once for many students."""
    # - the teacher, frozen: a user mistake (not a classifier run) is one sentence from load_classifier
    teacher, tokenizer, batching = load_classifier(cfg.teacher, command="experiment distillation")
    for p in teacher.parameters():
        p.requires_grad_(False)
    encoded = encoded or encode_reviews(tokenizer, imdb or load_imdb(cfg.data))
    max_len = min(cfg.max_len or batching.max_len, teacher.config.max_tokens)
    data = classification_data(encoded, batching, max_len)
    # - the student reads the teacher's tokens and predicts its labels
    student_cfg = dataclasses.replace(cfg.student, vocab_size=tokenizer.vocab_size, n_classes=teacher.config.n_classes)
    torch.manual_seed(cfg.train.seed)
    student = LSTMClassifier(student_cfg)
    mask_id = getattr(tokenizer, "unk_id", tokenizer.pad_id)
    train_data = DistillationData(data, teacher, cfg.augment, cfg.augment_share, mask_id, cfg.train.seed,
                                  use_teacher=cfg.loss.needs_teacher)
    trainer = start_trainer(Distilled(student, cfg.loss), cfg, train_data, tokenizer, run_dir, "lstm_classifier")
    train_s = train_student(trainer)
    # - accuracy of both on the same validation reviews, each cut to what it may read
    def val_accuracy(model, length: int) -> float:
        eval_data = data if length == max_len else classification_data(encoded, batching, length)
        return accuracy(probabilities(model, eval_data, "val", cfg.eval_batch_size), eval_data.labels["val"])

    eval_len = cfg.eval_max_len or max_len
    teacher_len = min(eval_len, teacher.config.max_tokens)
    result = {"student_acc": val_accuracy(student, eval_len), "teacher_acc": val_accuracy(teacher, teacher_len),
              "student_eval_len": eval_len, "teacher_eval_len": teacher_len,
              "student_params": student.num_params(), "teacher_params": teacher.num_params(),
              "train_s": round(train_s, 1), "step": trainer.step}
    if cfg.hard_label_acc is not None:
        result["gap_closed"] = gap_closed(result["student_acc"], cfg.hard_label_acc, result["teacher_acc"])
    if cfg.measure_speed:
        result |= speed("student", student, cfg.speed_seq_len, tokenizer.vocab_size)
        result |= speed("teacher", teacher, min(cfg.speed_seq_len, teacher.config.max_tokens), tokenizer.vocab_size)
        result["speedup_b1"] = result["student_tok_s_b1"] / result["teacher_tok_s_b1"]
    finish_run(trainer, result)
    return student.eval(), result


# --------------------------------------------------------------------------------------------
# language modelling


@dataclass
class LMDistillConfig:
    """Distil a language-model run into an LSTM language model under token-level KL."""

    teacher: str = ""
    """The teacher's run folder or checkpoint (made by `scratchformer train`)."""
    student: LSTMLMConfig = field(default_factory=lambda: LSTMLMConfig(d_model=512, n_layers=2))
    """The student's shape (vocab_size and context_len are set from the teacher)."""
    loss: DistillLossConfig = field(default_factory=DistillLossConfig)
    train: TrainConfig = field(default_factory=default_train)
    data: CorpusConfig = field(default_factory=CorpusConfig)
    hard_label_loss: float | None = None
    """The hard-label student's validation loss, to report the share of the gap closed."""
    eval_batches: int = 20
    """Fixed validation windows (of eval_batch_size) for both models' loss."""
    eval_batch_size: int = 16
    """Windows per validation batch."""
    measure_speed: bool = True
    """Measure tokens/s at batch 1 and 64, and generation time per token, for student and teacher."""
    speed_seq_len: int = 256
    """Tokens per sequence in the speed measurement (at most the teacher's context)."""
    window_factors: list[int] = field(default_factory=lambda: [2, 4])
    """Also measure both models on validation windows this many times the teacher's context (the
    teacher slides its context over them; see long_window_loss). Empty skips it."""
    long_windows: int = 8
    """Windows read at each of those lengths."""
    generation_pairs: int = 5
    """Generation is timed in this many teacher/student pairs; the row keeps the medians."""

    def __post_init__(self):
        if not self.teacher:
            raise ValueError("teacher must name a language-model run folder or checkpoint")
        if min(self.eval_batches, self.eval_batch_size, self.long_windows, self.generation_pairs) < 1:
            raise ValueError("eval_batches, eval_batch_size, long_windows and generation_pairs must be at least 1")
        if any(f < 1 for f in self.window_factors):
            raise ValueError(f"window_factors must be at least 1, got {self.window_factors}")


def distill_language_model(cfg: LMDistillConfig, run_dir: str | Path | None = None) -> tuple[LSTMLM, dict]:
    """Train an LSTM LM against the teacher on the corpus; returns it and its metrics:
    {'student_loss', 'teacher_loss' (nats, the same validation windows), ['gap_closed'], params,
     'student_tok_s_b1', ..., 'student_ms_per_token', 'teacher_ms_per_token' (medians of
     generation_pairs timings) and 'speedup_ms_per_token' (the median of the pairs' ratios),
     'student_loss_xF', 'teacher_loss_xF' for each window factor F}.
    run_dir: a folder for the student's run (loadable with load_run); None writes nothing."""
    # - a classifier run is one sentence naming what it holds
    loaded = load_language_model(cfg.teacher, command="experiment distillation")
    teacher, tokenizer = loaded.model, loaded.tokenizer
    for p in teacher.parameters():
        p.requires_grad_(False)
    context_len = teacher.config.context_len
    splits = restrict_to_vocabulary(load_splits(cfg.data), tokenizer)
    data = LMData.from_text(splits, tokenizer, context_len)
    teacher_vocab = getattr(teacher.config, "vocab_size", tokenizer.vocab_size)
    student_cfg = dataclasses.replace(cfg.student, vocab_size=teacher_vocab, context_len=context_len)
    torch.manual_seed(cfg.train.seed)
    student = LSTMLM(student_cfg)
    train_data = DistillationData(data, teacher, use_teacher=cfg.loss.needs_teacher)
    trainer = start_trainer(Distilled(student, cfg.loss), cfg, train_data, tokenizer, run_dir, "lstm_lm")
    train_s = train_student(trainer)
    evaluate = dict(split="val", batches=cfg.eval_batches, batch_size=cfg.eval_batch_size)
    result = {"student_loss": lm_loss(student, data, **evaluate), "teacher_loss": lm_loss(teacher, data, **evaluate),
              "student_params": student.num_params(), "teacher_params": teacher.num_params(),
              "train_s": round(train_s, 1), "step": trainer.step}
    if cfg.hard_label_loss is not None:
        result["gap_closed"] = gap_closed(result["student_loss"], cfg.hard_label_loss, result["teacher_loss"],
                                          higher_is_better=False)
    for f in cfg.window_factors:
        # - longer windows than the teacher was trained on: the student reads each at once
        window, val = f * context_len, data.tokens["val"]
        result[f"student_loss_x{f}"] = long_window_loss(student, val, window, cfg.long_windows)
        result[f"teacher_loss_x{f}"] = long_window_loss(teacher, val, window, cfg.long_windows, context_len=context_len)
    if cfg.measure_speed:
        seq_len = min(cfg.speed_seq_len, context_len)
        result |= speed("student", student, seq_len, teacher_vocab)
        result |= speed("teacher", teacher, seq_len, teacher_vocab)
        prompt, new = generation_prompt(data.tokens["val"], context_len)  # (1, 8), 64
        timings = generation_pairs(teacher, student, prompt, new, cfg.generation_pairs)
        result["student_ms_per_token"] = statistics.median(t["student"] for t in timings)
        result["teacher_ms_per_token"] = statistics.median(t["teacher"] for t in timings)
        result["speedup_ms_per_token"] = statistics.median(t["teacher"] / t["student"] for t in timings)
    finish_run(trainer, result)
    return student.eval(), result


# --------------------------------------------------------------------------------------------
# longer windows than the teacher was trained on


@torch.no_grad()
def long_window_loss(model: nn.Module, tokens: torch.Tensor, window: int, n_windows: int = 8,
                     context_len: int | None = None, stride: int | None = None) -> float:
    """Mean next-token loss in nats over n_windows consecutive windows of `window` tokens.

    With context_len (a transformer's training context) shorter than the window, the model slides:
    it reads context_len tokens at a time, moving by `stride` (default context_len // 2), and each
    position is scored once, from the longest context the slide gives it. Without, the model reads
    each window at once (an LSTM reads any length).
    """
    if stride is not None and context_len is not None and not 1 <= stride <= context_len:
        raise ValueError(f"stride must be in 1 .. context_len ({context_len}), got {stride}")
    model.eval()
    device = model_device(model)
    n_windows = min(n_windows, (len(tokens) - 1) // window)
    if n_windows < 1:
        raise UserError(f"the text has {len(tokens)} tokens, fewer than one window of {window} (+1)")
    total, count = 0.0, 0
    for w in range(n_windows):
        chunk = tokens[w * window: (w + 1) * window + 1].long().to(device)  # (window + 1,)
        x, y = chunk[:-1][None], chunk[1:][None]  # (1, window) each
        if context_len is None or context_len >= window:
            _, loss = model(x, y)
            total, count = total + loss.item() * window, count + window
            continue
        step = stride or max(1, context_len // 2)
        scored = 0  # positions of this window scored so far
        for begin in range(0, window, step):
            end = min(begin + context_len, window)
            if end <= scored:
                continue
            # - score only the positions no earlier slide has scored: each from the most context
            targets = y[:, begin:end].clone()  # (1, <= context_len)
            targets[:, : scored - begin] = IGNORE
            _, loss = model(x[:, begin:end], targets)
            n = end - scored
            total, count, scored = total + loss.item() * n, count + n, end
            if end == window:
                break
    return total / count
