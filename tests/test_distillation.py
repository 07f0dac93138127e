"""Distillation: the losses on hand-computed examples, the transfer-set augmentation, and the wiring
(teacher runs loaded from their folders, students trained against them, the metrics, the errors)."""

import math
import random

import pytest
import torch
import torch.nn.functional as F

from imdb_fixture import make_imdb
from scratchformer.data.corpus import CorpusConfig
from scratchformer.data.imdb import IMDbConfig
from scratchformer.data.text_batches import BatchingConfig
from scratchformer.data.transfer_set import AugmentConfig, augment, transfer_set
from scratchformer.errors import UserError
from scratchformer.models.classifier import ClassifierConfig
from scratchformer.models.gpt import GPT, GPTConfig
from scratchformer.models.lstm import LSTMClassifierConfig, LSTMLM, LSTMLMConfig
from scratchformer.tasks.classification import ClassifierRunConfig, TokenizerConfig, prepare_data, train_classifier
from scratchformer.tasks.distillation import (ClassifierDistillConfig, LMDistillConfig, distill_classifier,
                                              distill_language_model, gap_closed, long_window_loss)
from scratchformer.tasks.language_model import LMRunConfig, train_language_model
from scratchformer.tasks.runs import load_run
from scratchformer.training.distillation import (LOSSES, DistillLossConfig, distillation_loss, hard_loss,
                                                 mse_loss, soft_loss)
from scratchformer.training.trainer import TrainConfig

# --------------------------------------------------------------------------------------------
# the losses


def test_soft_loss_by_hand():
    student, teacher = torch.tensor([[0.0, 0.0]]), torch.tensor([[math.log(3.0), 0.0]])
    # - τ = 1: p_t = (3/4, 1/4), p_s = (1/2, 1/2)
    expect = 0.75 * math.log(0.75 / 0.5) + 0.25 * math.log(0.25 / 0.5)
    assert soft_loss(student, teacher, 1.0).item() == pytest.approx(expect, abs=1e-6)
    # - τ = 2: p_t = softmax(ln3 / 2, 0) = (√3, 1) / (√3 + 1), and the loss is scaled by τ² = 4
    p = math.sqrt(3) / (math.sqrt(3) + 1)
    expect = 4 * (p * math.log(p / 0.5) + (1 - p) * math.log((1 - p) / 0.5))
    assert soft_loss(student, teacher, 2.0).item() == pytest.approx(expect, abs=1e-6)
    assert soft_loss(teacher, teacher, 3.0).item() == pytest.approx(0.0, abs=1e-7)


def test_soft_loss_at_high_temperature_is_half_the_mse_of_centred_logits():
    """Hinton et al. §2.1: as τ grows, τ²·KL -> (1/2K) Σ (z_s - z_t)² for zero-mean logits."""
    student, teacher = torch.randn(5, 4), torch.randn(5, 4)
    student, teacher = student - student.mean(-1, keepdim=True), teacher - teacher.mean(-1, keepdim=True)
    assert soft_loss(student, teacher, 100.0).item() == pytest.approx(mse_loss(student, teacher).item() / 2, rel=1e-2)


def test_mse_hard_and_mixture_by_hand():
    student, teacher, labels = torch.tensor([[1.0, 2.0]]), torch.tensor([[0.0, 0.0]]), torch.tensor([1])
    assert mse_loss(student, teacher).item() == pytest.approx(2.5)
    ce = -math.log(math.exp(2) / (math.exp(1) + math.exp(2)))
    assert hard_loss(student, labels).item() == pytest.approx(ce, abs=1e-6)
    cfg = DistillLossConfig(hard_weight=0.3, soft_weight=0.5, mse_weight=0.2, temperature=2.0)
    total, parts = distillation_loss(student, teacher, labels, cfg)
    assert total.item() == pytest.approx(0.3 * ce + 0.5 * soft_loss(student, teacher, 2.0).item() + 0.2 * 2.5, abs=1e-6)
    assert set(parts) == {"hard", "soft", "mse"}


def test_token_level_losses_skip_ungraded_positions():
    student, teacher = torch.randn(2, 5, 7), torch.randn(2, 5, 7)
    targets = torch.randint(0, 7, (2, 5))
    targets[0, 3:] = -100
    keep = targets != -100
    cfg = DistillLossConfig(soft_weight=1.0, mse_weight=1.0, temperature=1.5)
    _, parts = distillation_loss(student, teacher, targets, cfg)
    assert parts["soft"] == pytest.approx(soft_loss(student[keep], teacher[keep], 1.5).item(), abs=1e-6)
    assert parts["mse"] == pytest.approx(F.mse_loss(student[keep], teacher[keep]).item(), abs=1e-6)


