"""GPT-2 (Radford et al. 2019) weights from Hugging Face, mapped into the project's own GPT.

GPT-2 is the GPT class with learned positions, LayerNorm, a tanh-GELU MLP and biases. Only the
names and two storage details differ:

  Hugging Face (GPT2LMHeadModel)        scratchformer (GPT)
  wte, wpe                              tok_emb, positions.table
  h.{i}.ln_1, h.{i}.ln_2, ln_f          blocks.{i}.norm1, blocks.{i}.norm2, norm_f
  h.{i}.attn.c_attn  (C, 3C) fused      blocks.{i}.attn.q_proj (C rows) + kv_proj (2C rows: k then v)
  h.{i}.attn.c_proj, h.{i}.mlp.c_fc,    blocks.{i}.attn.out_proj, blocks.{i}.mlp.fc_in,
  h.{i}.mlp.c_proj                      blocks.{i}.mlp.fc_out

GPT-2 stores its linear layers as `Conv1D`: weight (in, out), the transpose of nn.Linear's (out, in).
"""

from __future__ import annotations

import torch

from scratchformer.errors import UserError
from scratchformer.models.gpt import GPTConfig

# Hugging Face activation name -> our MLP name
ACTIVATIONS = {"gelu_new": "gelu_tanh", "gelu_pytorch_tanh": "gelu_tanh", "gelu": "gelu", "relu": "relu"}


def config_from_hf(hf: dict) -> GPTConfig:
    """A Hugging Face GPT2Config (as a dict, i.e. config.json) -> GPTConfig."""
    act = hf.get("activation_function", "gelu_new")
    if act not in ACTIVATIONS:
        raise UserError(f"GPT-2 checkpoint uses activation {act!r}, which scratchformer does not have; "
                        f"supported: {sorted(ACTIVATIONS)}")
    if hf.get("scale_attn_by_inverse_layer_idx") or hf.get("reorder_and_upcast_attn") or \
            not hf.get("scale_attn_weights", True):
        raise UserError("this GPT-2 checkpoint changes the attention scaling, which scratchformer does not "
                        "implement; use a standard GPT-2 checkpoint")
    d_model = hf["n_embd"]
    return GPTConfig(
        vocab_size=hf["vocab_size"], context_len=hf["n_positions"],
        d_model=d_model, n_heads=hf["n_head"], n_layers=hf["n_layer"], d_ff=hf.get("n_inner") or 4 * d_model,
        norm="layernorm", norm_eps=hf.get("layer_norm_epsilon", 1e-5), mlp=ACTIVATIONS[act],
        position="learned", bias=True, dropout=0.0, tie_weights=hf.get("tie_word_embeddings", True),
    )


# The names that differ only in name (ours, theirs): the one table both directions read.
TOP_NAMES = (("tok_emb.weight", "wte.weight"), ("positions.table.weight", "wpe.weight"),
             ("norm_f.weight", "ln_f.weight"), ("norm_f.bias", "ln_f.bias"))
BLOCK_NORMS = (("norm1", "ln_1"), ("norm2", "ln_2"))
BLOCK_LINEARS = (("attn.out_proj", "attn.c_proj"), ("mlp.fc_in", "mlp.c_fc"), ("mlp.fc_out", "mlp.c_proj"))


def state_dict_from_hf(sd: dict[str, torch.Tensor], cfg: GPTConfig) -> dict[str, torch.Tensor]:
    """Hugging Face GPT-2 tensors -> the state dict of GPT(cfg). Consumes `sd` to save memory."""
    # - checkpoints saved from GPT2LMHeadModel prefix the body with "transformer."
    for key in [k for k in sd if k.startswith("transformer.")]:
        sd[key.removeprefix("transformer.")] = sd.pop(key)
    take = sd.pop
    C = cfg.d_model
    out = {ours: take(theirs) for ours, theirs in TOP_NAMES}
    for i in range(cfg.n_layers):
        h, b = f"h.{i}.", f"blocks.{i}."
        for ours, theirs in BLOCK_NORMS:
            out[b + ours + ".weight"] = take(h + theirs + ".weight")
            out[b + ours + ".bias"] = take(h + theirs + ".bias")
        # - Conv1D -> Linear: transpose (in, out) to (out, in)
        qkv_w = take(h + "attn.c_attn.weight").t()  # (3C, C): q rows, k rows, v rows
        qkv_b = take(h + "attn.c_attn.bias")  # (3C,)
        out[b + "attn.q_proj.weight"] = qkv_w[:C].contiguous()
        out[b + "attn.kv_proj.weight"] = qkv_w[C:].contiguous()
        out[b + "attn.q_proj.bias"], out[b + "attn.kv_proj.bias"] = qkv_b[:C].clone(), qkv_b[C:].clone()
        for ours, theirs in BLOCK_LINEARS:
            out[b + ours + ".weight"] = take(h + theirs + ".weight").t().contiguous()
            out[b + ours + ".bias"] = take(h + theirs + ".bias")
    # - the output layer: tied to the embedding, or its own matrix
    out["lm_head.weight"] = out["tok_emb.weight"] if cfg.tie_weights else take("lm_head.weight")
    return out


