"""Sentiment texts from outside IMDb, for measuring how a review classifier fares out of distribution.

    name                 texts                                   labels                 from
    amazon               Amazon product-review snippets          sign of mean valence   VADER study
    nyt                  New York Times editorial snippets       sign of mean valence   VADER study
    tweets               tweets                                  sign of mean valence   VADER study
    movies               Rotten Tomatoes movie-review snippets   sign of mean valence   VADER study
    pang-lee-sentences   movie-review sentences (RT)             1 pos / 0 neg (-1)     Pang & Lee 2005
    pang-lee-reviews     full movie reviews                      1 pos / 0 neg (-1)     Pang & Lee 2004
    bbc                  BBC News articles (far out of domain)   none (-1)              Greene & Cunningham 2006

The VADER study (Hutto & Gilbert 2014) gives each sentence the mean valence of ~20 human ratings
in [-4, 4]. A sentence is positive (1) when valence >= threshold, negative (0) when valence <=
-threshold, and left out when it is near neutral in between; the default threshold is 0.5
(OODConfig.threshold), so for instance -0.15 ("repost from january 13, 2004") is left out.

Pang & Lee's sentences come from the same Rotten Tomatoes pages as the VADER movie snippets, so
every Pang & Lee sentence (and review) that also appears among the snippets is dropped, compared
after lower-casing and keeping only letters and digits (Pang & Lee's files are tokenised:
"too-tepid" and "too tepid" are one text); a full review is dropped when one of its lines (one
sentence each) of 5 or more words is a snippet. Duplicates within a set are dropped too. Nearly
all of Pang & Lee's 4,000 sentences are among the snippets, so that set keeps only a few dozen.

Where the files come from (`OODConfig.source`, `OODConfig.bbc_source`):
  "download"   each file's canonical URL, fetched once into cache_dir/sentiment_ood and checked
               against its sha256 (the VADER files from the vaderSentiment repository, Pang & Lee's
               from the pattern repository's test corpora, BBC News from its authors' site);
  a folder     holding the files under the names below (e.g. ../shared/data/sentiment_ood), and
               for BBC News a bbc_news.tar.gz / bbc-fulltext.zip archive or an extracted bbc/ folder.
"""

from __future__ import annotations

import csv
import io
import re
import tarfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from scratchformer.data.download import download_file
from scratchformer.data.imdb import Reviews
from scratchformer.errors import UserError

VADER_URL = "https://raw.githubusercontent.com/cjhutto/vaderSentiment/master/additional_resources/hutto_ICWSM_2014/"
PATTERN_URL = "https://raw.githubusercontent.com/clips/pattern/master/test/corpora/"
BBC_URL = "http://mlg.ucd.ie/files/datasets/bbc-fulltext.zip"


@dataclass(frozen=True)
class OODFile:
    """One labelled out-of-distribution file: its name, format, canonical URL and sha256."""

    filename: str
    kind: str  # 'vader' (id, valence, text; tab-separated) or 'pang-lee' (CSV label, text)
    url: str
    sha256: str
    description: str


FILES = {
    "amazon": OODFile("amazonReviewSnippets_GroundTruth.txt", "vader",
                      VADER_URL + "amazonReviewSnippets_GroundTruth.txt",
                      "11a9807a0974a2506a2d3b4851eaf69b3d6d20688ce4923adda2312a4f6dd6c2",
                      "Amazon product-review snippets"),
    "nyt": OODFile("nytEditorialSnippets_GroundTruth.txt", "vader", VADER_URL + "nytEditorialSnippets_GroundTruth.txt",
                   "7d8fbcce7dde5d716da53e78f4ef4be6b706e9ef1e1d51887e6d0ad4b69cc27e", "NYT editorial snippets"),
    "tweets": OODFile("tweets_GroundTruth.txt", "vader", VADER_URL + "tweets_GroundTruth.txt",
                      "dfbe7102e2f92579ed8b19df9a3822491880697c67adf712fb66e520cc05102f", "tweets"),
    "movies": OODFile("movieReviewSnippets_GroundTruth.txt", "vader", VADER_URL + "movieReviewSnippets_GroundTruth.txt",
                      "c8293b0d942e90e223ea2c0955d969040d1a1be514a978b9af0698940bd13350",
                      "Rotten Tomatoes movie-review snippets"),
    "pang-lee-sentences": OODFile("pang_lee_sentences.csv", "pang-lee", PATTERN_URL + "polarity-en-pang%26lee2.csv",
                                  "1b9975e7c33f487bc2187fffdc55213fdbb84bac4f6c1852b5dd40912411f53f",
                                  "Pang & Lee movie-review sentences"),
    "pang-lee-reviews": OODFile("pang_lee_reviews.csv", "pang-lee", PATTERN_URL + "polarity-en-pang%26lee1.csv",
                                "a21e3106433d9fa59fe75707b8af6ee5e2b27ab9bb98f7c0d69878a40b68aa8f",
                                "Pang & Lee full movie reviews"),
}
LABELLED = tuple(FILES)
OOD_SETS = LABELLED + ("bbc",)
BBC_TOPICS = ("business", "entertainment", "politics", "sport", "tech")


