"""Llama-style weights (Hugging Face safetensors) in the project's GPT: logits equal transformers'.

Tiny random Llama models (RMSNorm, RoPE, SwiGLU, grouped-query attention) are built with
transformers and saved to a temporary folder, the layout of a hub download of SmolLM2.
"""

import os

import pytest
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")
transformers = pytest.importorskip("transformers")

from scratchformer.errors import UserError  # noqa: E402
from scratchformer.models.generate import SamplingConfig, generate  # noqa: E402
from scratchformer.models.pretrained import from_pretrained  # noqa: E402

SHAPES = {
    # SmolLM2's proportions, shrunk: 9 query heads share 3 key/value heads, tied embeddings
    "gqa-tied": dict(hidden_size=36, num_attention_heads=9, num_key_value_heads=3, intermediate_size=64,
                     num_hidden_layers=2, vocab_size=97, tie_word_embeddings=True, rope_theta=100000.0),
    "mha-untied": dict(hidden_size=32, num_attention_heads=4, num_key_value_heads=4, intermediate_size=48,
                       num_hidden_layers=3, vocab_size=61, tie_word_embeddings=False, rms_norm_eps=1e-5),
    "one-kv-head": dict(hidden_size=64, num_attention_heads=4, num_key_value_heads=1, intermediate_size=80,
                        num_hidden_layers=1, vocab_size=50, tie_word_embeddings=True),
}


def tiny_llama(folder, seed=0, **shape):
    torch.manual_seed(seed)
    cfg = transformers.LlamaConfig(max_position_embeddings=64, **shape)
    hf = transformers.LlamaForCausalLM(cfg).eval()
    with torch.no_grad():  # norm weights away from 1, so a missing norm cannot hide
        for name, p in hf.named_parameters():
            if name.endswith("norm.weight") or "layernorm" in name:
                p.add_(0.2 * torch.randn_like(p))
    hf.save_pretrained(folder)
    return hf


