"""Out-of-distribution texts for a language model trained on the comedies and tragedies.

Each reader turns one source into one plain text, documents separated by a blank line:

    history   Shakespeare's histories (play_genres.py): the same author and format, another genre (all 11)
    ptb       Penn Treebank's Wall Street Journal text (Mikolov's preprocessing: lower case, <unk>, N)
    imdb      IMDb movie reviews (the labelled test reviews; '<br />' becomes a newline)
    tweets    tweets (the VADER study's 4,200, all of them: no label is needed)
    bbc       BBC News articles (Greene & Cunningham 2006)

Each source is a local path, or "download": its canonical file, fetched once into `cache_dir` and
checked against its published sha256 by the module that owns it (PTB's ptb.valid.txt by data/ptb.py,
IMDb's archive by data/imdb.py, the tweets and BBC News by data/sentiment_ood.py; the BBC's authors
publish no checksum). The defaults are the course's copies in ../shared/data.

A document collection (imdb, tweets, bbc) is shuffled with a fixed seed, so the text read is a
sample of the whole collection and the same on every run; each is cut to `max_chars` (the
histories are kept whole: an evaluation samples its windows evenly across a text).
`load_ood_texts(cfg)` reads every source that has a path; a source set to null is skipped.

`held_out=True` reads what that sample left out instead: the documents past the cut in the same
shuffle (PTB: the next `max_chars` characters of its file). Choosing an augmentation on the sample
and confirming it on the held-out part keeps the choice apart from the figure that reports it. The
histories have no held-out part: they are read whole.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

from scratchformer.data import ptb
from scratchformer.data.corpus import read_text_file
from scratchformer.data.imdb import download_archive, read_reviews
from scratchformer.data.sentiment_ood import FILES, downloaded, read_bbc, read_vader
from scratchformer.errors import UserError

SHARED = "../shared/data"
SEPARATOR = "\n\n"  # between documents


@dataclass
class OODTextsConfig:
    """Where each out-of-distribution text comes from (null skips it), and how much of each is kept."""

    history: bool = True
    """Shakespeare's histories (held out of training by genre)."""
    ptb: str | None = f"{SHARED}/ptb/ptb.valid.txt"
    """A Penn Treebank text file (one sentence a line), e.g. ptb.valid.txt of Mikolov's simple-examples,
    or 'download' (that file)."""
    imdb: str | None = f"{SHARED}/aclImdb.tar.gz"
    """The IMDb archive (.tar.gz) or an extracted aclImdb/ folder: its labelled test reviews are read; or 'download'."""
    tweets: str | None = f"{SHARED}/sentiment_ood/tweets_GroundTruth.txt"
    """The VADER study's tweets file (id, valence, text; tab-separated); or 'download'."""
    bbc: str | None = f"{SHARED}/bbc_news.tar.gz"
    """BBC News: the archive bbc_news.tar.gz (bbc/TOPIC/NNN.txt), bbc-fulltext.zip or its extracted
    folder; or 'download'."""
    cache_dir: str = "~/.cache/scratchformer"
    """Where a source given as 'download' is kept."""
    max_chars: int = 300_000
    """Each text is cut to this many characters (after the shuffle of its documents)."""
    seed: int = 0
    """Seed of the shuffle of documents."""

    def __post_init__(self):
        if self.max_chars < 1:
            raise ValueError(f"max_chars must be at least 1, got {self.max_chars}")


def existing(path: str, option: str, can_download: bool = False) -> Path:
    """The path, or a one-line error that names the option to fix (or to set to null)."""
    p = Path(path).expanduser()
    if not p.exists():
        raise UserError(f"the out-of-distribution text --{option} {path} does not exist; give its path, "
                        f"{'download, ' if can_download else ''}or --{option} null to leave it out")
    return p


def located(path: str, name: str, cache_dir: str) -> Path:
    """Source `name`'s file: the path as given, or with 'download' its canonical file in cache_dir
    (downloaded once, then checked against its published sha256 on every use)."""
    if path != "download":
        return existing(path, f"ood.{name}", can_download=True)
    cache = Path(cache_dir).expanduser()
    if name == "ptb":
        return ptb.download(cache / "ptb") / ptb.SPLITS["val"]
    if name == "imdb":
        return download_archive(cache)
    if name in ("tweets", "bbc"):
        return downloaded(name, cache, by_hand=f"pass a local copy as --ood.{name}")
    raise UserError(f"--ood.{name} has no download; give a local path")