def test_augmented_examples_teach_through_the_teacher_only():
    student, teacher = torch.randn(3, 2, requires_grad=True), torch.randn(3, 2)
    cfg = LOSSES["hard+soft"]
    total, parts = distillation_loss(student, teacher, torch.tensor([-100, -100, -100]), cfg)
    assert parts["hard"] == 0.0 and total.item() == pytest.approx(0.5 * parts["soft"], abs=1e-6)
    # - labelled rows: the hard loss averages over them alone
    _, parts = distillation_loss(student, teacher, torch.tensor([1, -100, 0]), cfg)
    assert parts["hard"] == pytest.approx(hard_loss(student[[0, 2]], torch.tensor([1, 0])).item(), abs=1e-6)


def test_loss_errors():
    with pytest.raises(ValueError, match="temperature must be > 0"):
        DistillLossConfig(temperature=0.0)
    with pytest.raises(ValueError, match="not all 0"):
        DistillLossConfig(hard_weight=0.0, soft_weight=0.0)
    with pytest.raises(UserError, match="the student predicts 5 classes or tokens but the teacher 7"):
        distillation_loss(torch.randn(2, 3, 5), torch.randn(2, 3, 7), None, DistillLossConfig())


def test_gap_closed():
    assert gap_closed(0.85, 0.80, 0.90) == pytest.approx(0.5)
    assert gap_closed(0.75, 0.80, 0.90) == pytest.approx(-0.5)  # worse than the hard-label student
    assert gap_closed(2.0, 2.4, 1.6, higher_is_better=False) == pytest.approx(0.5)  # losses: lower is better
    # - a teacher no better than the hard-label student leaves no gap to close
    assert math.isnan(gap_closed(0.8, 0.8, 0.8))
    assert math.isnan(gap_closed(1.84, 1.72, 1.79, higher_is_better=False))


# --------------------------------------------------------------------------------------------
# the transfer set


def test_augment_steps():
    rng, ids = random.Random(0), list(range(10, 30))
    assert augment(ids, rng, AugmentConfig(p_mask=1.0, p_swap=0.0, p_ngram=0.0), 1, [5]) == [1] * 20
    assert augment(ids, rng, AugmentConfig(p_mask=0.0, p_swap=1.0, p_ngram=0.0), 1, [5, 6]) != ids
    assert set(augment(ids, rng, AugmentConfig(p_mask=0.0, p_swap=1.0, p_ngram=0.0), 1, [5, 6])) <= {5, 6}
    for _ in range(20):
        gram = augment(ids, rng, AugmentConfig(p_mask=0.0, p_swap=0.0, p_ngram=1.0, max_ngram=4), 1, [5])
        assert 1 <= len(gram) <= 4 and gram == ids[gram[0] - 10: gram[0] - 10 + len(gram)]  # a contiguous n-gram
    assert augment(ids, rng, AugmentConfig(p_mask=0.0, p_swap=0.0, p_ngram=0.0), 1, [5]) == ids


def test_transfer_set_is_seeded_new_and_distinct():
    seqs = [[random.Random(i).randrange(3, 50) for _ in range(12)] for i in range(10)]
    cfg = AugmentConfig(n_iter=5)
    a = transfer_set(seqs, cfg, mask_id=1, seed=0)
    assert a == transfer_set(seqs, cfg, mask_id=1, seed=0) and a != transfer_set(seqs, cfg, mask_id=1, seed=1)
    assert 10 < len(a) <= 50
    assert len({tuple(s) for s in a}) == len(a) and not {tuple(s) for s in a} & {tuple(s) for s in seqs}
    with pytest.raises(ValueError, match="p_mask \\+ p_swap"):
        AugmentConfig(p_mask=0.6, p_swap=0.6)


# --------------------------------------------------------------------------------------------
# classification: a tiny transformer teacher on an IMDb look-alike


@pytest.fixture(scope="module")
def teacher_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("distill")
    folder = make_imdb(root, n_train=40)
    cfg = ClassifierRunConfig(
        model=ClassifierConfig(variant="transformer", d_model=16, n_heads=2, n_layers=1),
        train=TrainConfig(max_steps=40, batch_size=16, lr=3e-3, warmup_steps=5, eval_interval=0, eval_batches=1,
                          stats_interval=0, progress=False, device="cpu", seed=0),
        data=IMDbConfig(source=str(folder)), batching=BatchingConfig(max_len=32),
        tokenizer=TokenizerConfig(vocab_size=60), out_dir=str(root / "runs"), name="teacher")
    tokenizer, data, imdb = prepare_data(cfg)
    _, result = train_classifier(cfg, tokenizer, data)
    return result["run"], imdb, folder


