"""Your own labelled texts: a CSV or JSONL classifier with three classes, trained and used through the CLI."""

import csv
import json
import random

import pytest

from scratchformer.cli.main import main
from scratchformer.data.labelled_texts import TextDataConfig, load_classification_data

@pytest.fixture(autouse=True)
def home_in_tmp(tmp_path, monkeypatch):
    """The token cache (~/.cache/scratchformer) goes to a temporary home, not the user's."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))


TOPICS = {"sport": ["ball", "goal", "team", "match", "score"],
          "food": ["bread", "soup", "cheese", "salad", "spice"],
          "tech": ["code", "chip", "robot", "server", "laptop"]}
NEUTRAL = ["the", "a", "was", "and", "it", "today"]


def rows(n: int, seed: int = 0) -> list[dict]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        label = list(TOPICS)[i % 3]
        words = [rng.choice(TOPICS[label] if rng.random() < 0.5 else NEUTRAL) for _ in range(10)]
        out.append({"body": " ".join(words), "topic": label, "id": i})
    return out


def write_csv(path, data):
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(data[0]))
        writer.writeheader()
        writer.writerows(data)
    return path


def write_jsonl(path, data):
    path.write_text("".join(json.dumps(r) + "\n" for r in data), encoding="utf-8")
    return path


TINY = ["--model.d_model", "16", "--model.n_heads", "2", "--model.n_layers", "1", "--batching.max_len", "16",
        "--tokenizer.vocab_size", "100", "--train.max_steps", "60", "--train.batch_size", "16",
        "--train.lr", "1e-2", "--train.warmup_steps", "5", "--data.text_column", "body",
        "--data.label_column", "topic"]


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_three_class_classifier_from_own_file(tmp_path, capsys, fmt):
    write = write_csv if fmt == "csv" else write_jsonl
    train = write(tmp_path / f"train.{fmt}", rows(120))
    test = write(tmp_path / f"test.{fmt}", rows(30, seed=1))
    code = main(["train-classifier", "--data.source", str(train), "--data.test_source", str(test),
                 "--final_test", "true", "--out_dir", str(tmp_path / "runs"), "--name", "t", *TINY])
    assert code == 0, capsys.readouterr().err
    results = json.loads((tmp_path / "runs" / "t" / "results.json").read_text())
    assert results["val_acc"] >= 0.8 and results["test_acc"] >= 0.8  # chance is 1/3
    capsys.readouterr()
    # - classify prints the class names of the file
    for text, label in (("robot code server laptop", "tech"), ("soup bread cheese", "food"), ("goal team", "sport")):
        assert main(["classify", "--run", str(tmp_path / "runs" / "t"), "--text", text]) == 0
        name, prob = capsys.readouterr().out.split()
        assert name == label and float(prob) > 1 / 3


def test_validation_split_is_seeded_and_classes_sorted(tmp_path):
    path = write_csv(tmp_path / "d.csv", rows(60))
    cfg = dict(source=str(path), text_column="body", label_column="topic", val_fraction=0.2)
    one, two = (load_classification_data(TextDataConfig(**cfg, split_seed=3)) for _ in range(2))
    other = load_classification_data(TextDataConfig(**cfg, split_seed=4))
    assert one.classes == ["food", "sport", "tech"]
    assert one["val"].texts == two["val"].texts != other["val"].texts
    assert len(one["val"]) == 12 and len(one["train"]) == 48
    assert "test" not in one.splits  # read only for a final evaluation


def test_a_csv_without_header_and_texts_over_several_lines(tmp_path):
    path = tmp_path / "plain.csv"
    path.write_text('1,"a good\nlong text"\n0,"bad, bad"\n1,fine\n0,awful\n1,great\n')
    data = load_classification_data(TextDataConfig(source=str(path), header=False, text_column="1",
                                                   label_column="0", val_fraction=0.2))
    texts = data["train"].texts + data["val"].texts
    assert data.classes == ["0", "1"] and len(texts) == 5 and "a good\nlong text" in texts and "bad, bad" in texts


def test_given_classes_fix_the_order(tmp_path):
    path = write_jsonl(tmp_path / "d.jsonl", rows(30))
    data = load_classification_data(TextDataConfig(source=str(path), text_column="body", label_column="topic",
                                                   classes=["tech", "sport", "food"]))
    text, label = data["train"].texts[0], data["train"].labels[0]
    assert any(w in text.split() for w in TOPICS[["tech", "sport", "food"][label]])


def test_mistakes_in_the_file_are_one_line_errors(tmp_path, capsys):
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    header_only = tmp_path / "header.csv"
    header_only.write_text("body,topic\n")
    one_class = write_csv(tmp_path / "one.csv", [{"body": f"t{i}", "topic": "x"} for i in range(10)])
    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"body": "a", "topic": "b"}\n{not json\n')
    good = write_csv(tmp_path / "good.csv", rows(30))
    cases = [
        (["--data.source", str(tmp_path / "missing.csv")], "does not exist"),
        (["--data.source", str(empty)], "is empty"),
        (["--data.source", str(header_only)], "no rows"),
        (["--data.source", str(one_class)], "only one class"),
        (["--data.source", str(broken)], "line 2 is not valid JSON"),
        (["--data.source", str(good), "--data.text_column", "review"], "columns found: 'body', 'topic', 'id'"),
        (["--data.source", str(good), "--final_test", "true"], "--data.test_source"),
    ]
    for argv, message in cases:
        # (the text/label options in TINY come first; later options override them)
        assert main(["train-classifier", *TINY, "--out_dir", str(tmp_path / "runs"), *argv]) == 2, argv
        err = capsys.readouterr().err.strip()
        assert err.startswith("error:") and message in err and "\n" not in err, err


def test_classifier_starts_from_your_own_bpe_language_model(tmp_path, capsys):
    data = rows(90)
    corpus = tmp_path / "texts.txt"
    corpus.write_text("\n".join(r["body"] for r in data) * 2)
    lm = ["train", "--data.corpus", str(corpus), "--tokenizer", "bpe", "--tokenizer_vocab_size", "280",
          "--model.d_model", "16", "--model.n_heads", "2", "--model.n_layers", "1", "--model.context_len", "16",
          "--train.max_steps", "3", "--train.batch_size", "2", "--train.warmup_steps", "1", "--train.eval_interval",
          "0", "--train.progress", "false", "--sample.max_new_tokens", "2", "--out_dir", str(tmp_path), "--name", "lm"]
    assert main(lm) == 0
    train = write_csv(tmp_path / "train.csv", data)
    code = main(["train-classifier", "--data.source", str(train), "--init", str(tmp_path / "lm"),
                 "--model.causal", "true", "--out_dir", str(tmp_path), "--name", "clf",
                 *[a for a in TINY if a not in ("--tokenizer.vocab_size", "100")]])
    assert code == 0, capsys.readouterr().err
    capsys.readouterr()
    assert main(["classify", "--run", str(tmp_path / "clf"), "--text", "robot code"]) == 0
    assert capsys.readouterr().out.split()[0] in TOPICS
