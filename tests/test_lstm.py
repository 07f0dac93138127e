"""The LSTM: the readable cell and stack equal torch's, padding never matters, the models learn,
and a carried state gives the logits of reading the text at once."""

import dataclasses
import math

import pytest
import torch
from torch import nn

from scratchformer.core.lstm import LSTM, FastLSTM, LSTMCell, copy_lstm_weights
from scratchformer.models.generate import SamplingConfig, generate
from scratchformer.models.lstm import LSTMClassifier, LSTMClassifierConfig, LSTMConfig, LSTMLM, LSTMLMConfig
from scratchformer.models.registry import build_model


def test_cell_equals_torch_lstm_cell():
    ours, theirs = LSTMCell(5, 7), nn.LSTMCell(5, 7)
    ours.load_state_dict(theirs.state_dict())  # the same parameter names and shapes
    x, h, c = torch.randn(3, 5), torch.randn(3, 7), torch.randn(3, 7)
    h1, c1 = ours(x, (h, c))
    h2, c2 = theirs(x, (h, c))
    torch.testing.assert_close(h1, h2)
    torch.testing.assert_close(c1, c2)


def test_cell_by_hand():
    """With every weight zero and biases chosen per gate, one step is arithmetic on sigmoids."""
    cell = LSTMCell(1, 1)
    with torch.no_grad():
        for p in cell.parameters():
            p.zero_()
        cell.bias_ih.copy_(torch.tensor([0.0, 100.0, 1.0, 0.0]))  # i = σ(0), f = σ(100) ≈ 1, g = tanh(1), o = σ(0)
    h, c = cell(torch.zeros(1, 1), (torch.zeros(1, 1), torch.full((1, 1), 2.0)))
    expect_c = 2.0 + 0.5 * math.tanh(1.0)
    assert c.item() == pytest.approx(expect_c, abs=1e-6)
    assert h.item() == pytest.approx(0.5 * math.tanh(expect_c), abs=1e-6)


