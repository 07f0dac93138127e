"""The IMDb loader: archive and folder, checksum-verified download and cache, splits, bad input."""

import hashlib
import shutil
import tarfile
import urllib.request

import pytest

from imdb_fixture import make_archive, make_imdb
from scratchformer.data import imdb as imdb_module
from scratchformer.data.imdb import IMDbConfig, download_archive, load_imdb, read_reviews
from scratchformer.errors import UserError


def test_archive_and_folder_give_the_same_reviews(tmp_path):
    archive = make_archive(tmp_path / "a")
    folder = make_imdb(tmp_path / "f")
    a = load_imdb(IMDbConfig(source=str(archive)), final_test=True)
    f = load_imdb(IMDbConfig(source=str(folder)), final_test=True)
    g = load_imdb(IMDbConfig(source=str(folder.parent)), final_test=True)  # the folder holding aclImdb/
    for split in ("train", "val", "test"):
        assert a[split].texts == f[split].texts == g[split].texts
        assert a[split].labels == f[split].labels
    assert len(a["train"]) + len(a["val"]) == 80 and len(a["test"]) == 40
    assert set(a["test"].labels) == {0, 1}
    # - ratings come from the file names: positives 7-10, negatives 1-4
    assert all((r >= 7) == (lab == 1) for r, lab in zip(a["test"].ratings, a["test"].labels))


def test_validation_split_is_seeded_disjoint_and_test_is_not_read_by_default(tmp_path):
    folder = make_imdb(tmp_path)
    one = load_imdb(IMDbConfig(source=str(folder), val_fraction=0.25, split_seed=1))
    two = load_imdb(IMDbConfig(source=str(folder), val_fraction=0.25, split_seed=1))
    other = load_imdb(IMDbConfig(source=str(folder), val_fraction=0.25, split_seed=2))
    assert one["val"].texts == two["val"].texts and one["val"].texts != other["val"].texts
    # - whole movies of 6 reviews (3 of each label): at least the 20 asked for, less than a movie more
    assert 20 <= len(one["val"]) < 26 and len(one["train"]) + len(one["val"]) == 80
    assert not set(one["val"].texts) & set(one["train"].texts)
    with pytest.raises(KeyError, match="final evaluation"):
        one["test"]
    assert "unsup" not in one.splits
    assert len(load_imdb(IMDbConfig(source=str(folder)), unsup=True)["unsup"]) == 10


def test_validation_shares_no_movie_with_train_in_archive_and_folder(tmp_path):
    archive = make_archive(tmp_path / "a", n_train=60, per_movie=4)
    folder = make_imdb(tmp_path / "f", n_train=60, per_movie=4)
    for source in (archive, folder):
        data = load_imdb(IMDbConfig(source=str(source), val_fraction=0.1, split_seed=3), final_test=True)
        train, val = data["train"], data["val"]
        assert len(train.movies) == len(train) and len(val.movies) == len(val)
        assert not set(train.movies) & set(val.movies)
        # - about the fraction asked for: 12 of 120 reviews, plus at most one movie's worth (8)
        assert 12 <= len(val) < 20 and len(train) + len(val) == 120
        # - each movie's reviews are all on one side: every movie holds 4 positive and 4 negative ones
        assert all(val.movies.count(m) == 8 for m in set(val.movies))
        assert data.notes == []
    a = load_imdb(IMDbConfig(source=str(archive), val_fraction=0.1, split_seed=3))
    f = load_imdb(IMDbConfig(source=str(folder), val_fraction=0.1, split_seed=3))
    assert a["val"].texts == f["val"].texts and a["val"].movies == f["val"].movies


def test_without_urls_files_validation_is_a_random_split_with_a_note(tmp_path):
    folder = make_imdb(tmp_path, urls=False)
    data = load_imdb(IMDbConfig(source=str(folder), val_fraction=0.25))
    assert len(data["val"]) == 20 and data["val"].movies == []
    assert len(data.notes) == 1 and "random split" in data.notes[0] and "urls_pos.txt" in data.notes[0]


