"""Gradient statistics: per-layer norms, update ratios, clipping rate, noise scale, NaN guard."""

import math

import pytest
import torch
from toolkit_helpers import pattern_data, tiny_gpt  # noqa: F401

from scratchformer.training.grad_stats import GradStats, NoiseScale, NonFiniteError, check_finite, layer_name


def test_layer_names():
    assert layer_name("blocks.3.attn.q_proj.weight") == "blocks.3"
    assert layer_name("tok_emb.weight") == "tok_emb"
    assert layer_name("positions.table.weight") == "positions"
    assert layer_name("head.bias") == "head"


def backward_once(model):
    x, y = pattern_data().batch("train", 4, torch.Generator().manual_seed(0))
    model(x, y)[1].backward()


def test_layer_norms_and_update_ratios_match_a_direct_computation():
    model = tiny_gpt(n_layers=2)  # tied embedding: counted once, under tok_emb
    stats = GradStats(model, grad_clip=1.0)
    assert list(stats.layers) == ["tok_emb", "positions", "blocks.0", "blocks.1", "norm_f"]
    backward_once(model)
    norms = stats.layer_grad_norms()
    block1 = [p.grad for n, p in model.named_parameters() if n.startswith("blocks.1.")]
    assert norms["grad_norm/blocks.1"] == pytest.approx(float(torch.cat([g.flatten() for g in block1]).norm()), rel=1e-5)
    total = torch.nn.utils.clip_grad_norm_(model.parameters(), float("inf"))
    assert math.sqrt(sum(v * v for v in norms.values())) == pytest.approx(float(total), rel=1e-5)
    # - a hand-made update: add 1% of each weight to blocks.0 only
    stats.before_update()
    with torch.no_grad():
        for n, p in model.named_parameters():
            if n.startswith("blocks.0."):
                p.mul_(1.01)
    ratios = stats.update_ratios()
    assert ratios["update_ratio/blocks.0"] == pytest.approx(0.01, rel=1e-4)
    assert ratios["update_ratio/blocks.1"] == 0.0


def test_clip_fraction_counts_and_resets():
    stats = GradStats(tiny_gpt(), grad_clip=1.0)
    for norm in (0.5, 2.0, 3.0, 0.9):
        stats.count_clip(norm)
    assert stats.clip_fraction() == {"clip_frac": 0.5}
    assert stats.clip_fraction() == {"clip_frac": 0.0}
    no_clip = GradStats(tiny_gpt(), grad_clip=0.0)
    no_clip.count_clip(100.0)
    assert no_clip.clip_fraction() == {"clip_frac": 0.0}


def test_noise_scale_from_exact_expectations():
    # - with |G|² = 4 and tr(Σ) = 64: E|g_b|² = 4 + 64/b, so B_simple = 16
    scale = NoiseScale(beta=0.5)
    for _ in range(3):
        scale.update(4 + 64 / 8, 8, 4 + 64 / 32, 32)
    assert scale.value == pytest.approx(16.0)
    assert math.isnan(NoiseScale().value)


def test_check_finite():
    assert check_finite(2.0, 1.0, step=0, on_nan="stop")
    assert not check_finite(float("nan"), 1.0, step=0, on_nan="skip")
    assert not check_finite(2.0, float("inf"), step=0, on_nan="skip")
    assert check_finite(2.0, float("inf"), step=0, on_nan="skip", check_grad=False)  # fp16: the scaler decides
    with pytest.raises(NonFiniteError, match="the gradient norm is inf at step 8"):
        check_finite(2.0, float("inf"), step=7, on_nan="stop")
