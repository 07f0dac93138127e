"""Vectors in front of the tokens: at the input (prefix) and at every layer (prefix_kv, prefix tuning)."""

import pytest
import torch

from scratchformer.core.kv_cache import PrefixKV
from scratchformer.core.prefix import LearnedPrefix, LearnedPrefixKV, layer_inputs, prefix_kv_from_hidden
from scratchformer.errors import UserError
from scratchformer.models.generate import SamplingConfig, generate
from scratchformer.models.gpt import GPT, GPTConfig

POSITIONS = ["learned", "rope", "alibi", "t5"]


def gpt(position="rope", **kw) -> GPT:
    torch.manual_seed(0)
    cfg = dict(vocab_size=40, context_len=24, d_model=32, n_heads=4, n_layers=2, position=position)
    return GPT(GPTConfig(**{**cfg, **kw})).eval()


@pytest.mark.parametrize("position", POSITIONS)
def test_a_prefix_of_length_zero_equals_no_prefix(position):
    m, idx = gpt(position), torch.randint(0, 40, (2, 7))
    plain, loss = m(idx, idx)
    empty_kv = PrefixKV(torch.zeros(2, 1, 4, 0, 8), torch.zeros(2, 1, 4, 0, 8))
    for kw in (dict(prefix=torch.zeros(2, 0, 32)), dict(prefix_kv=empty_kv)):
        logits, loss_p = m(idx, idx, **kw)
        torch.testing.assert_close(logits, plain)
        torch.testing.assert_close(loss_p, loss)


@pytest.mark.parametrize("position", POSITIONS)
def test_an_input_prefix_acts_as_tokens_in_front(position):
    # - the embeddings of 5 tokens given as a prefix: the same logits for what follows as the tokens themselves
    m, first, then = gpt(position), torch.randint(0, 40, (2, 5)), torch.randint(0, 40, (2, 6))
    full, _ = m(torch.cat([first, then], dim=1))
    logits, _ = m(then, prefix=m.tok_emb(first))
    assert logits.shape == (2, 6, 40)  # logits for the tokens only
    torch.testing.assert_close(logits, full[:, 5:], atol=1e-5, rtol=1e-4)
    # - one prefix (1, P, C) serves the whole batch
    shared, _ = m(then, prefix=m.tok_emb(first[:1]))
    torch.testing.assert_close(shared[0], logits[0], atol=1e-5, rtol=1e-4)
    assert not torch.allclose(shared[1], logits[1])


@pytest.mark.parametrize("position", POSITIONS)
def test_hidden_states_as_prefix_keys_and_values_continue_the_earlier_segment(position):
    # - each layer's input for the first segment, turned into that layer's keys and values, is exactly
    #   what a KV cache would hold: the second segment then reads as a continuation
    m, first, then = gpt(position), torch.randint(0, 40, (2, 5)), torch.randint(0, 40, (2, 6))
    full, _ = m(torch.cat([first, then], dim=1))
    prefix_kv = prefix_kv_from_hidden(m, layer_inputs(m, first))
    assert prefix_kv.k.shape == (2, 2, 4, 5, 8)  # (L, B, KV, P, D)
    logits, _ = m(then, prefix_kv=prefix_kv)
    torch.testing.assert_close(logits, full[:, 5:], atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("position", ["learned", "rope", "alibi"])
def test_cached_generation_with_a_prefix_equals_recomputation(position):
    m, prompt = gpt(position), torch.randint(0, 40, (2, 4))
    prefix, prefix_kv = LearnedPrefix(m, 3)(), LearnedPrefixKV(m, 2)()
    for kw in (dict(prefix=prefix), dict(prefix_kv=prefix_kv), dict(prefix=prefix, prefix_kv=prefix_kv)):
        # - 40 new tokens: past context_len = 24, so the window slides with the prefix kept in front
        cfg = SamplingConfig(max_new_tokens=40, temperature=0)
        cached = generate(m, prompt, cfg, **kw)
        recomputed = generate(m, prompt, SamplingConfig(max_new_tokens=40, temperature=0, use_cache=False), **kw)
        assert torch.equal(cached, recomputed), kw.keys()
    # - and the prefix matters: the logits move
    assert not torch.allclose(m(prompt, prefix=prefix)[0], m(prompt)[0], atol=1e-3)
    assert not torch.allclose(m(prompt, prefix_kv=prefix_kv)[0], m(prompt)[0], atol=1e-3)


def test_cached_logits_with_a_prefix_match_the_full_forward():
    m, idx = gpt("rope"), torch.randint(0, 40, (1, 9))
    prefix, prefix_kv = torch.randn(1, 3, 32), LearnedPrefixKV(m, 4, hidden=16)()
    full, _ = m(idx, prefix=prefix, prefix_kv=prefix_kv)
    cache = m.new_cache(1)
    first, _ = m(idx[:, :5], cache=cache, prefix=prefix, prefix_kv=prefix_kv)
    assert cache.length == 4 + 3 + 5
    rest = [m(idx[:, t:t + 1], cache=cache)[0] for t in range(5, 9)]
    torch.testing.assert_close(torch.cat([first, *rest], dim=1), full, atol=1e-5, rtol=1e-4)


def test_learned_prefixes_train_while_the_model_stays_frozen():
    m, idx = gpt("rope"), torch.randint(0, 40, (4, 10))
    m.requires_grad_(False)
    before = {k: v.clone() for k, v in m.state_dict().items()}
    prefix, prefix_kv = LearnedPrefix(m, 2), LearnedPrefixKV(m, 2, hidden=16)
    opt = torch.optim.Adam([*prefix.parameters(), *prefix_kv.parameters()], lr=3e-2)
    # - steer the frozen (random) model toward always predicting token 7
    losses = []
    for _ in range(40):
        _, loss = m(idx, torch.full_like(idx, 7), prefix=prefix(), prefix_kv=prefix_kv())
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0] - 0.3, losses
    assert prefix.vectors.grad.abs().sum() > 0 and prefix_kv.seed.grad.abs().sum() > 0
    assert all(p.grad is None for p in m.parameters())
    assert all(torch.equal(v, m.state_dict()[k]) for k, v in before.items())


def test_bad_prefixes_get_one_line_errors():
    m, idx = gpt("learned"), torch.randint(0, 40, (2, 5))
    with pytest.raises(UserError, match=r"prefix of 20 vectors and 5 positions after it exceed the model's context"):
        m(idx, prefix=torch.zeros(2, 20, 32))
    with pytest.raises(UserError, match="prefix has 30 keys and values but the model's context holds 24"):
        m(idx, prefix_kv=PrefixKV(torch.zeros(2, 1, 4, 30, 8), torch.zeros(2, 1, 4, 30, 8)))
    with pytest.raises(UserError, match=r"must be \(batch 2 or 1, P, d_model 32\)"):
        m(idx, prefix=torch.zeros(2, 3, 16))
    with pytest.raises(UserError, match="layers, kv heads, head dim"):
        m(idx, prefix_kv=PrefixKV(torch.zeros(3, 1, 4, 2, 8), torch.zeros(3, 1, 4, 2, 8)))
    with pytest.raises(UserError, match="prefix_kv holds a batch of 3 but the input has 2"):
        m(idx, prefix_kv=PrefixKV(torch.zeros(2, 3, 4, 2, 8), torch.zeros(2, 3, 4, 2, 8)))
    with pytest.raises(UserError, match="leaves no room for a token in the model's context of 24"):
        LearnedPrefix(m, 24)
    with pytest.raises(UserError, match="length must be >= 0"):
        LearnedPrefixKV(m, -1)