def distill_cfg(teacher, folder, **kw):
    return ClassifierDistillConfig(
        teacher=teacher, student=LSTMClassifierConfig(d_model=16, n_layers=1),
        train=TrainConfig(max_steps=30, batch_size=16, lr=1e-2, warmup_steps=5, eval_interval=0, eval_batches=1,
                          stats_interval=0, progress=False, device="cpu", seed=0),
        data=IMDbConfig(source=str(folder)), speed_seq_len=16, **kw)


def test_distilled_classifier_reports_its_metrics(teacher_run):
    run, imdb, folder = teacher_run
    student, result = distill_classifier(distill_cfg(run, folder, hard_label_acc=0.5, augment_share=0.5), imdb)
    assert result["teacher_acc"] > 0.8  # the look-alike is easy: the teacher learned it
    assert result["student_acc"] > 0.7
    assert result["gap_closed"] == pytest.approx(gap_closed(result["student_acc"], 0.5, result["teacher_acc"]))
    assert result["student_params"] == student.num_params() < result["teacher_params"] * 10
    assert all(result[k] > 0 for k in ("student_tok_s_b1", "student_tok_s_b64", "teacher_tok_s_b1",
                                       "teacher_tok_s_b64", "speedup_b1"))
    assert student.config.vocab_size == student_vocab(run)  # the teacher's tokenizer


def student_vocab(run):
    from scratchformer.tasks.classification import load_classifier
    return load_classifier(run)[1].vocab_size


def test_a_student_learns_from_the_teacher_alone(teacher_run):
    """Under the soft loss the labels are never read: what the student knows comes from the teacher."""
    run, imdb, folder = teacher_run
    _, result = distill_classifier(distill_cfg(run, folder, loss=LOSSES["mse"], measure_speed=False), imdb)
    assert result["student_acc"] > 0.7 and abs(result["student_acc"] - result["teacher_acc"]) < 0.2


def test_a_hard_label_student_never_runs_the_teacher(teacher_run, monkeypatch):
    run, imdb, folder = teacher_run
    from scratchformer.models.classifier import Classifier

    calls = []
    original = Classifier.forward
    monkeypatch.setattr(Classifier, "forward", lambda self, *a, **k: calls.append(1) or original(self, *a, **k))
    distill_classifier(distill_cfg(run, folder, loss=LOSSES["hard"], measure_speed=False), imdb)
    assert 0 < len(calls) <= 2  # the teacher is scored on the validation split, never run in training


def test_the_teacher_labels_each_review_once_and_the_batches_stay_the_same(teacher_run):
    """Kept logits are the teacher's own on each batch; only reviews never drawn before are read."""
    from scratchformer.tasks.classification import load_classifier
    from scratchformer.tasks.distillation import DistillationData, classification_data, encode_reviews

    run, imdb, _ = teacher_run
    teacher, tokenizer, batching = load_classifier(run)
    data = classification_data(encode_reviews(tokenizer, imdb), batching, 32)
    read = []  # rows the teacher reads, batch by batch
    forward = teacher.forward
    teacher.forward = lambda tokens, **kw: read.append(tokens.size(0)) or forward(tokens, **kw)
    kept = DistillationData(data, teacher)
    g, plain = torch.Generator().manual_seed(0), torch.Generator().manual_seed(0)
    seen, expected = set(), []
    batches = 3 * len(data.ids["train"]) // 16  # three epochs' worth: most reviews are drawn again
    for _ in range(batches):
        tokens, labels, mask, logits = kept.batch("train", 16, g)
        indices = data.draw("train", 16, plain)  # the same draw, from a generator in the same state
        assert torch.equal(tokens, data.collate("train", indices)[0])
        assert torch.equal(labels, data.labels["train"][indices])
        with torch.no_grad():
            assert torch.allclose(logits, forward(tokens, padding_mask=mask)[0], atol=1e-5)  # (B, K)
        expected.append(len(set(indices) - seen))  # reviews never drawn before this batch
        seen |= set(indices)
    assert read == [n for n in expected if n]  # the teacher read only reviews it had not labelled
    assert sum(read) == len(seen) < batches * 16  # each once (the uncached teacher reads every row)


def test_a_language_model_run_is_not_a_classification_teacher(tmp_path, teacher_run):
    _, imdb, folder = teacher_run
    lm_folder = lm_teacher(tmp_path)
    with pytest.raises(UserError, match="holds a language model.*cannot use"):
        distill_classifier(distill_cfg(str(lm_folder), folder), imdb)


def test_classifier_distillation_config_errors():
    with pytest.raises(ValueError, match="teacher must name"):
        ClassifierDistillConfig()
    with pytest.raises(ValueError, match="augment_share"):
        ClassifierDistillConfig(teacher="x", augment_share=1.5)


