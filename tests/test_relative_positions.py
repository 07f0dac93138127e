"""Position schemes, relative ones especially: invariances, the relative shift, cache, training."""

from __future__ import annotations

import math

import pytest
import torch

from scratchformer.core.attention import MultiHeadAttention, causal_mask
from scratchformer.core.position_schemes import POSITIONS, build_positions
from scratchformer.core.relative_positions import (
    RELATIVE_POSITIONS, TransformerXLPositions, alibi_slopes, distances, relative_shift, t5_bucket,
)
from scratchformer.models.generate import SamplingConfig, generate
from scratchformer.models.gpt import GPT, GPTConfig

ALL = sorted(POSITIONS)
RELATIVE = sorted(RELATIVE_POSITIONS) + ["rope", "none"]  # schemes that see only distances
C, H = 16, 2
D = C // H




def scheme(name: str, seed: int = 0):
    """A scheme with non-trivial (random) parameters, so zero-initialised biases cannot hide bugs."""
    torch.manual_seed(seed)
    pos = build_positions(name, C, H, context_len=8)
    with torch.no_grad():
        for p in pos.parameters():
            p.normal_(0, 0.5)
    return pos


def weights(pos, q, k, start=0, causal=True):
    """Attention weights (B, H, Tq, Tk) of a scheme, spelled out as MultiHeadAttention does."""
    q, k = pos.rotate(q, k, start)
    scores = q @ k.transpose(-2, -1) / math.sqrt(D)
    bias = pos.score_bias(q, start, k.size(2))
    if bias is not None:
        scores = scores + bias
    if causal:
        scores = scores.masked_fill(~causal_mask(q.size(2), k.size(2)), float("-inf"))
    return scores.softmax(-1)


def test_registry_has_every_scheme_and_rejects_unknown_names():
    assert set(ALL) == {"learned", "sinusoidal", "shaw", "transformer_xl", "t5", "alibi", "rope", "none"}
    with pytest.raises(ValueError, match="choose one of"):
        build_positions("relative", C, H, 8)
    with pytest.raises(ValueError, match="unknown position scheme"):
        GPTConfig(position="relative")


@pytest.mark.parametrize("name", RELATIVE)
@pytest.mark.parametrize("causal", [True, False])
def test_shifting_the_input_leaves_relative_attention_unchanged(name, causal):
    pos = scheme(name)
    T, shift = 6, 5
    q, k = torch.randn(2, H, T, D), torch.randn(2, H, T, D)
    base = weights(pos, q, k, causal=causal)
    # - the same queries and keys placed at positions shift .. shift+T-1, after `shift` other keys
    q_full = torch.cat([torch.randn(2, H, shift, D), q], dim=2)
    k_full = torch.cat([torch.randn(2, H, shift, D), k], dim=2)
    rq, rk = pos.rotate(q_full, k_full, 0)
    scores = rq @ rk.transpose(-2, -1) / math.sqrt(D)
    bias = pos.score_bias(rq, 0, T + shift)
    if bias is not None:
        scores = scores + bias
    scores = scores[:, :, shift:, shift:]  # the shifted queries against the shifted keys only
    if causal:
        scores = scores.masked_fill(~causal_mask(T, T), float("-inf"))
    torch.testing.assert_close(scores.softmax(-1), base, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("name", ["learned", "sinusoidal"])
def test_absolute_schemes_do_depend_on_where_the_input_starts(name):
    pos = scheme(name)
    assert not torch.allclose(pos.embed(0, 4), pos.embed(3, 4))


def test_rope_dot_product_depends_only_on_the_offset():
    pos = build_positions("rope", C, H, context_len=8)
    q, k = torch.randn(1, H, 1, D), torch.randn(1, H, 1, D)

    def dot(m, n):  # q at position m, k at position n
        qm, _ = pos.rotate(q, q, m)
        _, kn = pos.rotate(k, k, n)
        return (qm * kn).sum(-1)

    torch.testing.assert_close(dot(3, 1), dot(10, 8))
    torch.testing.assert_close(dot(0, 5), dot(20, 25))
    assert not torch.allclose(dot(3, 1), dot(3, 2))


def test_relative_shift_matches_the_docstring_example():
    x = torch.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])  # a0 a1 a2 / b0 b1 b2
    assert relative_shift(x).tolist() == [[2.0, 3.0, 0.0], [4.0, 5.0, 6.0]]


@pytest.mark.parametrize("start, Tq, Tk", [(0, 5, 5), (4, 1, 5), (3, 2, 5), (0, 4, 4)])
def test_transformer_xl_bias_equals_the_formula_written_out(start, Tq, Tk):
    from scratchformer.core.positions import sinusoid_table

    pos = scheme("transformer_xl")
    assert isinstance(pos, TransformerXLPositions)
    q = torch.randn(2, H, Tq, D)
    q_u, _ = pos.rotate(q, q, start)
    got = pos.score_bias(q_u, start, Tk)
    # - (q_i + v) · W_R r_{(start+i) - j}, one (i, j) at a time, every entry (also future keys)
    want = torch.zeros(2, H, Tq, Tk)
    for i in range(Tq):
        for j in range(Tk):
            r = sinusoid_table(torch.tensor([start + i - j]), C)  # (1, C)
            r = pos.r_proj(r).view(H, D)
            want[:, :, i, j] = ((q[:, :, i] + pos.v[:, 0]) * r).sum(-1) / math.sqrt(D)
    torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-4)
    # - the content bias u: rotate turns q·k into (q + u)·k
    torch.testing.assert_close(q_u, q + pos.u)


