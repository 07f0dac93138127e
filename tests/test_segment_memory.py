"""Memories between segments (scratchformer.models.segment_memory): each variant against what it must equal."""

import pytest
import torch

from scratchformer.core.lora import LoRALinear
from scratchformer.errors import UserError
from scratchformer.models.gpt import GPT, GPTConfig
from scratchformer.models.segment_memory import MemoryConfig, build_memory, check_fits

S = 8


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return GPT(GPTConfig(vocab_size=20, d_model=16, n_heads=2, n_layers=2, context_len=32, position="rope")).eval()


@pytest.fixture(scope="module")
def idx():
    return torch.randint(20, (2, 3 * S), generator=torch.Generator().manual_seed(1))  # 3 segments


def read(model, idx, **memory):
    """Logits of every segment read in order with the memory: (B, 3S, V)."""
    mem = build_memory(MemoryConfig(**memory), model)
    state, out = None, []
    for i in range(idx.size(1) // S):
        logits, state = mem(model, idx[:, i * S:(i + 1) * S], state)
        out.append(logits)
    return torch.cat(out, dim=1)


def test_empty_memories_equal_no_memory(model, idx):
    none = read(model, idx)
    for memory in (dict(kind="xl", length=0), dict(kind="window", length=0), dict(kind="hidden", length=0),
                   dict(kind="hidden", length=0, at="layers")):
        assert torch.equal(read(model, idx, **memory), none), memory


def test_a_memory_changes_later_segments_only(model, idx):
    none = read(model, idx)
    for memory in (dict(kind="xl", length=S), dict(kind="hidden", length=2), dict(kind="hidden", length=2, at="layers"),
                   dict(kind="window", length=S)):
        got = read(model, idx, **memory)
        assert torch.equal(got[:, :S], none[:, :S]), memory  # nothing before the first segment
        assert not torch.allclose(got[:, S:], none[:, S:]), memory


def test_window_and_xl_read_the_previous_segment_as_if_it_were_in_context(model, idx):
    both = model(idx[:, :2 * S])[0]  # the first two segments read at once
    for memory in (dict(kind="window", length=S), dict(kind="xl", length=S)):
        got = read(model, idx, **memory)
        torch.testing.assert_close(got[:, S:2 * S], both[:, S:], atol=1e-5, rtol=1e-5)


def test_the_trick_at_every_layer_with_k_equal_to_the_segment_is_the_xl_cache(model, idx):
    assert torch.equal(read(model, idx, kind="hidden", at="layers", length=S), read(model, idx, kind="xl", length=S))


def test_trained_maps_start_as_the_untrained_trick(model, idx):
    for at in ("input", "layers"):
        trick = read(model, idx, kind="hidden", at=at, length=3)
        for map in ("linear", "adapter"):
            torch.testing.assert_close(read(model, idx, kind="hidden", at=at, length=3, map=map), trick)


def test_xl_keeps_no_gradient_and_rmt_backpropagates_through_segments(model, idx):
    xl = build_memory(MemoryConfig(kind="xl", length=S), model)
    _, state = xl(model, idx[:, :S].clone(), None)
    assert all(not h.requires_grad for h in state)  # Transformer-XL's stop-gradient
    torch.manual_seed(0)
    base = GPT(model.config)
    rmt = build_memory(MemoryConfig(kind="rmt", length=2, lora_rank=2), base)
    assert any(isinstance(m, LoRALinear) for m in base.modules())
    assert not base.tok_emb.weight.requires_grad  # the base is frozen but for LoRA
    _, state = rmt(base, idx[:, :S], None)
    logits, _ = rmt(base, idx[:, S:2 * S], state)
    logits.sum().backward()  # the second segment's output only ...
    assert rmt.first.grad is not None and rmt.first.grad.abs().sum() > 0  # ... reaches the first memory


def test_what_does_not_fit_the_context_is_one_sentence():
    with pytest.raises(UserError, match="longer than the base model's context"):
        check_fits(MemoryConfig(), segment_len=64, context_len=32)
    with pytest.raises(UserError, match="exceed the base model's context of 32"):
        check_fits(MemoryConfig(kind="hidden", length=30), segment_len=8, context_len=32)
    with pytest.raises(UserError, match="read and write"):
        check_fits(MemoryConfig(kind="rmt", length=13), segment_len=8, context_len=32)
    check_fits(MemoryConfig(kind="rmt", length=12), segment_len=8, context_len=32)  # 2 x 12 + 8 fits


def test_lora_on_layers_the_model_lacks_is_one_sentence(model):
    with pytest.raises(UserError, match="no linear layer named 'attn.c_attn'.*attn.q_proj"):
        build_memory(MemoryConfig(kind="rmt", length=2, lora_targets=["attn.c_attn"]), GPT(model.config))


@pytest.mark.parametrize("bad, words", [
    (dict(kind="lstm"), "unknown memory"), (dict(kind="xl", map="linear"), "hidden memory only"),
    (dict(kind="rmt", length=0), "at least one memory vector"), (dict(length=-1), ">= 0"),
    (dict(kind="hidden", at="output"), "memory.at")])
def test_bad_memory_configs(bad, words):
    with pytest.raises(ValueError, match=words):
        MemoryConfig(**bad)
