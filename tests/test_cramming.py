"""Cramming: the task (time to a target, whole-stream perplexity, Penn Treebank), the `cramming`
experiment's variants and derived metrics, its --quick form for each task, and its bad inputs."""

import json
import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from imdb_fixture import make_imdb
from scratchformer.cli.main import main
from scratchformer.data.ptb import PTBConfig, load_ptb
from scratchformer.errors import UserError
from scratchformer.experiments.cramming import (BEST, DEVICE_TRICKS, EXPERIMENT, TRICKS, VARIANTS, ExperimentConfig,
                                                baseline_model, baseline_train, derive)
from scratchformer.experiments.harness import chosen_variants, get_dotted, scaled, with_overrides
from scratchformer.tasks.cramming import fraction_of_way, time_to_target
from scratchformer.training.evaluation import stream_loss

WORDS = "the cat sat on a mat and N dogs ran by <unk> with it".split()


def make_ptb(root, lines=(400, 60, 60)):
    """A Penn-Treebank-shaped folder: one sentence a line, words split by spaces."""
    g = torch.Generator().manual_seed(0)
    root.mkdir(parents=True, exist_ok=True)
    for name, n in zip(("ptb.train.txt", "ptb.valid.txt", "ptb.test.txt"), lines):
        sentences = [" ".join(WORDS[int(i)] for i in torch.randint(len(WORDS), (int(torch.randint(3, 12, (1,), generator=g)),), generator=g))
                     for _ in range(n)]
        (root / name).write_text("".join(f" {s} \n" for s in sentences))
    return root


# --------------------------------------------------------------------------------------------
# the task's pieces


def test_time_to_target_interpolates_between_the_points_around_it():
    curve = [{"train_s": 10.0, "val_loss": 3.0}, {"train_s": 20.0, "val_loss": 2.0}, {"train_s": 30.0, "val_loss": 1.5}]
    assert time_to_target(curve, 2.5) == pytest.approx(15.0)
    assert time_to_target(curve, 2.0) == pytest.approx(20.0)
    assert time_to_target(curve, 3.5) == pytest.approx(10.0)  # reached by the first point
    assert time_to_target(curve, 1.0) is None  # never reached
    assert fraction_of_way(150.0, 200.0, 100.0) == pytest.approx(0.5)  # perplexity: lower is better
    assert fraction_of_way(0.93, 0.917, 0.946) == pytest.approx(13 / 29)  # accuracy: higher is better


class Bigram(nn.Module):
    """Logits depend on the current token only: any scoring that predicts every token once agrees."""

    def __init__(self, V):
        super().__init__()
        self.table = nn.Embedding(V, V)

    def forward(self, idx):
        return self.table(idx), None


@pytest.mark.parametrize("context_len, stride", [(8, None), (8, 3), (8, 8), (50, None), (500, None)])
def test_stream_loss_predicts_every_token_once_whatever_the_windows(context_len, stride):
    torch.manual_seed(0)
    model, tokens = Bigram(11), torch.randint(0, 11, (101,))
    expected = F.cross_entropy(model.table(tokens[:-1]), tokens[1:]).item()
    assert stream_loss(model, tokens, context_len, stride, batch_size=4) == pytest.approx(expected, rel=1e-5)


def test_ptb_has_one_eos_per_line_and_its_vocabulary_from_the_training_file(tmp_path):
    folder = make_ptb(tmp_path / "ptb")
    vocab, tokens = load_ptb(PTBConfig(source=str(folder)))
    train_text = (folder / "ptb.train.txt").read_text()
    assert vocab.itos[0] == "<eos>" and vocab.vocab_size == len(set(train_text.split())) + 1
    assert len(tokens["train"]) == len(train_text.split()) + train_text.count("\n")
    assert (tokens["test"] == 0).sum() == 60  # one <eos> per test sentence
    assert vocab.decode(vocab.encode("the cat\n")) == "the cat\n"
    with pytest.raises(UserError, match="'zebra' is not in the Penn Treebank vocabulary"):
        vocab.encode("the zebra")
    with pytest.raises(UserError, match="lacks ptb.valid.txt"):
        (folder / "ptb.valid.txt").unlink()
        load_ptb(PTBConfig(source=str(folder)))


