"""One loader for every run: GPT, Perceiver AR, classifier, encoder-decoder and LSTM checkpoints open
through the model registry, and a run given to a command that cannot use it is one clear line."""

import dataclasses

import pytest
import torch

from scratchformer.cli.main import main
from scratchformer.data.tokenizers import TOKENIZERS
from scratchformer.errors import UserError
from scratchformer.models.registry import MODELS, build_model
from scratchformer.tasks.runs import load_run
from scratchformer.training.checkpoint import save_checkpoint

TEXT = "the quick brown fox jumps over the lazy dog\n" * 20

# - one tiny model of every kind in the registry, and the inputs its forward takes
TINY = {
    "gpt": dict(vocab_size=30, d_model=16, n_heads=2, n_layers=1, context_len=8),
    "perceiver_ar": dict(vocab_size=30, d_model=16, n_heads=2, n_layers=2, context_len=8, n_latents=4),
    "classifier": dict(vocab_size=30, d_model=16, n_heads=2, n_layers=1, context_len=8),
    "encoder_decoder": dict(vocab_size=16, d_model=16, n_heads=2, n_layers=1, max_src_len=8, max_tgt_len=8),
    "lstm_classifier": dict(vocab_size=30, d_model=16, n_layers=1),
    "lstm_lm": dict(vocab_size=30, d_model=16, n_layers=1, context_len=8),
}


def inputs(kind):
    tokens = torch.randint(3, 16, (2, 8))
    return (tokens, tokens) if kind == "encoder_decoder" else (tokens,)


def save_run(folder, kind, seed=0):
    """A run folder holding a checkpoint as the Trainer writes it; returns the model saved."""
    torch.manual_seed(seed)
    model = build_model(kind, TINY[kind])
    tokenizer = None if kind == "encoder_decoder" else TOKENIZERS["char"].train(TEXT)
    run_config = {"task": {"task": "reverse"}} if kind == "encoder_decoder" else {"data": {"corpus": "x.txt"}}
    save_checkpoint(folder / "checkpoint.pt", {
        "kind": kind, "model": model.state_dict(), "model_config": dataclasses.asdict(model.config),
        "tokenizer": tokenizer.to_dict() if tokenizer else None, "run_config": run_config, "step": 7})
    return model.eval()


def test_the_registry_names_every_kind_of_model():
    assert set(MODELS) == set(TINY)


@pytest.mark.parametrize("kind", sorted(TINY))
def test_load_run_rebuilds_every_kind_with_its_weights(tmp_path, kind):
    saved = save_run(tmp_path, kind)
    run = load_run(tmp_path)
    assert run.kind == kind and run.step == 7 and type(run.model) is type(saved) and not run.model.training
    assert run.config == ({"task": {"task": "reverse"}} if kind == "encoder_decoder" else {"data": {"corpus": "x.txt"}})
    assert (run.tokenizer is None) == (kind == "encoder_decoder")
    x = inputs(kind)
    with torch.no_grad():
        assert torch.equal(run.model(*x)[0], saved(*x)[0])


def test_a_run_of_the_wrong_kind_names_the_command_that_uses_it(tmp_path):
    save_run(tmp_path, "classifier")
    with pytest.raises(UserError, match=r"holds a classifier, which `scratchformer generate` cannot use; "
                                        r"use `scratchformer classify --run"):
        load_run(tmp_path, expect=("gpt",), command="generate")


def one_line_error(code, err):
    lines = [ln for ln in err.splitlines() if ln.strip()]
    return code == 2 and len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in err


@pytest.mark.parametrize("kind, argv, right", [
    ("classifier", ["eval"], "scratchformer classify"),
    ("classifier", ["generate"], "scratchformer classify"),
    ("encoder_decoder", ["generate"], "scratchformer seq2seq decode"),
    ("encoder_decoder", ["eval"], "scratchformer seq2seq decode"),
    ("gpt", ["classify", "--text", "fine"], "scratchformer generate"),
    ("gpt", ["seq2seq", "decode", "--input", "123"], "scratchformer generate"),
])
def test_commands_refuse_runs_of_another_kind_in_one_line(tmp_path, capsys, kind, argv, right):
    save_run(tmp_path, kind)
    code = main([*argv, "--run", str(tmp_path)])
    err = capsys.readouterr().err
    assert one_line_error(code, err), err
    assert right in err


def test_eval_batches_zero_is_one_line(tmp_path, capsys):
    save_run(tmp_path, "gpt")
    code = main(["eval", "--run", str(tmp_path), "--batches", "0"])
    err = capsys.readouterr().err
    assert one_line_error(code, err) and "batches" in err


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the machine without a GPU")
def test_generate_on_a_missing_gpu_says_so_and_does_not_blame_the_checkpoint(tmp_path, capsys):
    save_run(tmp_path, "gpt")
    code = main(["generate", "--run", str(tmp_path), "--device", "cuda", "--prompt", "the"])
    err = capsys.readouterr().err
    assert one_line_error(code, err) and "no CUDA GPU" in err and "corrupt" not in err


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the machine without a GPU")
def test_generate_init_on_a_missing_gpu_is_one_line(capsys):
    code = main(["generate", "--init", "gpt2", "--device", "cuda", "--prompt", "hi"])
    err = capsys.readouterr().err
    assert one_line_error(code, err) and "no CUDA GPU" in err
