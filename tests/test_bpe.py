"""Byte-level BPE: a worked example by hand, readable trainer = tokenizers library, round trips."""

import pytest

from scratchformer.data.tokenizers import TOKENIZERS, tokenizer_from_dict
from scratchformer.data.tokenizers.bpe import BPETokenizer, chunks, count_pairs, merge, normalise


def test_merge_and_count_pairs():
    assert merge([1, 2, 3, 1, 2, 2], (1, 2), 9) == [9, 3, 9, 2]
    assert merge([5, 5, 5], (5, 5), 7) == [7, 5]  # left to right, no overlap
    assert count_pairs({(1, 2, 1, 2): 3, (2, 1): 1}) == {(1, 2): 6, (2, 1): 4}


def test_worked_example():
    # "aaabdaaabac" (Wikipedia's BPE example), one chunk. Pair counts: aa 4, ab 2, ...
    # merge 1: (a, a) -> 256 gives [256 a b d 256 a b a c]; then (256, a) 2, (a, b) 2 tie:
    # the smaller pair in stand-in order wins: 'a' (97) < 256 -> (a, b) -> 257.
    tok = BPETokenizer.train("aaabdaaabac", vocab_size=257 + 2)
    a, b = ord("a"), ord("b")
    assert tok.merges == [(a, a), (a, b)]
    assert tok.encode("aaabdaaabac") == [256, 257, ord("d"), 256, 257, a, ord("c")]
    assert tok.vocab_size == 259 and tok.pad_id == 258


def test_chunks_keep_spaces_and_never_cross_words():
    assert chunks("Great  film!<br />It's fine") == ["great", " film", "!", " it's", " fine"]
    assert normalise(" A\n\tB ") == "a b"
    tok = BPETokenizer.train("the the the the then", vocab_size=300)
    assert all(b" " not in tok.bytes_of[i][1:] for i in range(256, tok.pad_id))


TEXT = ("the cat sat on the mat. the dog sat on the log! a cat and a dog, the end. " * 3
        + "Hello world, lower lowest newer newest wider widest. It's a <br /> film's film.")


@pytest.mark.parametrize("vocab_size", [270, 300, 330])
def test_readable_and_fast_trainers_agree(vocab_size):
    pytest.importorskip("tokenizers")
    slow = BPETokenizer.train(TEXT, vocab_size)
    fast = BPETokenizer.train(TEXT, vocab_size, fast=True)
    assert slow.merges == fast.merges
    assert slow.encode(TEXT) == fast.encode(TEXT)


def test_any_text_round_trips():
    tok = BPETokenizer.train(TEXT, 300)
    for text in ["", "The cat's newest hat!", "ünïcödé ☃ 日本語", "x" * 1000]:
        ids = tok.encode(text)
        assert all(0 <= i < tok.pad_id for i in ids)
        assert tok.decode(ids) == normalise(text)
    assert len(tok.encode(" the cat")) < len(" the cat".encode())  # merges compress
    again = tokenizer_from_dict(tok.to_dict())
    assert again.merges == tok.merges and again.encode(TEXT) == tok.encode(TEXT)
    assert TOKENIZERS["bpe"] is BPETokenizer


def test_vocab_size_too_small():
    with pytest.raises(ValueError, match="257"):
        BPETokenizer.train("abc", vocab_size=200)
