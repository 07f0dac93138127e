"""How a sentiment classifier fares out of distribution: accuracy, gap, calibration, and detection.

For IMDb test (in distribution) and each out-of-distribution set (data/sentiment_ood.py):

    accuracy   fraction labelled right (labelled sets only)
    gap        IMDb test accuracy minus the set's accuracy, in points: what leaving IMDb costs
    ECE        expected calibration error (Guo et al. 2017): predictions binned by confidence
               (15 equal-width bins); the mean |accuracy - confidence| over bins, weighted by size
    AUROC      telling the set apart from IMDb test by the maximum softmax probability (Hendrycks &
               Gimpel 2017): the chance that a random IMDb test review gets a higher top probability
               than a random review of the set (0.5: no better than a coin; BBC News is unlabelled,
               and this is its only number)
    AUROC (LM) with a language model given (say, the one the classifier was fine-tuned from): the
               same, scored by how likely the language model finds each text (its mean next-token
               loss over the first lm_tokens tokens; lower: more like IMDb). The classifier's
               confidence says how sure it is of the sentiment; the language model's loss says how
               much a text reads like what it was trained on, which is what detection asks.
"""

from __future__ import annotations

import torch

from scratchformer.data.imdb import Reviews
from scratchformer.data.text_batches import BatchingConfig, ClassificationData
from scratchformer.tasks.classification import probabilities
from scratchformer.training.evaluation import text_losses

ECE_BINS = 15
IN_DISTRIBUTION = "imdb-test"


def expected_calibration_error(probs: torch.Tensor, labels: torch.Tensor, bins: int = ECE_BINS) -> float:
    """ECE of (N, K) probabilities against (N,) labels, with `bins` equal-width confidence bins."""
    if len(probs) == 0:
        return float("nan")
    confidence, predicted = probs.max(-1)  # (N,) each
    correct = (predicted == labels).double()
    # - bin b holds confidences in (b/bins, (b+1)/bins]; a confidence of exactly 0 goes to bin 0
    which = (confidence.double() * bins).ceil().long().clamp(1, bins) - 1  # (N,)
    total = 0.0
    for b in range(bins):
        in_bin = which == b
        if in_bin.any():
            total += in_bin.double().mean().item() * abs(correct[in_bin].mean().item()
                                                         - confidence[in_bin].double().mean().item())
    return total


def auroc(positive: torch.Tensor, negative: torch.Tensor) -> float:
    """P(a random positive scores above a random negative), ties counted half (Mann-Whitney U)."""
    n_pos, n_neg = len(positive), len(negative)
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    scores = torch.cat([positive, negative]).double()
    order = torch.argsort(scores, stable=True)
    ranks = torch.empty_like(scores)
    ranks[order] = torch.arange(1, len(scores) + 1, dtype=torch.double)
    # - tied scores share the mean of their ranks
    values, inverse = torch.unique(scores, return_inverse=True)
    mean_rank = torch.zeros(len(values), dtype=torch.double).index_add_(0, inverse, ranks)
    mean_rank /= torch.bincount(inverse, minlength=len(values)).double()
    ranks = mean_rank[inverse]
    u = ranks[:n_pos].sum().item() - n_pos * (n_pos + 1) / 2
    return u / (n_pos * n_neg)


def text_probabilities(model, tokenizer, texts: list[str], batching: BatchingConfig, batch_size: int = 128) -> torch.Tensor:
    """(N, K) label probabilities of any texts, cut and padded as the model was trained."""
    cut = BatchingConfig(max_len=min(batching.max_len, model.config.max_tokens), truncate=batching.truncate)
    ids = [tokenizer.encode(t) for t in texts]
    data = ClassificationData({"x": ids}, {"x": [0] * len(ids)}, cut, pad_id=tokenizer.pad_id)
    return probabilities(model, data, "x", batch_size)


