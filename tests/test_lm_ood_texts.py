"""The out-of-distribution texts of the language-model experiment, each read from a small fixture."""

import random

import pytest

from imdb_fixture import make_archive, make_imdb
from ood_fixtures import TWEETS, make_bbc_archive, make_tweets
from scratchformer.data.lm_ood_texts import (OODTextsConfig, join_documents, load_ood_texts, read_bbc_news,
                                             read_imdb_reviews, read_mix_corpus, read_ptb, read_tweets)
from scratchformer.errors import UserError

PTB = " the company said it expects N <unk> \n mr. smith declined to comment \n\n"


def ptb_file(tmp_path):
    path = tmp_path / "ptb.valid.txt"
    path.write_text(PTB)
    return path


def test_ptb_reads_one_sentence_a_line_without_padding(tmp_path):
    text = read_ptb(ptb_file(tmp_path), 1000)
    assert text == "the company said it expects N <unk>\nmr. smith declined to comment"
    assert read_ptb(ptb_file(tmp_path), 11) == "the company"


def test_imdb_reads_test_reviews_only_without_html_breaks(tmp_path):
    folder = make_imdb(tmp_path, n_train=5, n_test=4, n_unsup=3)
    for source in (folder, make_archive(tmp_path, n_train=5, n_test=4, n_unsup=3)):  # the same reviews
        text = read_imdb_reviews(source, 100_000, seed=0)
        reviews = text.split("\n\n")
        assert len(reviews) == 8  # 4 positive and 4 negative test reviews; no train or unlabelled ones
        assert "<br" not in text
        expected = {(folder / "test" / lab / f).read_text().replace("<br />", "\n").strip()
                    for lab in ("pos", "neg") for f in [p.name for p in (folder / "test" / lab).iterdir()]}
        assert set(reviews) == expected


def test_documents_are_shuffled_by_the_seed_and_cut_to_max_chars():
    docs = [f"document {i}" for i in range(50)]
    a, b = join_documents(docs, 10_000, seed=0), join_documents(docs, 10_000, seed=0)
    assert a == b and a != join_documents(docs, 10_000, seed=1)
    assert sorted(a.split("\n\n")) == sorted(docs)
    assert len(join_documents(docs, 30, seed=0)) == 30


def test_the_held_out_part_is_every_document_the_sample_leaves_out_in_the_same_shuffle():
    docs = [f"document {i:02d}" for i in range(50)]  # 11 characters, 13 with the separator
    shuffled = list(docs)
    random.Random(0).shuffle(shuffled)
    sample, rest = join_documents(docs, 100, seed=0), join_documents(docs, 100, seed=0, held_out=True)
    # - the sample reaches 100 characters with 8 documents, cut inside the 8th; the held-out part starts at the 9th
    assert sample == "\n\n".join(shuffled[:8])[:100] and sample.endswith("\n\ndocument ")
    assert rest == "\n\n".join(shuffled[8:])[:100]
    assert shuffled[7] not in rest  # the document the sample cut is not read again
    assert join_documents(docs, 10_000, seed=0, held_out=True) == ""  # the sample holds every document


def test_held_out_ptb_is_the_text_after_the_sample_and_the_histories_have_none(tmp_path):
    assert read_ptb(ptb_file(tmp_path), 11, held_out=True) == " said it ex"
    cfg = OODTextsConfig(ptb=str(ptb_file(tmp_path)), imdb=None, tweets=None, bbc=None, max_chars=11)
    assert load_ood_texts(cfg, history="KING JOHN:\nSo.\n", held_out=True) == {"ptb": " said it ex"}
    with pytest.raises(UserError, match="ptb have no held-out part past the sample's 1000 characters"):
        load_ood_texts(OODTextsConfig(ptb=str(ptb_file(tmp_path)), imdb=None, tweets=None, bbc=None,
                                      max_chars=1000), held_out=True)


def test_a_missing_file_names_the_option_and_null_leaves_a_text_out(tmp_path):
    cfg = OODTextsConfig(ptb=str(tmp_path / "missing.txt"), imdb=None, tweets=None, bbc=None)
    with pytest.raises(UserError, match="--ood.ptb .* does not exist.*--ood.ptb null"):
        load_ood_texts(cfg)
    cfg = OODTextsConfig(ptb=str(ptb_file(tmp_path)), imdb=None, tweets=None, bbc=None)
    assert list(load_ood_texts(cfg, history="KING JOHN:\nSo.\n")) == ["history", "ptb"]
    assert list(load_ood_texts(OODTextsConfig(history=False, ptb=None, imdb=None, tweets=None, bbc=None),
                               history="x")) == []


