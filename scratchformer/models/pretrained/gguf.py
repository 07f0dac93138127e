"""Read a Llama-architecture GGUF file (llama.cpp's format): weights, config and tokenizer.

A GGUF file holds, in one piece:
  metadata   key -> value: the shape (llama.block_count, llama.embedding_length, ...) and the
             tokenizer (tokenizer.ggml.tokens / merges / token_type, special ids)
  tensors    named with llama.cpp's names (blk.{i}.attn_q.weight, ...), often quantised
             (Q4_1: blocks of 32 weights sharing a scale and a minimum)

`read_gguf(path)` returns the same three things a Hugging Face folder gives (config.json as a
dict, tensors under Hugging Face Llama names, the tokenizer), so scratchformer.models.pretrained.llama
maps both into the GPT class. The `gguf` package parses the file and dequantises the tensors.

One trap: llama.cpp's converter permutes the rows of the query and key matrices, because its own
RoPE rotates *adjacent* pairs (x0, x1), (x2, x3), ... while Hugging Face's (and ours) rotates the
two *halves* of each head (x_i, x_{i+D/2}). `unpermute` undoes it.
"""

from __future__ import annotations

from pathlib import Path

import torch

from scratchformer.data.tokenizers.hf_bpe import HFTokenizer
from scratchformer.errors import UserError
from scratchformer.progress import progress_bar

# llama.cpp tensor name (inside blk.{i}.) -> Hugging Face Llama name (inside model.layers.{i}.)
BLOCK_NAMES = {
    "attn_norm": "input_layernorm", "attn_q": "self_attn.q_proj", "attn_k": "self_attn.k_proj",
    "attn_v": "self_attn.v_proj", "attn_output": "self_attn.o_proj", "ffn_norm": "post_attention_layernorm",
    "ffn_gate": "mlp.gate_proj", "ffn_up": "mlp.up_proj", "ffn_down": "mlp.down_proj",
}
TOP_NAMES = {"token_embd": "model.embed_tokens", "output_norm": "model.norm", "output": "lm_head"}
# llama.cpp's token types: 3 = control (<|im_start|>, ...), 4 = user-defined; both are matched whole
SPECIAL_TOKEN_TYPES = (3, 4)