# --------------------------------------------------------------------------------------------
# language modelling: a tiny GPT teacher


TEXT = "To be, or not to be, that is the question.\n"
V = len(set(TEXT))  # characters: the teacher's vocabulary


def lm_teacher(tmp_path):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text(TEXT * 60)
    cfg = LMRunConfig(model=GPTConfig(d_model=32, n_heads=4, n_layers=1, context_len=16),
                      train=TrainConfig(max_steps=60, batch_size=8, lr=3e-3, warmup_steps=5, eval_interval=0,
                                        eval_batches=1, stats_interval=0, progress=False, device="cpu"),
                      data=CorpusConfig(corpus=str(corpus)), out_dir=str(tmp_path / "runs"), name="lm")
    folder, _, _ = train_language_model(cfg)
    return folder


def test_distilled_language_model_approaches_its_teacher(tmp_path):
    folder = lm_teacher(tmp_path)
    cfg = LMDistillConfig(teacher=str(folder), student=LSTMLMConfig(d_model=32, n_layers=1),
                          train=TrainConfig(max_steps=80, batch_size=8, lr=1e-2, warmup_steps=5, eval_interval=0,
                                            eval_batches=1, stats_interval=0, progress=False, device="cpu"),
                          data=CorpusConfig(corpus=str(tmp_path / "corpus.txt")), eval_batches=2, speed_seq_len=8,
                          hard_label_loss=math.log(V))
    student, result = distill_language_model(cfg, run_dir=tmp_path / "student")
    # - the run folder holds the student alone, loadable as a plain LSTM language model
    run = load_run(result["run"])
    loaded, tokenizer = run.model, run.tokenizer
    assert run.kind == "lstm_lm" and isinstance(loaded, LSTMLM) and tokenizer.vocab_size == V
    idx = torch.randint(0, V, (2, 9))
    torch.testing.assert_close(loaded(idx)[0], student(idx)[0])
    assert student.config.context_len == 16 and student.config.vocab_size == V  # the teacher's
    assert result["student_loss"] < math.log(V) - 1.0  # it learned from the teacher (chance is ln V)
    assert 0 < result["gap_closed"] <= 1.5
    assert all(result[f"{m}_loss_x{f}"] > 0 for m in ("student", "teacher") for f in (2, 4))
    assert min(result[f"{m}_ms_per_token"] for m in ("student", "teacher", "speedup")) > 0


def test_generation_is_timed_in_pairs_that_alternate_who_goes_first(monkeypatch):
    import scratchformer.tasks.distillation as distillation

    calls = []
    monkeypatch.setattr(distillation, "generation_ms_per_token",
                        lambda model, prompt, new: calls.append(model) or {"T": 4.0, "S": 1.0}[model])
    timings = distillation.generation_pairs("T", "S", torch.zeros(1, 8), 8, pairs=3)
    assert timings == [{"teacher": 4.0, "student": 1.0}] * 3
    assert calls == ["T", "S", "S", "T", "T", "S"]


def test_a_classifier_run_is_not_a_language_model_teacher(teacher_run):
    run, _, _ = teacher_run
    with pytest.raises(UserError, match="holds a classifier"):
        distill_language_model(LMDistillConfig(teacher=run))


def test_sliding_window_scores_each_position_once_from_its_slide():
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=11, d_model=16, n_heads=2, n_layers=1, context_len=4)).eval()
    tokens = torch.randint(0, 11, (9,))
    x, y = tokens[:-1], tokens[1:]

    def token_losses(a, b):  # per-token losses of positions a..b-1 read from x[a:b]
        logits, _ = model(x[None, a:b])
        return F.cross_entropy(logits[0], y[a:b], reduction="none")

    disjoint = torch.cat([token_losses(0, 4), token_losses(4, 8)]).mean().item()
    assert long_window_loss(model, tokens, 8, context_len=4, stride=4) == pytest.approx(disjoint, abs=1e-5)
    # - stride 2: positions 0-3 from [0, 4), 4-5 from [2, 6), 6-7 from [4, 8)
    slid = torch.cat([token_losses(0, 4), token_losses(2, 6)[2:], token_losses(4, 8)[2:]]).mean().item()
    assert long_window_loss(model, tokens, 8, context_len=4, stride=2) == pytest.approx(slid, abs=1e-5)
    # - an LSTM reads the whole window at once
    lstm = LSTMLM(LSTMLMConfig(vocab_size=11, d_model=8)).eval()
    whole = lstm(x[None], y[None])[1].item()
    assert long_window_loss(lstm, tokens, 8) == pytest.approx(whole, abs=1e-5)
