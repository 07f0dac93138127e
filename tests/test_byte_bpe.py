"""Byte-level BPE for a language model's own corpus: exact round trip, a chosen vocabulary size, learned once."""

import pytest

from scratchformer.cli.main import main
from scratchformer.data.tokenizers import byte_bpe
from scratchformer.data.tokenizers.byte_bpe import cached_byte_bpe, learn_byte_bpe
from scratchformer.training.checkpoint import load_checkpoint

CORPUS = ("First Citizen:\nBefore we proceed any further, hear me speak.\n\n"
          "ALL:\tSpeak, speak.\n  Indented    spaces\r\nCafé, naïve, 日本語, emoji 🎭 and Ünïcode.\n") * 30


def test_round_trip_keeps_case_whitespace_and_unicode():
    tokenizer = learn_byte_bpe(CORPUS, 300, show_progress=False)
    for text in (CORPUS, "UPPER lower MiXeD\n\n\tTabbed\t\tline\n", "   leading spaces", "trailing  \n",
                 "never seen: Ωμέγα ☃ 🐍 \x00 ç", ""):
        assert tokenizer.decode(tokenizer.encode(text)) == text
    assert tokenizer.vocab_size == 300
    # - merges were learned: the corpus takes far fewer tokens than bytes
    assert len(tokenizer.encode(CORPUS)) < 0.7 * len(CORPUS.encode("utf-8"))


def test_too_small_vocabulary_is_refused():
    with pytest.raises(ValueError, match="at least 257"):
        learn_byte_bpe(CORPUS, 100)


def test_learned_once_and_cached_beside_the_corpus(tmp_path, monkeypatch):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text(CORPUS)
    monkeypatch.setattr(byte_bpe, "CACHE_DIR", str(tmp_path / "user-cache"))
    first = cached_byte_bpe(CORPUS, 300, corpus=str(corpus), log=lambda _: None)
    cached = list(tmp_path.glob("corpus.txt.bpe300-*.json"))
    assert len(cached) == 1
    # - the second time nothing is learned: the file is read
    monkeypatch.setattr(byte_bpe, "learn_byte_bpe", lambda *a, **k: pytest.fail("learned twice"))
    second = cached_byte_bpe(CORPUS, 300, corpus=str(corpus), log=lambda _: None)
    assert second.encode(CORPUS) == first.encode(CORPUS)
    # - other settings or other text are another vocabulary
    assert byte_bpe.cache_path(CORPUS, 301, str(corpus)) != cached[0]
    assert byte_bpe.cache_path(CORPUS + "x", 300, str(corpus)) != cached[0]


TINY = ["--model.d_model", "16", "--model.n_heads", "2", "--model.n_layers", "1", "--model.context_len", "16",
        "--train.max_steps", "3", "--train.batch_size", "2", "--train.warmup_steps", "1",
        "--train.eval_interval", "0", "--train.progress", "false", "--sample.max_new_tokens", "5"]


def test_train_with_bpe_through_the_cli(tmp_path, capsys):
    corpus = tmp_path / "mine.txt"
    corpus.write_text(CORPUS)
    argv = ["train", "--data.corpus", str(corpus), "--tokenizer", "bpe", "--tokenizer_vocab_size", "280",
            "--out_dir", str(tmp_path / "runs"), *TINY]
    assert main([*argv, "--name", "a"]) == 0
    assert "learning a byte-level BPE of 280 tokens" in capsys.readouterr().out
    assert main([*argv, "--name", "b"]) == 0
    assert "read from" in capsys.readouterr().out
    state = load_checkpoint(tmp_path / "runs" / "b")
    assert state["model_config"]["vocab_size"] == 280 and state["tokenizer"]["kind"] == "hf_bpe"


@pytest.mark.parametrize("argv, message", [
    (["--tokenizer", "hf_bpe"], "choose one of char, byte, word, bpe"),
    (["--tokenizer", "bpe", "--tokenizer_vocab_size", "100"], "at least 257"),
])
def test_tokenizer_mistakes_are_one_line_errors(tmp_path, capsys, argv, message):
    assert main(["train", "--out_dir", str(tmp_path), *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and message in err and "\n" not in err
