"""Perceiver layer and Perceiver AR: causality, equivalence with a GPT, cache, generation, training."""

from __future__ import annotations

import math

import pytest
import torch

from scratchformer.models.generate import SamplingConfig, generate
from scratchformer.models.gpt import GPT, GPTConfig
from scratchformer.models.perceiver import PerceiverAR, PerceiverARConfig, PerceiverConfig, PerceiverLayer

V = 13




def tiny(n_latents: int, context_len: int = 16, **kw) -> PerceiverAR:
    torch.manual_seed(0)
    return PerceiverAR(PerceiverARConfig(vocab_size=V, context_len=context_len, d_model=16, n_heads=2,
                                         n_layers=3, n_latents=n_latents, **kw))


def test_config_rejects_bad_settings():
    with pytest.raises(ValueError, match="n_latents must be between 1 and context_len"):
        PerceiverARConfig(context_len=8, n_latents=9)
    with pytest.raises(ValueError, match="PerceiverAR supports position learned, sinusoidal, rope, none"):
        PerceiverARConfig(position="alibi")


@pytest.mark.parametrize("position", ["learned", "rope"])
def test_matches_a_gpt_with_the_same_weights_when_every_position_is_a_query(position):
    torch.manual_seed(0)
    gpt = GPT(GPTConfig(vocab_size=V, context_len=16, d_model=16, n_heads=2, n_layers=3, position=position)).eval()
    par = tiny(n_latents=16, position=position).eval()
    par.load_state_dict(gpt.state_dict())  # the parameter names are the same
    idx = torch.randint(0, V, (2, 16))
    targets = torch.randint(0, V, (2, 16))
    logits_g, loss_g = gpt(idx, targets)
    logits_p, loss_p = par(idx, targets)
    torch.testing.assert_close(logits_p, logits_g, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(loss_p, loss_g)


def test_only_the_last_n_positions_get_predictions_and_loss():
    model = tiny(n_latents=4).eval()
    idx, targets = torch.randint(0, V, (2, 16)), torch.randint(0, V, (2, 16))
    logits, loss = model(idx, targets)
    assert logits.shape == (2, 4, V)
    want = torch.nn.functional.cross_entropy(logits.flatten(0, 1), targets[:, -4:].flatten())
    torch.testing.assert_close(loss, want)
    assert loss.item() == pytest.approx(math.log(V), abs=0.3)  # initial loss about ln(V)


@pytest.mark.parametrize("position", ["learned", "rope"])
def test_no_information_flows_from_the_future(position):
    model = tiny(n_latents=6, position=position).eval()
    idx = torch.randint(0, V, (1, 16))
    captured = {}

    def keep(_module, _inputs, out):  # make the token embeddings a leaf we can differentiate by
        out.retain_grad()
        captured["emb"] = out

    handle = model.tok_emb.register_forward_hook(keep)
    logits, _ = model(idx)
    handle.remove()
    for i in range(6):  # latent i sits at position 10 + i
        captured["emb"].grad = None
        logits[0, i].sum().backward(retain_graph=True)
        grad = captured["emb"].grad[0].abs().sum(-1)  # (T,) how much each input position mattered
        p = 10 + i
        assert grad[p + 1:].eq(0).all(), f"position {p} sees the future"
        assert (grad[: p + 1] > 0).all(), f"position {p} should see every input up to itself"


def test_the_long_context_reaches_the_latents():
    model = tiny(n_latents=2).eval()
    idx = torch.randint(0, V, (1, 16))
    changed = idx.clone()
    changed[0, 0] = (idx[0, 0] + 1) % V  # only the oldest token, far outside the latents
    assert not torch.allclose(model(idx)[0], model(changed)[0])


def block_reference(model, idx: torch.Tensor, prompt_len: int) -> dict[int, torch.Tensor]:
    """Position p -> its logits (B, 1, V), p from the prompt's last position on, each recomputed
    from scratch as its training window: blocks of N latents; the latent at offset i of a block
    starting at q reads inputs q + N - T .. q + i and is the last of i + 1 latents."""
    N, T = model.config.n_latents, model.config.context_len
    out, q = {}, max(0, prompt_len - N)  # the prompt's last N positions are the first block
    for p in range(prompt_len - 1, idx.size(1)):
        if p - q >= N or p - max(0, q + N - T) + 1 > T:
            q = p  # the block is full: a new one starts here
        s = max(0, q + N - T)
        out[p], _ = model(idx[:, s:p + 1], n_latents=p - q + 1, last_only=True)
    return out


@pytest.mark.parametrize("position", ["learned", "sinusoidal", "rope"])
@pytest.mark.parametrize("n_latents", [1, 4, 16])
def test_cached_steps_equal_the_training_window_of_each_position(n_latents, position):
    # - context 16, generating 40 tokens after a prompt of 5: blocks start and windows move on
    model = tiny(n_latents=n_latents, position=position).eval()
    idx = torch.randint(0, V, (2, 45))
    cache = model.new_cache(2)
    want = block_reference(model, idx, 5)
    first, _ = model(idx[:, :5], cache=cache, last_only=True)
    torch.testing.assert_close(first, want[4], atol=1e-5, rtol=1e-4)
    for p in range(5, 45):
        step, _ = model(idx[:, p:p + 1], cache=cache, last_only=True)  # the prediction for position p + 1
        assert cache.length <= 16
        torch.testing.assert_close(step, want[p], atol=1e-5, rtol=1e-4)


def test_fewer_latents_predict_fewer_positions_from_the_whole_window():
    model = tiny(n_latents=4).eval()
    idx = torch.randint(0, V, (1, 16))
    full, _ = model(idx, n_latents=1)
    assert full.shape == (1, 1, V)
    # - with one latent, only the last position predicts, from all 16 inputs
    changed = idx.clone()
    changed[0, 0] = (idx[0, 0] + 1) % V
    assert not torch.allclose(model(changed, n_latents=1)[0], full)


@pytest.mark.parametrize("position", ["learned", "sinusoidal", "rope"])
def test_cached_generation_follows_the_blocks(position):
    model = tiny(n_latents=4, context_len=10, position=position)
    prompt = torch.randint(0, V, (2, 3))
    out = generate(model, prompt, SamplingConfig(max_new_tokens=15, temperature=0.0, use_cache=True))
    assert out.shape == (2, 18)
    # - greedy: every token is the argmax of its training window's prediction
    want = block_reference(model.eval(), out, 3)
    for p in range(3, 18):  # token p is the argmax of position p - 1's prediction
        assert torch.equal(out[:, p], want[p - 1][:, -1].argmax(-1))


def test_too_long_input_is_refused_with_a_clear_message():
    with pytest.raises(ValueError, match="at most context_len = 16"):
        tiny(n_latents=4)(torch.zeros(1, 17, dtype=torch.long))


def test_perceiver_ar_learns_to_fetch_a_token_from_far_outside_the_latents():
    # - the last targets all repeat token 0: the latent at position 12 must predict x[13] = x[0],
    #   which only the cross-attention over the long context can see (its own token is random)
    torch.manual_seed(1)
    model = tiny(n_latents=4, context_len=16)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    for _ in range(200):
        x = torch.randint(0, V, (16, 17))
        x[:, 13:] = x[:, :1]
        _, loss = model(x[:, :-1], x[:, 1:])
        opt.zero_grad()
        loss.backward()
        opt.step()
    # - without the far token the loss at position 12 alone would keep it above ln(V) / 4 = 0.64
    assert loss.item() < 0.3, loss.item()


def test_perceiver_layer_maps_any_length_to_n_latents_and_ignores_input_order():
    torch.manual_seed(0)
    layer = PerceiverLayer(PerceiverConfig(d_model=16, n_heads=2, n_layers=2, n_latents=3)).eval()
    x = torch.randn(2, 50, 16)
    out = layer(x)
    assert out.shape == (2, 3, 16)
    assert layer(torch.randn(2, 7, 16)).shape == (2, 3, 16)
    # - no positions: cross-attention sums over inputs, so a permutation changes nothing
    torch.testing.assert_close(layer(x[:, torch.randperm(50)]), out, atol=1e-5, rtol=1e-4)
    # - padded inputs are ignored
    padded = torch.cat([x, torch.randn(2, 5, 16) * 100], dim=1)
    mask = torch.cat([torch.ones(2, 50), torch.zeros(2, 5)], dim=1).bool()
    torch.testing.assert_close(layer(padded, padding_mask=mask), out, atol=1e-5, rtol=1e-4)


def test_rope_cross_attention_scores_depend_only_on_the_distance():
    # - queries at positions 2..4 against keys at 0..4, and the same pairs shifted by 7:
    #   rotary embeddings make q_m · k_n a function of m - n, so the scores are identical
    rotary = tiny(n_latents=4, position="rope").positions
    q, k = torch.randn(1, 2, 3, 8), torch.randn(1, 2, 5, 8)  # (B, H, Tq, D), (B, H, Tk, D)
    scores = rotary.rotate_at(q, 2) @ rotary.rotate_at(k, 0).transpose(-2, -1)  # (B, H, Tq, Tk)
    shifted = rotary.rotate_at(q, 9) @ rotary.rotate_at(k, 7).transpose(-2, -1)
    torch.testing.assert_close(scores, shifted, atol=1e-5, rtol=1e-4)
    # - and they do depend on it: one more step of distance changes them
    assert not torch.allclose(scores, rotary.rotate_at(q, 3) @ rotary.rotate_at(k, 0).transpose(-2, -1))


def test_generation_benchmark_quick_form_reports_both_models(tmp_path):
    import json
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    out = subprocess.run([sys.executable, "-m", "benchmarks.perceiver_generate", "--quick"], cwd=root,
                         capture_output=True, text=True, check=True, timeout=120).stdout
    result = json.loads(out.strip().splitlines()[-1])
    assert set(result["medians"]) == {"gpt", "perceiver_ar"}
    assert result["medians"]["gpt"]["decode_tokens_per_s"] > 0
    assert result["decode_speedup_perceiver_over_gpt"] > 0
