"""Bottleneck adapters: identity at first, only they train, and they stack with LoRA."""

import pytest
import torch

from scratchformer.core.adapters import AdaptedLinear, add_adapters
from scratchformer.core.lora import add_lora
from scratchformer.core.prefix import LearnedPrefixKV
from scratchformer.core.tuning import print_trainable
from scratchformer.errors import UserError
from scratchformer.models.generate import SamplingConfig, generate
from scratchformer.models.gpt import GPT, GPTConfig


def gpt(**kw) -> GPT:
    torch.manual_seed(0)
    cfg = dict(vocab_size=40, context_len=16, d_model=32, n_heads=4, n_layers=2, position="rope")
    return GPT(GPTConfig(**{**cfg, **kw})).eval()


def test_new_adapters_leave_the_logits_unchanged():
    m, idx = gpt(), torch.randint(0, 40, (2, 10))
    before, _ = m(idx)
    assert add_adapters(m, bottleneck=4) == [f"blocks.{i}.{name}" for i in range(2)
                                             for name in ("attn.out_proj", "mlp.fc_out")]
    assert isinstance(m.blocks[1].attn.out_proj, AdaptedLinear)
    torch.testing.assert_close(m(idx)[0], before)
    # - generation (KV cache and all) is unchanged too
    cfg = SamplingConfig(max_new_tokens=10, temperature=0)
    assert torch.equal(generate(m, idx[:, :3], cfg), generate(gpt(), idx[:, :3], cfg))


def test_only_adapters_train_and_they_learn(capsys):
    # - init_std 0.2: layer outputs of order one, as in a pretrained model (an adapter on a near-zero
    #   output learns slowly: its gradient scales with its input)
    m, idx = gpt(init_std=0.2), torch.randint(0, 40, (4, 12))
    base = {k: v.clone() for k, v in m.state_dict().items()}
    add_adapters(m, bottleneck=4)
    trained = {n for n, p in m.named_parameters() if p.requires_grad}
    assert trained and all(".adapter." in n for n in trained)
    # - per adapter 32*4 + 4 + 4*32 + 32 = 292, four adapters; the base's 26,752 parameters stay frozen
    total = sum(p.numel() for p in m.parameters())
    assert print_trainable(m) == (4 * 292, 26_752 + 4 * 292)
    assert capsys.readouterr().out == f"trains 1,168 of {total:,} parameters ({100 * 1168 / total:.2f}%)\n"
    opt = torch.optim.AdamW([p for p in m.parameters() if p.requires_grad], lr=1e-2)
    losses = []
    for _ in range(30):
        _, loss = m(idx[:, :-1], idx[:, 1:])
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0] - 1.0, losses
    after = m.state_dict()
    for key, value in base.items():
        wrapped = key.replace("out_proj.", "out_proj.base.").replace("fc_out.", "fc_out.base.")
        assert torch.equal(after.get(key, after.get(wrapped)), value), key


def test_adapters_lora_and_a_prefix_stack_and_each_keeps_training():
    m = gpt()
    add_lora(m, targets=["attn.q_proj", "attn.out_proj"], rank=2)
    add_adapters(m, bottleneck=4)  # around the LoRA-wrapped out_proj: both stay trainable
    prefix_kv = LearnedPrefixKV(m, 3)
    trained = {n.split(".")[-1] if "lora" in n else n.split(".")[-3]
               for n, p in m.named_parameters() if p.requires_grad}
    assert trained == {"lora_A", "lora_B", "adapter"}
    trained_params, total = print_trainable(m, prefix_kv)
    assert trained_params == 2 * (2 * (2 * 64) + 2 * 292) + 2 * 2 * 4 * 3 * 8  # LoRA, adapters, prefix


def test_adapters_on_layers_the_model_lacks_are_a_one_line_error():
    with pytest.raises(UserError, match=r"no linear layer named 'mlp\.c_proj'; its linear layers are attn\.kv_proj"):
        add_adapters(gpt(), targets=["mlp.c_proj"])
    with pytest.raises(UserError, match="at least 1 wide"):
        add_adapters(gpt(), bottleneck=0)
