"""Experiment `distillation`: how small an LSTM can learn what a transformer knows, and which loss teaches it best?

A trained transformer (the teacher, a run folder given with --teacher) is distilled into LSTM
students of 1 to 4 layers and 128 to 512 units, under the losses of training/distillation.py
(Hinton et al. 2015; Tang et al. 2019). The wiring is tasks/distillation.py's; two kinds:

  --task classify   the teacher is an IMDb classifier run, e.g. the classifier of
                    `experiment imdb-pretrain` (RUN/classifier); the student a BiLSTM classifier
                    trained on reviews cut to max_len (128) tokens. Both are scored on the
                    validation reviews cut to max_len, and on the full reviews (the length test:
                    the student reads every token, the teacher as many as its context holds).
  --task lm         the teacher is a language-model run (`scratchformer train`, e.g. a GPT on the
                    plays; a SmolLM2 run works alike when converted offline); the student an LSTM
                    LM under token-level KL. Both are scored on the same validation windows of the
                    teacher's context, and on windows 2x and 4x as long (the teacher slides its
                    context over them, the LSTM reads each at once).

Variants are named LOSS-SHAPE: `soft-2x256` is a 2-layer, 256-unit student under the soft loss.
`hard-SHAPE` learns from the labels alone (it never runs the teacher): the anchor of the gap.

    gap_closed = (student - hard) / (teacher - hard)      0: no better than labels, 1: the teacher

It is computed after the runs, from the rows of the same sweep: each LOSS-SHAPE row against the
hard-SHAPE row of the same seed (null where that row is missing, or where the teacher is no better
than the hard-label student: then there is no gap to close).

    scratchformer experiment distillation --teacher runs/experiments/imdb-pretrain/pretrained/seed-0/classifier \\
        --data.source ../shared/data/aclImdb.tar.gz
    scratchformer experiment distillation --task lm --teacher runs/shakespeare --variants hard-1x256,soft-1x256

The CPU default trains four students, hard and soft at 1 and 2 layers of 128 units, for 3,000
steps of 32 reviews (or windows) each; on 2 cores run them two at a time (--jobs 2 --threads 1).
docs/distillation.md gives its wall-clock. Accuracies and losses are on the validation split (the
test split is not read). Speeds are tokens read per second on the CPU at batch 1 and 64, for the
student and the teacher in the same run.
"""

from __future__ import annotations

import dataclasses
import math
import statistics
from dataclasses import dataclass, field
from pathlib import Path

from scratchformer.data.corpus import CorpusConfig
from scratchformer.data.imdb import IMDbConfig, load_imdb
from scratchformer.data.transfer_set import AugmentConfig
from scratchformer.errors import UserError
from scratchformer.experiments.harness import Experiment, Metric, Run
from scratchformer.experiments.summary import seeds_note
from scratchformer.models.lstm import LSTMClassifierConfig, LSTMConfig, LSTMLMConfig
from scratchformer.tasks.classification import accuracy, load_classifier, probabilities
from scratchformer.tasks.distillation import (ClassifierDistillConfig, LMDistillConfig, classification_data,
                                              distill_classifier, distill_language_model, encode_reviews, gap_closed)
from scratchformer.tasks.runs import load_language_model
from scratchformer.training.distillation import LOSSES, DistillLossConfig, check_same_vocabulary
from scratchformer.training.plots import pyplot, save
from scratchformer.training.trainer import TrainConfig

TASKS = ("classify", "lm")
FULL = 1_000_000  # "no cut": longer than any review


def default_train() -> TrainConfig:
    return TrainConfig(max_steps=3000, batch_size=32, lr=2e-3, min_lr=1e-4, warmup_steps=30, weight_decay=0.0,
                       eval_interval=0, eval_batches=10, log_interval=50, stats_interval=0, checkpoint_interval=100,
                       progress=False, device="cpu", dtype="float32", compile=False, seed=0)