@dataclass
class OODConfig:
    """Where the out-of-distribution sets come from and how the VADER sentences are binarised."""

    source: str = "download"
    """'download' (each file's canonical URL, cached and checksum-verified) or a folder holding the files."""
    bbc_source: str = "download"
    """'download', or a BBC News archive (.tar.gz or .zip) or extracted bbc/ folder."""
    cache_dir: str = "~/.cache/scratchformer"
    """Folder that keeps the downloads."""
    threshold: float = 0.5
    """VADER sentences with |mean valence| < threshold are near neutral and left out."""
    sets: list[str] = field(default_factory=lambda: list(OOD_SETS))
    """Which sets to load."""

    def __post_init__(self):
        if not 0.0 <= self.threshold <= 4.0:
            raise ValueError(f"threshold must be in [0, 4] (valences lie in [-4, 4]), got {self.threshold}")
        unknown = [s for s in self.sets if s not in OOD_SETS]
        if unknown:
            raise ValueError(f"unknown out-of-distribution set(s) {unknown}; valid: {', '.join(OOD_SETS)}")


@dataclass
class OODData:
    """The loaded sets (name -> Reviews, labels 0/1, or -1 for BBC News) and notes on what was dropped."""

    sets: dict[str, Reviews]
    notes: list[str] = field(default_factory=list)


# --------------------------------------------------------------------------------------------
# finding the files


def downloaded(name: str, cache_dir: str | Path, by_hand: str) -> Path:
    """`name`'s file in cache_dir, downloaded once: a labelled set's (under sentiment_ood/, checked
    against its sha256), or for "bbc" the BBC News archive (its authors publish no checksum: it is
    checked by its layout only, when read)."""
    cache = Path(cache_dir).expanduser()
    if name == "bbc":
        return download_file(BBC_URL, cache / "bbc-fulltext.zip", by_hand=by_hand)
    spec = FILES[name]
    return download_file(spec.url, cache / "sentiment_ood" / spec.filename, spec.sha256, by_hand=by_hand)


def labelled_file(name: str, cfg: OODConfig) -> Path:
    spec = FILES[name]
    if cfg.source == "download":
        return downloaded(name, cfg.cache_dir, by_hand="pass the folder that holds it as the source")
    path = Path(cfg.source).expanduser() / spec.filename
    if not path.is_file():
        raise UserError(f"{path} does not exist; the out-of-distribution source must be a folder holding "
                        f"{spec.filename} (or 'download')")
    return path


# --------------------------------------------------------------------------------------------
# reading each format


def read_vader(path: Path, threshold: float) -> tuple[Reviews, int]:
    """(sentences with labels by the sign of their valence, how many near-neutral ones were left out)."""
    reviews, neutral = Reviews(), 0
    for n, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
        if not line.strip():
            continue
        fields = line.split("\t")
        try:
            valence = float(fields[1])
        except (IndexError, ValueError):
            valence = None
        if len(fields) != 3 or valence is None:
            raise UserError(f"{path} line {n} is not 'id<TAB>valence<TAB>text' (the VADER ground-truth "
                            f"columns): {line[:60]!r}")
        if abs(valence) < threshold:
            neutral += 1
            continue
        reviews.texts.append(fields[2].strip())
        reviews.labels.append(1 if valence > 0 else 0)
        reviews.ratings.append(0)  # (no star rating)
    return reviews, neutral


PANG_LEE_LABELS = {"1": 1, "-1": 0, "0": 0}  # the files mark negative -1 (0 accepted as well)


def read_pang_lee(path: Path) -> Reviews:
    """A CSV of (label 1 or -1, text) rows with no header line; -1 becomes label 0 (negative)."""
    reviews = Reviews()
    text = path.read_text(encoding="utf-8-sig", errors="replace")  # (-sig: the byte-order mark is dropped)
    for n, row in enumerate(csv.reader(io.StringIO(text)), 1):
        if not row:
            continue
        if len(row) != 2 or row[0] not in PANG_LEE_LABELS:
            raise UserError(f"{path} row {n} is not 'label,text' with label 1 or -1 (Pang & Lee's columns): "
                            f"{','.join(row)[:60]!r}")
        reviews.texts.append(row[1].strip())
        reviews.labels.append(PANG_LEE_LABELS[row[0]])
        reviews.ratings.append(0)
    return reviews


