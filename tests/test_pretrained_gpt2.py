"""GPT-2 weights in the project's GPT: logits and greedy continuations equal Hugging Face's.

No network: tiny random GPT-2 models are built with transformers and saved to a temporary
folder, which `from_pretrained` reads exactly as it reads a hub download.
"""

import os

import pytest
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")
transformers = pytest.importorskip("transformers")

from scratchformer.data.tokenizers import tokenizer_from_dict  # noqa: E402
from scratchformer.errors import UserError  # noqa: E402
from scratchformer.models.generate import SamplingConfig, generate  # noqa: E402
from scratchformer.models.pretrained import from_pretrained  # noqa: E402

SHAPES = {
    "small": dict(n_embd=32, n_head=4, n_layer=2, n_positions=64, vocab_size=101),
    "untied-gelu": dict(n_embd=48, n_head=3, n_layer=3, n_positions=40, vocab_size=77, n_inner=72,
                        activation_function="gelu", tie_word_embeddings=False),
    "one-layer-wide": dict(n_embd=64, n_head=8, n_layer=1, n_positions=32, vocab_size=50, layer_norm_epsilon=1e-3),
}


def tiny_gpt2(folder, seed=0, **shape):
    torch.manual_seed(seed)
    hf = transformers.GPT2LMHeadModel(transformers.GPT2Config(**shape)).eval()
    # - random biases and norm weights too, so a mapping mistake cannot hide behind zeros and ones
    with torch.no_grad():
        for name, p in hf.named_parameters():
            if name.endswith("bias") or ".ln_" in name:
                p.add_(0.1 * torch.randn_like(p))
    hf.save_pretrained(folder)
    return hf


