"""Downloading a published file once, checked against its published sha256: how every dataset here
fetches what a user has not given as a local path.

    sha256_of(path)                                     -> the file's sha256, hex
    download_file(url, target, sha256=None, by_hand=...) -> target, downloaded once through TARGET.part

The download goes to TARGET.part and is renamed to TARGET only once it is complete and, where a
checksum is published, correct: an interrupted or corrupted download never looks like a finished
one. A finished file is checked again every time it is used, and never deleted here: a copy that
no longer matches is refused with what to do about it.
"""

from __future__ import annotations

import hashlib
import urllib.request
from pathlib import Path

from scratchformer.errors import UserError
from scratchformer.progress import progress_bar


def sha256_of(path: Path) -> str:
    """The file's sha256 as hex, read in 1 MiB chunks (an archive need not fit in memory)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def download_file(url: str, target: str | Path, sha256: str | None = None,
                  by_hand: str = "pass a local copy as the source") -> Path:
    """`target`, downloaded from `url` if it is not there yet, and checked against `sha256` if given.

    `by_hand` ends every error message: what the user can do instead (which option takes a local copy)."""
    target = Path(target).expanduser()
    # 1. a finished copy: checked, never downloaded again
    if target.exists():
        if sha256 is not None and sha256_of(target) != sha256:
            raise UserError(f"{target} does not match the published sha256 of {url}; delete it and run again "
                            f"to download a fresh copy, or {by_hand}")
        return target
    # 2. download to TARGET.part, with a progress bar in bytes
    target.parent.mkdir(parents=True, exist_ok=True)
    part = target.with_name(target.name + ".part")
    print(f"downloading {url} -> {target}")
    try:
        with progress_bar(desc="downloading", unit="B", unit_scale=True) as bar:
            def report(blocks: int, block_size: int, total: int) -> None:
                bar.total = total if total > 0 else None
                bar.update(min(blocks * block_size, total if total > 0 else blocks * block_size) - bar.n)

            urllib.request.urlretrieve(url, part, reporthook=report)
    except OSError as e:
        part.unlink(missing_ok=True)
        raise UserError(f"could not download {url} ({e}); download it by hand and {by_hand}") from None
    # 3. check the checksum before the file gets its real name
    if sha256 is not None and (got := sha256_of(part)) != sha256:
        part.unlink(missing_ok=True)
        raise UserError(f"the download from {url} has sha256 {got}, not the published {sha256}; it was deleted: "
                        f"try again later, or {by_hand}")
    part.rename(target)  # atomic on one file system
    return target
