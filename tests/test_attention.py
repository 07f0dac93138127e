"""Attention, step by step: each piece does what the course says, and the paths agree."""

import math

import pytest
import torch
import torch.nn.functional as F

from scratchformer.core.attention import (MultiHeadAttention, SelfAttention, causal_mask,
                                          scaled_self_attention, simple_self_attention)


def test_simple_self_attention_is_softmax_xxt_x():
    x = torch.randn(2, 5, 8)
    expected = F.softmax(x @ x.transpose(1, 2), dim=-1) @ x
    assert torch.allclose(simple_self_attention(x), expected, atol=1e-6)


def test_scaled_divides_scores_by_sqrt_c():
    x = torch.randn(2, 5, 16)
    expected = F.softmax(x @ x.transpose(1, 2) / 4.0, dim=-1) @ x
    assert torch.allclose(scaled_self_attention(x), expected, atol=1e-6)


def test_simple_attention_is_permutation_equivariant():
    x = torch.randn(1, 6, 8)
    perm = torch.randperm(6)
    assert torch.allclose(simple_self_attention(x)[:, perm], simple_self_attention(x[:, perm]), atol=1e-5)


def test_single_head_with_projections_matches_formula():
    attn = SelfAttention(8)
    x = torch.randn(2, 4, 8)
    q, k, v = attn.q_proj(x), attn.k_proj(x), attn.v_proj(x)
    expected = F.softmax(q @ k.transpose(1, 2) / math.sqrt(8), dim=-1) @ v
    assert torch.allclose(attn(x), expected, atol=1e-6)


def test_causal_mask_with_cache_offset():
    # 2 new queries at the end of 4 keys: query 0 sees keys 0..2, query 1 sees all
    assert causal_mask(2, 4).tolist() == [[True, True, True, False], [True, True, True, True]]


@pytest.mark.parametrize("n_kv_heads", [None, 2, 1])
@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("padded", [False, True])
def test_fast_path_equals_readable_path(n_kv_heads, causal, padded):
    mha = MultiHeadAttention(32, 4, n_kv_heads=n_kv_heads).eval()
    x = torch.randn(3, 7, 32)
    padding = torch.ones(3, 7, dtype=torch.bool)
    if padded:
        padding[0, 5:] = False
        padding[2, 3:] = False
    mask = padding if padded else None
    fast = mha(x, causal=causal, padding_mask=mask, fast=True)
    readable = mha(x, causal=causal, padding_mask=mask, fast=False)
    # compare only real (unpadded) query positions
    assert torch.allclose(fast[padding], readable[padding], atol=1e-5)


def test_matches_torch_multihead_attention_after_copying_weights():
    C, H = 32, 4
    ours = MultiHeadAttention(C, H).eval()
    theirs = torch.nn.MultiheadAttention(C, H, batch_first=True).eval()
    with torch.no_grad():
        w, b = theirs.in_proj_weight, theirs.in_proj_bias  # rows: q, k, v
        ours.q_proj.weight.copy_(w[:C]); ours.q_proj.bias.copy_(b[:C])
        ours.kv_proj.weight.copy_(w[C:]); ours.kv_proj.bias.copy_(b[C:])
        ours.out_proj.weight.copy_(theirs.out_proj.weight); ours.out_proj.bias.copy_(theirs.out_proj.bias)
    x = torch.randn(2, 6, C)
    pad = torch.tensor([[1, 1, 1, 1, 0, 0], [1, 1, 1, 1, 1, 1]], dtype=torch.bool)
    ref, _ = theirs(x, x, x, key_padding_mask=~pad, attn_mask=~causal_mask(6, 6))
    for fast in (True, False):
        out = ours(x, causal=True, padding_mask=pad, fast=fast)
        assert torch.allclose(out, ref, atol=1e-5)


@pytest.mark.parametrize("fast", [True, False])
def test_no_future_token_leaks(fast):
    """The gradient of output t with respect to input t+1.. is exactly zero."""
    mha = MultiHeadAttention(16, 2)
    x = torch.randn(1, 8, 16, requires_grad=True)
    t = 3
    mha(x, causal=True, fast=fast)[0, t].sum().backward()
    grad_per_position = x.grad[0].abs().sum(-1)  # (T,)
    assert torch.all(grad_per_position[t + 1:] == 0)
    assert torch.all(grad_per_position[: t + 1] > 0)


def test_padding_does_not_change_real_outputs():
    mha = MultiHeadAttention(16, 2).eval()
    x = torch.randn(1, 5, 16)
    padded = torch.cat([x, torch.randn(1, 3, 16)], dim=1)  # 3 junk pad positions
    mask = torch.tensor([[1] * 5 + [0] * 3], dtype=torch.bool)
    for fast in (True, False):
        out = mha(padded, padding_mask=mask, fast=fast)[:, :5]
        assert torch.allclose(out, mha(x, fast=fast), atol=1e-5)


@pytest.mark.parametrize("fast", [True, False])
def test_attn_dropout_zero_drops_only_the_output(fast):
    """attn_dropout=0 keeps every attention weight; dropout still drops output features.

    Then a training-mode output is the eval output with each feature either zeroed or scaled
    by 1 / (1 - p); dropping attention weights as well would mix the values differently.
    """
    torch.manual_seed(0)
    x = torch.randn(2, 6, 16)
    only_output = MultiHeadAttention(16, 2, dropout=0.5, attn_dropout=0.0)
    kept = only_output.eval()(x, fast=fast)
    out = only_output.train()(x, fast=fast)
    zeroed = out == 0
    assert zeroed.any() and (~zeroed).any()
    torch.testing.assert_close(out[~zeroed], 2 * kept[~zeroed])
    # - with the weights dropped too (attn_dropout None means dropout), the survivors change
    both = MultiHeadAttention(16, 2, dropout=0.5)
    both.load_state_dict(only_output.state_dict())
    out = both.train()(x, fast=fast)
    survivors = out != 0
    assert not torch.allclose(out[survivors], 2 * both.eval()(x, fast=fast)[survivors])


def test_bad_head_counts_are_clear_errors():
    with pytest.raises(ValueError, match="divisible by n_heads"):
        MultiHeadAttention(30, 4)
    with pytest.raises(ValueError, match="n_kv_heads"):
        MultiHeadAttention(32, 4, n_kv_heads=3)
