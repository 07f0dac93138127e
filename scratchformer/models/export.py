"""Weights out: a trained model as safetensors, alone or as a Hugging Face folder.

Two formats (`scratchformer export --run RUN --out DIR --format ...`):

  safetensors   DIR/model.safetensors      the weights only (no optimizer state: a fraction of checkpoint.pt)
                DIR/scratchformer.json     kind, model config, tokenizer: what `load_export` needs to rebuild it
  hf            DIR/config.json            a Hugging Face GPT-2 or Llama config
                DIR/model.safetensors      the weights under Hugging Face names
                DIR/tokenizer.json         when the run's tokenizer is a byte-level BPE (bpe, or a pretrained one)
                DIR/scratchformer.json     as above, so nothing about the run is lost

The hf folder loads with `transformers.AutoModelForCausalLM.from_pretrained(DIR)` and gives the same
logits. A GPT is written as GPT-2 when it has GPT-2's shape (learned positions, LayerNorm, GELU or
ReLU MLP, pre-norm), as Llama when it has Llama's (RoPE, RMSNorm, SwiGLU, no biases), and as Arcee
(Llama with a plain GELU/ReLU MLP, like the `make demo` model) for RoPE, RMSNorm and a plain MLP; the
name maps are the ones the pretrained loaders read (pretrained/gpt2.py, llama.py, arcee.py), run backwards.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from scratchformer.errors import UserError
from scratchformer.models.pretrained import arcee, gpt2, llama
from scratchformer.models.registry import build_model

FORMATS = ("safetensors", "hf")
WEIGHTS = "model.safetensors"
META = "scratchformer.json"
# Hugging Face layouts, tried in this order
HF_FAMILIES = {"gpt2": gpt2, "llama": llama, "arcee": arcee}


def weights_only(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The model's tensors, each stored once: safetensors refuses two names for one tensor, so a
    tied output layer (lm_head = tok_emb) is left out and tied again on loading."""
    seen, out = set(), {}
    for name, tensor in model.state_dict().items():
        if tensor.data_ptr() in seen:
            continue
        seen.add(tensor.data_ptr())
        out[name] = tensor.detach().cpu().contiguous()
    return out


def write_safetensors(tensors: dict[str, torch.Tensor], path: Path, metadata: dict | None = None) -> None:
    from safetensors.torch import save_file

    save_file(tensors, str(path), metadata={"format": "pt", **(metadata or {})})


def export_safetensors(model, kind: str, model_config: dict, tokenizer: dict | None, out: str | Path) -> Path:
    """DIR/model.safetensors + DIR/scratchformer.json: the weights alone, and what rebuilds the model."""
    out = prepare_folder(out)
    write_safetensors(weights_only(model), out / WEIGHTS)
    (out / META).write_text(json.dumps({"kind": kind, "model_config": model_config, "tokenizer": tokenizer}) + "\n")
    return out


def hf_family(cfg) -> tuple[str, object]:
    """(name, module) of the Hugging Face layout that expresses the GPT config `cfg`, or a UserError saying why none does."""
    reasons = []
    for name, family in HF_FAMILIES.items():
        reason = family.unsupported(cfg)
        if reason is None:
            return name, family
        reasons.append(reason)
    raise UserError(f"this model has no Hugging Face layout ({'; '.join(reasons)}); "
                    "export it with --format safetensors instead")


def export_hf(model, model_config: dict, tokenizer: dict | None, out: str | Path) -> tuple[Path, str]:
    """A Hugging Face GPT-2 or Llama folder for a GPT; returns (folder, layout name)."""
    cfg = model.config
    name, family = hf_family(cfg)
    out = prepare_folder(out)
    hf_config = family.config_to_hf(cfg)
    if tokenizer is not None and tokenizer.get("kind") == "hf_bpe":
        # - a byte-level BPE is already a Hugging Face tokenizer: write it as tokenizer.json
        (out / "tokenizer.json").write_text(tokenizer["json"])
        for key in ("bos_id", "eos_id"):
            if tokenizer.get(key) is not None:
                hf_config[key.replace("_id", "_token_id")] = tokenizer[key]
    (out / "config.json").write_text(json.dumps(hf_config, indent=2) + "\n")
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    write_safetensors(family.state_dict_to_hf(state, cfg), out / WEIGHTS)
    (out / META).write_text(json.dumps({"kind": "gpt", "model_config": model_config, "tokenizer": tokenizer,
                                        "hf_layout": name}) + "\n")
    return out, name


def prepare_folder(out: str | Path) -> Path:
    """An output folder that holds no export yet (an existing one is never overwritten)."""
    out = Path(out).expanduser()
    if out.exists() and not out.is_dir():
        raise UserError(f"{out} is a file; give --out a folder to write the export into")
    if (out / WEIGHTS).exists():
        raise UserError(f"{out} already holds an export ({WEIGHTS}); give another --out folder or delete it")
    out.mkdir(parents=True, exist_ok=True)
    return out


def load_export(folder: str | Path):
    """(model in eval mode, kind, model config dict, tokenizer dict) from a folder `export` wrote."""
    from safetensors.torch import load_file

    folder = Path(folder).expanduser()
    if not (folder / META).is_file() or not (folder / WEIGHTS).is_file():
        raise UserError(f"{folder} holds no scratchformer export ({META} and {WEIGHTS})")
    meta = json.loads((folder / META).read_text())
    model = build_model(meta["kind"], meta["model_config"])
    state = load_file(str(folder / WEIGHTS))
    if "hf_layout" in meta:  # the weights are under Hugging Face names: map them back
        family = HF_FAMILIES[meta["hf_layout"]]
        state = family.state_dict_from_hf(state, model.config)
        state = {k: v for k, v in state.items() if k in model.state_dict()}  # (zero biases of a bias-free model)
    # - the tied output layer was stored once, as the embedding
    missing, unexpected = model.load_state_dict(state, strict=False)
    tied = {"lm_head.weight"} if getattr(model.config, "tie_weights", False) else set()
    if unexpected or set(missing) - tied:
        raise UserError(f"the weights in {folder} do not fit its config: missing {missing[:3]}, unexpected {unexpected[:3]}")
    return model.eval(), meta["kind"], meta["model_config"], meta["tokenizer"]