@dataclass
class ExperimentConfig:
    """The teacher, the students' shape and loss (the variants change them), the data and the budget."""

    teacher: str = ""
    """The teacher's run folder: an IMDb classifier run (task classify), e.g.
    runs/experiments/imdb-pretrain/pretrained/seed-0/classifier, or a language-model run (task lm)."""
    task: str = "classify"
    """classify (IMDb, accuracy) or lm (a corpus, validation loss in nats)."""
    student: LSTMConfig = field(default_factory=lambda: LSTMConfig(d_model=256, n_layers=1))
    """The student's shape; the variants set n_layers and d_model. Its vocab_size is ignored: the
    student reads the teacher's tokens (see vocab_size)."""
    bidirectional: bool = True
    """Classifier students read both ways (Tang et al.'s BiLSTM); LM students read left to right."""
    vocab_size: int | None = None
    """The student's vocabulary: None takes the teacher's. The losses compare the two models output by
    output, so any other size is refused."""
    loss: DistillLossConfig = field(default_factory=DistillLossConfig)
    """The loss weights and temperature; the variants set the weights (--loss.temperature applies to all)."""
    train: TrainConfig = field(default_factory=default_train)
    """Each student's training (its seed is the run's)."""
    data: IMDbConfig = field(default_factory=IMDbConfig)
    """IMDb (task classify)."""
    corpus: CorpusConfig = field(default_factory=CorpusConfig)
    """The corpus (task lm): the teacher's tokenizer reads it."""
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    """Tang et al.'s transfer-set augmentation (task classify)."""
    augment_share: float = 0.0
    """Share of each training batch replaced by augmented reviews, labelled by the teacher alone; 0 is off."""
    max_len: int = 128
    """Task classify: reviews are cut to this many tokens for training and for the headline accuracy."""
    length_test: bool = True
    """Task classify: also score both models on the full validation reviews."""
    window_factors: list[int] = field(default_factory=lambda: [2, 4])
    """Task lm: also score both on validation windows this many times the teacher's context."""
    speed_seq_len: int = 128
    """Tokens per sequence when measuring tokens/s (at most the teacher's context)."""

    def __post_init__(self):
        if self.task not in TASKS:
            raise ValueError(f"task must be one of {list(TASKS)}, got {self.task!r}")
        if self.max_len < 1 or self.speed_seq_len < 1:
            raise ValueError(f"max_len and speed_seq_len must be at least 1, got {self.max_len}, {self.speed_seq_len}")
        if any(f < 1 for f in self.window_factors):
            raise ValueError(f"window_factors must be at least 1 (a window shorter than the teacher's context "
                             f"tests no longer input), got {self.window_factors}")
        if self.vocab_size is not None and self.vocab_size < 1:
            raise ValueError(f"vocab_size must be at least 1 (or None: the teacher's), got {self.vocab_size}")


# --------------------------------------------------------------------------------------------
# the task


def check_teacher(cfg: ExperimentConfig) -> None:
    """One sentence for a missing teacher or a student vocabulary other than the teacher's."""
    if not cfg.teacher:
        raise UserError("give the teacher's run folder with --teacher RUN (an IMDb classifier run for --task "
                        "classify, e.g. the classifier of `experiment imdb-pretrain`; a language-model run for --task lm)")
    if not Path(cfg.teacher).exists():
        raise UserError(f"teacher {cfg.teacher} does not exist; give a run folder or a checkpoint file")
    if cfg.vocab_size is not None:
        teacher_vocab = (load_classifier(cfg.teacher, command="experiment distillation")[1].vocab_size
                         if cfg.task == "classify"
                         else load_language_model(cfg.teacher, command="experiment distillation").model.config.vocab_size)
        check_same_vocabulary(cfg.vocab_size, teacher_vocab)


