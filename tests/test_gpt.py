"""The GPT model: shapes, initial loss, learning, options and validation."""

import math

import pytest
import torch

from scratchformer.models.gpt import GPT, GPTConfig


def tiny(**kw) -> GPTConfig:
    base = dict(vocab_size=50, context_len=16, d_model=32, n_heads=4, n_layers=2)
    return GPTConfig(**{**base, **kw})


def test_initial_loss_is_about_ln_vocab():
    model = GPT(tiny())
    idx, targets = torch.randint(0, 50, (8, 16)), torch.randint(0, 50, (8, 16))
    _, loss = model(idx, targets)
    assert abs(loss.item() - math.log(50)) < 0.1


@pytest.mark.parametrize("variant", [{}, {"norm_position": "post"},
                                     {"norm": "rmsnorm", "mlp": "swiglu", "position": "rope", "n_kv_heads": 2}])
def test_overfits_one_batch(variant):
    model = GPT(tiny(**variant))
    idx = torch.randint(0, 50, (4, 16))
    targets = torch.roll(idx, -1, dims=1)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    for _ in range(150):
        _, loss = model(idx, targets)
        opt.zero_grad(); loss.backward(); opt.step()
    assert loss.item() < 0.1


def test_no_future_token_leaks_through_the_whole_model():
    """Gradient check: logits at position t do not depend on embeddings at positions > t."""
    model = GPT(tiny(position="rope"))
    captured = {}

    def keep_embeddings(module, inputs, output):
        output.retain_grad()
        captured["emb"] = output

    model.tok_emb.register_forward_hook(keep_embeddings)
    logits, _ = model(torch.randint(0, 50, (1, 12)))
    logits[0, 5].sum().backward()
    grad = captured["emb"].grad[0].abs().sum(-1)  # (T,)
    assert torch.all(grad[6:] == 0) and torch.all(grad[:6] > 0)


def test_position_t_logits_ignore_later_tokens():
    model = GPT(tiny()).eval()
    a = torch.randint(0, 50, (1, 16))
    b = a.clone()
    b[0, 9:] = torch.randint(0, 50, (7,))  # change only the future of position 8
    la, _ = model(a)
    lb, _ = model(b)
    assert torch.allclose(la[0, :9], lb[0, :9], atol=1e-6)


def test_fast_and_readable_attention_give_the_same_logits():
    fast = GPT(tiny(fast_attention=True)).eval()
    readable = GPT(tiny(fast_attention=False)).eval()
    readable.load_state_dict(fast.state_dict())
    idx = torch.randint(0, 50, (2, 16))
    assert torch.allclose(fast(idx)[0], readable(idx)[0], atol=1e-5)


def test_tied_weights_share_one_matrix_and_count_once():
    tied, untied = GPT(tiny(tie_weights=True)), GPT(tiny(tie_weights=False))
    assert tied.lm_head.weight is tied.tok_emb.weight
    assert untied.num_params() - tied.num_params() == 50 * 32


def test_residual_projections_get_scaled_init():
    model = GPT(tiny(n_layers=8))
    std = model.blocks[0].attn.out_proj.weight.std().item()
    assert abs(std - 0.02 / math.sqrt(16)) < 0.002


def test_learned_positions_refuse_inputs_past_the_context():
    with pytest.raises(ValueError, match="learned positions cover 16"):
        GPT(tiny())(torch.randint(0, 50, (1, 17)))


@pytest.mark.parametrize("bad, match", [
    (dict(d_model=30), "divisible by n_heads"),
    (dict(norm="batchnorm"), "norm must be one of"),
    (dict(position="nope"), "unknown position scheme"),
    (dict(dropout=1.5), "dropout"),
    (dict(mlp="tanh"), "mlp must be one of"),
])
def test_bad_configs_are_rejected_with_a_sentence(bad, match):
    with pytest.raises(ValueError, match=match):
        tiny(**bad)


def test_sinusoidal_positions_start_at_the_token_embeddings_scale():
    """Unscaled sin/cos features (size ~0.7) would drown embeddings initialised at std 0.02."""
    model = GPT(tiny(position="sinusoidal"))
    positions = model.positions.embed(0, 16)  # (T, C)
    assert abs(positions.std().item() - model.tok_emb.weight.std().item()) < 0.005


def test_zero_init_out_makes_every_block_start_as_the_identity():
    from scratchformer.models.gpt import GPT, GPTConfig

    cfg = GPTConfig(vocab_size=30, d_model=16, n_heads=2, n_layers=2, context_len=8, zero_init_out=True,
                    tie_weights=False, mlp="relu2")
    model = GPT(cfg)
    idx = torch.randint(0, 30, (2, 8))
    x = model.tok_emb(idx) + model.positions.embed(0, 8)
    for block in model.blocks:  # zero output projections: each residual branch adds nothing yet
        torch.testing.assert_close(block(x, causal=True, positions=model.positions), x)
    logits, loss = model(idx, idx)
    assert torch.all(logits == 0) and loss.item() == pytest.approx(math.log(30))  # untied head at zero: uniform
    loss.backward()  # the head learns first; the zeroed projections learn once it is not zero
    assert model.lm_head.weight.grad.abs().sum() > 0
    tied = GPT(GPTConfig(**{**cfg.__dict__, "tie_weights": True}))
    tied(idx, idx)[1].backward()
    assert tied.blocks[0].mlp.fc_out.weight.grad.abs().sum() > 0 and tied.blocks[0].mlp.fc_out.weight.abs().sum() == 0


def test_relu2_is_relu_squared():
    from scratchformer.core.mlp import ACTIVATIONS

    x = torch.linspace(-2, 2, 9)
    torch.testing.assert_close(ACTIVATIONS["relu2"](x), torch.relu(x) ** 2)
