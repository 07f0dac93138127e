"""The sample after training: its prompt is checked before training, so a finished run never fails at the end."""

import pytest

from scratchformer.cli.main import main

TINY = ["--model.d_model", "16", "--model.n_heads", "2", "--model.n_layers", "1", "--model.context_len", "8",
        "--train.max_steps", "3", "--train.batch_size", "2", "--train.warmup_steps", "1",
        "--train.eval_interval", "0", "--train.progress", "false", "--sample.max_new_tokens", "5"]


@pytest.mark.parametrize("tokenizer", ["char", "word"])
def test_corpus_without_newline_samples_from_its_first_token(tmp_path, capsys, tokenizer):
    corpus = tmp_path / "digits.txt"
    corpus.write_text("0123456789 " * 300)  # no newline anywhere: the default prompt "\n" is unknown
    code = main(["train", "--data.corpus", str(corpus), "--tokenizer", tokenizer, "--out_dir", str(tmp_path),
                 "--name", "r", *TINY])
    out, err = capsys.readouterr()
    assert code == 0, err
    sample = out.split("--- sample ")[1].splitlines()[1]
    assert sample.startswith("0")  # the first token of the training text ("0", or the word "0123456789")


@pytest.mark.parametrize("prompt, message", [("", "--prompt is empty"), ("xyz", "outside the vocabulary")])
def test_a_prompt_the_model_cannot_read_stops_before_training(tmp_path, capsys, prompt, message):
    corpus = tmp_path / "digits.txt"
    corpus.write_text("0123456789\n" * 60)
    code = main(["train", "--data.corpus", str(corpus), "--prompt", prompt, "--out_dir", str(tmp_path),
                 "--name", "r", *TINY])
    out, err = capsys.readouterr()
    assert code == 2 and message in err and "\n" not in err.strip()
    assert not (tmp_path / "r" / "checkpoint.pt").exists()  # nothing was trained