def run(cfg: ExperimentConfig, run: Run) -> dict[str, float]:
    """Distil the teacher into one student with the run's seed; score both."""
    check_teacher(cfg)
    train = dataclasses.replace(cfg.train, seed=run.seed)
    shape = {f.name: getattr(cfg.student, f.name) for f in dataclasses.fields(LSTMConfig)}
    if cfg.task == "lm":
        lm = LMDistillConfig(teacher=cfg.teacher, student=LSTMLMConfig(**shape), loss=cfg.loss, train=train,
                             data=cfg.corpus, window_factors=cfg.window_factors, speed_seq_len=cfg.speed_seq_len)
        _, result = distill_language_model(lm, run_dir=run.dir)  # resumes from run.dir's checkpoint
        return result | {"gap_closed": float("nan")}  # filled in from the hard-label row (derive_gap_closed)
    # - classification: the teacher must be a classifier run (load_classifier says so in one sentence)
    teacher, tokenizer, batching = load_classifier(cfg.teacher, command="experiment distillation")
    # - the reviews in the teacher's tokens, encoded once per process for every student of this teacher
    imdb = run.cached(repr(cfg.data), lambda: load_imdb(cfg.data))
    encoded = run.cached(f"{Path(cfg.teacher).resolve()} {cfg.data!r}", lambda: encode_reviews(tokenizer, imdb))
    student = LSTMClassifierConfig(**shape, bidirectional=cfg.bidirectional)
    clf = ClassifierDistillConfig(teacher=cfg.teacher, student=student, loss=cfg.loss, train=train, data=cfg.data,
                                  augment=cfg.augment, augment_share=cfg.augment_share, max_len=cfg.max_len,
                                  speed_seq_len=cfg.speed_seq_len)
    model, result = distill_classifier(clf, imdb, run_dir=run.dir, encoded=encoded)  # resumes from a checkpoint
    if cfg.length_test:
        # - the length test: the same validation reviews uncut; the teacher reads what its context holds
        full = classification_data(encoded, batching, FULL)
        teacher_len = teacher.config.max_tokens
        cut = classification_data(encoded, batching, teacher_len)
        result["student_acc_full"] = accuracy(probabilities(model, full, "val"), full.labels["val"])
        result["teacher_acc_full"] = accuracy(probabilities(teacher, cut, "val"), cut.labels["val"])
        result["teacher_full_len"] = teacher_len
    return result | {"gap_closed": float("nan")}  # filled in from the hard-label row (derive_gap_closed)


def derive_gap_closed(cfg: ExperimentConfig, rows: list[dict]) -> list[dict]:
    """Each LOSS-SHAPE row's share of the gap between the hard-SHAPE row of its seed and the teacher.
    None where the teacher is no better than that hard-label student: then there is no gap to close."""
    key = "student_loss" if cfg.task == "lm" else "student_acc"
    teacher_key = key.replace("student", "teacher")
    hard = {(r["variant"].rsplit("-", 1)[-1], r["seed"]): r["metrics"] for r in rows
            if r["variant"].startswith("hard-")}
    out = []
    for r in rows:
        anchor = hard.get((r["variant"].rsplit("-", 1)[-1], r["seed"]))
        m = r["metrics"]
        known = anchor is not None and None not in (m.get(key), anchor.get(key), m.get(teacher_key))
        # - nan from gap_closed: the teacher is no better than the hard-label student (no gap to close)
        share = gap_closed(m[key], anchor[key], m[teacher_key], higher_is_better=cfg.task != "lm") if known else None
        share = share + 0.0 if share is not None and math.isfinite(share) else None  # (+ 0.0: no "-0")
        out.append(r | {"metrics": m | {"gap_closed": share}})
    return out


# --------------------------------------------------------------------------------------------
# the variants: LOSS-SHAPE, one line each. The CPU default: 128 units; the GPU table adds 192, 256 and 512.


def loss_weights(name: str) -> dict:
    """A named mixture of training/distillation.py as dotted overrides (the temperature left as given)."""
    loss = LOSSES[name]
    weights = {"loss.hard_weight": loss.hard_weight, "loss.soft_weight": loss.soft_weight,
               "loss.mse_weight": loss.mse_weight}
    # - non-zero weights first: each override is validated in turn, and all three at 0 is refused
    return dict(sorted(weights.items(), key=lambda kv: kv[1] == 0))


def shape(n_layers: int, d_model: int) -> dict:
    return {"student.n_layers": n_layers, "student.d_model": d_model}


