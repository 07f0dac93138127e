"""Out-of-distribution evaluation: ECE and AUROC on worked examples, and `evaluate-ood` end to end."""

import math
import random

import pytest
import torch

from imdb_fixture import NEGATIVE, POSITIVE, make_imdb, review
from ood_fixture import write_bbc, write_sets
from scratchformer.cli.main import main
from scratchformer.tasks.ood_evaluation import auroc, expected_calibration_error


def test_ece_of_worked_examples():
    # - four predictions at confidence 0.75, three right: perfectly calibrated
    probs = torch.tensor([[0.75, 0.25]] * 4)
    assert expected_calibration_error(probs, torch.tensor([0, 0, 0, 1])) == pytest.approx(0.0)
    # - all right at confidence 0.6: off by 0.4
    assert expected_calibration_error(torch.tensor([[0.6, 0.4]] * 3), torch.tensor([0, 0, 0])) == pytest.approx(0.4)
    # - two bins: {0.9 right, 0.9 wrong} (|0.5 - 0.9| = 0.4) and {0.55 right} (0.45), weights 2/3 and 1/3
    probs = torch.tensor([[0.9, 0.1], [0.9, 0.1], [0.45, 0.55]])
    assert expected_calibration_error(probs, torch.tensor([0, 1, 1])) == pytest.approx(2 / 3 * 0.4 + 1 / 3 * 0.45)


def test_auroc_of_worked_examples():
    assert auroc(torch.tensor([0.9, 0.8]), torch.tensor([0.1, 0.2])) == 1.0
    assert auroc(torch.tensor([0.1]), torch.tensor([0.9])) == 0.0
    assert auroc(torch.tensor([0.5, 0.5]), torch.tensor([0.5])) == 0.5  # ties count half
    # - 0.7 beats 0.6 and 0.2; 0.3 beats 0.2 only: 3 of 4 pairs
    assert auroc(torch.tensor([0.7, 0.3]), torch.tensor([0.6, 0.2])) == 0.75
    assert math.isnan(auroc(torch.tensor([]), torch.tensor([0.1])))


def test_evaluate_ood_prints_one_table_for_a_run(tmp_path, capsys):
    imdb = make_imdb(tmp_path, n_train=40, n_test=20)
    assert main(["train-classifier", "--data.source", str(imdb), "--out_dir", str(tmp_path / "runs"), "--name", "t",
                 "--model.variant", "pool", "--model.d_model", "16", "--batching.max_len", "16",
                 "--tokenizer.vocab_size", "100", "--train.max_steps", "40", "--train.batch_size", "16",
                 "--train.lr", "1e-2", "--train.warmup_steps", "2"]) == 0
    capsys.readouterr()
    ood = write_sets(tmp_path / "ood")
    bbc = write_bbc(tmp_path / "bbc_news.tar.gz")
    assert main(["evaluate-ood", "--run", str(tmp_path / "runs" / "t"), "--data.source", str(imdb),
                 "--ood.source", str(ood), "--ood.bbc_source", str(bbc)]) == 0
    out = capsys.readouterr().out
    table = out[out.index("set "):].splitlines()
    assert table[0].split()[:3] == ["set", "n", "accuracy"]
    names = [line.split()[0] for line in table[2:]]
    assert names == ["imdb-test", "amazon", "nyt", "tweets", "movies", "pang-lee-sentences", "pang-lee-reviews", "bbc"]
    imdb_row, bbc_row = table[2].split(), table[-1].split()
    assert imdb_row[1] == "40" and float(imdb_row[2]) >= 80  # the fixture is easy
    assert bbc_row[2:5] == ["-", "-", "-"] and 0.0 <= float(bbc_row[5]) <= 1.0  # unlabelled: AUROC only


def test_a_language_model_of_reviews_tells_news_from_reviews(tmp_path, capsys):
    # - a classifier and, apart, a byte-level language model of reviews like the fixture's
    imdb = make_imdb(tmp_path, n_train=40, n_test=20)
    runs = tmp_path / "runs"
    assert main(["train-classifier", "--data.source", str(imdb), "--out_dir", str(runs), "--name", "c",
                 "--model.variant", "pool", "--model.d_model", "16", "--batching.max_len", "16",
                 "--tokenizer.vocab_size", "100", "--train.max_steps", "10", "--train.batch_size", "16"]) == 0
    rng = random.Random(1)
    corpus = tmp_path / "reviews.txt"
    corpus.write_text("\n".join(review(rng, rng.choice([POSITIVE, NEGATIVE]), 12) for _ in range(400)))
    assert main(["train", "--data.corpus", str(corpus), "--tokenizer", "byte", "--out_dir", str(runs), "--name", "lm",
                 "--model.d_model", "32", "--model.n_heads", "2", "--model.n_layers", "1", "--model.context_len", "32",
                 "--train.max_steps", "150", "--train.batch_size", "16", "--train.lr", "3e-3", "--train.warmup_steps", "5",
                 "--train.eval_interval", "0", "--sample.max_new_tokens", "0"]) == 0
    capsys.readouterr()
    assert main(["evaluate-ood", "--run", str(runs / "c"), "--data.source", str(imdb), "--ood.source",
                 str(write_sets(tmp_path / "ood")), "--ood.bbc_source", str(write_bbc(tmp_path / "bbc_news.tar.gz")),
                 "--lm", str(runs / "lm"), "--lm_tokens", "24"]) == 0
    table = capsys.readouterr().out.split("set ", 1)[1].splitlines()
    assert table[0].split()[-2:] == ["AUROC", "(LM)"]
    rows = {line.split()[0]: line.split() for line in table[2:]}
    assert rows["imdb-test"][-1] == "-"
    # - the news reads nothing like the reviews the model learnt: it tells all of it apart
    assert float(rows["bbc"][-1]) == 1.0
    assert all(0.0 <= float(r[-1]) <= 1.0 for name, r in rows.items() if name != "imdb-test")
    # - a classifier given as the language model, or no tokens to score: one line each
    for bad in (["--lm", str(runs / "c")], ["--lm", str(runs / "lm"), "--lm_tokens", "0"]):
        assert main(["evaluate-ood", "--run", str(runs / "c"), *bad]) == 2
        err = capsys.readouterr().err
        assert len(err.strip().splitlines()) == 1 and ("--lm" in err)


def test_evaluate_ood_refuses_a_language_model_run(tmp_path, capsys):
    from scratchformer.training.checkpoint import save_checkpoint

    save_checkpoint(tmp_path / "checkpoint.pt", {"kind": "gpt", "model": {}, "model_config": {}})
    code = main(["evaluate-ood", "--run", str(tmp_path / "checkpoint.pt")])
    err = capsys.readouterr().err
    assert code == 2 and "evaluate-ood" in err and len(err.strip().splitlines()) == 1
