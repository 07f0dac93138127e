"""The Penn Treebank language-modelling text (Mikolov et al. 2010): train, validation and test.

The standard preprocessing: a 10k-word vocabulary, rare words as `<unk>`, numbers as `N`, one
sentence a line; about 887k / 70k / 79k words. It ships inside Mikolov's `simple-examples`
archive (folder `data/`). Two ways to get it:

  path      a folder that holds ptb.train.txt, ptb.valid.txt and ptb.test.txt (what a user already has)
  download  the archive from its canonical address, once, into ~/.cache/scratchformer/ptb; each of the
            three files is checked against its sha256 before use

Either way: {"train", "val", "test"} -> text.
"""

from __future__ import annotations

import hashlib
import io
import tarfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from scratchformer.errors import UserError

URL = "http://www.fit.vutbr.cz/~imikolov/rnnlm/simple-examples.tgz"
# file name -> (split, sha256 of the canonical file)
FILES = {
    "ptb.train.txt": ("train", "fcea919f6cf83f35d4d00c6cbf08040d13d4155226340912e2fef9c9c4102cbf"),
    "ptb.valid.txt": ("val", "c9fe6985fe0d4ccb578183407d7668fc6066c20700cb4cf87d8ff1cc34df1bf2"),
    "ptb.test.txt": ("test", "dd65dff31e70846b2a6030a87482edcd5d199130cdcfa1f3dccbb033728deee0"),
}
CACHE = Path.home() / ".cache" / "scratchformer" / "ptb"


@dataclass
class PTBConfig:
    """Where the Penn Treebank text comes from."""

    path: str | None = None
    """A folder with ptb.train.txt, ptb.valid.txt and ptb.test.txt; None downloads Mikolov's archive
    once into ~/.cache/scratchformer/ptb (checked by sha256)."""
    url: str = URL
    """Where the download comes from (the simple-examples archive)."""


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def read_folder(folder: Path) -> dict[str, str]:
    """The three splits from a folder (any copy: the checksums are checked only on download)."""
    if not folder.is_dir():
        raise UserError(f"PTB folder {folder} does not exist; give the folder that holds ptb.train.txt, "
                        "ptb.valid.txt and ptb.test.txt (or leave --ptb.path unset to download them)")
    missing = [name for name in FILES if not (folder / name).exists()]
    if missing:
        raise UserError(f"PTB folder {folder} lacks {', '.join(missing)}; it must hold ptb.train.txt, "
                        "ptb.valid.txt and ptb.test.txt")
    return {split: (folder / name).read_text(encoding="utf-8") for name, (split, _) in FILES.items()}


def download(url: str = URL, cache: Path = CACHE) -> Path:
    """Fetch the archive, keep the three files whose sha256 is right; return the folder."""
    if all((cache / name).exists() for name in FILES):
        return cache
    try:
        with urllib.request.urlopen(url, timeout=60) as response:
            archive = response.read()
    except OSError as e:
        raise UserError(f"could not download PTB from {url} ({e}); give a folder that holds the three "
                        "ptb.*.txt files with --ptb.path") from None
    cache.mkdir(parents=True, exist_ok=True)
    with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as tar:
        # - members are named ./simple-examples/data/NAME (with or without the leading ./)
        members = {m.name.removeprefix("./"): m for m in tar.getmembers()}
        for name, (_, digest) in FILES.items():
            member = members.get(f"simple-examples/data/{name}")
            handle = tar.extractfile(member) if member is not None else None
            data = handle.read() if handle is not None else b""
            if sha256(data) != digest:
                raise UserError(f"{name} from {url} has the wrong checksum; the download is damaged or not "
                                "the canonical archive (give a folder with --ptb.path)")
            (cache / name).write_bytes(data)
    return cache


def load_ptb(cfg: PTBConfig) -> dict[str, str]:
    """{"train", "val", "test"} -> the text of each split."""
    folder = Path(cfg.path).expanduser() if cfg.path is not None else download(cfg.url)
    return read_folder(folder)
