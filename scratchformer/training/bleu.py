"""BLEU (Papineni et al. 2002, "BLEU: a Method for Automatic Evaluation of Machine Translation").

Corpus BLEU-4 against one reference per hypothesis, on word lists:

    BLEU = BP * exp( (1/4) * sum_n log p_n )         p_n = clipped n-gram matches / n-grams in the hypotheses
    BP   = 1 if c > r else exp(1 - r / c)            c, r: total hypothesis and reference lengths

p_n sums matches over the whole corpus before dividing (not a mean of sentence scores). A
hypothesis n-gram counts at most as often as it occurs in its reference (clipping). With no match
at some n the score is 0, as in the paper (no smoothing). Returned in [0, 1]; papers print x100.
"""

from __future__ import annotations

import math
from collections import Counter


def ngrams(words: list[str], n: int) -> Counter:
    return Counter(tuple(words[i:i + n]) for i in range(len(words) - n + 1))


def corpus_bleu(hypotheses: list[list[str]], references: list[list[str]], max_n: int = 4) -> float:
    """Corpus BLEU of hypotheses against one reference each."""
    if len(hypotheses) != len(references):
        raise ValueError(f"{len(hypotheses)} hypotheses but {len(references)} references")
    matches, totals = [0] * max_n, [0] * max_n
    c = r = 0
    for hyp, ref in zip(hypotheses, references):
        c, r = c + len(hyp), r + len(ref)
        for n in range(1, max_n + 1):
            hyp_ngrams, ref_ngrams = ngrams(hyp, n), ngrams(ref, n)
            # - clipping: an n-gram matches at most as often as the reference holds it
            matches[n - 1] += sum(min(count, ref_ngrams[g]) for g, count in hyp_ngrams.items())
            totals[n - 1] += max(len(hyp) - n + 1, 0)
    if c == 0 or min(matches) == 0:
        return 0.0
    log_precision = sum(math.log(m / t) for m, t in zip(matches, totals)) / max_n
    brevity = 1.0 if c > r else math.exp(1 - r / c)
    return brevity * math.exp(log_precision)
