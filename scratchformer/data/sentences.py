"""Sentences one at a time, for a sentence VAE: Penn Treebank, or movie-review snippets with sentiment.

  ptb      The Penn Treebank as preprocessed by Mikolov et al. (2010): one sentence a line, 10k
           words, <unk>, numbers as N; train / valid / test = 42,068 / 3,370 / 3,761 lines. The
           standard set for sentence VAEs (Bowman et al. 2016; Optimus).
  movies   The movie-review snippets of Hutto & Gilbert (2014, the VADER study): 10,605 Rotten
           Tomatoes sentences (the source of Pang & Lee's sentence polarity data) with a mean human
           valence in [-4, 4]. Label: positive when the valence is >= `neutral`, negative when
           <= -`neutral`; the near-neutral ones between are left out. Split by a seeded shuffle into
           train / valid / test (80 / 10 / 10).

Where the files come from (`source`):
  "download"   ptb: data/ptb.py's download (checksummed, cached under cache_dir/ptb); movies:
               data/sentiment_ood.py's (the file's canonical URL, cached, checked against its sha256)
  a path       ptb: a folder holding ptb.{train,valid,test}.txt (read by data/ptb.py);
               movies: movieReviewSnippets_GroundTruth.txt, or a folder holding it (read by
               data/sentiment_ood.py, the one reader of the VADER files)

A sentence is a list of words: PTB is split on spaces (it is tokenised already); a snippet is
lower-cased and split like the word tokenizer does ("it's good." -> it's good .). The test split is
read only when asked for (final_test).

Batches (SentenceBatches) hold one sentence a row, for a decoder that starts from bos:
    inputs   [bos w1 .. wn pad ..]        targets  [w1 .. wn eos -100 ..]
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import torch

from scratchformer.data.tokenizers.word import PAD, UNK, WordTokenizer, words
from scratchformer.data.ptb import PTBConfig, ptb_texts
from scratchformer.data.sentiment_ood import FILES, OODConfig, labelled_file, read_vader
from scratchformer.errors import UserError

CORPORA = ("ptb", "movies")
SPLITS = ("train", "val", "test")
EOS = "<eos>"

MOVIES_FILE = FILES["movies"].filename


@dataclass
class SentencesConfig:
    """Which sentences, from where, and how many."""

    corpus: str = "ptb"
    """ptb (Penn Treebank) or movies (movie-review snippets with a sentiment label)."""
    source: str = "download"
    """'download' (cached, checksum-verified), or a local path: for ptb a folder with
    ptb.{train,valid,test}.txt; for movies the movieReviewSnippets_GroundTruth.txt
    file or its folder."""
    cache_dir: str = "~/.cache/scratchformer"
    """Folder that keeps downloads."""
    max_words: int = 40
    """Longer sentences are left out (of every split; the count is noted)."""
    vocab_size: int = 10000
    """Words in the vocabulary learned from the training sentences (with <pad>, <unk>, <eos>)."""
    max_train: int = 0
    """Use at most this many training sentences (the first ones); 0 uses all."""
    neutral: float = 0.5
    """movies: sentences with |valence| below this are left out as near-neutral."""
    split_seed: int = 0
    """movies: seed of the train / valid / test shuffle."""

    def __post_init__(self):
        if self.corpus not in CORPORA:
            raise ValueError(f"unknown corpus {self.corpus!r}; choose one of {list(CORPORA)}")
        if self.max_words < 1 or self.vocab_size < 4 or self.max_train < 0 or not 0 < self.neutral <= 4:
            raise ValueError("max_words must be >= 1, vocab_size >= 4, max_train >= 0 and neutral in (0, 4] "
                             "(a valence of exactly 0 has no sentiment); got "
                             f"{self.max_words}, {self.vocab_size}, {self.max_train}, {self.neutral}")


@dataclass
class Sentences:
    """Word lists per split, and per split a label per sentence (movies: 0 negative, 1 positive)."""

    splits: dict[str, list[list[str]]]
    labels: dict[str, list[int]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def __getitem__(self, split: str) -> list[list[str]]:
        if split not in self.splits:
            raise KeyError(f"split {split!r} was not loaded; loaded: {sorted(self.splits)} (the test split is read "
                           "only with final_test)")
        return self.splits[split]


# --------------------------------------------------------------------------------------------
# finding the files


def movies_file(cfg: SentencesConfig) -> Path:
    """The snippets file: downloaded (data/sentiment_ood.py), the file given, or the one in the folder given."""
    if cfg.source == "download":
        return labelled_file("movies", OODConfig(source="download", cache_dir=cfg.cache_dir, sets=["movies"]))
    path = Path(cfg.source).expanduser()
    path = path / MOVIES_FILE if path.is_dir() else path
    if not path.is_file():
        raise UserError(f"{path} does not exist; give {MOVIES_FILE}, the folder holding it, or 'download'")
    return path


# --------------------------------------------------------------------------------------------
# reading sentences


def load_sentences(cfg: SentencesConfig, final_test: bool = False) -> Sentences:
    """train and val (and test with final_test) as word lists; movies also with labels."""
    wanted = SPLITS if final_test else SPLITS[:2]
    if cfg.corpus == "ptb":
        # - the one PTB loader (data/ptb.py): download with checksums, or a local folder
        texts = ptb_texts(PTBConfig(source=cfg.source, cache_dir=str(Path(cfg.cache_dir) / "ptb")))
        splits = {s: [line.split() for line in texts[s].splitlines() if line.strip()] for s in wanted}
        labels: dict[str, list[int]] = {}
    else:
        splits, labels = read_movies(cfg, wanted)
    notes = []
    for split in wanted:
        keep = [i for i, sentence in enumerate(splits[split]) if len(sentence) <= cfg.max_words]
        if len(keep) < len(splits[split]):
            notes.append(f"{len(splits[split]) - len(keep)} {split} sentences longer than {cfg.max_words} words left out")
        splits[split] = [splits[split][i] for i in keep]
        if labels:
            labels[split] = [labels[split][i] for i in keep]
    if cfg.max_train:
        splits["train"] = splits["train"][:cfg.max_train]
        if labels:
            labels["train"] = labels["train"][:cfg.max_train]
    if not splits["train"] or not splits["val"]:
        raise UserError(f"the {cfg.corpus} source {cfg.source} gives no training or no validation sentences")
    return Sentences(splits, labels, notes)


def read_movies(cfg: SentencesConfig, wanted) -> tuple[dict, dict]:
    """The snippets with a label (data/sentiment_ood.read_vader), shuffled into 80/10/10 splits."""
    reviews, _ = read_vader(movies_file(cfg), cfg.neutral)
    rows = [(words(text), label) for text, label in zip(reviews.texts, reviews.labels)]
    random.Random(cfg.split_seed).shuffle(rows)
    n_val = n_test = len(rows) // 10
    parts = {"test": rows[:n_test], "val": rows[n_test:n_test + n_val], "train": rows[n_test + n_val:]}
    return ({s: [r[0] for r in parts[s]] for s in wanted}, {s: [r[1] for r in parts[s]] for s in wanted})


# --------------------------------------------------------------------------------------------
# vocabulary and batches


def word_tokenizer(sentences: list[list[str]], vocab_size: int) -> WordTokenizer:
    """<pad>, <unk>, <eos>, then the most frequent words of `sentences` (ties alphabetical)."""
    counts = Counter(w for sentence in sentences for w in sentence if w not in (PAD, UNK, EOS))
    ranked = sorted(counts, key=lambda w: (-counts[w], w))
    return WordTokenizer([PAD, UNK, EOS] + ranked[: vocab_size - 3])


def encode(tokenizer, sentence: list[str]) -> list[int]:
    """Token ids of a sentence: word by word for a word tokenizer, else the tokenizer's own encoding of the
    words joined by spaces (a pretrained BPE)."""
    if getattr(tokenizer, "kind", "") == "word":
        return [tokenizer.stoi.get(w, tokenizer.unk_id) for w in sentence]
    return tokenizer.encode(" ".join(sentence))


def end_of_sentence(tokenizer) -> int:
    """The id that starts and ends every sentence: <eos> of a word vocabulary, or the tokenizer's own."""
    if getattr(tokenizer, "kind", "") == "word":
        if EOS not in tokenizer.stoi:
            raise UserError(f"the word vocabulary has no {EOS}; build it with scratchformer.data.sentences.word_tokenizer")
        return tokenizer.stoi[EOS]
    eos = getattr(tokenizer, "eos_id", None)
    if eos is None:
        raise UserError("the tokenizer has no end-of-text token to mark where a sentence ends")
    return eos


class SentenceBatches:
    """Random batches of whole sentences: batch(split, B, generator) -> inputs, targets (B, T), T the
    longest sentence in the batch plus one."""

    def __init__(self, ids: dict[str, list[list[int]]], eos_id: int, pad_id: int = 0):
        self.ids, self.eos_id, self.pad_id = ids, eos_id, pad_id

    def batch(self, split: str, batch_size: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        rows = torch.randint(len(self.ids[split]), (batch_size,), generator=generator).tolist()
        return self.collate([self.ids[split][i] for i in rows])

    def collate(self, sentences: list[list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
        """inputs [bos w1 .. wn pad ..] and targets [w1 .. wn eos -100 ..], bos = eos: (B, T) each."""
        T = max(len(s) for s in sentences) + 1
        inputs = torch.full((len(sentences), T), self.pad_id, dtype=torch.long)
        targets = torch.full((len(sentences), T), -100, dtype=torch.long)
        for row, s in enumerate(sentences):
            inputs[row, :len(s) + 1] = torch.tensor([self.eos_id] + s)
            targets[row, :len(s) + 1] = torch.tensor(s + [self.eos_id])
        return inputs, targets
