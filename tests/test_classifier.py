"""The classifier family (a)-(f): padding never changes the output, each variant learns, configs."""

import dataclasses

import pytest
import torch


from scratchformer.core.attention import MultiHeadAttention, SelfAttention
from scratchformer.core.block import Block
from scratchformer.models.classifier import ATTENTIONS, Classifier, ClassifierConfig, pool


TINY = dict(d_model=16, n_heads=2, n_layers=2, vocab_size=50, context_len=24)


@pytest.mark.parametrize("variant", list(ATTENTIONS))
@pytest.mark.parametrize("pooling", ["mean", "max", "meanmax", "cls"])
def test_padding_does_not_change_the_output(variant, pooling):
    model = Classifier(ClassifierConfig(variant=variant, pooling=pooling, **TINY)).eval()
    seqs = [torch.randint(2, 50, (n,)) for n in (7, 3, 12)]
    T = 15
    tokens = torch.zeros(3, T, dtype=torch.long)
    mask = torch.zeros(3, T, dtype=torch.bool)
    for i, s in enumerate(seqs):
        tokens[i, : len(s)], mask[i, : len(s)] = s, True
    tokens[~mask] = 7  # whatever sits in the padding must not matter
    batched, _ = model(tokens, padding_mask=mask)
    for i, s in enumerate(seqs):
        alone, _ = model(s[None])
        torch.testing.assert_close(batched[i], alone[0], atol=1e-5, rtol=1e-4)


def test_readable_and_fast_attention_agree_with_padding():
    cfg = ClassifierConfig(variant="transformer", **TINY)
    fast = Classifier(cfg).eval()
    slow = Classifier(dataclasses.replace(cfg, fast_attention=False)).eval()
    slow.load_state_dict(fast.state_dict())
    tokens = torch.randint(2, 50, (4, 10))
    mask = torch.arange(10)[None, :] < torch.tensor([10, 4, 1, 7])[:, None]
    torch.testing.assert_close(fast(tokens, padding_mask=mask)[0], slow(tokens, padding_mask=mask)[0],
                               atol=1e-5, rtol=1e-4)


def test_variants_use_the_core_attention():
    def kinds(variant):
        return {type(m) for m in Classifier(ClassifierConfig(variant=variant, **TINY)).modules()}

    assert SelfAttention in kinds("kqv")
    assert MultiHeadAttention in kinds("multihead")
    assert Block in kinds("transformer") and MultiHeadAttention in kinds("transformer")
    assert not {SelfAttention, MultiHeadAttention} & kinds("pool")
    # - the parameter-free steps add no parameters to the baseline
    n = {v: Classifier(ClassifierConfig(variant=v, **TINY)).num_params() for v in ATTENTIONS}
    assert n["pool"] == n["simple"] == n["scaled"] < n["kqv"] < n["multihead"] < n["transformer"]


def test_initial_loss_is_about_ln2_and_a_batch_can_be_overfit():
    torch.manual_seed(0)
    tokens = torch.randint(2, 50, (16, 12))
    labels = torch.randint(0, 2, (16,))
    mask = torch.arange(12)[None, :] < torch.randint(3, 13, (16,))[:, None]
    for variant in ATTENTIONS:
        model = Classifier(ClassifierConfig(variant=variant, **TINY))
        _, loss = model(tokens, labels, mask)
        assert abs(loss.item() - torch.log(torch.tensor(2.0)).item()) < 0.1
        opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
        for _ in range(150):
            _, loss = model(tokens, labels, mask)
            opt.zero_grad()
            loss.backward()
            opt.step()
        logits, _ = model(tokens, padding_mask=mask)
        assert (logits.argmax(-1) == labels).float().mean() == 1.0, variant


def test_pooling_skips_pads_and_handles_empty_rows():
    x = torch.tensor([[[1.0, -1.0], [3.0, 5.0], [100.0, 100.0]]]).repeat(2, 1, 1)  # (2, 3, 2)
    mask = torch.tensor([[True, True, False], [False, False, False]])
    assert pool(x, mask, "mean").tolist() == [[2.0, 2.0], [0.0, 0.0]]
    assert pool(x, mask, "max").tolist() == [[3.0, 5.0], [0.0, 0.0]]
    # - meanmax: the two side by side, (B, 2C); the head reads twice the width
    assert pool(x, mask, "meanmax").tolist() == [[2.0, 2.0, 3.0, 5.0], [0.0, 0.0, 0.0, 0.0]]
    assert Classifier(ClassifierConfig(pooling="meanmax", **TINY)).head.in_features == 2 * TINY["d_model"]


def test_too_long_input_and_bad_configs():
    model = Classifier(ClassifierConfig(variant="transformer", pooling="cls", **TINY))
    assert model.config.max_tokens == 23
    with pytest.raises(ValueError, match="at most 23"):
        model(torch.zeros(1, 24, dtype=torch.long))
    with pytest.raises(ValueError, match="choose one of .*multihead"):
        ClassifierConfig(variant="rnn")
    with pytest.raises(ValueError, match="pooling"):
        ClassifierConfig(pooling="sum")


def test_bigrams_ignore_padding():
    from scratchformer.models.classifier import bigram_ids

    tokens = torch.tensor([[5, 6, 7, 0, 0], [8, 9, 0, 0, 0]])
    mask = tokens != 0
    ids, pair_mask = bigram_ids(tokens, mask, buckets=1000)
    assert ids.shape == pair_mask.shape == (2, 4)
    assert ((ids >= 0) & (ids < 1000)).all()
    # - only (5,6), (6,7) and (8,9) are real pairs; every pair that touches padding is left out
    assert pair_mask.tolist() == [[True, True, False, False], [True, False, False, False]]
    assert ids[0, 0] != ids[0, 1]  # the hash tells pairs apart (no collision among these)
    # - the output does not depend on padding, whatever the pad positions hold
    model = Classifier(ClassifierConfig(variant="pool", ngram_buckets=97, **TINY)).eval()
    assert model.bigram_emb.num_embeddings == 97
    seqs = [torch.randint(2, 50, (n,)) for n in (7, 1, 12)]
    tokens = torch.full((3, 15), 7, dtype=torch.long)
    mask = torch.zeros(3, 15, dtype=torch.bool)
    for i, s in enumerate(seqs):
        tokens[i, : len(s)], mask[i, : len(s)] = s, True
    batched, _ = model(tokens, padding_mask=mask)
    for i, s in enumerate(seqs):
        alone, _ = model(s[None])
        torch.testing.assert_close(batched[i], alone[0], atol=1e-5, rtol=1e-4)
    # - the bigrams change the output (they are not ignored altogether)
    without = Classifier(ClassifierConfig(variant="pool", **TINY)).eval()
    without.load_state_dict({k: v for k, v in model.state_dict().items() if k != "bigram_emb.weight"})
    assert not torch.allclose(without(seqs[0][None])[0], model(seqs[0][None])[0])
    with pytest.raises(ValueError, match="ngram_buckets needs variant 'pool'"):
        ClassifierConfig(variant="kqv", ngram_buckets=10)
    with pytest.raises(ValueError, match="ngram_buckets must be >= 0"):
        ClassifierConfig(variant="pool", ngram_buckets=-1)
