"""Weights out: `scratchformer export` writes safetensors without optimizer state, and Hugging Face
GPT-2 / Llama folders that transformers loads with the same logits as ours."""

import json
import os

import pytest
import torch

from scratchformer.cli.main import main
from scratchformer.models.export import load_export
from scratchformer.tasks.runs import load_run

os.environ.setdefault("HF_HUB_OFFLINE", "1")

CORPUS = "To be, or not to be, that is the question.\nWhether 'tis nobler in the mind to suffer\n" * 20
TINY = ["--model.d_model", "32", "--model.n_heads", "4", "--model.n_layers", "2", "--model.context_len", "16",
        "--train.max_steps", "4", "--train.batch_size", "2", "--train.warmup_steps", "1",
        "--train.eval_interval", "0", "--train.progress", "false", "--sample.max_new_tokens", "2"]
SHAPES = {
    "gpt2": ["--model.mlp", "gelu_tanh"],
    "gpt2-untied-no-bias": ["--model.mlp", "gelu", "--model.bias", "false", "--model.tie_weights", "false"],
    "llama": ["--model.position", "rope", "--model.norm", "rmsnorm", "--model.mlp", "swiglu", "--model.bias", "false",
              "--model.n_kv_heads", "2", "--model.d_ff", "48"],
    # the `make demo` model: RoPE and RMSNorm with a plain GELU MLP
    "arcee": ["--model.position", "rope", "--model.norm", "rmsnorm", "--model.bias", "false", "--model.tie_weights",
              "false"],
}


def train_run(tmp_path, name, extra, tokenizer="char"):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text(CORPUS)
    argv = ["train", "--data.corpus", str(corpus), "--tokenizer", tokenizer, "--tokenizer_vocab_size", "270",
            "--out_dir", str(tmp_path / "runs"), "--name", name, *TINY, *extra]
    assert main(argv) == 0
    return tmp_path / "runs" / name


def random_ids(vocab_size):
    return torch.randint(0, vocab_size, (2, 12), generator=torch.Generator().manual_seed(0))


def test_safetensors_export_holds_the_weights_alone(tmp_path, capsys):
    run = train_run(tmp_path, "r", SHAPES["gpt2"])
    assert main(["export", "--run", str(run), "--out", str(tmp_path / "out")]) == 0
    assert "wrote safetensors weights" in capsys.readouterr().out
    from safetensors.torch import load_file

    tensors = load_file(str(tmp_path / "out" / "model.safetensors"))
    loaded = load_run(run)
    ours, tokenizer, state = loaded.model, loaded.tokenizer, loaded.state
    assert set(tensors) == set(ours.state_dict()) - {"lm_head.weight"}  # tied: stored once
    assert (tmp_path / "out" / "model.safetensors").stat().st_size < (run / "checkpoint.pt").stat().st_size / 2
    # - loaded back, the model gives the same logits
    again, kind, model_config, tok = load_export(tmp_path / "out")
    idx = random_ids(ours.config.vocab_size)
    torch.testing.assert_close(again(idx)[0], ours(idx)[0])
    assert kind == "gpt" and model_config == state["model_config"] and tok == state["tokenizer"]


@pytest.mark.parametrize("shape", SHAPES)
def test_hf_folder_loads_in_transformers_with_equal_logits(tmp_path, capsys, shape):
    transformers = pytest.importorskip("transformers")
    run = train_run(tmp_path, shape, SHAPES[shape])
    out = tmp_path / "hf"
    assert main(["export", "--run", str(run), "--out", str(out), "--format", "hf"]) == 0
    expected = {"llama": "Llama", "arcee": "Arcee"}.get(shape, "GPT-2")
    assert f"a Hugging Face {expected} folder" in capsys.readouterr().out
    hf = transformers.AutoModelForCausalLM.from_pretrained(out).eval()
    ours = load_run(run).model
    idx = random_ids(ours.config.vocab_size)
    with torch.no_grad():
        torch.testing.assert_close(hf(idx).logits, ours(idx)[0], atol=1e-5, rtol=1e-5)
    # - and back into scratchformer: the same model again
    again = load_export(out)[0]
    torch.testing.assert_close(again(idx)[0], ours(idx)[0])


def test_hf_folder_carries_a_byte_level_bpe_tokenizer(tmp_path):
    transformers = pytest.importorskip("transformers")
    run = train_run(tmp_path, "bpe", SHAPES["gpt2"], tokenizer="bpe")
    out = tmp_path / "hf"
    assert main(["export", "--run", str(run), "--out", str(out), "--format", "hf"]) == 0
    theirs = transformers.PreTrainedTokenizerFast(tokenizer_file=str(out / "tokenizer.json"))
    ours = load_run(run).tokenizer
    text = "To be, or NOT to be:\n\tthe question."
    assert theirs.encode(text) == ours.encode(text) and theirs.decode(ours.encode(text)) == text


@pytest.mark.parametrize("extra, argv, message", [
    (["--model.position", "alibi"], ["--format", "hf"], "GPT-2 has position 'learned', this model 'alibi'"),
    (["--model.position", "rope"], ["--format", "hf"], "Arcee has norm 'rmsnorm', this model 'layernorm'"),
    ([], ["--format", "onnx"], "choose one of safetensors, hf"),
])
def test_export_mistakes_are_one_line_errors(tmp_path, capsys, extra, argv, message):
    run = train_run(tmp_path, "r", extra)
    capsys.readouterr()
    assert main(["export", "--run", str(run), "--out", str(tmp_path / "out"), *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and message in err and "\n" not in err, err
    assert not (tmp_path / "out" / "model.safetensors").exists()


def test_export_never_overwrites(tmp_path, capsys):
    run = train_run(tmp_path, "r", [])
    assert main(["export", "--run", str(run), "--out", str(tmp_path / "out")]) == 0
    assert main(["export", "--run", str(run), "--out", str(tmp_path / "out")]) == 2
    assert "already holds an export" in capsys.readouterr().err
    assert json.loads((tmp_path / "out" / "scratchformer.json").read_text())["kind"] == "gpt"