@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("n_layers", [1, 3])
def test_readable_stack_equals_torch_lstm_both_ways(bidirectional, n_layers):
    readable = LSTM(6, 8, n_layers, bidirectional).eval()
    fast = FastLSTM(6, 8, n_layers, bidirectional).eval()
    x = torch.randn(4, 9, 6)
    state = tuple(torch.randn(n_layers * (2 if bidirectional else 1), 4, 8) for _ in range(2))
    for src, dst in ((fast, readable), (readable, fast)):
        for p in src.parameters():  # fresh weights in the source each time: the copy must carry them
            nn.init.normal_(p, std=0.3)
        copy_lstm_weights(src, dst)
        mask = torch.arange(9)[None, :] < torch.tensor([9, 4, 1, 0])[:, None]  # (4, 9): padded rows too
        for s, m in ((None, None), (state, None), (None, mask), (state, mask)):
            out1, (h1, c1) = readable(x, m, state=s)
            out2, (h2, c2) = fast(x, m, state=s)
            torch.testing.assert_close(out1, out2, atol=1e-5, rtol=1e-4)
            torch.testing.assert_close(h1, h2, atol=1e-5, rtol=1e-4)
            torch.testing.assert_close(c1, c2, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("n_layers", [1, 3])
def test_fast_single_step_equals_torch_lstm_values_and_gradients(n_layers):
    """Generation's one step from a carried state goes through the fused cell a layer, not oneDNN's
    sequence kernel: the same outputs, states and gradients as torch.nn.LSTM over that one step."""
    fast = FastLSTM(6, 8, n_layers)  # training mode, no dropout: both paths are exact functions
    x = torch.randn(3, 1, 6)
    state = tuple(torch.randn(n_layers, 3, 8) for _ in range(2))
    results = []
    for run in (fast, fast.lstm):  # the step path, then torch.nn.LSTM itself
        fast.zero_grad()
        out, (h, c) = run(x, state=state) if run is fast else run(x, state)
        (out.sum() + h.pow(2).sum() + c.sum()).backward()
        results.append([out, h, c] + [p.grad.clone() for p in fast.parameters()])
    for ours, theirs in zip(*results):
        torch.testing.assert_close(ours, theirs, atol=1e-5, rtol=1e-4)


def test_copy_refuses_another_shape():
    with pytest.raises(ValueError, match="differ in shape"):
        copy_lstm_weights(LSTM(4, 8, 2), FastLSTM(4, 8, 1))


@pytest.mark.parametrize("cls", [LSTM, FastLSTM])
def test_padding_does_not_change_outputs_or_final_states(cls):
    lstm = cls(5, 6, 2, bidirectional=True).eval()
    lengths = [7, 3, 1, 0]
    x = torch.randn(4, 7, 5)
    mask = torch.arange(7)[None, :] < torch.tensor(lengths)[:, None]
    out, (h, c) = lstm(x, mask)
    for i, n in enumerate(lengths):
        assert out[i, n:].abs().max() == 0 if n < 7 else True  # zeros at pads
        if n == 0:
            assert h[:, i].abs().max() == 0  # no token read: the zero state
            continue
        alone, (h1, c1) = lstm(x[i:i + 1, :n])
        torch.testing.assert_close(out[i:i + 1, :n], alone, atol=1e-5, rtol=1e-4)
        torch.testing.assert_close(h[:, i:i + 1], h1, atol=1e-5, rtol=1e-4)
        torch.testing.assert_close(c[:, i:i + 1], c1, atol=1e-5, rtol=1e-4)


def test_fast_path_refuses_left_padding():
    mask = torch.tensor([[False, True, True]])
    with pytest.raises(ValueError, match="right padding"):
        FastLSTM(2, 3)(torch.randn(1, 3, 2), mask)


# --------------------------------------------------------------------------------------------
# the classifier

TINY = dict(vocab_size=30, d_model=12, n_layers=2)


@pytest.mark.parametrize("pooling", ["last", "mean", "max", "meanmax"])
@pytest.mark.parametrize("fast", [True, False])
def test_classifier_padding_does_not_change_the_output(pooling, fast):
    model = LSTMClassifier(LSTMClassifierConfig(pooling=pooling, fast=fast, **TINY)).eval()
    seqs = [torch.randint(2, 30, (n,)) for n in (7, 3, 12)]
    tokens = torch.full((3, 15), 5)  # whatever sits in the padding must not matter
    mask = torch.zeros(3, 15, dtype=torch.bool)
    for i, s in enumerate(seqs):
        tokens[i, : len(s)], mask[i, : len(s)] = s, True
    batched, _ = model(tokens, padding_mask=mask)
    for i, s in enumerate(seqs):
        alone, _ = model(s[None])
        torch.testing.assert_close(batched[i], alone[0], atol=1e-5, rtol=1e-4)


def test_classifier_fast_and_readable_agree():
    cfg = LSTMClassifierConfig(**TINY)
    fast = LSTMClassifier(cfg).eval()
    slow = LSTMClassifier(dataclasses.replace(cfg, fast=False)).eval()
    slow.tok_emb.load_state_dict(fast.tok_emb.state_dict())
    slow.head.load_state_dict(fast.head.state_dict())
    copy_lstm_weights(fast.lstm, slow.lstm)
    tokens = torch.randint(0, 30, (3, 8))
    mask = torch.arange(8)[None, :] < torch.tensor([8, 5, 2])[:, None]
    torch.testing.assert_close(fast(tokens, padding_mask=mask)[0], slow(tokens, padding_mask=mask)[0],
                               atol=1e-5, rtol=1e-4)


def test_classifier_initial_loss_is_ln2_and_learns_parity():
    """A one-layer LSTM overfits parity of 6 bits (all 64 strings); a bag of words cannot."""
    torch.manual_seed(0)
    bits = torch.tensor([[(n >> k) & 1 for k in range(6)] for n in range(64)])  # (64, 6)
    labels = bits.sum(1) % 2
    model = LSTMClassifier(LSTMClassifierConfig(vocab_size=2, d_model=16, n_layers=1, bidirectional=False))
    _, loss = model(bits, labels)
    assert abs(loss.item() - math.log(2)) < 0.05
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(400):
        _, loss = model(bits, labels)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert (model(bits)[0].argmax(-1) == labels).all()


def test_configs_reject_bad_values():
    with pytest.raises(ValueError, match="pooling"):
        LSTMClassifierConfig(pooling="cls")
    with pytest.raises(ValueError, match="n_layers"):
        LSTMLMConfig(n_layers=0)
    with pytest.raises(ValueError, match="tie_weights"):
        LSTMLMConfig(d_model=8, d_emb=4, tie_weights=True)
    with pytest.raises(ValueError, match="dropout"):
        LSTMConfig(dropout=1.0)


def test_registry_builds_both_kinds():
    assert isinstance(build_model("lstm_classifier", dict(vocab_size=10, d_model=4)), LSTMClassifier)
    assert isinstance(build_model("lstm_lm", dict(vocab_size=10, d_model=4)), LSTMLM)


# --------------------------------------------------------------------------------------------
# the language model


def lm(**kw) -> LSTMLM:
    return LSTMLM(LSTMLMConfig(**{**dict(vocab_size=20, d_model=16, n_layers=2, context_len=12), **kw})).eval()


def test_lm_initial_loss_is_ln_vocab_and_no_future_leaks():
    model = lm()
    idx = torch.randint(0, 20, (2, 10))
    logits, loss = model(idx, idx)
    assert abs(loss.item() - math.log(20)) < 0.05
    changed = idx.clone()
    changed[:, 6:] = (changed[:, 6:] + 1) % 20
    torch.testing.assert_close(model(changed)[0][:, :6], logits[:, :6])


@pytest.mark.parametrize("fast", [True, False])
def test_lm_carried_state_equals_recomputation(fast):
    model = lm(fast=fast)
    idx = torch.randint(0, 20, (3, 11))
    whole, _ = model(idx)
    cache = model.new_cache(3)
    pieces = [model(idx[:, a:b], cache=cache)[0] for a, b in ((0, 4), (4, 5), (5, 11))]
    torch.testing.assert_close(torch.cat(pieces, dim=1), whole, atol=1e-5, rtol=1e-4)
    assert cache.length == 11


def test_lm_generation_with_and_without_cache_agree():
    model = lm()
    prompt = torch.randint(0, 20, (2, 3))
    cfg = SamplingConfig(max_new_tokens=20, temperature=1.0, seed=3)  # runs past context_len (12)
    cached = generate(model, prompt, cfg)
    plain = generate(model, prompt, dataclasses.replace(cfg, use_cache=False))
    assert cached.shape == (2, 23)
    assert torch.equal(cached, plain)


def test_lm_overfits_a_batch():
    torch.manual_seed(0)
    model = lm(dropout=0.0).train()
    idx = torch.randint(0, 20, (4, 12))
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(200):
        _, loss = model(idx[:, :-1], idx[:, 1:])
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.1
