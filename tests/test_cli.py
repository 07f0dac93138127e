"""The command line: a working run, and one clear line for every user mistake."""

import subprocess
import sys

import pytest

from scratchformer.cli.main import main

TINY = ["--model.d_model", "16", "--model.n_heads", "2", "--model.n_layers", "1", "--model.context_len", "8",
        "--train.max_steps", "3", "--train.batch_size", "2", "--train.eval_batches", "1",
        "--train.progress", "false", "--sample.max_new_tokens", "5"]


@pytest.fixture
def corpus(tmp_path):
    path = tmp_path / "corpus.txt"
    path.write_text("the quick brown fox jumps over the lazy dog\n" * 20)
    return str(path)


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_train_generate_eval(capsys, corpus, tmp_path):
    code, out, _ = run(capsys, "train", "--data.corpus", corpus, "--out_dir", str(tmp_path), "--name", "a", *TINY)
    assert code == 0 and "run folder" in out
    generate = ["generate", "--run", str(tmp_path / "a"), "--prompt", "the ", "--sample.max_new_tokens", "10"]
    code, out, _ = run(capsys, *generate, "--sample.seed", "1")
    # - the prompt, then exactly 10 new characters (a character model: one token each) from the corpus
    assert code == 0 and out.startswith("the ") and out.endswith("\n")
    new = out[len("the "):-1]
    assert len(new) == 10 and set(new) <= set("the quick brown fox jumps over the lazy dog\n"), repr(new)
    # - the seed fixes the sample; another seed gives another (10 characters of 16 alike is unlikely)
    assert run(capsys, *generate, "--sample.seed", "1")[1] == out
    assert run(capsys, *generate, "--sample.seed", "2")[1] != out
    code, out, _ = run(capsys, "eval", "--run", str(tmp_path / "a"), "--batches", "2", "--batch_size", "2")
    assert code == 0 and '"val_bpc"' in out


def test_shipped_lm_presets_validate():
    """Every language-model preset in configs/ parses and builds its typed configs."""
    from pathlib import Path

    from scratchformer.cli.main import build_parser
    parser = build_parser("train")
    presets = [p for p in sorted(Path("configs").glob("*.yaml")) if p.name.startswith(("demo", "shakespeare"))]
    assert presets
    for preset in presets:
        args = parser.instantiate(parser.parse_args(["train", "--config", str(preset)]))
        assert args.train.model.d_model > 0, preset


def one_line_error(code, err):
    lines = [ln for ln in err.splitlines() if ln.strip()]
    return code == 2 and len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in err


@pytest.mark.parametrize("argv, words", [
    (["train", "--model.nonsense", "1"], "nonsense"),
    (["train", "--model.d_model", "big"], "d_model"),
    (["train", "--model.d_model", "30"], "divisible"),
    (["train", "--data.corpus", "/no/such/file.txt"], "does not exist"),
    (["generate", "--run", "/no/such/run"], "no checkpoint"),
    (["frobnicate"], "unknown command"),
    # - checks of the top-level run configs (not only the nested ones) are one-line errors too
    (["train", "--tokenizer", "morse"], "unknown tokenizer"),
    (["train-classifier", "--budget", "0"], "leaves no time"),
    (["train-classifier", "--budget", "ten minutes"], "not a length of time"),
    (["find-lr", "--tokenizer", "morse"], "unknown tokenizer"),
    (["seq2seq", "train", "--beam_size", "0"], "beam_size"),
])
def test_user_mistakes_get_one_line(capsys, argv, words):
    code, _, err = run(capsys, *argv)
    assert one_line_error(code, err), err
    assert words in err


def test_empty_corpus_and_unknown_prompt_characters(capsys, corpus, tmp_path):
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    code, _, err = run(capsys, "train", "--data.corpus", str(empty), "--out_dir", str(tmp_path), *TINY)
    assert one_line_error(code, err) and "empty" in err
    run(capsys, "train", "--data.corpus", corpus, "--out_dir", str(tmp_path), "--name", "b", *TINY)
    code, _, err = run(capsys, "generate", "--run", str(tmp_path / "b"), "--prompt", "ZEBRA")
    assert one_line_error(code, err) and "outside the vocabulary" in err


def test_corrupt_checkpoint_and_unknown_config_key_in_yaml(capsys, tmp_path):
    (tmp_path / "r").mkdir()
    (tmp_path / "r" / "checkpoint.pt").write_bytes(b"\x00" * 64)
    code, _, err = run(capsys, "generate", "--run", str(tmp_path / "r"))
    assert one_line_error(code, err) and "corrupt" in err
    preset = tmp_path / "bad.yaml"
    preset.write_text("model:\n  d_modle: 64\n")
    code, _, err = run(capsys, "train", "--config", str(preset))
    assert one_line_error(code, err) and "d_modle" in err


def test_every_command_has_help(capsys):
    """`scratchformer NAME --help` works for every command and documents its options."""
    from scratchformer.cli.main import COMMANDS
    for name in COMMANDS:
        with pytest.raises(SystemExit) as exit_:
            main([name, "--help"])
        out = capsys.readouterr().out
        assert exit_.value.code == 0 and "usage" in out, name
    out = subprocess.run([sys.executable, "-m", "scratchformer.cli.main", "--help"], capture_output=True,
                         text=True, timeout=120).stdout
    assert all(name in out for name in COMMANDS)


def test_train_help_documents_every_option(capsys):
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    out = capsys.readouterr().out
    for option in ("--model.d_model", "--train.lr", "--train.grad_clip", "--data.corpus", "--sample.top_p"):
        assert option in out
    assert "Width of the residual stream" in out  # field docstrings become the help text
