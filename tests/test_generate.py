"""Sampling: the KV cache, seeds, the sliding window, and the filters."""

import pytest
import torch

from scratchformer.models.generate import SamplingConfig, filter_logits, generate, generate_stream, sample_next
from scratchformer.models.gpt import GPT, GPTConfig


def model(position="learned") -> GPT:
    torch.manual_seed(0)
    return GPT(GPTConfig(vocab_size=40, context_len=24, d_model=32, n_heads=4, n_layers=2, position=position))


@pytest.mark.parametrize("position", ["learned", "rope", "sinusoidal", "none"])
def test_kv_cache_gives_the_same_tokens_as_recomputation(position):
    m, prompt = model(position), torch.randint(0, 40, (2, 5))
    # 60 new tokens: well past context_len = 24, so the window slides too
    cached = generate(m, prompt, SamplingConfig(max_new_tokens=60, temperature=0, use_cache=True))
    recomputed = generate(m, prompt, SamplingConfig(max_new_tokens=60, temperature=0, use_cache=False))
    assert torch.equal(cached, recomputed)


def test_cached_logits_match_full_forward():
    m = model("rope").eval()
    idx = torch.randint(0, 40, (1, 10))
    full, _ = m(idx)
    cache = m.new_cache(1)
    first, _ = m(idx[:, :6], cache=cache)
    rest = [m(idx[:, t:t + 1], cache=cache)[0] for t in range(6, 10)]
    stepwise = torch.cat([first, *rest], dim=1)
    assert torch.allclose(full, stepwise, atol=1e-5)


def test_a_seed_makes_sampling_reproducible():
    m, prompt = model(), torch.randint(0, 40, (1, 3))
    cfg = SamplingConfig(max_new_tokens=30, temperature=1.0, seed=7)
    assert torch.equal(generate(m, prompt, cfg), generate(m, prompt, cfg))
    other = generate(m, prompt, SamplingConfig(max_new_tokens=30, temperature=1.0, seed=8))
    assert not torch.equal(generate(m, prompt, cfg), other)


@pytest.mark.parametrize("use_cache", [True, False])
def test_streaming_yields_the_tokens_of_generate_one_at_a_time(use_cache):
    # - sampled (not greedy), past the context (the window slides), with filters: the same seed
    #   must give the same tokens, in the same order, whether streamed or generated at once
    m, prompt = model(), torch.randint(0, 40, (2, 3))
    cfg = SamplingConfig(max_new_tokens=40, temperature=1.0, top_k=20, top_p=0.95, seed=3, use_cache=use_cache)
    tokens = list(generate_stream(m, prompt, cfg))
    assert len(tokens) == 40 and all(t.shape == (2, 1) for t in tokens)
    whole = generate(m, prompt, cfg)
    assert torch.equal(whole[:, :3], prompt)
    for step, token in enumerate(tokens):
        assert torch.equal(token, whole[:, 3 + step:4 + step]), step
    # - a reader that stops early has seen exactly the first tokens of a shorter generation
    first = [t for _, t in zip(range(7), generate_stream(m, prompt, cfg))]
    short = generate(m, prompt, SamplingConfig(**{**cfg.__dict__, "max_new_tokens": 7}))
    assert torch.equal(torch.cat(first, dim=1), short[:, 3:])


def test_top_k_keeps_only_k_tokens():
    logits = torch.tensor([[1.0, 5.0, 3.0, 4.0, 2.0]])
    kept = torch.isfinite(filter_logits(logits, top_k=2, top_p=None))
    assert kept.tolist() == [[False, True, False, True, False]]


def test_top_p_keeps_the_smallest_set_reaching_p():
    probs = torch.tensor([[0.5, 0.3, 0.15, 0.05]])
    kept = torch.isfinite(filter_logits(probs.log(), top_k=None, top_p=0.7))
    assert kept.tolist() == [[True, True, False, False]]
    always_one = torch.isfinite(filter_logits(probs.log(), top_k=None, top_p=0.1))
    assert always_one.tolist() == [[True, False, False, False]]


def test_sampling_config_validates():
    with pytest.raises(ValueError, match="top_p"):
        SamplingConfig(top_p=1.5)
    with pytest.raises(ValueError, match="temperature"):
        SamplingConfig(temperature=-1)


def test_sampling_draws_each_token_with_its_probability():
    # - 20,000 draws at once (a batch of identical rows); a zero-probability token is never drawn
    probs = torch.tensor([0.5, 0.3, 0.2, 0.0])
    logits = probs.log().expand(20000, 4)  # (B, V); log 0 = -inf
    ids = sample_next(logits, SamplingConfig(temperature=1.0), torch.Generator().manual_seed(0))  # (B, 1)
    freq = torch.bincount(ids[:, 0], minlength=4).float() / 20000
    torch.testing.assert_close(freq, probs, atol=0.015, rtol=0)
    assert freq[3] == 0


def test_generated_ids_can_be_trained_on():
    # - generation runs in inference mode; what generate() returns is an ordinary tensor
    gpt = GPT(GPTConfig(vocab_size=20, d_model=16, n_heads=2, n_layers=1, context_len=16))
    out = generate(gpt, torch.zeros(1, 1, dtype=torch.long), SamplingConfig(max_new_tokens=5, seed=0))
    _, loss = gpt(out[:, :-1], out[:, 1:])
    loss.backward()
    assert gpt.tok_emb.weight.grad is not None
