"""Tokenize once: a split's token ids are written to the cache and read back, identical, on the next run."""

from scratchformer.data import token_cache
from scratchformer.data.token_cache import encode_cached
from scratchformer.data.tokenizers import TOKENIZERS
from scratchformer.tasks.classification import ClassifierRunConfig, prepare_data
from scratchformer.data.labelled_texts import TextDataConfig
from scratchformer.data.text_batches import BatchingConfig

from imdb_fixture import make_imdb

TEXTS = ["A fine film.", "", "Dull, dull, dull!", "日本語 and café", "a " * 300]


def test_second_encoding_reads_the_cache_and_gives_the_same_ids(tmp_path, monkeypatch):
    tokenizer = TOKENIZERS["bpe"].train(TEXTS * 5, vocab_size=300)
    first, hit = encode_cached(tokenizer, TEXTS, tmp_path)
    assert not hit and first == [tokenizer.encode(t) for t in TEXTS]
    monkeypatch.setattr(tokenizer, "encode", lambda text: (_ for _ in ()).throw(AssertionError("encoded again")))
    second, hit = encode_cached(tokenizer, TEXTS, tmp_path)
    assert hit and second == first


def test_other_texts_or_tokenizer_are_another_entry(tmp_path):
    word = TOKENIZERS["word"].train(TEXTS, vocab_size=50)
    other_word = TOKENIZERS["word"].train(TEXTS[:3], vocab_size=50)
    key = token_cache.cache_key(TEXTS, word)
    assert token_cache.cache_key(TEXTS[:4], word) != key
    assert token_cache.cache_key(["A fine film", ".", *TEXTS[1:]], word) != key
    assert token_cache.cache_key(TEXTS, other_word) != key
    assert token_cache.cache_key(list(TEXTS), word) == key


def test_train_classifier_data_is_tokenized_once(tmp_path, capsys):
    folder = make_imdb(tmp_path, n_train=30, n_test=5)
    cfg = lambda: ClassifierRunConfig(data=TextDataConfig(source=str(folder), cache_dir=str(tmp_path / "cache")),
                                      batching=BatchingConfig(max_len=1000))
    _, first, _ = prepare_data(cfg())
    assert "read from the cache" not in capsys.readouterr().out
    _, second, _ = prepare_data(cfg())
    assert "tokenizer, train, val read from the cache" in capsys.readouterr().out
    assert second.ids == first.ids and all((second.labels[s] == first.labels[s]).all() for s in first.labels)
