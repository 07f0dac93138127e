"""data/download.py: a published file fetched once through a .part file, checked against its sha256."""

import hashlib

import pytest

from scratchformer.data.download import download_file
from scratchformer.errors import UserError


def test_a_download_is_cached_and_checked_on_every_use(tmp_path):
    src = tmp_path / "remote.txt"
    src.write_text("1\t2.0\tgood\n")
    good = hashlib.sha256(src.read_bytes()).hexdigest()
    target = download_file(src.as_uri(), tmp_path / "cache" / "file.txt", good)
    assert target.read_text() == "1\t2.0\tgood\n"
    src.unlink()  # a second call reads the cache
    assert download_file("file:///nowhere", target, good) == target
    with pytest.raises(UserError, match="does not match the published sha256"):
        download_file("file:///nowhere", target, "0" * 64)
    with pytest.raises(UserError, match="could not download"):
        download_file((tmp_path / "missing").as_uri(), tmp_path / "cache" / "other.txt", good)


def test_a_download_with_the_wrong_checksum_never_gets_the_real_name(tmp_path):
    src = tmp_path / "remote.txt"
    src.write_text("tampered\n")
    with pytest.raises(UserError, match="not the published .*pass it by hand"):
        download_file(src.as_uri(), tmp_path / "cache" / "file.txt", "0" * 64, by_hand="pass it by hand")
    assert list((tmp_path / "cache").iterdir()) == []  # neither file.txt nor file.txt.part
