"""Small stand-ins, in the real formats, for the out-of-distribution texts the language-model
experiment reads: the VADER study's tweets file, the BBC News archive, and WordNet."""

from __future__ import annotations

import tarfile
from pathlib import Path

from wordnet_fixture import write_fake_wordnet

TWEETS = ["Somehow I was blessed with some really amazing friends. So lucky.",
          "Yay. Another good phone interview.",
          "We were 17 deep last night &amp; the love was so strong :) #blessed",
          "Ugh, the train is late AGAIN... worst commute ever",
          "lol u were right, that film was awful"]

BBC = {"business": ["Ad sales boost Time Warner profit\n\nQuarterly profits at US media giant TimeWarner jumped 76%.",
                    "Dollar gains on Greenspan speech\n\nThe dollar has hit its highest level against the euro."],
       "tech": ["Mobiles rack up 20 years of use\n\nMobile phones in the UK are celebrating their 20th anniversary."],
       "sport": ["Moya emotional after Davis Cup win\n\nCarlos Moya described Spain's Davis Cup victory as a high point."]}


def make_tweets(root: Path, repeat: int = 20) -> Path:
    """root/tweets_GroundTruth.txt: id, mean valence, text; tab-separated, as the VADER study ships it."""
    path = Path(root) / "tweets_GroundTruth.txt"
    lines = [f"{i + 1}\t{(-1) ** i * 1.5:.6f}\t{TWEETS[i % len(TWEETS)]}" for i in range(repeat * len(TWEETS))]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def make_bbc_archive(root: Path, repeat: int = 10) -> Path:
    """root/bbc_news.tar.gz holding bbc/TOPIC/NNN.txt, as the BBC News archive does."""
    src = Path(root) / "bbc_src" / "bbc"
    for topic, articles in BBC.items():
        (src / topic).mkdir(parents=True, exist_ok=True)
        for i in range(repeat):
            (src / topic / f"{i + 1:03d}.txt").write_text(articles[i % len(articles)] + "\n", encoding="latin-1")
    path = Path(root) / "bbc_news.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        tar.add(src, arcname="bbc")
    return path


def make_wordnet(root: Path) -> Path:
    """A tiny WordNet dict/ folder (see wordnet_fixture.py)."""
    return write_fake_wordnet(Path(root) / "wordnet")
