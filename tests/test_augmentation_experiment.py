"""The `augmentation` experiment through the harness on tiny fixtures: rows with in- and
out-of-distribution metrics, the derived gain and gap closed, figures, and the one-line errors."""

import json
import math
from pathlib import Path

import pytest
import torch

from imdb_fixture import make_imdb
from ood_fixture import write_bbc, write_sets
from scratchformer.cli.main import main
from scratchformer.data.imdb import IMDbConfig, load_imdb
from scratchformer.errors import UserError
from scratchformer.experiments.augmentation import (CPU_VARIANTS, EXPERIMENT, VARIANTS, ExperimentConfig, derive,
                                                    figures, parts)
from scratchformer.experiments.harness import scaled, with_overrides
from scratchformer.models.classifier import ClassifierConfig
from scratchformer.tasks.augmented_classification import AugmentationConfig, ObjectiveClassifier, label_subset
from scratchformer.training.plots import pyplot


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("aug")
    imdb = make_imdb(root, n_train=40, n_test=20, n_unsup=30)
    ood = write_sets(root / "ood")
    bbc = write_bbc(root / "bbc_news.tar.gz")
    return ["--data.source", str(imdb), "--ood.source", str(ood), "--ood.bbc_source", str(bbc)]


def rows(out):
    return {r["variant"]: r for r in map(json.loads, (out / "rows.jsonl").read_text().splitlines())}


def test_variants_name_their_model_budget_and_augmentation():
    for name, changes in VARIANTS.items():
        model, budget, augmentation = parts(name)
        assert changes["augment.labels"] == (0 if budget == "all" else int(budget))
        assert model in ("bigram", "transformer", "pretrained")
    assert {parts(n)[1] for n in VARIANTS} == {"100", "500", "2500", "all"}
    assert set(CPU_VARIANTS) <= set(VARIANTS) and not any(n.startswith("pretrained") for n in CPU_VARIANTS)
    for scale in ("cpu", "gpu"):  # every variant fits the config at every scale
        cfg = scaled(EXPERIMENT, ExperimentConfig(), scale)
        for changes in VARIANTS.values():
            with_overrides(cfg, changes)


def test_label_subset_is_balanced_seeded_and_bounded(tmp_path):
    train = load_imdb(IMDbConfig(source=str(make_imdb(tmp_path, n_train=30))))["train"]
    picked = label_subset(train, 10, seed=0)
    assert len(picked) == 10 and sorted(picked.labels) == [0] * 5 + [1] * 5
    assert picked.texts == label_subset(train, 10, seed=0).texts != label_subset(train, 10, seed=1).texts
    assert len(label_subset(train, 0, seed=0)) == len(train)
    with pytest.raises(UserError, match="larger than the training set") as e:
        label_subset(train, len(train) + 1, seed=0)
    assert "\n" not in str(e.value)


def test_objective_classifier_mixes_only_in_training_and_loads_as_a_classifier():
    from scratchformer.models.classifier import Classifier
    from scratchformer.models.mixup import mixup_loss

    cfg = ClassifierConfig(variant="pool", vocab_size=20, d_model=8, context_len=16, init_std=1.0)
    torch.manual_seed(0)
    model = ObjectiveClassifier(cfg, AugmentationConfig(mixup_alpha=0.4))
    tokens, labels = torch.randint(1, 20, (4, 5)), torch.tensor([0, 1, 0, 1])
    model.eval()
    assert torch.equal(model(tokens, labels)[1], Classifier.forward(model, tokens, labels)[1])
    model.train()
    torch.manual_seed(1)
    mixed = model(tokens, labels)[1]
    torch.manual_seed(1)
    assert torch.equal(mixed, mixup_loss(model, tokens, labels, None, alpha=0.4)[1])
    assert set(model.state_dict()) == set(Classifier(cfg).state_dict())


