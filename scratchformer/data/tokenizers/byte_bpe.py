"""A byte-level BPE vocabulary learned on your own corpus, GPT-2 style, and cached beside the data.

What `train --tokenizer bpe --tokenizer_vocab_size N` uses. Like GPT-2's tokenizer it keeps the
text exactly: case, spaces, tabs, newlines and any Unicode survive, decode(encode(text)) == text.

    text ─ split GPT-2's way (words, numbers, punctuation, runs of spaces; " world" keeps its space)
         ─ each UTF-8 byte -> one of 256 printable stand-in characters (nothing is ever unknown)
         ─ merges learned on the training split, most frequent pair first ─► ids

The algorithm is the one written out step by step in bpe.py (the course's implementation, which
also lowercases and drops newlines, as the IMDb classifier wants). On a real corpus the merges are
learned here by the Hugging Face `tokenizers` library, the practitioners' choice: its Rust trainer
learns 8,000 merges on a few megabytes in seconds, where the readable Python takes minutes. The
result is an HFTokenizer (hf_bpe.py), saved in every checkpoint.

Learning runs once per corpus and settings: the vocabulary is written next to the corpus file
(`NAME.txt.bpe8000-HASH.json`, HASH from the training text and the settings) and read back on
later runs; where that folder cannot be written, or for the built-in corpus, it goes to
~/.cache/scratchformer/tokenizers/.
"""

from __future__ import annotations

import hashlib
import os
import sys
from pathlib import Path

from scratchformer.data.tokenizers.hf_bpe import HFTokenizer, _library

VERSION = 1  # bump when the learning below changes, so old cached vocabularies are not reused
MIN_VOCAB = 257  # the 256 bytes and at least one merge
CACHE_DIR = "~/.cache/scratchformer/tokenizers"


def learn_byte_bpe(text: str, vocab_size: int, show_progress: bool = True) -> HFTokenizer:
    """Learn a byte-level BPE of vocab_size tokens (256 bytes + merges) on `text`."""
    if vocab_size < MIN_VOCAB:
        raise ValueError(f"a byte-level BPE vocabulary needs at least {MIN_VOCAB} tokens (256 bytes and a merge), "
                         f"got {vocab_size}")
    tk = _library()
    tokenizer = tk.Tokenizer(tk.models.BPE())
    # - GPT-2's split and byte-to-character mapping; no space is added in front of the text
    tokenizer.pre_tokenizer = tk.pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tokenizer.decoder = tk.decoders.ByteLevel()
    trainer = tk.trainers.BpeTrainer(vocab_size=vocab_size, show_progress=show_progress, special_tokens=[],
                                     initial_alphabet=tk.pre_tokenizers.ByteLevel.alphabet())
    # - feed the text in pieces of lines, so the trainer's progress bar moves and memory stays flat
    tokenizer.train_from_iterator(pieces(text), trainer, length=max(1, len(text) // PIECE))
    return HFTokenizer(tokenizer)


PIECE = 1 << 16  # characters per piece fed to the trainer


def pieces(text: str):
    """The text in pieces of about PIECE characters, each cut after a newline (so no word is split)."""
    start = 0
    while start < len(text):
        end = text.find("\n", start + PIECE)
        end = len(text) if end < 0 else end + 1
        yield text[start:end]
        start = end


def cache_path(text: str, vocab_size: int, corpus: str | None) -> Path:
    """Where the vocabulary learned on `text` with these settings is kept."""
    key = hashlib.sha256(f"byte-bpe v{VERSION} vocab {vocab_size}\n".encode() + text.encode("utf-8")).hexdigest()[:12]
    if corpus is not None and Path(corpus).expanduser().is_file():
        corpus_path = Path(corpus).expanduser()
        return corpus_path.with_name(f"{corpus_path.name}.bpe{vocab_size}-{key}.json")
    return Path(CACHE_DIR).expanduser() / f"{corpus or 'text'}.bpe{vocab_size}-{key}.json"


def cached_byte_bpe(text: str, vocab_size: int, corpus: str | None = None, log=print) -> HFTokenizer:
    """The byte-level BPE for `text`: read from the cache, or learned once and written there."""
    path = cache_path(text, vocab_size, corpus)
    fallback = Path(CACHE_DIR).expanduser() / path.name
    for candidate in (path, fallback):
        if candidate.is_file():
            log(f"tokenizer: byte-level BPE of {vocab_size} tokens read from {candidate}")
            return HFTokenizer.from_file(candidate)
    log(f"tokenizer: learning a byte-level BPE of {vocab_size} tokens on {len(text):,} characters (once; cached)")
    tokenizer = learn_byte_bpe(text, vocab_size, show_progress=sys.stderr.isatty())
    for candidate in (path, fallback):
        try:
            candidate.parent.mkdir(parents=True, exist_ok=True)
            tmp = candidate.with_name(f"{candidate.name}.{os.getpid()}.part")
            tmp.write_text(tokenizer.tokenizer.to_str())
            tmp.replace(candidate)  # a finished file, never a half-written one
            log(f"tokenizer: saved to {candidate}")
            break
        except OSError:
            continue  # a read-only folder beside the data: use the user cache
    return tokenizer
