"""Character and byte tokenizers: round trips, vocabularies, errors, serialisation."""

import pytest

from scratchformer.data.tokenizers import ByteTokenizer, CharTokenizer, tokenizer_from_dict
from scratchformer.errors import UserError


def test_char_round_trip_and_sorted_vocabulary():
    tok = CharTokenizer.train("hello world")
    assert tok.chars == sorted(set("hello world"))
    assert tok.decode(tok.encode("hold low")) == "hold low"


def test_char_rejects_unknown_characters_with_a_sentence():
    tok = CharTokenizer.train("abc")
    with pytest.raises(UserError, match="outside the vocabulary: 'z'"):
        tok.encode("abz")


def test_byte_encodes_any_text():
    tok = ByteTokenizer()
    text = "naïve café ✓"
    assert tok.encode(text) == list(text.encode("utf-8"))
    assert tok.decode(tok.encode(text)) == text
    assert tok.decode(tok.encode("✓")[:2]) == "\ufffd"  # a cut character does not crash


@pytest.mark.parametrize("tok", [CharTokenizer.train("some text"), ByteTokenizer()])
def test_round_trip_through_plain_data(tok):
    again = tokenizer_from_dict(tok.to_dict())
    assert again.encode("text") == tok.encode("text") and again.vocab_size == tok.vocab_size