def test_tsa_threshold_rises_from_chance_to_one_on_each_schedule():
    from scratchformer.models.consistency import tsa_threshold

    for schedule in ("linear", "log", "exp"):
        end = 1.0 if schedule != "log" else 1.0 - 0.5 * math.exp(-5)  # (log's alpha ends at 1 - exp(-5))
        assert tsa_threshold(schedule, 1.0, classes=2) == pytest.approx(end)
        steps = [tsa_threshold(schedule, t / 10, classes=2) for t in range(11)]
        assert steps == sorted(steps) and steps[0] == pytest.approx(0.5 if schedule != "exp" else 0.5 + 0.5 * math.exp(-5))
    assert tsa_threshold("linear", 0.5, classes=2) == pytest.approx(0.75)
    assert tsa_threshold("log", 0.5, classes=4) == pytest.approx((1 - math.exp(-2.5)) * 0.75 + 0.25)
    # - exp holds the labels back longest, log releases them first
    assert tsa_threshold("exp", 0.5, 2) < tsa_threshold("linear", 0.5, 2) < tsa_threshold("log", 0.5, 2)
    assert tsa_threshold("none", 0.0, 2) == 1.0


def test_annealed_cross_entropy_leaves_out_reviews_learnt_past_the_threshold():
    import torch.nn.functional as F

    from scratchformer.models.consistency import annealed_cross_entropy

    logits = torch.tensor([[4.0, 0.0], [0.0, 0.5], [0.0, 3.0]])  # true-label probabilities 0.98, 0.62, 0.05
    labels = torch.tensor([0, 1, 0])
    loss, kept = annealed_cross_entropy(logits, labels, threshold=0.9)
    assert kept.item() == pytest.approx(2 / 3)
    assert loss.item() == pytest.approx(F.cross_entropy(logits[1:], labels[1:]).item())
    loss, kept = annealed_cross_entropy(logits, labels, threshold=0.01)  # none kept: no loss, no NaN
    assert kept.item() == 0 and loss.item() == 0
    assert annealed_cross_entropy(logits, labels, 1.0)[0].item() == pytest.approx(F.cross_entropy(logits, labels).item())


def test_objective_classifier_anneals_over_its_run_and_resumes_where_it_stopped():
    from scratchformer.models.consistency import annealed_cross_entropy, tsa_threshold

    cfg = ClassifierConfig(variant="pool", vocab_size=20, d_model=8, context_len=16, init_std=1.0, dropout=0.0)
    torch.manual_seed(0)
    model = ObjectiveClassifier(cfg, AugmentationConfig(tsa="linear")).train()
    tokens, labels = torch.randint(1, 20, (6, 5)), torch.tensor([0, 1, 0, 1, 0, 1])
    model.training_from(step=2, max_steps=5, grad_accum=2)  # 4 of 10 forwards done: progress 0.4
    logits = model.eval()(tokens)[0]
    expected = annealed_cross_entropy(logits, labels, tsa_threshold("linear", 0.4, 2))[0]
    assert model.train()(tokens, labels)[1].item() == pytest.approx(expected.item())
    assert model.forwards == 5
    assert set(model.state_dict()) == set(ObjectiveClassifier(cfg, AugmentationConfig()).state_dict())
    for bad, match in ((dict(tsa="cosine"), "unknown TSA schedule"), (dict(tsa="exp", mixup_alpha=0.4), "mixup")):
        with pytest.raises(ValueError, match=match):
            AugmentationConfig(**bad)
    with pytest.raises(ValueError, match="time budget"):
        ExperimentConfig(augment=AugmentationConfig(tsa="exp"), budget="60s")


def test_quick_sweep_writes_rows_with_ood_metrics_and_derived_numbers(tmp_path, data):
    out = tmp_path / "out"
    assert main(["experiment", "augmentation", "--quick", "--out_dir", str(out), *data]) == 0
    found = rows(out)
    assert set(found) == {"bigram-N20-none", "bigram-N20-span-mask", "bigram-N20-mixup", "bigram-N20-uda",
                          "transformer-N20-none", "bigram-Nall-none"}
    m = found["bigram-N20-uda"]["metrics"]
    assert m["labels"] == 20 and found["bigram-Nall-none"]["metrics"]["labels"] > 20
    assert all(0 <= m[f"acc_{s}"] <= 1 for s in ("amazon", "nyt", "tweets", "movies", "pang-lee-reviews"))
    assert 0 <= m["auroc_bbc"] <= 1 and 0 <= m["ece"] <= 1 and math.isfinite(m["ood_gap"])
    assert "test_acc" not in m  # test is read only with --final_test
    # - derived: the gain over none of the same model, N and seed; uda's share of the gap
    none = found["bigram-N20-none"]["metrics"]["val_acc"]
    assert found["bigram-N20-mixup"]["metrics"]["gain"] == pytest.approx(found["bigram-N20-mixup"]["metrics"]["val_acc"] - none)
    assert found["bigram-N20-none"]["metrics"]["gain"] is None
    summary = (out / "summary.md").read_text()
    assert "validation accuracy over no augmentation" in summary and "BBC News" in summary
    for name in ("accuracy_vs_N.png", "id_vs_ood.png", "val_acc.png"):
        assert (out / name).read_bytes()[:4] == b"\x89PNG"


