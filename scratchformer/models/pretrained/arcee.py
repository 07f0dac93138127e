"""The Arcee layout (Hugging Face `ArceeForCausalLM`): Llama with a plain, ungated MLP.

Arcee's AFM models are Llama (RoPE, RMSNorm, grouped-query attention, no biases) whose MLP is
up_proj -> activation -> down_proj instead of SwiGLU. That is exactly our GPT with RoPE, RMSNorm and
a gelu, gelu_tanh or relu MLP, such as the `make demo` model, so `export --format hf` writes
those models in this layout. Names are Llama's (llama.py), except the MLP:

  Hugging Face (ArceeForCausalLM)          scratchformer (GPT)
  model.layers.{i}.mlp.up_proj             blocks.{i}.mlp.fc_in
  model.layers.{i}.mlp.down_proj           blocks.{i}.mlp.fc_out
"""

from __future__ import annotations

import dataclasses

import torch

from scratchformer.errors import UserError
from scratchformer.models.gpt import GPTConfig
from scratchformer.models.pretrained import llama

# our MLP name <-> Hugging Face's activation name
ACTIVATIONS = {"gelu": "gelu", "gelu_tanh": "gelu_pytorch_tanh", "relu": "relu"}
BLOCK_NAMES = tuple(n for n in llama.BLOCK_NAMES if not n[0].startswith("mlp.")) + (
    ("mlp.fc_in.weight", "mlp.up_proj.weight"), ("mlp.fc_out.weight", "mlp.down_proj.weight"))
BLOCK_STACKED = tuple(n for n in llama.BLOCK_STACKED if not n[0].startswith("mlp."))  # k|v only


def config_from_hf(hf: dict) -> GPTConfig:
    """A Hugging Face ArceeConfig (as a dict) -> GPTConfig."""
    theirs = {v: k for k, v in ACTIVATIONS.items()}
    act = hf.get("hidden_act", "relu2")
    if act not in theirs:
        raise UserError(f"this Arcee checkpoint uses activation {act!r}; scratchformer has {sorted(theirs)}")
    return dataclasses.replace(llama.config_from_hf({**hf, "hidden_act": "silu"}), mlp=theirs[act])


def state_dict_from_hf(sd: dict[str, torch.Tensor], cfg: GPTConfig) -> dict[str, torch.Tensor]:
    """Hugging Face Arcee tensors -> the state dict of GPT(cfg): Llama's mapping with the MLP's names. Consumes `sd`."""
    return llama.state_dict_from_hf(sd, cfg, BLOCK_NAMES, BLOCK_STACKED)


def unsupported(cfg: GPTConfig) -> str | None:
    """Why GPT(cfg) cannot be written as Arcee, or None when it can."""
    wants = {"position": "rope", "norm": "rmsnorm", "norm_position": "pre", "qk_norm": False, "bias": False}
    for name, value in wants.items():
        if getattr(cfg, name) != value:
            return f"Arcee has {name} {value!r}, this model {getattr(cfg, name)!r}"
    if cfg.mlp not in ACTIVATIONS:
        return f"Arcee has a plain {'/'.join(ACTIVATIONS)} MLP, this model {cfg.mlp!r}"
    return None


def config_to_hf(cfg: GPTConfig) -> dict:
    """GPTConfig -> a Hugging Face ArceeConfig as a dict (config.json)."""
    hf = llama.config_to_hf(cfg)
    return {**hf, "model_type": "arcee", "architectures": ["ArceeForCausalLM"], "hidden_act": ACTIVATIONS[cfg.mlp],
            "rope_parameters": {"rope_type": "default", "rope_theta": cfg.rope_base},
            "bos_token_id": None, "eos_token_id": None}


def state_dict_to_hf(sd: dict[str, torch.Tensor], cfg: GPTConfig) -> dict[str, torch.Tensor]:
    """The state dict of GPT(cfg) -> Hugging Face Arcee tensors: Llama's mapping with the MLP's names."""
    return llama.state_dict_to_hf(sd, cfg, BLOCK_NAMES, BLOCK_STACKED)
