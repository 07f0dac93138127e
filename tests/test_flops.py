"""Analytic FLOPs: a count by hand on a tiny model, and torch's own counter of the matrix products."""

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from scratchformer.models.flops import sequence_flops
from scratchformer.models.gpt import GPT, GPTConfig
from scratchformer.models.perceiver import PerceiverAR, PerceiverARConfig

TINY = dict(vocab_size=10, context_len=8, d_model=4, n_heads=2, n_layers=2, fast_attention=False)


def test_gpt_by_hand():
    # - one layer, T = 8, C = 4, F = 16: q, k, v, out 4 · (2·8·4·4) = 1024; scores and weights · v
    #   2 · (2·8·8·4) = 1024; MLP 2·8·4·16·2 = 2048: 4096 per layer; the head 2·8·4·10 = 640
    cfg = GPTConfig(**TINY)
    f = sequence_flops(cfg, "gpt")
    assert f.forward == 2 * 4096 + 640
    assert f.train == 3 * f.forward and f.predicted == 8


def test_perceiver_ar_by_hand():
    # - N = 2 latents of T = 8. Cross-attention layer: q, out 2·(2·2·4·4) = 128; k, v over all 8
    #   inputs 2·(2·8·4·4) = 512; scores and weights · v 2·(2·2·8·4) = 256; MLP on 2: 2·2·4·16·2 = 512
    #   -> 1408. Self-attention layer over 2: 4·(2·2·4·4) + 2·(2·2·2·4) + 512 = 256 + 64 + 512 = 832.
    #   Head on 2 positions: 2·2·4·10 = 160
    cfg = PerceiverARConfig(**TINY, n_latents=2)
    f = sequence_flops(cfg, "perceiver_ar")
    assert f.forward == 1408 + 832 + 160
    assert f.predicted == 2 and f.context == 8


@pytest.mark.parametrize("kind", ["gpt", "perceiver_ar"])
@pytest.mark.parametrize("mlp", ["gelu", "swiglu"])
def test_matches_torchs_count_of_the_matrix_products(kind, mlp):
    cfg_cls, model_cls = (GPTConfig, GPT) if kind == "gpt" else (PerceiverARConfig, PerceiverAR)
    extra = {} if kind == "gpt" else {"n_latents": 3}
    cfg = cfg_cls(**{**TINY, "context_len": 16, "d_model": 8, "n_layers": 3}, mlp=mlp, **extra)
    model = model_cls(cfg).eval()
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        model(torch.randint(0, 10, (1, 16)))
    assert sequence_flops(cfg, kind).forward == counter.get_total_flops()


def test_unknown_kind_is_refused():
    with pytest.raises(ValueError, match="gpt and perceiver_ar"):
        sequence_flops(GPTConfig(**TINY), "lstm")