# --------------------------------------------------------------------------------------------
# the other way: our GPT -> a Hugging Face GPT-2 folder (scratchformer export --format hf)


def unsupported(cfg: GPTConfig) -> str | None:
    """Why GPT(cfg) cannot be written as GPT-2, or None when it can."""
    wants = {"position": "learned", "norm": "layernorm", "norm_position": "pre", "qk_norm": False}
    for name, value in wants.items():
        if getattr(cfg, name) != value:
            return f"GPT-2 has {name} {value!r}, this model {getattr(cfg, name)!r}"
    if cfg.mlp not in {ours for ours in ACTIVATIONS.values()}:
        return f"GPT-2 has no {cfg.mlp!r} MLP"
    if (cfg.n_kv_heads or cfg.n_heads) != cfg.n_heads:
        return "GPT-2 has no grouped-query attention (n_kv_heads)"
    return None


def config_to_hf(cfg: GPTConfig) -> dict:
    """GPTConfig -> a Hugging Face GPT2Config as a dict (config.json); the inverse of config_from_hf."""
    act = {"gelu_tanh": "gelu_new", "gelu": "gelu", "relu": "relu"}[cfg.mlp]
    dropout = cfg.dropout
    return {"model_type": "gpt2", "architectures": ["GPT2LMHeadModel"], "vocab_size": cfg.vocab_size,
            "n_positions": cfg.context_len, "n_embd": cfg.d_model, "n_head": cfg.n_heads, "n_layer": cfg.n_layers,
            "n_inner": cfg.d_ff or 4 * cfg.d_model, "activation_function": act, "layer_norm_epsilon": cfg.norm_eps,
            "tie_word_embeddings": cfg.tie_weights, "resid_pdrop": dropout, "embd_pdrop": dropout,
            "attn_pdrop": dropout if cfg.attn_dropout is None else cfg.attn_dropout,
            "scale_attn_weights": True, "torch_dtype": "float32"}


def state_dict_to_hf(sd: dict[str, torch.Tensor], cfg: GPTConfig) -> dict[str, torch.Tensor]:
    """The state dict of GPT(cfg) -> Hugging Face GPT-2 tensors; a model without biases gets zero biases."""

    def bias_of(name: str, size: int) -> torch.Tensor:
        return sd[name] if name in sd else torch.zeros(size, dtype=sd["tok_emb.weight"].dtype)

    C = cfg.d_model
    out = {}
    for ours, theirs in TOP_NAMES:
        out["transformer." + theirs] = sd[ours] if ours in sd else bias_of(ours, C)
    for i in range(cfg.n_layers):
        h, b = f"transformer.h.{i}.", f"blocks.{i}."
        for ours, theirs in BLOCK_NORMS:
            out[h + theirs + ".weight"] = sd[b + ours + ".weight"]
            out[h + theirs + ".bias"] = bias_of(b + ours + ".bias", C)
        # - Linear -> Conv1D: q, k and v fused into one (C, 3C) matrix
        q_w, kv_w = sd[b + "attn.q_proj.weight"], sd[b + "attn.kv_proj.weight"]
        out[h + "attn.c_attn.weight"] = torch.cat([q_w, kv_w]).t().contiguous()  # (C, 3C)
        out[h + "attn.c_attn.bias"] = torch.cat([bias_of(b + "attn.q_proj.bias", len(q_w)),
                                                 bias_of(b + "attn.kv_proj.bias", len(kv_w))])
        for ours, theirs in BLOCK_LINEARS:
            w = sd[b + ours + ".weight"]  # (out, in)
            out[h + theirs + ".weight"] = w.t().contiguous()  # (in, out)
            out[h + theirs + ".bias"] = bias_of(b + ours + ".bias", len(w))
    if not cfg.tie_weights:
        out["lm_head.weight"] = sd["lm_head.weight"]
    return {k: v.contiguous() for k, v in out.items()}