def test_ptb_download_checks_the_checksum_of_a_cached_copy(tmp_path):
    (tmp_path / "ptb.train.txt").write_text("not the real file\n")
    for name in ("ptb.valid.txt", "ptb.test.txt"):
        (tmp_path / name).write_text("x\n")
    with pytest.raises(UserError, match="does not match the published sha256 .*delete it and run again"):
        load_ptb(PTBConfig(source="download", cache_dir=str(tmp_path)))
    assert (tmp_path / "ptb.train.txt").exists()  # a finished file is never deleted for the user


# --------------------------------------------------------------------------------------------
# the variants


def test_each_plus_variant_changes_one_trick_and_each_minus_variant_puts_one_back():
    base = ExperimentConfig()
    for name, changes in TRICKS.items():
        assert VARIANTS[f"plus-{name}"] == changes
        cfg = with_overrides(base, changes)
        assert all(get_dotted(cfg, k) != get_dotted(base, k) for k in changes)  # the trick changes something
        if name in DEVICE_TRICKS:
            assert f"minus-{name}" not in VARIANTS and not set(changes) & set(BEST)
            continue
        minus = with_overrides(base, VARIANTS[f"minus-{name}"])
        best = with_overrides(base, BEST)
        differ = [k for k in BEST if get_dotted(minus, k) != get_dotted(best, k)]
        assert sorted(differ) == sorted(changes) and all(get_dotted(minus, k) == get_dotted(base, k) for k in changes)
    # - the pairs: best with both tricks put back, and nothing else changed
    for name, pair in (("minus-zero_init+rmsnorm", ("zero_init", "rmsnorm")), ("minus-untied+ramps", ("untied", "ramps"))):
        minus, best = with_overrides(base, VARIANTS[name]), with_overrides(base, BEST)
        changed = [k for trick in pair for k in TRICKS[trick]]
        assert sorted(k for k in BEST if get_dotted(minus, k) != get_dotted(best, k)) == sorted(changed)
    assert with_overrides(base, VARIANTS["minus-untied+ramps"]).ramp_start_share == 0.0
    for scale in ("cpu", "gpu"):
        cfg = scaled(EXPERIMENT, ExperimentConfig(), scale)
        assert all(with_overrides(cfg, v) for v in VARIANTS.values())
    assert baseline_model().position == "learned" and baseline_train().schedule == "cosine"


def test_on_a_gpu_every_variant_trains_in_bf16_compiled_and_the_device_tricks_are_not_run():
    gpu = scaled(EXPERIMENT, ExperimentConfig(), "gpu")
    assert gpu.train.dtype == "bfloat16" and gpu.train.compile and gpu.model.n_layers == 12
    assert chosen_variants(EXPERIMENT, None, "gpu") == [v for v in VARIANTS if v not in ("plus-bf16", "plus-compile")]
    assert chosen_variants(EXPERIMENT, None, "cpu") == list(VARIANTS)
    cpu = scaled(EXPERIMENT, ExperimentConfig(), "cpu")
    assert cpu.train.dtype == "float32" and not cpu.train.compile