def lm_scores(lm, texts: list[str], max_tokens: int, batch_size: int = 32) -> torch.Tensor:
    """(N,) how in-distribution a language model finds each text: minus its mean next-token loss.
    lm: a loaded language-model run (.model, .tokenizer); NaN for texts of under 2 tokens."""
    return -text_losses(lm.model, [lm.tokenizer.encode(t) for t in texts], max_tokens, batch_size)


def auroc_of_finite(positive: torch.Tensor, negative: torch.Tensor) -> float:
    """auroc over the scores that are numbers (a text too short to score is left out)."""
    return auroc(positive[positive.isfinite()], negative[negative.isfinite()])


def evaluate_ood(model, tokenizer, batching: BatchingConfig, in_distribution: Reviews, sets: dict[str, Reviews],
                 batch_size: int = 128, in_probs: torch.Tensor | None = None, lm=None, lm_tokens: int = 256) -> list[dict]:
    """One row per set, IMDb test first: {'set', 'n', 'accuracy', 'gap', 'ece', 'auroc'} (NaN where
    a number does not apply), and 'auroc_lm' with a language model lm (a loaded run) scoring the
    first lm_tokens tokens of each text. in_probs: IMDb test probabilities already computed (skips that pass)."""
    if in_probs is None:
        in_probs = text_probabilities(model, tokenizer, in_distribution.texts, batching, batch_size)
    in_labels = torch.as_tensor(in_distribution.labels)
    in_acc = (in_probs.argmax(-1) == in_labels).double().mean().item()
    in_msp = in_probs.max(-1).values
    rows = [{"set": IN_DISTRIBUTION, "n": len(in_labels), "accuracy": in_acc, "gap": 0.0,
             "ece": expected_calibration_error(in_probs, in_labels), "auroc": float("nan")}]
    if lm is not None:
        # - the language model's view of IMDb test, the reference every set is told apart from
        in_lm = lm_scores(lm, in_distribution.texts, lm_tokens)  # (N,)
        rows[0]["auroc_lm"] = float("nan")
    for name, reviews in sets.items():
        probs = text_probabilities(model, tokenizer, reviews.texts, batching, batch_size)  # (N, K)
        labels = torch.as_tensor(reviews.labels)
        labelled = bool(len(labels)) and bool((labels >= 0).all())
        acc = (probs.argmax(-1) == labels).double().mean().item() if labelled else float("nan")
        rows.append({"set": name, "n": len(labels), "accuracy": acc,
                     "gap": 100 * (in_acc - acc) if labelled else float("nan"),
                     "ece": expected_calibration_error(probs, labels) if labelled else float("nan"),
                     "auroc": auroc(in_msp, probs.max(-1).values)})
        if lm is not None:
            rows[-1]["auroc_lm"] = auroc_of_finite(in_lm, lm_scores(lm, reviews.texts, lm_tokens))
    return rows


def format_table(rows: list[dict]) -> str:
    """The rows as one aligned text table (accuracy in %, gap in points, ECE in %, AUROC 0-1), with
    a column AUROC (LM) where the rows have one."""
    def show(value, fmt):
        return "-" if value != value else format(value, fmt)  # (NaN: not applicable)

    with_lm = any("auroc_lm" in r for r in rows)
    header = (f"{'set':<20} {'n':>6} {'accuracy %':>10} {'gap (points)':>12} {'ECE %':>6} {'AUROC (MSP)':>11}"
              + (f" {'AUROC (LM)':>10}" if with_lm else ""))
    lines = [header, "-" * len(header)]
    for r in rows:
        lines.append(f"{r['set']:<20} {r['n']:>6} {show(100 * r['accuracy'], '.1f'):>10} {show(r['gap'], '+.1f'):>12} "
                     f"{show(100 * r['ece'], '.1f'):>6} {show(r['auroc'], '.3f'):>11}"
                     + (f" {show(r.get('auroc_lm', float('nan')), '.3f'):>10}" if with_lm else ""))
    return "\n".join(lines)
