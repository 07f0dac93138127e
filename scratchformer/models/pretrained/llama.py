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


def state_dict_from_hf(sd: dict[str, torch.Tensor], cfg: GPTConfig) -> dict[str, torch.Tensor]:
    """Hugging Face Llama tensors -> the state dict of GPT(cfg).

    Consumes `sd` (each tensor is taken out as it is mapped), so a stacked copy never sits in memory
    next to the two tensors it was stacked from.
    """
    take = sd.pop
    out = {"tok_emb.weight": take("model.embed_tokens.weight"), "norm_f.weight": take("model.norm.weight")}
    for i in range(cfg.n_layers):
        h, b = f"model.layers.{i}.", f"blocks.{i}."
        out[b + "norm1.weight"] = take(h + "input_layernorm.weight")
        out[b + "norm2.weight"] = take(h + "post_attention_layernorm.weight")
        out[b + "attn.q_proj.weight"] = take(h + "self_attn.q_proj.weight")  # (H*D, C)
        out[b + "attn.kv_proj.weight"] = torch.cat(
            [take(h + "self_attn.k_proj.weight"), take(h + "self_attn.v_proj.weight")])  # (2*KV*D, C)
        out[b + "attn.out_proj.weight"] = take(h + "self_attn.o_proj.weight")
        out[b + "mlp.fc_in.weight"] = torch.cat(
            [take(h + "mlp.gate_proj.weight"), take(h + "mlp.up_proj.weight")])  # (2*d_ff, C)
        out[b + "mlp.fc_out.weight"] = take(h + "mlp.down_proj.weight")
    # - tied checkpoints may omit lm_head.weight, or store a copy of the embedding
    out["lm_head.weight"] = out["tok_emb.weight"] if cfg.tie_weights else take("lm_head.weight")
    return out