@pytest.mark.parametrize("shape", SHAPES)
def test_logits_equal_hugging_face(tmp_path, shape):
    hf = tiny_llama(tmp_path, **SHAPES[shape])
    model, _ = from_pretrained(tmp_path)
    cfg = model.config
    assert (cfg.norm, cfg.position, cfg.mlp, cfg.bias) == ("rmsnorm", "rope", "swiglu", False)
    assert cfg.n_kv_heads == SHAPES[shape]["num_key_value_heads"]
    assert (model.lm_head.weight is model.tok_emb.weight) == SHAPES[shape]["tie_word_embeddings"]
    idx = torch.randint(0, cfg.vocab_size, (2, 19), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        theirs = hf(idx).logits
        ours, _ = model(idx)
    torch.testing.assert_close(ours, theirs, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("shape", ["gqa-tied", "mha-untied"])
def test_greedy_continuation_equals_hugging_face(tmp_path, shape):
    hf = tiny_llama(tmp_path, seed=5, **SHAPES[shape])
    model, _ = from_pretrained(tmp_path)
    prompt = torch.tensor([[3, 1, 4, 1, 5, 9]])
    n = 12
    theirs = hf.generate(prompt, max_new_tokens=n, min_new_tokens=n, do_sample=False,
                         pad_token_id=0, eos_token_id=None)
    for use_cache in (True, False):
        ours = generate(model, prompt, SamplingConfig(max_new_tokens=n, temperature=0, use_cache=use_cache))
        assert ours.tolist() == theirs.tolist(), f"use_cache={use_cache}"


def test_unsupported_variants_are_user_errors(tmp_path):
    tiny_llama(tmp_path, **SHAPES["one-kv-head"])
    import json

    config = json.loads((tmp_path / "config.json").read_text())
    for change in ({"hidden_act": "gelu"}, {"attention_bias": True},
                   {"rope_scaling": {"rope_type": "llama3", "factor": 8.0}}, {"model_type": "mistral"}):
        (tmp_path / "config.json").write_text(json.dumps({**config, **change}))
        with pytest.raises(UserError):
            from_pretrained(tmp_path)


def test_int8_weights_stay_close_to_float32(tmp_path):
    from scratchformer.models.pretrained.quantize import Int8Linear

    # - one layer: the fused int8 kernel computes x · (scale · q)ᵀ
    linear = torch.nn.Linear(64, 24, bias=True)
    q = Int8Linear(linear)
    x = torch.randn(3, 5, 64)
    dequantised = (q.qweight.float() * q.scale.float()[:, None])
    torch.testing.assert_close(q(x).float(), x.bfloat16().float() @ dequantised.t() + q.bias.float(),
                               atol=0.03, rtol=0.02)
    assert (dequantised - linear.weight).abs().max() <= linear.weight.abs().max() / 127

    # - a whole model: every Linear quantised, logits close to float32's, the cache still works
    tiny_llama(tmp_path, **{**SHAPES["one-kv-head"], "intermediate_size": 96})  # 64 and 96: the fused kernel
    exact, _ = from_pretrained(tmp_path)
    model, _ = from_pretrained(tmp_path, dtype="int8")
    assert not any(isinstance(m, torch.nn.Linear) for m in model.modules())
    idx = torch.randint(0, 50, (1, 12), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        a, b = exact(idx)[0], model(idx)[0].float()
    assert (a - b).abs().max() < 0.05 * a.abs().max()
    with_cache = generate(model, idx, SamplingConfig(max_new_tokens=4, temperature=0))
    without = generate(model, idx, SamplingConfig(max_new_tokens=4, temperature=0, use_cache=False))
    assert with_cache.tolist() == without.tolist()


def test_config_json_of_transformers_4_is_read_too(tmp_path):
    """The hub's SmolLM2 config.json predates transformers 5: rope_theta at the top, rope_scaling null."""
    import json

    tiny_llama(tmp_path, **SHAPES["gqa-tied"])
    config = json.loads((tmp_path / "config.json").read_text())
    config.pop("rope_parameters", None)
    config.update(rope_theta=100000.0, rope_scaling=None)
    (tmp_path / "config.json").write_text(json.dumps(config))
    model, _ = from_pretrained(tmp_path)
    assert model.config.rope_base == 100000.0


def test_train_init_of_a_llama_records_its_architecture_for_eval_and_resume(tmp_path, capsys):
    """`train --init smollm2` in small: config.yaml holds the Llama layout (GQA, SwiGLU, RMSNorm), so
    eval, generate and --resume rebuild the model from the run folder alone."""
    import shutil

    import yaml
    from test_pretrained_gpt2 import write_tokenizer_json

    from scratchformer.cli.main import main

    folder = tmp_path / "llama"
    tiny_llama(folder, **{**SHAPES["gqa-tied"], "vocab_size": 300})
    write_tokenizer_json(folder)
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("to be or not to be, that is the question.\n" * 60)
    runs = tmp_path / "runs"
    assert main(["train", "--init", str(folder), "--data.corpus", str(corpus), "--model.context_len", "16",
                 "--train.max_steps", "4", "--train.batch_size", "4", "--train.warmup_steps", "1",
                 "--train.eval_batches", "1", "--train.progress", "false", "--train.device", "cpu",
                 "--out_dir", str(runs), "--name", "ft", "--sample.max_new_tokens", "2"]) == 0
    model = yaml.safe_load((runs / "ft" / "config.yaml").read_text())["model"]
    assert (model["d_model"], model["n_heads"], model["n_layers"], model["context_len"]) == (36, 9, 2, 16)
    shutil.rmtree(folder)  # from here on, only the run folder
    capsys.readouterr()
    assert main(["eval", "--run", str(runs / "ft"), "--batches", "1", "--batch_size", "2"]) == 0
    assert main(["generate", "--run", str(runs / "ft"), "--prompt", "to be", "--sample.max_new_tokens", "2"]) == 0
    assert main(["train", "--resume", str(runs / "ft"), "--train.max_steps", "6"]) == 0
    assert "trained 6 steps" in capsys.readouterr().out


def test_lora_adapters_and_prefixes_work_on_a_loaded_model(tmp_path):
    """SmolLM2's layout (grouped-query attention, SwiGLU, tied embeddings) loads into our GPT, so the
    tuning pieces apply unchanged: new LoRA layers and adapters keep transformers' logits, and the
    hidden states of a first segment, given as prefix keys/values, continue it as transformers does."""
    from scratchformer.core.adapters import add_adapters
    from scratchformer.core.lora import add_lora
    from scratchformer.core.prefix import layer_inputs, prefix_kv_from_hidden

    hf = tiny_llama(tmp_path, **SHAPES["gqa-tied"])
    model, _ = from_pretrained(tmp_path)
    idx = torch.randint(0, 97, (2, 14), generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        theirs = hf(idx).logits
        prefix_kv = prefix_kv_from_hidden(model, layer_inputs(model, idx[:, :6]))
        torch.testing.assert_close(model(idx[:, 6:], prefix_kv=prefix_kv)[0], theirs[:, 6:], atol=1e-5, rtol=1e-5)
        add_lora(model, rank=4)
        add_adapters(model, bottleneck=8)
        torch.testing.assert_close(model(idx)[0], theirs, atol=1e-5, rtol=1e-5)
    trained = sum(p.numel() for p in model.parameters() if p.requires_grad)
    assert 0 < trained < 0.5 * sum(p.numel() for p in model.parameters())


def test_lora_and_adapters_train_on_an_int8_model(tmp_path):
    """The int8 layers hold buffers only: LoRA and adapters beside them are float32, and train."""
    from scratchformer.core.adapters import add_adapters
    from scratchformer.core.lora import add_lora

    tiny_llama(tmp_path, **SHAPES["gqa-tied"])
    model, _ = from_pretrained(tmp_path, dtype="int8")
    idx = torch.randint(0, 97, (2, 14), generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        before, _ = model(idx)
    add_lora(model, targets=["attn.q_proj", "mlp.fc_in"], rank=4)
    add_adapters(model, bottleneck=8)
    trained = [p for p in model.parameters() if p.requires_grad]
    assert trained and all(p.dtype == torch.float32 for p in trained)
    _, loss = model(idx[:, :-1], idx[:, 1:])
    torch.testing.assert_close(model(idx)[0], before)
    loss.backward()
    assert all(p.grad is not None for p in trained)
