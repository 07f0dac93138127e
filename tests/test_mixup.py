"""Mixup in embedding space and UDA's consistency loss, on a tiny classifier."""

import torch
import torch.nn.functional as F

from scratchformer.models.classifier import Classifier, ClassifierConfig
from scratchformer.models.consistency import consistency_loss
from scratchformer.models.mixup import mixup_loss


def tiny(variant="pool", **kw):
    torch.manual_seed(0)
    cfg = ClassifierConfig(variant=variant, vocab_size=20, d_model=8, n_heads=2, n_layers=1, context_len=16, **kw)
    return Classifier(cfg).eval()


def batch():
    tokens = torch.randint(1, 20, (4, 6), generator=torch.Generator().manual_seed(0))
    mask = torch.ones(4, 6, dtype=torch.bool)
    mask[1, 4:] = False
    return tokens, torch.tensor([0, 1, 1, 0]), mask


def test_features_then_head_is_forward():
    for model in (tiny(), tiny("transformer"), tiny("pool", ngram_buckets=32)):
        tokens, labels, mask = batch()
        logits, loss = model(tokens, labels, mask)
        assert torch.allclose(model.head(model.features(tokens, mask)), logits)
        assert torch.allclose(loss, F.cross_entropy(logits, labels))


def test_mixup_with_lam_one_is_plain_training():
    model = tiny()
    tokens, labels, mask = batch()
    logits, loss = mixup_loss(model, tokens, labels, mask, alpha=0.4, lam=1.0)
    plain_logits, plain_loss = model(tokens, labels, mask)
    assert torch.allclose(logits, plain_logits) and torch.allclose(loss, plain_loss)


def test_mixup_mixes_features_and_labels_in_the_same_proportion():
    model = tiny()
    tokens, labels, mask = batch()
    g = torch.Generator().manual_seed(1)
    perm = torch.randperm(4, generator=torch.Generator().manual_seed(1))
    logits, loss = mixup_loss(model, tokens, labels, mask, alpha=0.4, generator=g, lam=0.3)
    h = model.features(tokens, mask)
    expected = model.head(0.3 * h + 0.7 * h[perm])
    assert torch.allclose(logits, expected)
    assert torch.allclose(loss, 0.3 * F.cross_entropy(expected, labels) + 0.7 * F.cross_entropy(expected, labels[perm]))


def test_consistency_is_zero_for_identical_inputs_without_sharpening_and_masks_unsure_targets():
    model = tiny()
    tokens, _, mask = batch()
    loss, kept = consistency_loss(model, tokens, mask, tokens, mask, temperature=1.0, threshold=0.0)
    assert abs(loss.item()) < 1e-6 and float(kept) == 1.0
    # - a threshold above every confidence keeps nothing: no loss, no gradient
    loss, kept = consistency_loss(model, tokens, mask, tokens.flip(0), mask.flip(0), temperature=0.4, threshold=1.01)
    assert loss.item() == 0.0 and float(kept) == 0.0


def test_consistency_gradient_flows_only_through_the_noised_branch():
    model = tiny()
    model.train()
    tokens, _, mask = batch()
    noised = tokens.clone()
    noised[:, 0] = 3
    loss, _ = consistency_loss(model, tokens, mask, noised, mask, temperature=0.4, threshold=0.0)
    assert loss.item() > 0
    loss.backward()
    assert model.head.weight.grad is not None and model.head.weight.grad.abs().sum() > 0
