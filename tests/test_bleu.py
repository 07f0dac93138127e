"""Corpus BLEU against hand-counted n-grams."""

import math

import pytest

from scratchformer.training.bleu import corpus_bleu


def test_identical_sentences_score_one_and_disjoint_ones_zero():
    ref = "the cat sat on the mat".split()
    assert corpus_bleu([ref], [ref]) == pytest.approx(1.0)
    assert corpus_bleu(["a b c d".split()], [ref]) == 0.0


def test_a_worked_example_with_clipping_and_brevity():
    hyp, ref = "the the cat sat on".split(), "the cat sat on the mat".split()
    # 1-grams: the(2, ref 2) cat sat on -> 5/5; 2-grams: "the the" no, "the cat" "cat sat" "sat on" -> 3/4
    # 3-grams: "the cat sat" "cat sat on" -> 2/3; 4-grams: "the cat sat on" -> 1/2; c = 5 < r = 6
    want = math.exp(1 - 6 / 5) * math.exp((math.log(1) + math.log(3 / 4) + math.log(2 / 3) + math.log(1 / 2)) / 4)
    assert corpus_bleu([hyp], [ref]) == pytest.approx(want)
    # - clipping: "the" four times counts twice against a reference holding it twice
    assert corpus_bleu(["the the the the".split()], [ref], max_n=1) == pytest.approx(0.5 * math.exp(1 - 6 / 4))
