"""Tiny out-of-distribution sentiment files in the real formats (VADER ground truth, Pang & Lee
CSV, a BBC News archive), for tests that must not need ../shared."""

import csv
import tarfile

from scratchformer.data.sentiment_ood import FILES

VADER = {
    "amazon": [("1_1", 2.1, "works great, love it"), ("1_2", -0.2, "arrived on tuesday"),
               ("1_3", -1.5, "broke after a day"), ("1_4", 0.5, "fine i guess")],
    "nyt": [("1", -3.0, "a disgraceful decision"), ("2", 1.0, "a wise plan")],
    "tweets": [("1", 2.5, "best day ever :)"), ("2", -2.5, "worst day ever :(")],
    "movies": [("1", 2.3, "The Rock is destined to be the 21st Century's new ''Conan''."),
               ("2", -0.1, "A film about a man and his dog, with some music."),
               ("3", -2.0, "Dull, long and too tepid.")],
}
PANG_LEE_SENTENCES = [("1", "the rock is destined to be the 21st century's new \" conan \" . "),
                      ("-1", "dull , long and too-tepid . "),
                      ("1", "a film about a man and his dog , with some music . "),
                      ("1", "a joy from start to finish . "), ("1", "a joy from start to finish . ")]
PANG_LEE_REVIEWS = [("1", "i liked it a lot .\nthe actors are fine .\n"),
                    ("-1", "what a mess .\ndull , long and too-tepid .\n")]


def write_sets(folder):
    folder.mkdir(parents=True, exist_ok=True)
    for name, rows in VADER.items():
        (folder / FILES[name].filename).write_text("".join(f"{i}\t{v}\t{t}\n" for i, v, t in rows))
    for name, rows in (("pang-lee-sentences", PANG_LEE_SENTENCES), ("pang-lee-reviews", PANG_LEE_REVIEWS)):
        with open(folder / FILES[name].filename, "w", encoding="utf-8-sig", newline="") as f:
            csv.writer(f, quoting=csv.QUOTE_ALL).writerows(rows)
    return folder


def write_bbc(path):
    with tarfile.open(path, "w:gz") as tar:
        for topic, n, text in (("tech", 2, "Chips get faster."), ("business", 1, "Shares rose."),
                               ("tech", 1, "A new phone.")):
            f = path.parent / f"{topic}{n}.txt"
            f.write_text(text)
            tar.add(f, arcname=f"bbc/{topic}/{n:03d}.txt")
    return path
