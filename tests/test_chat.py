"""`scratchformer chat`: reads messages until EOF or /exit, streams each reply, keeps the conversation."""

import io

import pytest

from scratchformer.cli import chat as chat_module
from scratchformer.cli.main import main

CORPUS = "Hello there, friend.\nHow are you today?\nI am well, thank you.\n" * 100
TINY = ["--model.d_model", "16", "--model.n_heads", "2", "--model.n_layers", "1", "--model.context_len", "64",
        "--train.max_steps", "3", "--train.batch_size", "2", "--train.warmup_steps", "1",
        "--train.eval_interval", "0", "--train.progress", "false", "--sample.max_new_tokens", "2"]


@pytest.fixture(scope="module")
def bpe_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("chat")
    (tmp / "corpus.txt").write_text(CORPUS)
    assert main(["train", "--data.corpus", str(tmp / "corpus.txt"), "--tokenizer", "bpe", "--tokenizer_vocab_size",
                 "300", "--out_dir", str(tmp), "--name", "r", *TINY]) == 0
    return tmp / "r"


def run_chat(monkeypatch, capsys, argv, stdin):
    """Run the chat command on piped stdin; returns (exit code, stdout, the prompts the model was given)."""
    prompts = []
    real_reply = chat_module.reply

    def spy(model, tokenizer, messages, sample, device="cpu"):
        prompts.append(chat_module.conversation_text(tokenizer, messages))
        yield from real_reply(model, tokenizer, messages, sample, device)

    monkeypatch.setattr(chat_module, "reply", spy)
    monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    capsys.readouterr()
    code = main(["chat", *argv, "--sample.max_new_tokens", "4", "--sample.temperature", "0"])
    return code, capsys.readouterr().out, prompts


def test_chat_keeps_the_conversation_and_stops_at_exit(bpe_run, monkeypatch, capsys):
    code, out, prompts = run_chat(monkeypatch, capsys, ["--run", str(bpe_run), "--system", "Be kind."],
                                  "Hello there\n\nHow are you?\n/exit\nnever read\n")
    assert code == 0
    assert len(prompts) == 2  # the blank line is skipped; nothing after /exit is read
    first, second = prompts
    assert first.startswith("<|im_start|>system\nBe kind.<|im_end|>") and "Hello there" in first
    # - the second turn holds the first message, the model's reply to it, and the new message
    assert second.startswith(first) and second.endswith("How are you?<|im_end|>\n<|im_start|>assistant\n")
    first_reply = second[len(first):].split("<|im_end|>")[0]
    assert out.startswith(first_reply + "\n")  # the reply that was printed is the one the model sees next


def test_chat_with_an_exported_hugging_face_folder_until_eof(bpe_run, tmp_path, monkeypatch, capsys):
    pytest.importorskip("transformers")
    assert main(["export", "--run", str(bpe_run), "--out", str(tmp_path / "hf"), "--format", "hf"]) == 0
    code, out, prompts = run_chat(monkeypatch, capsys, ["--init", str(tmp_path / "hf"), "--dtype", "float32"],
                                  "one\ntwo\nthree")  # no newline at the end, then EOF
    assert code == 0 and len(prompts) == 3 and "three" in prompts[-1] and "two" in prompts[-1]
    # - the same weights answer the same first message the same way
    code, again, _ = run_chat(monkeypatch, capsys, ["--run", str(bpe_run)], "one\n")
    assert out.startswith(again)


def test_a_char_level_run_chats_in_running_text(tmp_path, monkeypatch, capsys):
    (tmp_path / "c.txt").write_text(CORPUS)
    assert main(["train", "--data.corpus", str(tmp_path / "c.txt"), "--out_dir", str(tmp_path), "--name", "c",
                 *TINY]) == 0
    code, out, prompts = run_chat(monkeypatch, capsys, ["--run", str(tmp_path / "c")], "Hello\nHow\n")
    assert code == 0 and prompts[0] == "Hello\n" and prompts[1].startswith("Hello\n") and prompts[1].endswith("How\n")


def test_chat_needs_exactly_one_model(capsys):
    assert main(["chat"]) == 2
    assert "--init smollm2" in capsys.readouterr().err