VARIANTS = {
    # - the CPU default: every loss at 1x128, and 1 to 4 layers of 128 units under hard and soft
    "hard-1x128": {**loss_weights("hard"), **shape(1, 128)},
    "soft-1x128": {**loss_weights("soft"), **shape(1, 128)},
    "mse-1x128": {**loss_weights("mse"), **shape(1, 128)},
    "hard+soft-1x128": {**loss_weights("hard+soft"), **shape(1, 128)},
    "hard-2x128": {**loss_weights("hard"), **shape(2, 128)},
    "soft-2x128": {**loss_weights("soft"), **shape(2, 128)},
    "hard-3x128": {**loss_weights("hard"), **shape(3, 128)},
    "soft-3x128": {**loss_weights("soft"), **shape(3, 128)},
    "hard-4x128": {**loss_weights("hard"), **shape(4, 128)},
    "soft-4x128": {**loss_weights("soft"), **shape(4, 128)},
    # - between the two widths: one layer of 192 units, under the labels and the even mixture
    #   (the LM's hard-label student is 0.22 nats behind its teacher at 128 units, 0.07 at 256)
    "hard-1x192": {**loss_weights("hard"), **shape(1, 192)},
    "hard+soft-1x192": {**loss_weights("hard+soft"), **shape(1, 192)},
    # - the GPU table adds: every loss at 1x256, and 256 and 512 units
    "hard-1x256": {**loss_weights("hard"), **shape(1, 256)},
    "soft-1x256": {**loss_weights("soft"), **shape(1, 256)},
    "mse-1x256": {**loss_weights("mse"), **shape(1, 256)},
    "hard+soft-1x256": {**loss_weights("hard+soft"), **shape(1, 256)},
    "hard+mse-1x256": {**loss_weights("hard+mse"), **shape(1, 256)},
    "hard-1x512": {**loss_weights("hard"), **shape(1, 512)},
    "soft-1x512": {**loss_weights("soft"), **shape(1, 512)},
    "hard-2x256": {**loss_weights("hard"), **shape(2, 256)},
    "soft-2x256": {**loss_weights("soft"), **shape(2, 256)},
    "hard-3x256": {**loss_weights("hard"), **shape(3, 256)},
    "soft-3x256": {**loss_weights("soft"), **shape(3, 256)},
    "hard-4x256": {**loss_weights("hard"), **shape(4, 256)},
    "soft-4x256": {**loss_weights("soft"), **shape(4, 256)},
}

# - the CPU default: the four students that answer "how many layers" at 128 units, trained long
#   enough to learn IMDb (3,000 steps of 32 reviews: 4.3 epochs of reviews cut to 128 tokens) and
#   still inside 30 minutes with --jobs 2 on 2 cores. (1,500 steps left the soft students 3.4 points
#   behind the teacher and closing a third of the gap; 3,000 bring them to about 2 behind and half of
#   it. 300 steps, the first default, left every student 14 points or more behind. A BiLSTM of 256
#   units costs about four times one of 128: 4·C·(C + input) per token and direction.)
#   The other losses and depths run with --variants, e.g. mse-1x128,hard+soft-1x128,hard-3x128.
CPU_VARIANTS = ["hard-1x128", "soft-1x128", "hard-2x128", "soft-2x128"]

# --scale gpu (not tried here): Tang et al.-sized training, longer reviews, the transfer set on
SCALES = {
    "cpu": {},
    "gpu": {"train.max_steps": 5000, "train.batch_size": 64, "train.warmup_steps": 200, "train.device": "auto",
            "augment_share": 0.5, "speed_seq_len": 256},
}


# --------------------------------------------------------------------------------------------
# the metrics


