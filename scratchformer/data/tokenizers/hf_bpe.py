"""Byte-level BPE tokenizers of pretrained models (GPT-2, SmolLM2), run by the `tokenizers` library.

The BPE algorithm itself is written out in this package's own tokenizer; a pretrained model
must be fed exactly the ids its vocabulary was trained with, so here a well-kept library runs
a given vocabulary and merge list:

  text ─ pre-tokenize (split into words; each byte -> a printable char) ─ BPE merges ─► ids

The tokenizer saves itself as plain data (`to_dict`: the library's JSON text plus the special
ids), so a checkpoint of a fine-tuned model carries its vocabulary with it.
"""

from __future__ import annotations

from pathlib import Path

from scratchformer.errors import UserError

# pre-tokenizer styles by llama.cpp's `tokenizer.ggml.pre` name: how text is split before merging.
#   gpt2    GPT-2's regex (letters, digits, punctuation, spaces as separate words)
#   smollm  the same, with every digit its own word (SmolLM's tokenizer.json; llama.cpp "smollm")
PRE_TOKENIZERS = ("gpt2", "smollm")


def _library():
    try:
        import tokenizers
    except ImportError:
        raise UserError("pretrained tokenizers need the `tokenizers` package; "
                        "install it with: pip install 'scratchformer[pretrained]'") from None
    return tokenizers


class HFTokenizer:
    """A pretrained byte-level BPE vocabulary. encode/decode/vocab_size like every tokenizer here."""

    kind = "hf_bpe"

    def __init__(self, tokenizer, bos_id: int | None = None, eos_id: int | None = None,
                 chat_template: str | None = None):
        self.tokenizer = tokenizer  # a tokenizers.Tokenizer
        self.bos_id, self.eos_id = bos_id, eos_id
        self.chat_template = chat_template

    # ---- building one ------------------------------------------------------------------------

    @classmethod
    def from_bpe(cls, tokens: list[str], merges: list[str], special: list[str] = (), pre: str = "gpt2",
                 bos_id: int | None = None, eos_id: int | None = None,
                 chat_template: str | None = None) -> "HFTokenizer":
        """Build from a vocabulary (id -> token string), merges ("a b" lines) and special tokens.

        This is what a GGUF file stores (tokenizer.ggml.tokens / merges / token_type).
        """
        if pre not in PRE_TOKENIZERS:
            raise ValueError(f"unknown pre-tokenizer {pre!r}; choose one of {list(PRE_TOKENIZERS)}")
        tk = _library()
        vocab = {tok: i for i, tok in enumerate(tokens)}
        pairs = [tuple(m.split(" ", 1)) for m in merges]
        tokenizer = tk.Tokenizer(tk.models.BPE(vocab, pairs, fuse_unk=False))
        byte_level = tk.pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
        if pre == "smollm":
            tokenizer.pre_tokenizer = tk.pre_tokenizers.Sequence(
                [tk.pre_tokenizers.Digits(individual_digits=True), byte_level])
        else:
            tokenizer.pre_tokenizer = byte_level
        tokenizer.decoder = tk.decoders.ByteLevel()
        # - special tokens (<|im_start|>, <|endoftext|>, ...) are matched whole, never split
        if special:
            tokenizer.add_special_tokens([tk.AddedToken(s, special=True, normalized=False) for s in special])
        return cls(tokenizer, bos_id, eos_id, chat_template)

    @classmethod
    def from_file(cls, path: str | Path, bos_id: int | None = None, eos_id: int | None = None,
                  chat_template: str | None = None) -> "HFTokenizer":
        """Load a Hugging Face `tokenizer.json`."""
        tk = _library()
        try:
            tokenizer = tk.Tokenizer.from_file(str(path))
        except Exception as e:  # the library raises a bare Exception for unreadable files
            raise UserError(f"cannot read tokenizer file {path} ({e}); give the folder of a Hugging Face "
                            "model that holds a tokenizer.json") from None
        return cls(tokenizer, bos_id, eos_id, chat_template)

    # ---- the tokenizer interface ---------------------------------------------------------------

    @property
    def vocab_size(self) -> int:
        return self.tokenizer.get_vocab_size(with_added_tokens=True)

    @property
    def pad_id(self) -> int:
        """The id that fills padding in a batch of texts (a classifier's): padding masks hide it, so any
        id does; the end-of-text token where there is one, else 0."""
        return self.eos_id if self.eos_id is not None else 0

    def encode(self, text: str) -> list[int]:
        # - no BOS/EOS are added: the caller decides (GPT-2 and SmolLM2 both add none by default)
        return self.tokenizer.encode(text, add_special_tokens=False).ids

    def decode(self, ids: list[int]) -> str:
        return self.tokenizer.decode(list(ids), skip_special_tokens=False)

    def apply_chat_template(self, messages: list[dict]) -> str:
        """The prompt text an instruct model was tuned on: its own (Jinja) chat template when it ships
        one and jinja2 is installed, else ChatML (SmolLM2's format); ends with the assistant's turn."""
        try:
            from jinja2.sandbox import ImmutableSandboxedEnvironment
        except ImportError:
            ImmutableSandboxedEnvironment = None
        if self.chat_template and ImmutableSandboxedEnvironment is not None:
            template = ImmutableSandboxedEnvironment().from_string(self.chat_template)
            return template.render(messages=messages, add_generation_prompt=True)
        text = "".join(f"<|im_start|>{m['role']}\n{m['content']}<|im_end|>\n" for m in messages)
        return text + "<|im_start|>assistant\n"

    # ---- plain data for checkpoints --------------------------------------------------------------

    def to_dict(self) -> dict:
        return {"kind": self.kind, "json": self.tokenizer.to_str(), "bos_id": self.bos_id,
                "eos_id": self.eos_id, "chat_template": self.chat_template}

    @classmethod
    def from_dict(cls, d: dict) -> "HFTokenizer":
        tokenizer = _library().Tokenizer.from_str(d["json"])
        return cls(tokenizer, d.get("bos_id"), d.get("eos_id"), d.get("chat_template"))
