"""Tiny stand-ins for the Penn Treebank files and the movie-review snippets (tests never read ../shared)."""

import random
from pathlib import Path

WORDS = "the market fell N points as investors sold shares of <unk> and bonds rose".split()
GOOD = "a wonderful moving film with great acting".split()
BAD = "a dull boring mess with awful acting".split()


def make_ptb(root: Path, n_train: int = 120, n_val: int = 30, n_test: int = 30) -> Path:
    folder = root / "ptb"
    folder.mkdir(parents=True, exist_ok=True)
    rng = random.Random(0)
    for name, n in (("train", n_train), ("valid", n_val), ("test", n_test)):
        lines = [" " + " ".join(rng.choices(WORDS, k=rng.randint(3, 9))) + " " for _ in range(n)]
        (folder / f"ptb.{name}.txt").write_text("\n".join(lines) + "\n")
    return folder


def make_movies(root: Path, n: int = 200) -> Path:
    rng = random.Random(1)
    lines = []
    for i in range(n):
        positive = i % 2 == 0
        words = rng.sample(GOOD if positive else BAD, k=5)
        valence = rng.uniform(0.6, 3.0) * (1 if positive else -1)
        lines.append(f"{i + 1}\t{valence:.3f}\t{' '.join(words).capitalize()}.")
    lines.append(f"{n + 1}\t0.1\tA film that is neither.")  # near-neutral: left out
    path = root / "movieReviewSnippets_GroundTruth.txt"
    path.write_text("\n".join(lines) + "\n")
    return path
