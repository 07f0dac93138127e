"""Tokenizers: text <-> token ids. Each saves itself as plain data (`to_dict`) for checkpoints.

TOKENIZERS maps a name to a class; `tokenizer_from_dict` rebuilds one from a checkpoint.
"""

from scratchformer.data.tokenizers.byte import ByteTokenizer
from scratchformer.data.tokenizers.char import CharTokenizer
from scratchformer.data.tokenizers.hf_bpe import HFTokenizer  # pretrained vocabularies (GPT-2, SmolLM2)
from scratchformer.data.tokenizers.bpe import BPETokenizer
from scratchformer.data.tokenizers.word import WordTokenizer

TOKENIZERS = {"char": CharTokenizer, "byte": ByteTokenizer, "hf_bpe": HFTokenizer,
              "word": WordTokenizer, "bpe": BPETokenizer}


def tokenizer_from_dict(d: dict):
    kind = d.get("kind")
    if kind not in TOKENIZERS:
        raise ValueError(f"unknown tokenizer kind {kind!r}; known kinds are {sorted(TOKENIZERS)}")
    return TOKENIZERS[kind].from_dict(d)