def test_derive_measures_each_run_against_the_baseline_and_its_anchor_of_the_same_seed(tmp_path):
    def row(variant, seed, loss, curve, **extra):
        folder = tmp_path / variant / f"seed-{seed}"
        folder.mkdir(parents=True)
        (folder / "curve.json").write_text(json.dumps([{"train_s": t, "val_loss": v} for t, v in curve]))
        return {"variant": variant, "seed": seed, "run_dir": str(folder), "metrics": {"val_loss": loss, **extra}}

    rows = [row("baseline", 0, 2.0, [(10, 3.0), (20, 2.0)], test_ppl=200.0),
            row("plus-rope", 0, 1.8, [(10, 2.5), (20, 1.8)], test_ppl=150.0),
            row("best", 0, 1.5, [(5, 2.0), (20, 1.5)], test_ppl=100.0),
            row("minus-rope", 0, 1.6, [(10, 2.2), (20, 1.6)], test_ppl=114.5),
            row("plus-qk_norm", 1, 1.9, [(10, 1.9)])]  # no baseline for seed 1
    found = {r["variant"] + str(r["seed"]): r["metrics"] for r in derive(ExperimentConfig(task="ptb"), rows)}
    assert found["baseline0"]["time_to_target_s"] == 20 and found["baseline0"]["delta_val_loss"] == 0.0
    assert found["plus-rope0"]["target_loss"] == 2.0 and found["plus-rope0"]["delta_val_loss"] == pytest.approx(-0.2)
    assert found["plus-rope0"]["time_to_target_s"] == pytest.approx(10 + 10 * 0.5 / 0.7)
    assert found["best0"]["time_to_target_s"] == 5 and found["best0"]["speedup_to_target"] == pytest.approx(4.0)
    assert found["minus-rope0"]["delta_val_loss"] == pytest.approx(0.1)  # against best, not the baseline
    assert found["minus-rope0"]["frac_to_zaremba_small"] == pytest.approx(1.0)
    assert found["plus-rope0"]["frac_to_zaremba_medium"] == pytest.approx(50 / 117.3)
    assert found["plus-qk_norm1"]["time_to_target_s"] is None and found["plus-qk_norm1"]["delta_val_loss"] is None


def test_derive_keeps_a_copied_rows_time_to_target_only_for_the_same_target(tmp_path):
    # - seed 0 copied back from a published rows.jsonl: its run folders are gone, its rows carry
    #   what was derived then; plus-wsd's figure was derived against another baseline's loss
    def copied(variant, loss, **carried):
        return {"variant": variant, "seed": 0, "run_dir": str(tmp_path / variant / "seed-0"),
                "metrics": {"val_loss": loss, **carried}}

    rows = [copied("baseline", 2.0, target_loss=2.0, time_to_target_s=900.0, steps_to_target=3000.0),
            copied("plus-rope", 1.8, target_loss=2.0, time_to_target_s=300.0, steps_to_target=1000.0),
            copied("plus-wsd", 1.9, target_loss=2.1, time_to_target_s=500.0, steps_to_target=1500.0),
            copied("plus-muon", 1.7)]
    found = {r["variant"]: r["metrics"] for r in derive(ExperimentConfig(), rows)}
    assert found["plus-rope"]["time_to_target_s"] == 300.0 and found["plus-rope"]["steps_to_target"] == 1000.0
    assert found["plus-rope"]["speedup_to_target"] == pytest.approx(3.0)
    assert found["plus-wsd"]["time_to_target_s"] is None and found["plus-wsd"]["speedup_to_target"] is None
    assert found["plus-muon"]["time_to_target_s"] is None and found["plus-muon"]["delta_val_loss"] == pytest.approx(-0.3)


def test_bad_inputs_are_one_line_errors(capsys):
    for budget, message in (("0", "leaves no time"), ("soon", "not a length of time")):
        assert main(["experiment", "cramming", "--budget", budget, "--list"]) != 0
        assert message in capsys.readouterr().err
    with pytest.raises(ValueError, match="unknown task 'glue'"):
        ExperimentConfig(task="glue")


# --------------------------------------------------------------------------------------------
# --quick, each task


def rows_of(out):
    return {r["variant"]: r for r in map(json.loads, (out / "rows.jsonl").read_text().splitlines())}


