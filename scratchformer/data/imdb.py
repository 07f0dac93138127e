"""The IMDb movie-review data set (Maas et al. 2011, "Learning Word Vectors for Sentiment Analysis").

Layout of the canonical archive `aclImdb_v1.tar.gz` (and of an extracted `aclImdb/` folder):

    aclImdb/train/pos/ID_RATING.txt    12,500 positive reviews (rating 7-10)
    aclImdb/train/neg/ID_RATING.txt    12,500 negative reviews (rating 1-4)
    aclImdb/train/unsup/ID_0.txt       50,000 unlabelled reviews (for language-model pretraining)
    aclImdb/test/{pos,neg}/...         25,000 labelled test reviews
    aclImdb/{train,test}/urls_{pos,neg,unsup}.txt
                                       each review's IMDb movie page: line i belongs to file i_*.txt

Where the data comes from (`IMDbConfig.source`):
  "download"           the Stanford URL, fetched once into `cache_dir` and checked against the
                       published sha256 (a cached copy is checked again before each use);
  a .tar.gz path       a local archive (not checked against the canonical hash: repacked copies differ);
  a folder path        an extracted `aclImdb/` folder, or a folder that holds one.

Splits: a seeded validation split is carved out of train, *grouped by movie*: a movie's reviews
are all in train or all in validation, as IMDb's own train and test splits hold different movies.
(A validation split that shares movies with train, and so their titles and actors' names, runs
1-3 points above test.) A folder without the urls_*.txt files falls back to a random split of
reviews, with a note. The test split is read only when asked for (`parts=("test",)`, or
`load_imdb(cfg, final_test=True)`): model selection never sees it.
"""

from __future__ import annotations

import random
import re
import tarfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path

from scratchformer.data.download import download_file
from scratchformer.errors import UserError
from scratchformer.progress import progress_bar

IMDB_URL = "https://ai.stanford.edu/~amaas/data/sentiment/aclImdb_v1.tar.gz"
IMDB_SHA256 = "c40f74a18d3b61f90feba1e17730e0d38e8b97c05fde7008942e91923d1658fe"
IMDB_FILENAME = "aclImdb_v1.tar.gz"

LABELS = ("neg", "pos")  # label id -> name: 0 negative, 1 positive
REQUIRED = ("train/pos", "train/neg", "test/pos", "test/neg")
REVIEW_NAME = re.compile(r"(\d+)_(\d+)\.txt")  # ID_RATING.txt
URLS_NAME = re.compile(r"urls_(pos|neg|unsup)\.txt")  # one movie URL per review id
MOVIE_ID = re.compile(r"/title/(tt\d+)")  # http://www.imdb.com/title/tt0453418/usercomments -> tt0453418


@dataclass
class IMDbConfig:
    """Where the IMDb reviews come from and how train is split."""

    source: str = "download"
    """'download' (the canonical archive, cached and checksum-verified), or the path of a local
    .tar.gz archive or of an extracted aclImdb/ folder."""
    cache_dir: str = "~/.cache/scratchformer"
    """Folder that keeps the downloaded archive."""
    val_fraction: float = 0.1
    """Fraction of the labelled training reviews held out for validation (whole movies, so about)."""
    split_seed: int = 0
    """Seed of the train/validation split (a shuffle of the movies)."""

    def __post_init__(self):
        if not self.source:
            raise ValueError("source must be 'download' or the path of an archive or aclImdb/ folder")
        if not 0.0 < self.val_fraction < 1.0:
            raise ValueError(f"val_fraction must be in (0, 1), got {self.val_fraction}")


@dataclass
class Reviews:
    """One split: parallel lists of review texts, labels (0 neg, 1 pos, -1 unlabelled), ratings and
    movies (the IMDb title id, e.g. 'tt0453418'; empty when the data names no movies)."""

    texts: list[str] = field(default_factory=list)
    labels: list[int] = field(default_factory=list)
    ratings: list[int] = field(default_factory=list)
    movies: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.texts)

    def subset(self, indices: list[int]) -> "Reviews":
        return Reviews([self.texts[i] for i in indices], [self.labels[i] for i in indices],
                       [self.ratings[i] for i in indices],
                       [self.movies[i] for i in indices] if self.movies else [])


