"""LoRA: a new update leaves the model unchanged, only A and B train, and merging changes nothing."""

import pytest
import torch

from scratchformer.core.lora import LoRALinear, add_lora, merge_lora
from scratchformer.core.tuning import trainable_share
from scratchformer.errors import UserError
from scratchformer.models.generate import SamplingConfig, generate
from scratchformer.models.gpt import GPT, GPTConfig


def gpt(**kw) -> GPT:
    torch.manual_seed(0)
    cfg = dict(vocab_size=40, context_len=16, d_model=32, n_heads=4, n_layers=2, position="rope", bias=True)
    return GPT(GPTConfig(**{**cfg, **kw})).eval()


def train(model, idx, steps=25, lr=1e-2):
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=lr, weight_decay=0.0)
    losses = []
    for _ in range(steps):
        _, loss = model(idx[:, :-1], idx[:, 1:])
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses


def test_new_lora_layers_leave_the_logits_unchanged():
    m, idx = gpt(), torch.randint(0, 40, (2, 10))
    before, _ = m(idx)
    names = add_lora(m, rank=4)
    assert len(names) == 2 * 5 and "blocks.1.attn.kv_proj" in names  # attention and MLP, in every block
    assert isinstance(m.blocks[0].mlp.fc_in, LoRALinear)
    torch.testing.assert_close(m(idx)[0], before)


def test_only_the_low_rank_matrices_train_and_the_base_stays_put():
    m, idx = gpt(), torch.randint(0, 40, (4, 12))
    base = {k: v.clone() for k, v in m.state_dict().items()}
    add_lora(m, targets=["attn.q_proj", "attn.kv_proj"], rank=2)
    trained = {n for n, p in m.named_parameters() if p.requires_grad}
    assert trained == {f"blocks.{i}.attn.{layer}.lora_{ab}" for i in range(2) for layer in ("q_proj", "kv_proj")
                       for ab in "AB"}
    # - rank 2 on (32 -> 32) and (32 -> 64): 2 * (32 + 32) + 2 * (32 + 64) per block
    assert trainable_share(m)[0] == 2 * (2 * 64 + 2 * 96)
    losses = train(m, idx)
    assert losses[-1] < losses[0] - 0.2, losses  # the frozen model alone would not move at all
    # - every base tensor is where it was (its key now sits under .base)
    after = m.state_dict()
    for key, value in base.items():
        assert torch.equal(after.get(key, after.get(key.replace("_proj.", "_proj.base."))), value), key


def test_merged_weights_give_the_unmerged_forward_and_a_plain_model():
    m, idx = gpt(), torch.randint(0, 40, (4, 12))
    add_lora(m, rank=4, alpha=8.0)
    train(m, idx, steps=10)
    unmerged, _ = m(idx)
    merge_lora(m)
    assert not any(isinstance(module, LoRALinear) for module in m.modules())
    torch.testing.assert_close(m(idx)[0], unmerged, atol=1e-5, rtol=1e-4)
    # - the merged state dict loads into the plain architecture and generates the same tokens
    plain = gpt()
    plain.load_state_dict(m.state_dict())
    cfg = SamplingConfig(max_new_tokens=8, temperature=0)
    assert torch.equal(generate(plain, idx[:, :3], cfg), generate(m, idx[:, :3], cfg))


def test_lora_on_layers_the_model_lacks_is_a_one_line_error():
    m = gpt()
    have = r"attn\.kv_proj, attn\.out_proj, attn\.q_proj, lm_head, mlp\.fc_in, mlp\.fc_out"
    with pytest.raises(UserError, match=r"no linear layer named 'attn\.c_attn'; its linear layers are " + have):
        add_lora(m, targets=["attn.q_proj", "attn.c_attn"])
    assert not any(isinstance(module, LoRALinear) for module in m.modules())  # nothing half-done
    with pytest.raises(UserError, match="rank must be at least 1"):
        add_lora(m, rank=0)
