"""Out-of-distribution sentiment sets: binarising VADER valences, deduplicating Pang & Lee against
the movie snippets, BBC News from an archive, downloads with checksums, and bad files."""

import zipfile

import pytest

from ood_fixture import write_bbc, write_sets
from scratchformer.data.sentiment_ood import FILES, OODConfig, load_ood
from scratchformer.errors import UserError

def test_vader_sets_are_binarised_by_sign_without_near_neutral(tmp_path):
    data = load_ood(OODConfig(source=str(write_sets(tmp_path / "ood")), sets=["amazon", "nyt", "tweets"]))
    amazon = data.sets["amazon"]
    assert amazon.texts == ["works great, love it", "broke after a day", "fine i guess"]
    assert amazon.labels == [1, 0, 1]  # -0.2 is near neutral (threshold 0.5); 0.5 is kept
    assert data.sets["nyt"].labels == [0, 1]
    assert any("1 near neutral (|valence| < 0.5)" in n for n in data.notes)
    stricter = load_ood(OODConfig(source=str(tmp_path / "ood"), sets=["amazon"], threshold=2.0))
    assert stricter.sets["amazon"].labels == [1]


def test_pang_lee_is_deduplicated_against_the_movie_snippets(tmp_path):
    data = load_ood(OODConfig(source=str(write_sets(tmp_path / "ood")),
                              sets=["pang-lee-sentences", "pang-lee-reviews"]))
    assert "movies" not in data.sets  # read for deduplication only
    # - the Rock and "too tepid" sentences are snippets; the near-neutral dog snippet too; one repeat
    assert data.sets["pang-lee-sentences"].texts == ["a joy from start to finish ."]
    assert data.sets["pang-lee-sentences"].labels == [1]
    # - a review holding a snippet sentence (5+ words) is dropped; -1 is negative
    assert data.sets["pang-lee-reviews"].labels == [1]


def test_bbc_news_from_an_archive_folder_and_zip(tmp_path):
    archive = write_bbc(tmp_path / "bbc_news.tar.gz")
    data = load_ood(OODConfig(source=str(tmp_path), bbc_source=str(archive), sets=["bbc"]))
    assert data.sets["bbc"].texts == ["Shares rose.", "A new phone.", "Chips get faster."]  # topic, then number
    assert data.sets["bbc"].labels == [-1, -1, -1]
    z = tmp_path / "bbc-fulltext.zip"
    with zipfile.ZipFile(z, "w") as f:
        f.writestr("bbc/sport/001.txt", "A goal.")
    assert load_ood(OODConfig(bbc_source=str(z), sets=["bbc"])).sets["bbc"].texts == ["A goal."]
    with pytest.raises(UserError, match="holds no BBC News articles"):
        load_ood(OODConfig(bbc_source=str(write_sets(tmp_path / "ood")), sets=["bbc"]))


@pytest.mark.parametrize("name, content, message", [
    ("amazon", "1_1\tnot-a-number\ttext\n", "is not 'id<TAB>valence<TAB>text'"),
    ("amazon", "1_1,2.0,text\n", "is not 'id<TAB>valence<TAB>text'"),
    ("pang-lee-sentences", "text,1\n", "is not 'label,text' with label 1 or -1"),
    ("pang-lee-reviews", "1,text,extra\n", "is not 'label,text' with label 1 or -1"),
])
def test_a_file_with_the_wrong_columns_is_a_one_line_error(tmp_path, name, content, message):
    folder = write_sets(tmp_path / "ood")
    (folder / FILES[name].filename).write_text(content)
    with pytest.raises(UserError, match=message.replace("|", r"\|")) as e:
        load_ood(OODConfig(source=str(folder), sets=[name]))
    assert "\n" not in str(e.value)


def test_config_checks():
    with pytest.raises(ValueError, match="unknown out-of-distribution set"):
        OODConfig(sets=["reddit"])
    with pytest.raises(ValueError, match="threshold"):
        OODConfig(threshold=-1)
    with pytest.raises(UserError, match="does not exist"):
        load_ood(OODConfig(source="/nonexistent/folder", sets=["amazon"]))