@dataclass
class IMDb:
    """The loaded splits ('train', 'val', and on request 'test' and 'unsup') and any notes on the data."""

    splits: dict[str, Reviews]
    notes: list[str] = field(default_factory=list)
    """Problems found and worked around (undecodable bytes, empty reviews), one sentence each."""

    def __getitem__(self, name: str) -> Reviews:
        if name not in self.splits:
            hint = " (the test split is read only for a final evaluation: load_imdb(..., final_test=True))" \
                if name == "test" else ""
            raise KeyError(f"split {name!r} was not loaded; loaded: {sorted(self.splits)}{hint}")
        return self.splits[name]


# --------------------------------------------------------------------------------------------
# finding the data: download + checksum, or a local path


def download_archive(cache_dir: str | Path, url: str = IMDB_URL, sha256: str = IMDB_SHA256) -> Path:
    """The canonical archive in `cache_dir`, downloaded once; its sha256 is checked every time (data/download.py)."""
    return download_file(url, Path(cache_dir).expanduser() / IMDB_FILENAME, sha256,
                         by_hand="pass its path as --data.source")


def resolve_source(cfg: IMDbConfig) -> Path:
    if cfg.source == "download":
        return download_archive(cfg.cache_dir)
    path = Path(cfg.source).expanduser()
    cached = Path(cfg.cache_dir).expanduser() / IMDB_FILENAME
    if path.exists() and path.resolve() == cached.resolve():
        return download_archive(cfg.cache_dir)  # the cached download: checked against the published hash
    if not path.exists():
        raise UserError(f"IMDb source {path} does not exist; give the path of aclImdb_v1.tar.gz, "
                        "of an extracted aclImdb/ folder, or 'download'")
    return path


# --------------------------------------------------------------------------------------------
# reading reviews from an archive or a folder


def split_member(relative: str) -> tuple[str, str, str] | None:
    """'train/pos/12_9.txt' -> ('train', 'pos', '12_9.txt'); None for anything that is not a review."""
    parts = relative.split("/")
    if len(parts) == 2 and parts[0] in ("train", "test") and URLS_NAME.fullmatch(parts[1]):
        return parts[0], URLS_NAME.fullmatch(parts[1]).group(1), "urls"  # the movie list of a folder
    if len(parts) != 3 or parts[0] not in ("train", "test") or parts[1] not in ("pos", "neg", "unsup"):
        return None
    if not parts[2].endswith(".txt"):
        return None
    return parts[0], parts[1], parts[2]


