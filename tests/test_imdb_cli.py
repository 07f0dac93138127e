"""The IMDb commands end to end on a tiny fixture: train-classifier, classify (the ablation: test_imdb_ablation.py)."""

import json
from pathlib import Path

import pytest

from imdb_fixture import make_archive, make_imdb  # noqa: F401 (a fixture)
from scratchformer.cli.main import build_parser, main

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("imdb")
    folder = make_imdb(tmp, n_train=60, n_test=20)
    code = main(["train-classifier", "--data.source", str(folder), "--out_dir", str(tmp / "runs"), "--name", "t",
                 "--model.variant", "transformer", "--model.d_model", "16", "--model.n_heads", "2",
                 "--model.n_layers", "1", "--batching.max_len", "16", "--tokenizer.vocab_size", "100",
                 "--train.max_steps", "60", "--train.batch_size", "16", "--train.lr", "1e-2",
                 "--train.warmup_steps", "5", "--final_test", "true"])
    assert code == 0
    return tmp / "runs" / "t"


def test_train_classifier_writes_a_run_that_learned(trained_run):
    results = json.loads((trained_run / "results.json").read_text())
    assert results["val_acc"] >= 0.8 and results["test_acc"] >= 0.8
    assert (trained_run / "checkpoint.pt").exists() and (trained_run / "config.yaml").exists()


def test_classify_prints_label_and_probability_for_any_text(trained_run, capsys, tmp_path):
    texts = {"wonderful great loved it, brilliant": "pos", "awful boring terrible waste": "neg",
             "": None, "great " * 500: "pos", "日本語 ☃ Überraschung café": None}
    for text, expected in texts.items():
        assert main(["classify", "--run", str(trained_run), "--text", text]) == 0
        label, prob = capsys.readouterr().out.split()
        assert label in ("pos", "neg") and 0.5 <= float(prob) <= 1.0
        if expected:
            assert label == expected, text[:40]
    review = tmp_path / "r.txt"
    review.write_bytes(b"superb \xff moving film")  # not UTF-8: still classified
    assert main(["classify", "--run", str(trained_run), "--file", str(review)]) == 0
    assert capsys.readouterr().out.startswith("pos ")


def test_mistakes_are_one_line_errors(trained_run, capsys, tmp_path):
    cases = [
        (["classify", "--run", str(tmp_path / "none"), "--text", "x"], "no checkpoint"),
        (["classify", "--run", str(trained_run)], "exactly one"),
        (["train-classifier", "--data.source", str(tmp_path / "missing.tar.gz")], "does not exist"),
        (["train-classifier", "--model.variant", "rnn"], "unknown classifier variant"),
        (["experiment", "imdb-ablation", "--variants", "lstm"], "variants"),
    ]
    for argv, message in cases:
        assert main(argv) == 2, argv
        err = capsys.readouterr().err.strip()
        assert err.startswith("error:") and message in err and "\n" not in err


@pytest.mark.parametrize("preset", sorted(p.name for p in (ROOT / "configs").glob("imdb*.yaml")
                                           if p.name != "imdb_pretrain.yaml"))  # an experiment's preset
def test_every_imdb_preset_validates(preset):
    parser = build_parser("train-classifier")
    args = parser.instantiate(parser.parse_args(["train-classifier", "--config", str(ROOT / "configs" / preset)]))
    assert args["train-classifier"].model.variant in ("pool", "kqv", "transformer")
