"""PTB sentences and the labelled movie snippets: splits, labels, the vocabulary and the batches."""

import pytest
import torch

from scratchformer.data.sentences import (EOS, SentenceBatches, SentencesConfig, encode, end_of_sentence,
                                          load_sentences, word_tokenizer)
from scratchformer.errors import UserError
from sentence_fixture import make_movies, make_ptb


def test_ptb_sentences_are_split_on_spaces_and_the_test_split_waits(tmp_path):
    data = load_sentences(SentencesConfig(corpus="ptb", source=str(make_ptb(tmp_path)), max_words=7))
    assert set(data.splits) == {"train", "val"} and not data.labels
    assert all(1 <= len(s) <= 7 for s in data["train"])  # longer ones left out, and noted
    assert any("longer than 7 words" in note for note in data.notes)
    assert "<unk>" in {w for s in data["train"] for w in s}  # kept whole, not split at < and >
    with pytest.raises(KeyError, match="final_test"):
        data["test"]
    assert "test" in load_sentences(SentencesConfig(source=str(tmp_path / "ptb")), final_test=True).splits


def test_movie_snippets_are_labelled_by_the_sign_of_their_valence_without_the_neutral_ones(tmp_path):
    data = load_sentences(SentencesConfig(corpus="movies", source=str(make_movies(tmp_path))), final_test=True)
    assert sum(map(len, data.splits.values())) == 200  # the near-neutral one is out
    assert len(data["val"]) == len(data["test"]) == 20
    for split in data.splits:
        for words, label in zip(data[split], data.labels[split]):
            assert ("wonderful" in words or "great" in words or "moving" in words or "film" in words) or label == 0
            assert words[-1] == "." and words[0].islower()
    assert set(data.labels["train"]) == {0, 1}


def test_a_missing_source_is_one_sentence(tmp_path):
    with pytest.raises(UserError, match="lacks ptb.train.txt"):
        load_sentences(SentencesConfig(source=str(tmp_path)))
    with pytest.raises(ValueError, match="unknown corpus"):
        SentencesConfig(corpus="imdb")


def test_batches_put_bos_before_and_eos_after_each_sentence(tmp_path):
    tokenizer = word_tokenizer([["b", "a", "a"], ["c", "a"]], vocab_size=10)
    assert tokenizer.vocab[:6] == ["<pad>", "<unk>", EOS, "a", "b", "c"]
    eos = end_of_sentence(tokenizer)
    ids = [encode(tokenizer, ["a", "b", "zzz"]), encode(tokenizer, ["c"])]
    assert ids == [[3, 4, 1], [5]]
    inputs, targets = SentenceBatches({"train": ids}, eos).collate(ids)
    assert inputs.tolist() == [[2, 3, 4, 1], [2, 5, 0, 0]]
    assert targets.tolist() == [[3, 4, 1, 2], [5, 2, -100, -100]]
    inputs, _ = SentenceBatches({"train": ids}, eos).batch("train", 5, torch.Generator().manual_seed(0))
    assert inputs.shape[0] == 5