def join_documents(documents: list[str], max_chars: int, seed: int, held_out: bool = False) -> str:
    """The documents in a seeded shuffle, blank-line separated, cut to max_chars characters.
    held_out: the documents that sample does not touch (those after the cut), joined and cut the same way."""
    documents = [d.strip() for d in documents if d.strip()]
    random.Random(seed).shuffle(documents)
    # - the sample is the shortest prefix of the shuffle that reaches max_chars
    n_sample, total = 0, 0
    while n_sample < len(documents) and total < max_chars:
        total += len(documents[n_sample]) + len(SEPARATOR)
        n_sample += 1
    chosen = documents[n_sample:] if held_out else documents[:n_sample]
    return SEPARATOR.join(chosen)[:max_chars]


# --------------------------------------------------------------------------------------------
# one reader per source


def read_ptb(path: str | Path, max_chars: int, held_out: bool = False) -> str:
    """Penn Treebank text: one sentence a line as the file has it (its leading space dropped), in order.
    held_out: the max_chars characters after those (what the sample does not read)."""
    path = existing(str(path), "ood.ptb")
    lines = [line.strip() for line in path.read_text(encoding="utf-8").splitlines()]
    text = "\n".join(line for line in lines if line)
    if not text:
        raise UserError(f"the Penn Treebank file {path} holds no text; give ptb.valid.txt or ptb.test.txt")
    return text[max_chars:2 * max_chars] if held_out else text[:max_chars]


def clean_review(text: str) -> str:
    """An IMDb review as plain text: its HTML line breaks become newlines."""
    return text.replace("<br /><br />", "\n").replace("<br />", "\n")


def read_imdb_reviews(path: str | Path, max_chars: int, seed: int, held_out: bool = False) -> str:
    """A seeded sample of IMDb's labelled test reviews (never read by a model trained on plays)."""
    reviews = read_reviews(existing(str(path), "ood.imdb"), {"test"}).splits.get("test")
    if reviews is None or not reviews.texts:
        raise UserError(f"{path} holds no IMDb test reviews (aclImdb/test/pos, test/neg); give the IMDb "
                        "archive or its extracted aclImdb/ folder")
    return join_documents([clean_review(t) for t in reviews.texts], max_chars, seed, held_out)


def read_tweets(path: str | Path, max_chars: int, seed: int, held_out: bool = False) -> str:
    """A seeded sample of the VADER study's tweets, every one (a language model needs no label)."""
    tweets, _ = read_vader(existing(str(path), "ood.tweets"), threshold=0.0)
    return join_documents(tweets.texts, max_chars, seed, held_out)


def read_bbc_news(path: str | Path, max_chars: int, seed: int, held_out: bool = False) -> str:
    """A seeded sample of the BBC News articles (each its headline, a blank line, its body)."""
    return join_documents(read_bbc(existing(str(path), "ood.bbc")).texts, max_chars, seed, held_out)


def read_mix_corpus(path: str | Path) -> str:
    """A second training corpus: a file of the VADER study (its sentences, one a line, in order), or
    any UTF-8 text file as it is."""
    path = existing(str(path), "mix_corpus")
    if path.name in {f.filename for f in FILES.values() if f.kind == "vader"}:
        sentences, _ = read_vader(path, threshold=0.0)
        return "\n".join(sentences.texts) + "\n"
    return read_text_file(path)


# --------------------------------------------------------------------------------------------
# all of them


def load_ood_texts(cfg: OODTextsConfig, history: str | None = None, held_out: bool = False) -> dict[str, str]:
    """{name: text} for each source with a path, in the order of the config.

    history: the histories' text (from play_genres.genre_splits), given by the caller, who splits
    the plays; ignored when cfg.history is false, and when held_out (the histories are read whole).
    held_out: each source's part that the sample leaves out (see the module's docstring).
    """
    texts: dict[str, str] = {}
    if cfg.history and history is not None and not held_out:
        texts["history"] = history  # whole: the evaluation samples windows across all of it
    if cfg.ptb is not None:
        texts["ptb"] = read_ptb(located(cfg.ptb, "ptb", cfg.cache_dir), cfg.max_chars, held_out)
    if cfg.imdb is not None:
        texts["imdb"] = read_imdb_reviews(located(cfg.imdb, "imdb", cfg.cache_dir), cfg.max_chars, cfg.seed, held_out)
    if cfg.tweets is not None:
        texts["tweets"] = read_tweets(located(cfg.tweets, "tweets", cfg.cache_dir), cfg.max_chars, cfg.seed, held_out)
    if cfg.bbc is not None:
        texts["bbc"] = read_bbc_news(located(cfg.bbc, "bbc", cfg.cache_dir), cfg.max_chars, cfg.seed, held_out)
    # - a held-out part can be empty (a source no longer than the sample): say so, not score nothing
    empty = [name for name, text in texts.items() if held_out and len(text) < 2]
    if empty:
        raise UserError(f"the out-of-distribution text(s) {', '.join(empty)} have no held-out part past the "
                        f"sample's {cfg.max_chars} characters; lower --ood.max_chars or leave them out")
    return texts