def read_bbc(source: Path) -> Reviews:
    """The articles of a BBC News archive (.tar.gz, .zip) or folder, in a fixed order, unlabelled."""
    found: list[tuple[str, bytes]] = []
    pattern = re.compile(r"(?:^|/)bbc/([a-z]+)/(\d+)\.txt$")
    try:
        if source.is_dir():
            for f in sorted(source.rglob("*.txt")):
                if pattern.search(f.as_posix()):
                    found.append((f.as_posix(), f.read_bytes()))
        elif zipfile.is_zipfile(source):
            with zipfile.ZipFile(source) as z:
                found = [(n, z.read(n)) for n in z.namelist() if pattern.search(n)]
        else:
            with tarfile.open(source, "r:*") as tar:
                found = [(m.name, tar.extractfile(m).read()) for m in tar if m.isfile() and pattern.search(m.name)]
    except (tarfile.TarError, zipfile.BadZipFile, EOFError, OSError) as e:
        raise UserError(f"could not read BBC News from {source} ({type(e).__name__}); give bbc_news.tar.gz, "
                        "bbc-fulltext.zip or an extracted bbc/ folder") from None
    if not found:
        raise UserError(f"{source} holds no BBC News articles (bbc/TOPIC/NNN.txt); give bbc_news.tar.gz, "
                        "bbc-fulltext.zip or an extracted bbc/ folder")
    found.sort(key=lambda item: (pattern.search(item[0]).group(1), int(pattern.search(item[0]).group(2))))
    texts = [data.decode("utf-8", errors="replace").strip() for _, data in found]
    return Reviews(texts, [-1] * len(texts), [0] * len(texts))


# --------------------------------------------------------------------------------------------
# deduplication


MIN_SHARED_WORDS = 5


def text_key(text: str) -> str:
    """A text compared across tokenisations: lower-cased letters and digits only."""
    return re.sub(r"[^a-z0-9]", "", text.lower())


def drop_duplicates(reviews: Reviews, seen: set[str], by_line: bool = False) -> tuple[Reviews, int]:
    """Reviews without those whose text (or, by_line, any of whose lines) is in `seen`, nor repeats
    within the set; (kept, how many dropped). `seen` gains the kept texts' keys."""
    keep = []
    own: set[str] = set()
    for i, text in enumerate(reviews.texts):
        # - a review shares a snippet when one of its lines of MIN_SHARED_WORDS+ words is one
        #   ("terrible." on a line of its own is a coincidence, not a copied sentence)
        keys = [text_key(line) for line in text.splitlines()
                if len(line.split()) >= MIN_SHARED_WORDS] if by_line else [text_key(text)]
        whole = text_key(text)
        if any(k in seen for k in keys) or whole in own:
            continue
        own.add(whole)
        keep.append(i)
    return reviews.subset(keep), len(reviews) - len(keep)


# --------------------------------------------------------------------------------------------
# the public entry point


def load_ood(cfg: OODConfig) -> OODData:
    """The sets named in cfg.sets, labelled 1/0 (BBC News -1), with notes on what was left out."""
    data = OODData({})
    wanted = list(cfg.sets)
    # - the movie snippets are read for deduplication whenever Pang & Lee's sets are wanted
    need_movies = "movies" in wanted or any(s.startswith("pang-lee") for s in wanted)
    movies_keys: set[str] = set()
    for name in [s for s in LABELLED if s in wanted or (s == "movies" and need_movies)]:
        spec = FILES[name]
        path = labelled_file(name, cfg)
        if spec.kind == "vader":
            reviews, neutral = read_vader(path, cfg.threshold)
            reviews, dup = drop_duplicates(reviews, set())
            data.notes.append(f"{name}: {len(reviews)} sentences kept, {neutral} near neutral "
                              f"(|valence| < {cfg.threshold}) and {dup} repeated left out")
            if name == "movies":
                movies_keys = {text_key(t) for t in reviews.texts}
                # - (the neutral snippets are in the movie pages too: dedupe against all of them)
                all_movies, _ = read_vader(path, 0.0)
                movies_keys |= {text_key(t) for t in all_movies.texts}
        else:
            reviews, dup = drop_duplicates(read_pang_lee(path), set(movies_keys), by_line=name == "pang-lee-reviews")
            data.notes.append(f"{name}: {len(reviews)} kept, {dup} dropped as repeats or as texts among the "
                              "VADER movie snippets")
        if name in wanted:
            data.sets[name] = reviews
    if "bbc" in wanted:
        if cfg.bbc_source == "download":
            source = downloaded("bbc", cfg.cache_dir, by_hand="pass it as the BBC News source")
        else:
            source = Path(cfg.bbc_source).expanduser()
            if not source.exists():
                raise UserError(f"BBC News source {source} does not exist; give bbc_news.tar.gz, "
                                "bbc-fulltext.zip, an extracted bbc/ folder, or 'download'")
        data.sets["bbc"] = read_bbc(source)
        data.notes.append(f"bbc: {len(data.sets['bbc'])} articles, unlabelled")
    return data
