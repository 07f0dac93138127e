"""Llama-style weights (Touvron et al. 2023) from Hugging Face, mapped into the project's own GPT.

The Llama layout is the GPT class with RoPE, RMSNorm, a SwiGLU MLP, grouped-query attention
and no biases (SmolLM2 is one). Names differ, and two pairs of matrices are stacked into one:

  Hugging Face (LlamaForCausalLM)              scratchformer (GPT)
  model.embed_tokens                           tok_emb
  model.layers.{i}.input_layernorm             blocks.{i}.norm1
  model.layers.{i}.self_attn.q_proj            blocks.{i}.attn.q_proj
  model.layers.{i}.self_attn.{k,v}_proj        blocks.{i}.attn.kv_proj   (k rows, then v rows)
  model.layers.{i}.self_attn.o_proj            blocks.{i}.attn.out_proj
  model.layers.{i}.post_attention_layernorm    blocks.{i}.norm2
  model.layers.{i}.mlp.{gate,up}_proj          blocks.{i}.mlp.fc_in      (gate rows, then up rows)
  model.layers.{i}.mlp.down_proj               blocks.{i}.mlp.fc_out
  model.norm, lm_head                          norm_f, lm_head (tied to tok_emb when tie_word_embeddings)

Both use RoPE's half-split layout (rotate_half), so q and k rows map one to one.
"""

from __future__ import annotations

import torch

from scratchformer.errors import UserError
from scratchformer.models.gpt import GPTConfig


def _rope_theta(hf: dict) -> float:
    """RoPE's base: `rope_theta` (transformers 4) or `rope_parameters.rope_theta` (transformers 5)."""
    params = hf.get("rope_parameters") or {}
    scaling = hf.get("rope_scaling") or params
    if scaling.get("rope_type", scaling.get("type", "default")) != "default":
        raise UserError(f"this checkpoint uses RoPE scaling {scaling.get('rope_type')!r}, which scratchformer "
                        "does not implement; use a model with plain RoPE (e.g. SmolLM2)")
    return float(hf.get("rope_theta") or params.get("rope_theta") or 10000.0)