def test_t5_buckets_are_exact_near_and_logarithmic_far():
    rel = -torch.arange(0, 200)  # keys behind the query
    b = t5_bucket(rel, num_buckets=32, max_distance=128, bidirectional=True)
    assert b[:8].tolist() == list(range(8))  # 16 buckets per side, the first 8 exact
    assert b[8] == 8 and b[127] < 16 and b[128:].eq(15).all()  # far distances share the last
    assert (b.diff() >= 0).all()
    ahead = t5_bucket(torch.arange(1, 5), 32, 128, True)
    assert (ahead >= 16).all()  # keys ahead use the other half


def test_alibi_slopes_follow_the_paper():
    assert alibi_slopes(8).tolist() == [2.0 ** -i for i in range(1, 9)]
    s6 = alibi_slopes(6)  # the 4 slopes of H=4, then every other slope of H=8
    torch.testing.assert_close(s6, torch.tensor([2 ** -2, 2 ** -4, 2 ** -6, 2 ** -8, 2 ** -1, 2 ** -3]))
    pos = build_positions("alibi", C, H, 8)
    bias = pos.score_bias(torch.zeros(1, H, 3, D), start=2, Tk=5)  # queries at 2, 3, 4
    assert bias[0, 0, 2].tolist() == pytest.approx([-4 * 2 ** -4, -3 * 2 ** -4, -2 * 2 ** -4, -2 ** -4, 0.0])


@pytest.mark.parametrize("name", sorted(RELATIVE_POSITIONS))
def test_fast_attention_path_equals_the_readable_path(name):
    pos = scheme(name)
    attn = MultiHeadAttention(C, H).eval()
    x = torch.randn(2, 7, C)
    fast = attn(x, causal=True, positions=pos, fast=True)
    slow = attn(x, causal=True, positions=pos, fast=False)
    torch.testing.assert_close(fast, slow, atol=1e-5, rtol=1e-4)


def tiny_gpt(name: str, context_len: int = 12) -> GPT:
    torch.manual_seed(0)
    cfg = GPTConfig(vocab_size=11, context_len=context_len, d_model=C, n_heads=H, n_layers=2, position=name)
    model = GPT(cfg)
    with torch.no_grad():  # random relative parameters, so the tests see them at work
        for p in model.positions.parameters():
            p.normal_(0, 0.5)
    return model


@pytest.mark.parametrize("name", ALL)
def test_each_scheme_trains(name):
    model = tiny_gpt(name)
    # - a sequence whose next token depends on position mod 3 and on the previous token
    x = torch.tensor([[(i * 7 + (i % 3)) % 11 for i in range(13)]] * 4)
    inputs, targets = x[:, :-1], x[:, 1:]
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    _, first = model(inputs, targets)
    for _ in range(60):
        _, loss = model(inputs, targets)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert first.item() == pytest.approx(math.log(11), abs=0.5)
    assert loss.item() < 0.25 * first.item(), f"{name} did not fit: {first.item():.3f} -> {loss.item():.3f}"


@pytest.mark.parametrize("name", ALL)
def test_cached_logits_equal_full_forward(name):
    model = tiny_gpt(name).eval()
    idx = torch.randint(0, 11, (2, 10))
    full, _ = model(idx)
    cache = model.new_cache(2)
    steps = [model(idx[:, :4], cache=cache)[0]]
    steps += [model(idx[:, t:t + 1], cache=cache)[0] for t in range(4, 10)]
    torch.testing.assert_close(torch.cat(steps, dim=1), full, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("name", ALL)
def test_generation_with_the_cache_equals_generation_without(name):
    model = tiny_gpt(name, context_len=8)
    prompt = torch.randint(0, 11, (2, 3))
    # - 12 new tokens run past context_len = 8: the sliding window is exercised too
    cfg = dict(max_new_tokens=12, temperature=0.0)
    with_cache = generate(model, prompt, SamplingConfig(**cfg, use_cache=True))
    without = generate(model, prompt, SamplingConfig(**cfg, use_cache=False))
    assert torch.equal(with_cache, without)


@pytest.mark.parametrize("name", ALL)
def test_only_learned_positions_stop_at_the_context_length(name):
    model = tiny_gpt(name, context_len=8).eval()
    long = torch.randint(0, 11, (1, 20))
    if name == "learned":
        with pytest.raises(ValueError, match="learned positions cover 8"):
            model(long)
    else:
        logits, _ = model(long)
        assert logits.shape == (1, 20, 11) and torch.isfinite(logits).all()


def test_distances_are_query_minus_key_positions():
    assert distances(2, 2, 4).tolist() == [[2, 1, 0, -1], [3, 2, 1, 0]]


@pytest.mark.parametrize("name", ALL)
def test_the_classifier_takes_every_scheme_and_ignores_padding(name):
    from scratchformer.models.classifier import Classifier, ClassifierConfig

    torch.manual_seed(0)
    model = Classifier(ClassifierConfig(vocab_size=20, context_len=12, d_model=C, n_heads=H, n_layers=1,
                                        position=name)).eval()
    tokens = torch.randint(1, 20, (1, 7))
    alone, _ = model(tokens)
    # - the same review padded to 12 tokens: bidirectional attention must not read the padding
    padded = torch.cat([tokens, torch.zeros(1, 5, dtype=torch.long)], dim=1)
    mask = torch.cat([torch.ones(1, 7), torch.zeros(1, 5)], dim=1).bool()
    inside, _ = model(padded, padding_mask=mask)
    torch.testing.assert_close(inside, alone, atol=1e-5, rtol=1e-4)
