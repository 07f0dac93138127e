"""The `distillation` experiment: LSTM students of a classifier run and of a language-model run, through
the harness; the gap closed against the hard-label student of the same sweep; the one-line errors."""

import json
import math

import pytest

from imdb_fixture import make_imdb
from scratchformer.cli.main import main
from scratchformer.data.corpus import CorpusConfig
from scratchformer.data.imdb import IMDbConfig
from scratchformer.data.text_batches import BatchingConfig
from scratchformer.experiments.distillation import EXPERIMENT, VARIANTS, ExperimentConfig, derive_gap_closed
from scratchformer.experiments.harness import scaled, with_overrides
from scratchformer.models.classifier import ClassifierConfig
from scratchformer.models.gpt import GPTConfig
from scratchformer.tasks.classification import ClassifierRunConfig, TokenizerConfig, prepare_data, train_classifier
from scratchformer.tasks.distillation import gap_closed
from scratchformer.tasks.language_model import LMRunConfig, train_language_model
from scratchformer.training.distillation import LOSSES
from scratchformer.training.trainer import TrainConfig

TRAIN = TrainConfig(max_steps=30, batch_size=16, lr=3e-3, warmup_steps=5, eval_interval=0, eval_batches=1,
                    stats_interval=0, progress=False, device="cpu", seed=0)
STUDENT = ["--train.max_steps", "8", "--train.batch_size", "8", "--train.warmup_steps", "2",
           "--speed_seq_len", "8"]


@pytest.fixture(scope="module")
def teachers(tmp_path_factory):
    """A tiny transformer classifier on an IMDb look-alike, and a tiny GPT on a repeated line."""
    root = tmp_path_factory.mktemp("teachers")
    imdb = make_imdb(root, n_train=30)
    cfg = ClassifierRunConfig(model=ClassifierConfig(variant="transformer", d_model=16, n_heads=2, n_layers=1),
                              train=TRAIN, data=IMDbConfig(source=str(imdb)), batching=BatchingConfig(max_len=32),
                              tokenizer=TokenizerConfig(vocab_size=60), out_dir=str(root / "runs"), name="clf")
    tokenizer, data, _ = prepare_data(cfg)
    _, result = train_classifier(cfg, tokenizer, data)
    corpus = root / "corpus.txt"
    corpus.write_text("To be, or not to be, that is the question.\n" * 60)
    lm, _, _ = train_language_model(LMRunConfig(model=GPTConfig(d_model=16, n_heads=2, n_layers=1, context_len=16),
                                                train=TRAIN, data=CorpusConfig(corpus=str(corpus)),
                                                out_dir=str(root / "runs"), name="lm"))
    return {"classifier": result["run"], "imdb": str(imdb), "lm": str(lm), "corpus": str(corpus)}


def rows(out):
    return {r["variant"]: r for r in map(json.loads, (out / "rows.jsonl").read_text().splitlines())}


def test_variants_name_their_loss_and_shape():
    for name, changes in VARIANTS.items():
        loss, shape = name.rsplit("-", 1)
        layers, units = map(int, shape.split("x"))
        assert changes["student.n_layers"] == layers and changes["student.d_model"] == units
        assert changes["loss.soft_weight"] == LOSSES[loss].soft_weight and changes["loss.hard_weight"] == LOSSES[loss].hard_weight
        assert loss == "hard" or f"hard-{shape}" in VARIANTS  # every student has its hard-label anchor
    assert {n.rsplit("-", 1)[1][0] for n in VARIANTS} == {"1", "2", "3", "4"}  # 1 to 4 layers
    # - the CPU default: 1 and 2 layers of 128 units, each with its hard-label anchor; the GPU table holds them all
    assert {n.rsplit("-", 1)[1] for n in EXPERIMENT.scale_variants["cpu"]} == {"1x128", "2x128"}
    assert {n.rsplit("-", 1)[0] for n in EXPERIMENT.scale_variants["cpu"]} == {"hard", "soft"}
    assert EXPERIMENT.scale_variants["gpu"] == list(VARIANTS)
    for scale in ("cpu", "gpu"):  # every variant fits the config at every scale
        cfg = scaled(EXPERIMENT, ExperimentConfig(), scale)
        assert all(with_overrides(cfg, v).loss == LOSSES[n.rsplit("-", 1)[0]] for n, v in VARIANTS.items())


def test_gap_closed_is_measured_against_the_hard_label_row_of_the_same_seed_and_shape():
    def row(variant, seed, acc):
        return {"variant": variant, "seed": seed, "metrics": {"student_acc": acc, "teacher_acc": 0.9, "gap_closed": None}}
    found = derive_gap_closed(ExperimentConfig(), [row("hard-1x256", 0, 0.7), row("hard-1x256", 1, 0.8),
                                                   row("soft-1x256", 0, 0.8), row("soft-1x256", 1, 0.85),
                                                   row("soft-2x256", 0, 0.8)])
    shares = [r["metrics"]["gap_closed"] for r in found]
    assert shares[:2] == [0.0, 0.0]
    assert shares[2] == pytest.approx(0.5) and shares[3] == pytest.approx(0.5)
    assert shares[4] is None  # no hard-2x256 row: no anchor, no figure
    # - a teacher no better than the hard-label student leaves no gap to close
    found = derive_gap_closed(ExperimentConfig(task="lm"), [
        {"variant": "hard-1x128", "seed": 0, "metrics": {"student_loss": 2.0, "teacher_loss": 2.1}},
        {"variant": "soft-1x128", "seed": 0, "metrics": {"student_loss": 2.2, "teacher_loss": 2.1}},
        {"variant": "hard-1x256", "seed": 0, "metrics": {"student_loss": 2.4, "teacher_loss": 2.0}},
        {"variant": "soft-1x256", "seed": 0, "metrics": {"student_loss": 2.1, "teacher_loss": 2.0}}])
    assert [r["metrics"]["gap_closed"] for r in found][:2] == [None, None]
    assert [r["metrics"]["gap_closed"] for r in found][2:] == [0.0, pytest.approx(0.75)]