def unpermute(w: torch.Tensor, n_heads: int) -> torch.Tensor:
    """Undo llama.cpp's row order for q or k: (n_heads * D, C) with each head's rows interleaved.

    llama.cpp stores head row 2i as our row i and row 2i+1 as our row i + D/2.
    """
    rows, C = w.shape
    D = rows // n_heads
    w = w.reshape(n_heads, D // 2, 2, C)  # (heads, pair i, which of the pair, C)
    return w.transpose(1, 2).reshape(rows, C)  # (heads, half, i, C) -> the half-split layout


def _open(path: Path):
    """The gguf package's reader, with every way a file can be wrong turned into one sentence."""
    try:
        import gguf
    except ImportError:
        raise UserError("reading GGUF files needs the `gguf` package; "
                        "install it with: pip install 'scratchformer[pretrained]'") from None
    if not path.is_file():
        raise UserError(f"weights file {path} does not exist; give the path to a .gguf file")
    try:
        return gguf.GGUFReader(str(path))
    except Exception as e:  # truncated or not GGUF at all: the reader fails in many ways
        raise UserError(f"{path} is not a readable GGUF file ({type(e).__name__}: {e}); "
                        "it may be truncated or corrupt: download it again") from None


def _value(reader, key: str, default=None):
    field = reader.fields.get(key)
    return default if field is None else field.contents()


def read_gguf(path: str | Path, dtype: torch.dtype = torch.float32
              ) -> tuple[dict, dict[str, torch.Tensor], HFTokenizer]:
    """(config dict in Hugging Face's LlamaConfig keys, tensors under Hugging Face names in `dtype`, tokenizer)."""
    from gguf.quants import dequantize

    path = Path(path)
    reader = _open(path)
    arch = _value(reader, "general.architecture")
    if arch != "llama":
        raise UserError(f"{path.name} holds a {arch!r} model; scratchformer reads Llama-architecture GGUF "
                        "files only (e.g. SmolLM2)")

    # - the shape, from llama.* metadata, under the names of Hugging Face's config.json
    def meta(key, default=None):
        v = _value(reader, f"llama.{key}", default)
        if v is None:
            raise UserError(f"{path.name} lacks the metadata key llama.{key}; the file is incomplete")
        return v

    n_heads = meta("attention.head_count")
    n_kv_heads = meta("attention.head_count_kv", n_heads)
    tensor_names = {t.name for t in reader.tensors}
    if "rope_freqs.weight" in tensor_names:
        raise UserError(f"{path.name} uses scaled RoPE frequencies, which scratchformer does not implement")
    tokens = _value(reader, "tokenizer.ggml.tokens")
    if tokens is None:
        raise UserError(f"{path.name} holds no tokenizer (tokenizer.ggml.tokens); scratchformer needs one")
    config = {
        "model_type": "llama",
        "hidden_size": meta("embedding_length"), "num_hidden_layers": meta("block_count"),
        "num_attention_heads": n_heads, "num_key_value_heads": n_kv_heads,
        "intermediate_size": meta("feed_forward_length"), "rms_norm_eps": meta("attention.layer_norm_rms_epsilon"),
        "rope_theta": meta("rope.freq_base", 10000.0), "max_position_embeddings": meta("context_length", 2048),
        "vocab_size": _value(reader, "llama.vocab_size", len(tokens)),
        "tie_word_embeddings": "output.weight" not in tensor_names,
    }

    # - tensors: dequantise to float32, rename, undo the q/k row permutation, convert to dtype
    tensors = {}
    for t in progress_bar(reader.tensors, desc=f"reading {path.name}", unit="tensor"):
        stem, _, kind = t.name.rpartition(".")  # "blk.3.attn_q", "weight"
        parts = stem.split(".")
        if parts[0] == "blk" and len(parts) == 3 and parts[2] in BLOCK_NAMES:
            name = f"model.layers.{parts[1]}.{BLOCK_NAMES[parts[2]]}.{kind}"
        elif stem in TOP_NAMES:
            name = f"{TOP_NAMES[stem]}.{kind}"
        else:
            raise UserError(f"{path.name} holds a tensor {t.name!r} that a Llama model does not have")
        try:
            w = torch.from_numpy(dequantize(t.data, t.tensor_type).astype("float32", copy=True))
        except Exception as e:
            raise UserError(f"cannot decode tensor {t.name} of {path.name} ({e}); the file may be corrupt") from None
        if parts[-1] == "attn_q":
            w = unpermute(w, n_heads)
        elif parts[-1] == "attn_k":
            w = unpermute(w, n_kv_heads)
        tensors[name] = w.to(dtype)
    return config, tensors, tokenizer_from_gguf(reader, path.name)


def tokenizer_from_gguf(reader, name: str = "the GGUF file") -> HFTokenizer:
    """Rebuild the byte-level BPE tokenizer from the metadata: vocabulary, merges, special tokens."""
    model = _value(reader, "tokenizer.ggml.model")
    if model != "gpt2":
        raise UserError(f"{name} has a {model!r} tokenizer; scratchformer reads byte-level BPE ('gpt2') only")
    tokens = _value(reader, "tokenizer.ggml.tokens")
    merges = _value(reader, "tokenizer.ggml.merges", [])
    types = _value(reader, "tokenizer.ggml.token_type", [1] * len(tokens))
    special = [tok for tok, kind in zip(tokens, types) if kind in SPECIAL_TOKEN_TYPES]
    pre = "smollm" if _value(reader, "tokenizer.ggml.pre") == "smollm" else "gpt2"
    return HFTokenizer.from_bpe(
        tokens, merges, special, pre=pre,
        bos_id=_value(reader, "tokenizer.ggml.bos_token_id"), eos_id=_value(reader, "tokenizer.ggml.eos_token_id"),
        chat_template=_value(reader, "tokenizer.chat_template"))