def test_download_fetches_each_canonical_file_once_and_checks_it(tmp_path, monkeypatch):
    import dataclasses
    import hashlib
    import shutil
    import urllib.request

    from scratchformer.data import lm_ood_texts, ptb, sentiment_ood

    # - the "internet": PTB's three files, the tweets and the BBC archive, each served from a fixture
    remote = tmp_path / "remote"
    remote.mkdir()
    for name in ptb.SPLITS.values():
        (remote / name).write_text(PTB)
    served = {ptb.PTB_URL.format(name=n): remote / n for n in ptb.SPLITS.values()}
    served[sentiment_ood.FILES["tweets"].url] = make_tweets(remote)
    served[sentiment_ood.BBC_URL] = make_bbc_archive(remote)
    fetched = []

    def fake_urlretrieve(url, dest, reporthook=None):
        fetched.append(url)
        shutil.copy(served[url], dest)

    def sha(path):
        return hashlib.sha256(path.read_bytes()).hexdigest()

    monkeypatch.setattr(urllib.request, "urlretrieve", fake_urlretrieve)
    monkeypatch.setattr(ptb, "PTB_SHA256", {n: sha(remote / n) for n in ptb.SPLITS.values()})
    tweets_spec = sentiment_ood.FILES["tweets"]
    tweets_spec = dataclasses.replace(tweets_spec, sha256=sha(served[tweets_spec.url]))
    monkeypatch.setitem(sentiment_ood.FILES, "tweets", tweets_spec)
    monkeypatch.setattr(lm_ood_texts, "download_archive", lambda cache: make_archive(tmp_path / "imdb"))
    cfg = OODTextsConfig(history=False, ptb="download", imdb="download", tweets="download", bbc="download",
                         cache_dir=str(tmp_path / "cache"))
    texts = load_ood_texts(cfg)
    assert texts["ptb"] == read_ptb(remote / "ptb.valid.txt", cfg.max_chars)
    assert texts["tweets"] == read_tweets(served[tweets_spec.url], cfg.max_chars, seed=0)
    assert texts["bbc"] == read_bbc_news(served[sentiment_ood.BBC_URL], cfg.max_chars, seed=0)
    assert texts["imdb"] and "<br" not in texts["imdb"]
    # - a second load reads the cache; a cached file that no longer matches its checksum is refused
    assert load_ood_texts(cfg) == texts and len(fetched) == 5  # PTB's three files, the tweets, the BBC archive
    (tmp_path / "cache" / "sentiment_ood" / tweets_spec.filename).write_text("tampered")
    with pytest.raises(UserError, match="sha256"):
        load_ood_texts(cfg)


def test_a_file_that_is_no_ptb_or_imdb_text_is_refused(tmp_path):
    (tmp_path / "empty.txt").write_text("\n\n")
    with pytest.raises(UserError, match="holds no text"):
        read_ptb(tmp_path / "empty.txt", 100)
    (tmp_path / "notimdb").mkdir()
    with pytest.raises(UserError):
        read_imdb_reviews(tmp_path / "notimdb", 100, 0)


def test_tweets_are_all_read_whatever_their_valence(tmp_path):
    text = read_tweets(make_tweets(tmp_path, repeat=1), 100_000, seed=0)
    assert sorted(text.split("\n\n")) == sorted(TWEETS)  # the near-neutral ones too: no label needed


def test_bbc_news_reads_every_article_of_the_archive(tmp_path):
    text = read_bbc_news(make_bbc_archive(tmp_path, repeat=1), 100_000, seed=0)
    articles = text.split("\n\n")
    assert len(articles) == 2 * 3  # one article a topic, each a headline and a body after a blank line
    assert "Ad sales boost Time Warner profit" in articles and "Mobile phones in the UK" in text
    assert "Dollar gains" not in text  # (the second business article comes with repeat=2)


def test_the_second_corpus_is_a_vader_file_or_any_text_file(tmp_path):
    nyt = tmp_path / "nytEditorialSnippets_GroundTruth.txt"
    nyt.write_text("1_1\t0.4\tOn Dec. 19, the city plans a race.\n1_2\t-0.1\tEvents include sprinting.\n")
    assert read_mix_corpus(nyt) == "On Dec. 19, the city plans a race.\nEvents include sprinting.\n"
    plain = tmp_path / "prose.txt"
    plain.write_text("Any prose at all.\n")
    assert read_mix_corpus(plain) == "Any prose at all.\n"
    with pytest.raises(UserError, match="--mix_corpus"):
        read_mix_corpus(tmp_path / "missing.txt")
