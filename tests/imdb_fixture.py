"""A tiny IMDb look-alike for tests: the canonical layout, files named ID_RATING.txt.

Positive reviews use positive words, negative reviews negative ones, so a classifier can learn
them in a few steps. make_imdb(folder) writes `aclImdb/`; make_archive(folder) packs it as .tar.gz.
Like the real archive, urls_{pos,neg,unsup}.txt name each review's movie (line i: review i_*.txt):
`per_movie` neighbouring ids of each label share a movie, and train and test hold different movies.
"""

from __future__ import annotations

import random
import tarfile
from pathlib import Path


POSITIVE = ["great", "wonderful", "loved", "superb", "moving", "brilliant", "fun", "beautiful"]
NEGATIVE = ["awful", "boring", "hated", "terrible", "dull", "worst", "waste", "ugly"]
NEUTRAL = ["the", "film", "movie", "plot", "actor", "scene", "was", "a", "and", "it", "<br />", "."]


def review(rng: random.Random, words: list[str], n: int) -> str:
    return " ".join(rng.choice(words if rng.random() < 0.4 else NEUTRAL) for _ in range(n)).capitalize()


def movie_url(split: str, i: int, per_movie: int) -> str:
    """The IMDb page of review i's movie; test movies are numbered apart from train movies."""
    return f"http://www.imdb.com/title/tt{(500000 if split == 'test' else 100000) + i // per_movie:07d}/usercomments"


def make_imdb(root: Path, n_train: int = 40, n_test: int = 20, n_unsup: int = 10, seed: int = 0,
              per_movie: int = 3, urls: bool = True) -> Path:
    """Write root/aclImdb with n_train (and n_test) reviews per label; returns the aclImdb folder.

    urls=False leaves out the urls_*.txt files (as in a user's own folder)."""
    rng = random.Random(seed)
    base = Path(root) / "aclImdb"
    for split, n in (("train", n_train), ("test", n_test)):
        for label, words, ratings in (("pos", POSITIVE, (7, 10)), ("neg", NEGATIVE, (1, 4))):
            folder = base / split / label
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(n):
                rating = rng.randint(*ratings)
                (folder / f"{i}_{rating}.txt").write_text(review(rng, words, rng.randint(3, 30)))
            if urls:
                lines = [movie_url(split, i, per_movie) for i in range(n)]
                (base / split / f"urls_{label}.txt").write_text("\n".join(lines) + "\n")
    unsup = base / "train" / "unsup"
    unsup.mkdir(parents=True, exist_ok=True)
    for i in range(n_unsup):
        (unsup / f"{i}_0.txt").write_text(review(rng, POSITIVE + NEGATIVE, 20))
    if urls:
        lines = [movie_url("unsup", 10000 + i, per_movie) for i in range(n_unsup)]
        (base / "train" / "urls_unsup.txt").write_text("\n".join(lines) + "\n")
    (base / "README").write_text("tiny fixture\n")
    return base


def make_archive(root: Path, **kwargs) -> Path:
    """The fixture packed as root/aclImdb.tar.gz (the canonical archive's layout)."""
    base = make_imdb(Path(root) / "src", **kwargs)
    path = Path(root) / "aclImdb.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        tar.add(base, arcname="aclImdb")
    return path