def test_quick_crams_shakespeare_characters_within_the_budget(tmp_path):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("To be, or not to be, that is the question.\n" * 80)
    out = tmp_path / "quick"
    assert main(["experiment", "cramming", "--quick", "--seeds", "1", "--budget", "1.5s", "--data.corpus", str(corpus),
                 "--out_dir", str(out)]) == 0
    rows = rows_of(out)
    assert set(rows) == {"baseline", "plus-relu2", "best", "minus-muon", "minus-zero_init+rmsnorm"}
    for r in rows.values():
        m = r["metrics"]
        assert m["val_loss"] < math.log(20) and m["steps"] > 5 and m["train_s"] <= 1.5 + 1.0
        # - the whole split agrees with the 20-batch estimate on this repetitive text
        assert m["val_loss_whole"] == pytest.approx(m["val_loss"], abs=0.3)
        # - min_lr / lr: the schedule ends at the budget (a run the load slowed past its fitted end is
        #   ended there, and says so: ended_decayed 0; the fake-clock tests in test_budget.py pin the fit)
        assert m["final_lr_share"] == pytest.approx(0.1) and m["ended_decayed"] in (0.0, 1.0)
        curve = json.loads((out / r["variant"] / "seed-0" / "curve.json").read_text())
        assert curve[-1]["val_loss"] == pytest.approx(m["val_loss"]) and curve[-1]["step"] == m["steps"]
    assert rows["baseline"]["metrics"]["time_to_target_s"] == pytest.approx(rows["baseline"]["metrics"]["train_s"], abs=0.01)
    assert "training seconds to the baseline's final loss" in (out / "summary.md").read_text()


def test_quick_crams_penn_treebank_and_reports_test_perplexity_against_zaremba(tmp_path):
    folder = make_ptb(tmp_path / "ptb")
    out = tmp_path / "quick"
    assert main(["experiment", "cramming", "--quick", "--task", "ptb", "--seeds", "1", "--budget", "1s",
                 "--variants", "baseline,best", "--ptb.source", str(folder), "--out_dir", str(out)]) == 0
    rows = rows_of(out)
    for r in rows.values():
        m = r["metrics"]
        assert 1.0 < m["test_ppl"] < 20 and 1.0 < m["val_ppl"] < 20  # far below the 16-word uniform
    assert rows["baseline"]["metrics"]["frac_to_zaremba_small"] == 0.0
    assert "frac_to_zaremba_medium" in rows["best"]["metrics"]


def test_quick_wires_imdb_pretraining_to_the_budget(tmp_path):
    source = make_imdb(tmp_path, n_train=20, n_test=5, n_unsup=20)
    out = tmp_path / "quick"
    assert main(["experiment", "cramming", "--quick", "--task", "imdb", "--seeds", "1", "--budget", "2s",
                 "--variants", "baseline", "--imdb.data.source", str(source), "--out_dir", str(out)]) == 0
    row = rows_of(out)["baseline"]
    assert 0.0 <= row["metrics"]["val_acc"] <= 1.0
    if row["metrics"]["val_acc"] != 0.946:  # the baseline is its own start: 0 of the way to BERT-base
        assert row["metrics"]["frac_to_bert"] == 0.0
    budget = json.loads((out / "baseline" / "seed-0" / "lm" / "budget.json").read_text())
    assert budget["time_budget_s"] == 2.0 and budget["fit_schedule"]


def test_with_steps_every_variant_trains_exactly_that_many_steps_and_counts_steps_to_target(tmp_path):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("To be, or not to be, that is the question.\n" * 80)
    out = tmp_path / "steps"
    assert main(["experiment", "cramming", "--quick", "--seeds", "1", "--steps", "12", "--data.corpus", str(corpus),
                 "--variants", "baseline,best", "--out_dir", str(out)]) == 0
    rows = rows_of(out)
    assert {r["metrics"]["steps"] for r in rows.values()} == {12}
    assert rows["baseline"]["metrics"]["steps_to_target"] == 12 and rows["baseline"]["metrics"]["final_lr_share"] == pytest.approx(0.1)
    curve = json.loads((out / "best" / "seed-0" / "curve.json").read_text())
    assert [p["step"] for p in curve] == [6, 12]  # curve_points 2 along the 12 steps