class ReviewCollector:
    """Gathers (split, label folder, file name, bytes) into Reviews, noting what it had to repair."""

    def __init__(self, wanted: set[str], source: Path):
        self.wanted, self.source = wanted, source
        self.raw: dict[str, list[tuple[str, str]]] = {}  # split -> [(file name, text)]
        self.urls: dict[str, list[str]] = {}  # 'train/pos' -> movie of review id i, at line i
        self.seen_folders: set[str] = set()
        self.undecodable: list[str] = []
        self.empty: list[str] = []

    def wants(self, split: str, folder: str) -> bool:
        """Note that the folder exists; True if its reviews are asked for."""
        self.seen_folders.add(f"{split}/{folder}")
        return ("unsup" if folder == "unsup" else split) in self.wanted

    def add_urls(self, split: str, folder: str, data: bytes) -> None:
        """A urls_FOLDER.txt file: line i is the movie page of review i_*.txt."""
        lines = data.decode("utf-8", errors="replace").splitlines()
        self.urls[f"{split}/{folder}"] = [m.group(1) if (m := MOVIE_ID.search(line)) else line.strip()
                                          for line in lines]

    def movie(self, split: str, name: str) -> str | None:
        """The movie of 'pos/12_9.txt' in `split`, or None when its urls file is missing or too short."""
        folder, file = name.split("/")
        urls = self.urls.get(f"{split}/{folder}")
        m = REVIEW_NAME.fullmatch(file)
        if urls is None or m is None or int(m.group(1)) >= len(urls):
            return None
        return urls[int(m.group(1))]

    def add(self, split: str, folder: str, name: str, data: bytes) -> None:
        part = "unsup" if folder == "unsup" else split
        # - a review with bytes that are not UTF-8 is kept: bad bytes become U+FFFD
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            text = data.decode("utf-8", errors="replace")
            self.undecodable.append(f"{split}/{folder}/{name}")
        if not text.strip():
            self.empty.append(f"{split}/{folder}/{name}")
        self.raw.setdefault(part, []).append((f"{folder}/{name}", text, split))

    def finish(self) -> IMDb:
        missing = [f for f in REQUIRED if f not in self.seen_folders]
        if "unsup" in self.wanted and "train/unsup" not in self.seen_folders:
            missing.append("train/unsup")
        if missing:
            raise UserError(f"{self.source} is not in the aclImdb layout: no reviews in {', '.join(missing)}; "
                            "expected aclImdb/train/{pos,neg,unsup} and aclImdb/test/{pos,neg} "
                            "holding files named ID_RATING.txt")
        splits = {}
        for part, items in self.raw.items():
            # - a fixed order (by folder, then numeric id) so every run sees the same lists
            items.sort(key=lambda it: (it[0].split("/")[0], review_id(it[0])))
            reviews = Reviews()
            movies = [self.movie(split, name) for name, _, split in items]
            for name, text, _ in items:
                folder, file = name.split("/")
                reviews.texts.append(text)
                reviews.labels.append(-1 if folder == "unsup" else LABELS.index(folder))
                reviews.ratings.append(review_rating(file))
            # - movies only when every review has one (a user's own folder may lack urls_*.txt)
            reviews.movies = movies if all(m is not None for m in movies) else []
            splits[part] = reviews
        notes = []
        if self.undecodable:
            notes.append(f"{len(self.undecodable)} review(s) had bytes that are not UTF-8 and were kept with "
                         f"those bytes replaced by U+FFFD, e.g. {self.undecodable[0]}")
        if self.empty:
            notes.append(f"{len(self.empty)} review(s) are empty and were kept (the model sees no tokens), "
                         f"e.g. {self.empty[0]}")
        return IMDb(splits, notes)


def review_id(name: str) -> tuple[int, str]:
    m = REVIEW_NAME.fullmatch(name.split("/")[-1])
    return (int(m.group(1)), "") if m else (1 << 62, name)


def review_rating(name: str) -> int:
    m = REVIEW_NAME.fullmatch(name)
    return int(m.group(2)) if m else 0


def read_archive(path: Path, collector: ReviewCollector) -> None:
    try:
        # - progress in compressed bytes read (the number of files is only known at the end)
        with open(path, "rb") as raw, tarfile.open(fileobj=raw, mode="r:*") as tar, \
                progress_bar(total=path.stat().st_size, desc=f"reading {path.name}", unit="B", unit_scale=True) as bar:
            for member in tar:
                bar.update(raw.tell() - bar.n)
                if not member.isfile():
                    continue
                # - the reviews sit under some top folder (aclImdb/); find train|test below it
                #   (a review is train/pos/ID_RATING.txt, a movie list train/urls_pos.txt)
                parts = member.name.split("/")
                for i in range(len(parts) - 1):
                    found = split_member("/".join(parts[i:]))
                    if found and found[2] == "urls":
                        collector.add_urls(found[0], found[1], tar.extractfile(member).read())
                        break
                    if found:
                        if collector.wants(found[0], found[1]):
                            collector.add(*found, tar.extractfile(member).read())
                        break
            bar.update(bar.total - bar.n)  # (the archive's end: its last bytes hold no file)
    except (tarfile.TarError, EOFError, zlib.error, OSError) as e:
        raise UserError(f"could not read the archive {path} ({type(e).__name__}: {e}); it is missing, "
                        "truncated or not a .tar.gz: download it again or give an extracted aclImdb/ folder") from None