def config_from_hf(hf: dict) -> GPTConfig:
    """A Hugging Face LlamaConfig (as a dict, i.e. config.json) -> GPTConfig."""
    d_model, n_heads = hf["hidden_size"], hf["num_attention_heads"]
    if hf.get("head_dim") not in (None, d_model // n_heads):
        raise UserError(f"this checkpoint's head_dim ({hf['head_dim']}) is not hidden_size / num_attention_heads, "
                        "which scratchformer's attention assumes")
    if hf.get("hidden_act", "silu") != "silu":
        raise UserError(f"this Llama checkpoint uses activation {hf['hidden_act']!r}; scratchformer's SwiGLU uses silu")
    if hf.get("attention_bias") or hf.get("mlp_bias"):
        raise UserError("this Llama checkpoint has biases in its linear layers; scratchformer's Llama layout has none")
    return GPTConfig(
        vocab_size=hf["vocab_size"], context_len=hf.get("max_position_embeddings", 2048),
        d_model=d_model, n_heads=n_heads, n_layers=hf["num_hidden_layers"],
        n_kv_heads=hf.get("num_key_value_heads") or n_heads, d_ff=hf["intermediate_size"],
        norm="rmsnorm", norm_eps=hf.get("rms_norm_eps", 1e-6), mlp="swiglu", position="rope",
        rope_base=_rope_theta(hf), bias=False, dropout=0.0, tie_weights=hf.get("tie_word_embeddings", False),
    )


# The names that differ only in name (ours, theirs), and the matrices stored stacked in ours:
# the one table both directions read.
TOP_NAMES = (("tok_emb.weight", "model.embed_tokens.weight"), ("norm_f.weight", "model.norm.weight"))
BLOCK_NAMES = (("norm1.weight", "input_layernorm.weight"), ("norm2.weight", "post_attention_layernorm.weight"),
               ("attn.q_proj.weight", "self_attn.q_proj.weight"),  # (H*D, C)
               ("attn.out_proj.weight", "self_attn.o_proj.weight"), ("mlp.fc_out.weight", "mlp.down_proj.weight"))
BLOCK_STACKED = (("attn.kv_proj.weight", ("self_attn.k_proj.weight", "self_attn.v_proj.weight")),  # (2*KV*D, C)
                 ("mlp.fc_in.weight", ("mlp.gate_proj.weight", "mlp.up_proj.weight")))  # (2*d_ff, C)


def state_dict_from_hf(sd: dict[str, torch.Tensor], cfg: GPTConfig, block_names: tuple = BLOCK_NAMES,
                       block_stacked: tuple = BLOCK_STACKED) -> dict[str, torch.Tensor]:
    """Hugging Face Llama tensors -> the state dict of GPT(cfg). A layout that differs from Llama's only
    in some block names (arcee.py) passes its own tables.

    Consumes `sd` (each tensor is taken out as it is mapped), so a stacked copy never sits in memory
    next to the two tensors it was stacked from.
    """
    take = sd.pop
    out = {ours: take(theirs) for ours, theirs in TOP_NAMES}
    for i in range(cfg.n_layers):
        h, b = f"model.layers.{i}.", f"blocks.{i}."
        for ours, theirs in block_names:
            out[b + ours] = take(h + theirs)
        for ours, (first, second) in block_stacked:
            out[b + ours] = torch.cat([take(h + first), take(h + second)])
    # - tied checkpoints may omit lm_head.weight, or store a copy of the embedding
    out["lm_head.weight"] = out["tok_emb.weight"] if cfg.tie_weights else take("lm_head.weight")
    return out


# --------------------------------------------------------------------------------------------
# the other way: our GPT -> a Hugging Face Llama folder (scratchformer export --format hf)


def unsupported(cfg: GPTConfig) -> str | None:
    """Why GPT(cfg) cannot be written as Llama, or None when it can."""
    wants = {"position": "rope", "norm": "rmsnorm", "mlp": "swiglu", "norm_position": "pre", "qk_norm": False,
             "bias": False}
    for name, value in wants.items():
        if getattr(cfg, name) != value:
            return f"Llama has {name} {value!r}, this model {getattr(cfg, name)!r}"
    return None


def config_to_hf(cfg: GPTConfig) -> dict:
    """GPTConfig -> a Hugging Face LlamaConfig as a dict (config.json); the inverse of config_from_hf."""
    return {"model_type": "llama", "architectures": ["LlamaForCausalLM"], "vocab_size": cfg.vocab_size,
            "max_position_embeddings": cfg.context_len, "hidden_size": cfg.d_model,
            "num_attention_heads": cfg.n_heads, "num_key_value_heads": cfg.n_kv_heads or cfg.n_heads,
            "num_hidden_layers": cfg.n_layers, "intermediate_size": cfg.d_ff or 4 * cfg.d_model,
            "head_dim": cfg.d_model // cfg.n_heads, "hidden_act": "silu", "rms_norm_eps": cfg.norm_eps,
            "rope_theta": cfg.rope_base, "tie_word_embeddings": cfg.tie_weights, "attention_bias": False,
            "mlp_bias": False, "attention_dropout": cfg.dropout if cfg.attn_dropout is None else cfg.attn_dropout,
            "torch_dtype": "float32"}


def state_dict_to_hf(sd: dict[str, torch.Tensor], cfg: GPTConfig, block_names: tuple = BLOCK_NAMES,
                     block_stacked: tuple = BLOCK_STACKED) -> dict[str, torch.Tensor]:
    """The state dict of GPT(cfg) -> Hugging Face Llama tensors (stacked matrices split in two); the
    inverse of state_dict_from_hf, with the same tables."""
    out = {theirs: sd[ours] for ours, theirs in TOP_NAMES}
    for i in range(cfg.n_layers):
        h, b = f"model.layers.{i}.", f"blocks.{i}."
        for ours, theirs in block_names:
            out[h + theirs] = sd[b + ours]
        for ours, (first, second) in block_stacked:
            out[h + first], out[h + second] = sd[b + ours].chunk(2)  # equal halves: k|v, gate|up
    if not cfg.tie_weights:
        out["lm_head.weight"] = sd["lm_head.weight"]
    return {k: v.contiguous() for k, v in out.items()}