def test_id_vs_ood_labels_of_coinciding_points_do_not_overlap(tmp_path, monkeypatch):
    # - two variants at the same point, a third far away: the second label is stacked above the first
    def row(variant, acc, ood):
        return {"variant": variant, "seed": 0, "metrics": {"val_acc": acc, "ood_acc": ood, "labels": 500}}
    rows = [row("bigram-N500-none", 0.8, 0.6), row("bigram-N500-mixup", 0.8, 0.6), row("bigram-N500-uda", 0.7, 0.5)]
    drawn = {}

    def keep(fig, path, **kwargs):
        renderer = fig.canvas.get_renderer()
        drawn[Path(path).name] = {t.get_text(): (t.xyann, t.get_window_extent(renderer)) for t in fig.axes[0].texts}
        pyplot().close(fig)
        return path
    monkeypatch.setattr("scratchformer.experiments.augmentation.save", keep)
    figures(ExperimentConfig(), rows, tmp_path)
    labels = drawn["id_vs_ood.png"]
    assert not labels["bigram-N500-none"][1].overlaps(labels["bigram-N500-mixup"][1])
    assert labels["bigram-N500-uda"][0] == labels["bigram-N500-none"][0]  # far from the others: not moved


def test_derive_gap_closed_from_the_none_rows():
    def row(variant, acc):
        return {"variant": variant, "seed": 0, "metrics": {"val_acc": acc}}
    found = {r["variant"]: r["metrics"] for r in derive(ExperimentConfig(), [
        row("bigram-N500-none", 0.70), row("bigram-Nall-none", 0.90), row("bigram-N500-uda", 0.82),
        row("bigram-N500-eda", 0.74), row("bigram-N500-uda-tsa", 0.86)])}
    assert found["bigram-N500-uda"]["gap_closed"] == pytest.approx(0.6)
    assert found["bigram-N500-uda-tsa"]["gap_closed"] == pytest.approx(0.8)
    assert found["bigram-N500-eda"]["gain"] == pytest.approx(0.04) and found["bigram-N500-eda"]["gap_closed"] is None


TINY = ["--model.d_model", "8", "--model.ngram_buckets", "64", "--model.context_len", "17", "--batching.max_len",
        "16", "--tokenizer.vocab_size", "60", "--train.max_steps", "2", "--train.batch_size", "8", "--seeds", "1"]


def error_of(capsys, *args) -> str:
    assert main(["experiment", "augmentation", *args]) == 2
    errors = [line.split("error: ", 1)[1] for line in capsys.readouterr().err.splitlines() if "error: " in line]
    assert len(errors) == 1, errors
    return errors[0]


def test_bad_input_is_one_line(tmp_path, data, capsys):
    out = ["--out_dir", str(tmp_path / "o")]
    assert "unknown augmentation 'nonsense'" in error_of(capsys, "--quick", "--augment.augment", "nonsense=0.1",
                                                         *data, *out)
    assert "a probability must be in [0, 1]" in error_of(capsys, "--quick", "--augment.augment", "swap=2", *data, *out)
    # - the fixture's training split holds 72 reviews
    assert "larger than the training set" in error_of(capsys, "--variants", "bigram-N100-none", *TINY, *data,
                                                      "--out_dir", str(tmp_path / "o2"))
    assert "--pretrained RUN" in error_of(capsys, "--variants", "pretrained-N100-none", *TINY, *data,
                                          "--out_dir", str(tmp_path / "o3"))
    assert "needs a language model" in error_of(capsys, "--variants", "bigram-N100-contextual", *TINY, *data,
                                                "--out_dir", str(tmp_path / "o4"))