def test_classifier_distillation_sweep(tmp_path, teachers):
    out = tmp_path / "out"
    assert main(["experiment", "distillation", "--teacher", teachers["classifier"], "--data.source", teachers["imdb"],
                 "--variants", "hard-1x128,soft-1x128", "--max_len", "16", "--out_dir", str(out), *STUDENT]) == 0
    found = rows(out)
    hard, soft = found["hard-1x128"]["metrics"], found["soft-1x128"]["metrics"]
    assert hard["teacher_acc"] == soft["teacher_acc"] > 0.7  # one teacher, scored on the same reviews
    assert hard["gap_closed"] == 0.0
    assert soft["gap_closed"] == pytest.approx(gap_closed(soft["student_acc"], hard["student_acc"], soft["teacher_acc"]))
    # - the length test: the student trained on 16 tokens reads whole reviews; the teacher its context
    assert 0 <= soft["student_acc_full"] <= 1 and 0 <= soft["teacher_acc_full"] <= 1
    assert soft["teacher_full_len"] == 512 and soft["student_eval_len"] == 16
    assert soft["student_params"] == hard["student_params"] > 0 and soft["speedup_b1"] > 0
    assert all(soft[f"{w}_tok_s_b{b}"] > 0 for w in ("student", "teacher") for b in (1, 64))
    # - rows files keep what the run returned; the summary shows the derived share
    assert json.loads((out / "rows" / "soft-1x128-seed0.json").read_text())["metrics"]["gap_closed"] is None
    assert "share of the gap closed" in (out / "summary.md").read_text()
    for name in ("student_acc.png", "gap_closed.png", "speedup_b1.png", "students_vs_size.png"):
        assert (out / name).read_bytes()[:4] == b"\x89PNG"


def test_language_model_distillation_sweep(tmp_path, teachers):
    out = tmp_path / "out"
    assert main(["experiment", "distillation", "--task", "lm", "--teacher", teachers["lm"], "--corpus.corpus",
                 teachers["corpus"], "--variants", "hard-1x128,soft-1x128", "--out_dir", str(out), *STUDENT]) == 0
    found = rows(out)
    hard, soft = found["hard-1x128"]["metrics"], found["soft-1x128"]["metrics"]
    assert hard["teacher_loss"] == soft["teacher_loss"] < math.log(20)
    share = gap_closed(soft["student_loss"], hard["student_loss"], soft["teacher_loss"], higher_is_better=False)
    assert soft["gap_closed"] == (pytest.approx(share) if math.isfinite(share) else None)  # None: no gap to close
    assert all(soft[f"{w}_loss_x{f}"] > 0 for w in ("student", "teacher") for f in (2, 4))
    assert soft["speedup_ms_per_token"] > 0 and "validation loss" in (out / "summary.md").read_text()


def error_of(capsys, *args) -> str:
    assert main(["experiment", "distillation", "--variants", "soft-1x128", *args, *STUDENT]) == 2
    # - the progress bar shares stderr: the error is the one line that says "error:"
    errors = [line.split("error: ", 1)[1] for line in capsys.readouterr().err.splitlines() if "error: " in line]
    assert len(errors) == 1, errors
    return errors[0]


def test_bad_input_is_one_line(tmp_path, teachers, capsys):
    out = ["--out_dir", str(tmp_path / "out")]
    assert "holds a language model" in error_of(capsys, "--teacher", teachers["lm"], "--data.source", teachers["imdb"], *out)
    assert "holds a classifier" in error_of(capsys, "--task", "lm", "--teacher", teachers["classifier"],
                                            "--corpus.corpus", teachers["corpus"], "--out_dir", str(tmp_path / "o2"))
    assert "temperature must be > 0" in error_of(capsys, "--teacher", teachers["classifier"], "--loss.temperature",
                                                 "0", *out)
    assert "temperature must be > 0" in error_of(capsys, "--teacher", teachers["classifier"], "--loss.temperature",
                                                 "-1", *out)
    assert "the student predicts 100 classes or tokens but the teacher" in error_of(
        capsys, "--teacher", teachers["classifier"], "--vocab_size", "100", "--out_dir", str(tmp_path / "o3"))
    assert "the student predicts 100 classes or tokens but the teacher" in error_of(
        capsys, "--task", "lm", "--teacher", teachers["lm"], "--corpus.corpus", teachers["corpus"],
        "--vocab_size", "100", "--out_dir", str(tmp_path / "o5"))
    assert "window_factors must be at least 1" in error_of(
        capsys, "--task", "lm", "--teacher", teachers["lm"], "--corpus.corpus", teachers["corpus"],
        "--window_factors", "[0, 2]", "--out_dir", str(tmp_path / "o6"))
    assert "--teacher RUN" in error_of(capsys, "--out_dir", str(tmp_path / "o4"))
