"""The word tokenizer: normalisation, a vocabulary from training text only, <pad>/<unk>."""

import pytest

from scratchformer.data.tokenizers import TOKENIZERS, tokenizer_from_dict
from scratchformer.data.tokenizers.word import PAD_ID, UNK_ID, WordTokenizer, words


def test_words_lowercases_removes_breaks_and_splits_punctuation():
    assert words("Great film!<br /><br />Loved it, didn't you?") == \
        ["great", "film", "!", "loved", "it", ",", "didn't", "you", "?"]
    assert words("A<br/>B<BR>c") == ["a", "b", "c"]
    assert words("") == [] and words("   ") == []
    assert words("Café über naïve") == ["café", "über", "naïve"]


def test_vocabulary_is_the_most_frequent_training_words():
    tok = WordTokenizer.train(["b b b a a c", "b a d"], vocab_size=4)
    assert tok.vocab == ["<pad>", "<unk>", "b", "a"]  # c and d did not make the cut
    assert tok.encode("B a c zzz") == [2, 3, UNK_ID, UNK_ID]
    assert tok.pad_id == PAD_ID == 0 and tok.vocab_size == 4
    assert tok.decode(tok.encode("b, a")) == "b <unk> a"
    # - ties are broken alphabetically, so the vocabulary never depends on text order
    assert WordTokenizer.train(["y x", "z"], 10).vocab == WordTokenizer.train(["z", "x y"], 10).vocab


def test_any_text_encodes_and_round_trips_through_a_checkpoint():
    tok = WordTokenizer.train("the film was good", vocab_size=100)
    assert tok.encode("") == []
    assert tok.encode("日本語 ☃ \x00") == [UNK_ID] * len(words("日本語 ☃ \x00"))
    again = tokenizer_from_dict(tok.to_dict())
    assert isinstance(again, WordTokenizer) and again.vocab == tok.vocab
    assert TOKENIZERS["word"] is WordTokenizer


def test_bad_settings_raise():
    with pytest.raises(ValueError, match="vocab_size"):
        WordTokenizer.train("a b", vocab_size=2)
    with pytest.raises(ValueError, match="<pad>"):
        WordTokenizer(["a", "b"])