def test_download_verifies_the_checksum_and_caches(tmp_path, monkeypatch):
    archive = make_archive(tmp_path / "remote")
    digest = hashlib.sha256(archive.read_bytes()).hexdigest()
    calls = []

    def fake_urlretrieve(url, dest, reporthook=None):
        calls.append(url)
        shutil.copy(archive, dest)

    monkeypatch.setattr(urllib.request, "urlretrieve", fake_urlretrieve)
    cache = tmp_path / "cache"
    path = download_archive(cache, url="https://example/a.tar.gz", sha256=digest)
    assert path == cache / "aclImdb_v1.tar.gz" and path.exists()
    assert download_archive(cache, url="https://example/a.tar.gz", sha256=digest) == path
    assert len(calls) == 1  # the second call used the cache
    # - a cached file whose checksum no longer matches is refused, with what to do
    with pytest.raises(UserError, match="delete it"):
        download_archive(cache, sha256="0" * 64)
    # - a download with the wrong checksum is deleted and never looks finished
    with pytest.raises(UserError, match="not the published"):
        download_archive(tmp_path / "cache2", sha256="0" * 64)
    assert not any((tmp_path / "cache2").iterdir())
    # - the cached download given by path is checked too (a local archive elsewhere is not)
    path.write_bytes(b"tampered")
    with pytest.raises(UserError, match="published sha256"):
        load_imdb(IMDbConfig(source=str(path), cache_dir=str(cache)))


def test_the_canonical_url_and_checksum():
    assert imdb_module.IMDB_URL == "https://ai.stanford.edu/~amaas/data/sentiment/aclImdb_v1.tar.gz"
    assert imdb_module.IMDB_SHA256 == "c40f74a18d3b61f90feba1e17730e0d38e8b97c05fde7008942e91923d1658fe"


def test_missing_and_corrupt_archives_get_clear_messages(tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        load_imdb(IMDbConfig(source=str(tmp_path / "nope.tar.gz")))
    good = make_archive(tmp_path)
    truncated = tmp_path / "truncated.tar.gz"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(UserError, match="truncated or not a .tar.gz"):
        load_imdb(IMDbConfig(source=str(truncated)))
    garbage = tmp_path / "garbage.tar.gz"
    garbage.write_bytes(b"this is not an archive")
    with pytest.raises(UserError, match="could not read the archive"):
        load_imdb(IMDbConfig(source=str(garbage)))
    assert good.exists()  # nothing the user gave is touched


def test_wrong_layout_names_what_is_missing(tmp_path):
    folder = make_imdb(tmp_path)
    shutil.rmtree(folder / "test" / "neg")
    with pytest.raises(UserError, match="test/neg"):
        load_imdb(IMDbConfig(source=str(folder)))
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(UserError, match="not in the aclImdb layout"):
        load_imdb(IMDbConfig(source=str(empty)))
    flat = tmp_path / "flat.tar.gz"
    with tarfile.open(flat, "w:gz") as tar:
        tar.add(folder / "train" / "pos", arcname="reviews")
    with pytest.raises(UserError, match="aclImdb/train"):
        load_imdb(IMDbConfig(source=str(flat)))


def test_undecodable_bytes_and_empty_reviews_are_kept_with_a_note(tmp_path):
    folder = make_imdb(tmp_path)
    (folder / "train" / "pos" / "900_9.txt").write_bytes(b"caf\xe9 was great \xff")
    (folder / "train" / "neg" / "901_1.txt").write_bytes(b"")
    data = read_reviews(folder, {"train"})
    texts = data["train"].texts
    assert "caf\ufffd was great \ufffd" in texts and "" in texts
    assert len(texts) == 82  # nothing lost
    assert any("not UTF-8" in n and "900_9.txt" in n for n in data.notes)
    assert any("empty" in n and "901_1.txt" in n for n in data.notes)


def test_config_validation():
    with pytest.raises(ValueError, match="val_fraction"):
        IMDbConfig(val_fraction=1.0)