def metrics(cfg: ExperimentConfig) -> list[Metric]:
    """Accuracy (classify) or loss (lm) of student and teacher, the gap closed, sizes and speeds."""
    speeds = [Metric(f"{who}_tok_s_b{B}", "tokens/s", digits=0, label=f"{who} CPU tokens/s at batch {B}")
              for who in ("student", "teacher") for B in (1, 64)]
    sizes = [Metric("student_params", higher_is_better=False, digits=0, label="student parameters"),
             Metric("teacher_params", higher_is_better=False, digits=0, label="teacher parameters")]
    gap = Metric("gap_closed", "%", scale=100, headline=True, digits=0, baseline=1.0, baseline_label="the teacher",
                 label="share of the gap closed")
    if cfg.task == "lm":
        windows = [Metric(f"{who}_loss_x{f}", "nats", higher_is_better=False,
                          label=f"{who} loss on windows {f}x the teacher's context")
                   for f in cfg.window_factors for who in ("student", "teacher")]
        return [Metric("student_loss", "nats", higher_is_better=False, headline=True, label="student validation loss"),
                Metric("teacher_loss", "nats", higher_is_better=False, label="teacher validation loss"), gap,
                *windows, *sizes, *speeds,
                Metric("student_ms_per_token", "ms", higher_is_better=False, label="student generation, per token"),
                Metric("teacher_ms_per_token", "ms", higher_is_better=False, label="teacher generation, per token"),
                Metric("speedup_ms_per_token", "x", digits=1, label="generation speed-up (teacher ms / student ms)")]
    full = [Metric("student_acc_full", "%", scale=100, digits=1, baseline=0.5,
                   label="student accuracy, full reviews"),
            Metric("teacher_acc_full", "%", scale=100, digits=1, baseline=0.5,
                   label="teacher accuracy, full reviews cut to its context")] if cfg.length_test else []
    return [Metric("student_acc", "%", scale=100, headline=True, digits=1, baseline=0.5,
                   label=f"student validation accuracy (reviews cut to {cfg.max_len} tokens)"),
            Metric("teacher_acc", "%", scale=100, digits=1, baseline=0.5,
                   label=f"teacher validation accuracy (cut to {cfg.max_len})"), gap,
            *full, *sizes, *speeds,
            Metric("speedup_b1", "x", headline=True, digits=1, baseline=10.0, baseline_label="goal: 10x",
                   label="speed-up at batch 1 (student tokens/s / teacher's)")]


def gap_by_size(cfg: ExperimentConfig, rows: list[dict], out: Path) -> list[Path]:
    """The students' score against their parameters, per loss, with the teacher's as a line."""
    plt = pyplot()

    key, unit = ("student_loss", "validation loss (nats, lower is better)") if cfg.task == "lm" else \
        ("student_acc", "validation accuracy (%)")
    scale = 1 if cfg.task == "lm" else 100
    fig, ax = plt.subplots(figsize=(7.5, 4.5))
    losses = dict.fromkeys(r["variant"].rsplit("-", 1)[0] for r in rows)
    for loss in losses:
        mine = sorted((r for r in rows if r["variant"].startswith(f"{loss}-") and r["metrics"].get(key) is not None),
                      key=lambda r: r["metrics"]["student_params"])
        points = {}
        for r in mine:
            points.setdefault(r["metrics"]["student_params"], []).append(scale * r["metrics"][key])
        if points:
            xs = list(points)
            ax.plot(xs, [statistics.fmean(v) for v in points.values()], marker="o", label=loss)
    teacher = [scale * r["metrics"][key.replace("student", "teacher")] for r in rows]
    ax.axhline(statistics.fmean(teacher), color="black", linestyle="--", label="teacher")
    if cfg.task == "classify":
        ax.axhline(50, color="grey", linestyle=":", label="chance")
    ax.set_xscale("log")
    ax.set_xlabel("student parameters")
    ax.set_ylabel(unit)
    ax.set_title(f"LSTM students of a {rows[0]['metrics']['teacher_params']:,}-parameter teacher "
                 f"({seeds_note(rows)})")
    ax.legend(fontsize=8)
    return [save(fig, out / "students_vs_size.png", dpi=120)]


EXPERIMENT = Experiment(
    name="distillation",
    help="distil a transformer run (--teacher) into LSTM students of 1-4 layers under hard, soft, MSE and mixed losses",
    config=ExperimentConfig,
    run=run,
    variants=VARIANTS,
    metrics=metrics,
    scales=SCALES,
    seeds=1,
    threads=1,
    figures=gap_by_size,
    derive=derive_gap_closed,
    scale_variants={"cpu": CPU_VARIANTS, "gpu": list(VARIANTS)},
    # - --quick (a teacher is still needed: --teacher RUN): students trained for 8 steps
    quick={"train.max_steps": 8, "train.batch_size": 8, "train.warmup_steps": 2, "speed_seq_len": 8},
    quick_variants={name: VARIANTS[name] for name in ("hard-1x128", "soft-1x128")},
)