def read_folder(path: Path, collector: ReviewCollector) -> None:
    # - accept the aclImdb/ folder itself or a folder that holds it
    root = path / "aclImdb" if (path / "aclImdb").is_dir() and not (path / "train").is_dir() else path
    for split in ("train", "test"):
        for folder in ("pos", "neg", "unsup"):
            urls = root / split / f"urls_{folder}.txt"
            if urls.is_file():
                collector.add_urls(split, folder, urls.read_bytes())
            d = root / split / folder
            if not d.is_dir() or (split, folder) == ("test", "unsup") or not collector.wants(split, folder):
                continue
            for f in progress_bar(list(d.iterdir()), desc=f"reading {split}/{folder}", unit="file"):
                if f.is_file() and f.suffix == ".txt":
                    collector.add(split, folder, f.name, f.read_bytes())


def read_reviews(path: Path, parts: set[str]) -> IMDb:
    """Read the labelled/unlabelled reviews of `parts` ('train', 'test', 'unsup') from a path."""
    collector = ReviewCollector(parts, path)
    if path.is_dir():
        read_folder(path, collector)
    else:
        read_archive(path, collector)
    return collector.finish()


# --------------------------------------------------------------------------------------------
# the public entry point


def carve_validation(train: Reviews, val_fraction: float, seed: int) -> tuple[Reviews, Reviews]:
    """A seeded random split of train into (train, val); the same seed always gives the same split."""
    order = list(range(len(train)))
    random.Random(seed).shuffle(order)
    n_val = max(1, round(len(order) * val_fraction))
    if n_val >= len(order):
        raise UserError(f"only {len(order)} training reviews: too few to hold out a validation split")
    return train.subset(sorted(order[n_val:])), train.subset(sorted(order[:n_val]))


def carve_validation_by_movie(train: Reviews, val_fraction: float, seed: int) -> tuple[Reviews, Reviews]:
    """A seeded split of train into (train, val) that shares no movie: whole movies, drawn in a
    shuffled order, go to validation until it holds val_fraction of the reviews (a little more:
    the last movie is not split)."""
    by_movie: dict[str, list[int]] = {}
    for i, movie in enumerate(train.movies):
        by_movie.setdefault(movie, []).append(i)
    movies = sorted(by_movie)  # a fixed order before the seeded shuffle
    random.Random(seed).shuffle(movies)
    target = max(1, round(len(train) * val_fraction))
    val: list[int] = []
    for movie in movies:
        if len(val) >= target:
            break
        val.extend(by_movie[movie])
    if len(val) >= len(train):
        raise UserError(f"only {len(movies)} movies among {len(train)} training reviews: too few to hold "
                        "out a validation split of other movies")
    held = set(val)
    return train.subset([i for i in range(len(train)) if i not in held]), train.subset(sorted(val))


def load_imdb(cfg: IMDbConfig, *, final_test: bool = False, unsup: bool = False) -> IMDb:
    """Splits 'train' and 'val'; plus 'test' with final_test=True and 'unsup' with unsup=True."""
    path = resolve_source(cfg)
    parts = {"train"} | ({"test"} if final_test else set()) | ({"unsup"} if unsup else set())
    data = read_reviews(path, parts)
    if data.splits["train"].movies:
        train, val = carve_validation_by_movie(data.splits["train"], cfg.val_fraction, cfg.split_seed)
    else:
        data.notes.append(f"{path} has no train/urls_pos.txt and urls_neg.txt naming each review's movie, so "
                          "validation is a random split of the reviews: it shares movies with train and "
                          "runs above test accuracy")
        train, val = carve_validation(data.splits["train"], cfg.val_fraction, cfg.split_seed)
    data.splits["train"], data.splits["val"] = train, val
    return data