@pytest.mark.parametrize("shape", SHAPES)
def test_logits_equal_hugging_face(tmp_path, shape):
    hf = tiny_gpt2(tmp_path, **SHAPES[shape])
    model, _ = from_pretrained(tmp_path)
    idx = torch.randint(0, hf.config.vocab_size, (2, 17), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        theirs = hf(idx).logits
        ours, _ = model(idx)
    assert ours.shape == theirs.shape
    torch.testing.assert_close(ours, theirs, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("shape", SHAPES)
def test_greedy_continuation_equals_hugging_face(tmp_path, shape):
    hf = tiny_gpt2(tmp_path, seed=3, **SHAPES[shape])
    model, _ = from_pretrained(tmp_path)
    prompt = torch.tensor([[5, 9, 2, 7, 1]])
    n = 12
    theirs = hf.generate(prompt, max_new_tokens=n, do_sample=False, min_new_tokens=n,
                         pad_token_id=0, eos_token_id=None)
    for use_cache in (True, False):
        ours = generate(model, prompt, SamplingConfig(max_new_tokens=n, temperature=0, use_cache=use_cache))
        assert ours.tolist() == theirs.tolist(), f"use_cache={use_cache}"


def test_prompt_longer_than_context_slides_the_window(tmp_path):
    hf = tiny_gpt2(tmp_path, **SHAPES["one-layer-wide"])  # context 32
    model, _ = from_pretrained(tmp_path)
    prompt = torch.randint(0, 50, (1, 45), generator=torch.Generator().manual_seed(2))
    out = generate(model, prompt, SamplingConfig(max_new_tokens=3, temperature=0))
    # - the first new token is what Hugging Face predicts from the last 32 tokens
    with torch.no_grad():
        expected = hf(prompt[:, -32:]).logits[0, -1].argmax().item()
    assert out.shape == (1, 48) and out[0, 45].item() == expected


def test_shorter_context_and_bfloat16(tmp_path):
    hf = tiny_gpt2(tmp_path, **SHAPES["small"])
    model, _ = from_pretrained(tmp_path, dtype="bfloat16", context_len=16)
    assert model.config.context_len == 16 and model.positions.table.weight.shape == (16, 32)
    assert model.lm_head.weight.dtype == torch.bfloat16 and model.lm_head.weight is model.tok_emb.weight
    idx = torch.randint(0, 101, (1, 16), generator=torch.Generator().manual_seed(4))
    with torch.no_grad():
        ours, _ = model(idx)
        theirs = hf(idx).logits
    torch.testing.assert_close(ours.float(), theirs, atol=0.05, rtol=0.05)


def write_tokenizer_json(folder):
    """A small byte-level BPE vocabulary (300 tokens), trained here, saved as tokenizer.json."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tk = Tokenizer(models.BPE())
    tk.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tk.decoder = decoders.ByteLevel()
    tk.train_from_iterator(["to be or not to be, that is the question"] * 10,
                           trainers.BpeTrainer(vocab_size=300, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    tk.save(str(folder / "tokenizer.json"))


def test_tokenizer_json_in_the_folder_is_loaded_and_serialisable(tmp_path):
    tiny_gpt2(tmp_path, **{**SHAPES["small"], "vocab_size": 300})  # byte-level BPE needs >= 256
    write_tokenizer_json(tmp_path)
    _, tokenizer = from_pretrained(tmp_path)
    text = "to be, or not to be? ünïcode"
    ids = tokenizer.encode(text)
    assert tokenizer.decode(ids) == text
    again = tokenizer_from_dict(tokenizer.to_dict())
    assert again.encode(text) == ids and again.vocab_size == tokenizer.vocab_size


def test_train_init_continues_training_and_the_run_reloads(tmp_path, capsys):
    import json

    from scratchformer.cli.main import main
    from scratchformer.tasks.runs import load_run

    folder = tmp_path / "gpt2"
    hf = tiny_gpt2(folder, **{**SHAPES["small"], "vocab_size": 300})
    write_tokenizer_json(folder)
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("to be or not to be, that is the question.\n" * 60)
    runs = tmp_path / "runs"
    rc = main(["train", "--init", str(folder), "--data.corpus", str(corpus), "--model.context_len", "16",
               "--train.max_steps", "30", "--train.batch_size", "8", "--train.lr", "3e-3", "--train.warmup_steps", "2",
               "--train.eval_interval", "30", "--train.eval_batches", "2", "--train.progress", "false",
               "--train.device", "cpu", "--out_dir", str(runs), "--name", "ft", "--sample.max_new_tokens", "3"])
    assert rc == 0
    # - the run's checkpoint holds the GPT-2 shape (context shortened to the training window) and tokenizer
    run = load_run(runs / "ft")
    model, tokenizer, state = run.model, run.tokenizer, run.state
    assert (model.config.d_model, model.config.context_len, state["tokenizer"]["kind"]) == (32, 16, "hf_bpe")
    # - it trained: the corpus is far likelier than under the random starting weights
    idx = torch.tensor([tokenizer.encode("to be or not to be, that is")])
    with torch.no_grad():
        before = torch.nn.functional.cross_entropy(hf(idx).logits[0, :-1], idx[0, 1:])
        after = model(idx[:, :-1], idx[:, 1:])[1]
    assert after < 0.7 * before
    records = [json.loads(line) for line in (runs / "ft" / "metrics.jsonl").read_text().splitlines()]
    assert any("val_loss" in r for r in records)
    # - and generates from its run folder
    capsys.readouterr()
    assert main(["generate", "--run", str(runs / "ft"), "--prompt", "to be", "--sample.max_new_tokens", "4"]) == 0
    assert capsys.readouterr().out.startswith("to be")
    # - config.yaml records the real architecture (not the default GPT of --model), so eval and
    #   --resume work on the run without the pretrained model at hand
    import yaml

    config = yaml.safe_load((runs / "ft" / "config.yaml").read_text())
    assert {k: config["model"][k] for k in ("d_model", "context_len", "vocab_size")} == \
        {"d_model": 32, "context_len": 16, "vocab_size": model.config.vocab_size}
    assert main(["eval", "--run", str(runs / "ft"), "--batches", "2", "--batch_size", "2"]) == 0
    assert '"val_loss"' in capsys.readouterr().out
    import shutil

    shutil.rmtree(folder)  # the pretrained model is gone: resume needs only the run folder
    assert main(["train", "--resume", str(runs / "ft"), "--train.max_steps", "32"]) == 0
    assert "trained 32 steps" in capsys.readouterr().out


def test_generate_init_on_the_command_line(tmp_path, capsys):
    from scratchformer.cli.main import main

    tiny_gpt2(tmp_path, **{**SHAPES["one-layer-wide"], "vocab_size": 300})  # context 32
    write_tokenizer_json(tmp_path)
    long_prompt = "to be or not to be " * 10  # about 50 tokens: longer than the context
    for prompt in ("to be", long_prompt):
        assert main(["generate", "--init", str(tmp_path), "--prompt", prompt, "--dtype", "float32",
                     "--sample.max_new_tokens", "5", "--sample.temperature", "0"]) == 0
        out = capsys.readouterr().out
        assert prompt in out
    assert "the model sees the last ones" in out
    # - an unknown name: one line on stderr, exit status 2
    assert main(["generate", "--init", "gpt7", "--prompt", "hi"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: unknown pretrained model 'gpt7'") and err.count("\n") == 1


def test_bad_inputs_are_one_sentence_user_errors(tmp_path, monkeypatch):
    with pytest.raises(UserError, match="unknown pretrained model"):
        from_pretrained("gpt7")
    # - a hub name with no network and nothing cached: the hub client's error becomes one sentence
    import huggingface_hub

    def offline(*args, **kwargs):
        raise huggingface_hub.errors.LocalEntryNotFoundError("no connection and no cached copy")

    monkeypatch.setattr(huggingface_hub, "snapshot_download", offline)
    with pytest.raises(UserError, match="could not download openai-community/gpt2"):
        from_pretrained("gpt2")
    with pytest.raises(UserError, match="no config.json"):
        from_pretrained(tmp_path)
    tiny_gpt2(tmp_path, **SHAPES["small"])
    weights = tmp_path / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])  # truncated download
    with pytest.raises(UserError, match="truncated"):
        from_pretrained(tmp_path)
    with pytest.raises(UserError, match="dtype"):
        from_pretrained(tmp_path, dtype="int3")
