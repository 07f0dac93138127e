"""Optimisers: weight decay on matrices only, Muon for the blocks, layer-wise learning-rate decay."""

import pytest
import torch
from toolkit_helpers import pattern_data, tiny_cfg, tiny_gpt

from scratchformer.models.classifier import Classifier, ClassifierConfig
from scratchformer.training.optim import ChainedOptimizer, build_optimizer, layer_depth
from scratchformer.training.trainer import TrainConfig, Trainer


def groups_of(optimizer, model):
    """{parameter name: (weight_decay, lr_scale)} for every parameter the optimizer holds."""
    name = {id(p): n for n, p in model.named_parameters()}
    return {name[id(p)]: (g["weight_decay"], g.get("lr_scale", 1.0)) for g in optimizer.param_groups for p in g["params"]}


def test_weight_decay_applies_to_matrices_only():
    model = tiny_gpt(bias=True)
    groups = groups_of(build_optimizer(model, 1e-3, 0.1, (0.9, 0.99)), model)
    assert groups["blocks.0.attn.q_proj.weight"] == (0.1, 1.0)
    assert groups["tok_emb.weight"] == (0.1, 1.0)
    assert groups["blocks.0.attn.q_proj.bias"] == (0.0, 1.0)
    assert groups["norm_f.weight"] == (0.0, 1.0)
    # - every trainable parameter is in exactly one group (the tied output layer once)
    assert len(groups) == len(list(model.parameters()))


def test_muon_takes_the_blocks_matrices_and_adamw_the_rest():
    model = tiny_gpt()
    optimizer = build_optimizer(model, 1e-3, 0.1, (0.9, 0.99), name="muon")
    assert isinstance(optimizer, ChainedOptimizer)
    muon, adamw = optimizer.optimizers
    name = {id(p): n for n, p in model.named_parameters()}
    in_muon = {name[id(p)] for g in muon.param_groups for p in g["params"]}
    in_adamw = {name[id(p)] for g in adamw.param_groups for p in g["params"]}
    assert in_muon and all(".blocks." in f".{n}" and n.endswith("weight") for n in in_muon)
    assert "tok_emb.weight" in in_adamw and not in_muon & in_adamw


@pytest.mark.parametrize("name,depth", [
    ("tok_emb.weight", 0), ("positions.table.weight", 0), ("cls", 0), ("attention.positions.table.weight", 0),
    ("blocks.0.attn.q_proj.weight", 1), ("attention.blocks.2.mlp.fc_in.weight", 3),
    ("norm_f.weight", 4), ("attention.norm_f.weight", 4), ("head.weight", 4),
])
def test_layer_depth_counts_from_the_input(name, depth):
    assert layer_depth(name, n_layers=3) == depth


@pytest.mark.parametrize("optimizer", ["adamw", "muon"])
def test_layer_lr_decay_gives_each_level_its_share_of_the_rate(optimizer):
    """Head and final norm at lr; block i of n at lr * d ** (n - i); the embeddings at lr * d ** (n + 1)."""
    torch.manual_seed(0)
    model = Classifier(ClassifierConfig(variant="transformer", d_model=16, n_heads=2, n_layers=3, vocab_size=30,
                                        context_len=8))
    groups = groups_of(build_optimizer(model, 1e-3, 0.1, (0.9, 0.99), name=optimizer, layer_lr_decay=0.5), model)
    assert groups["head.weight"][1] == groups["attention.norm_f.weight"][1] == 1.0
    assert groups["attention.blocks.2.attn.q_proj.weight"][1] == 0.5
    assert groups["attention.blocks.0.mlp.fc_in.weight"][1] == 0.125
    assert groups["tok_emb.weight"][1] == 0.0625
    # - weight decay still follows the shape, whatever the depth
    assert groups["attention.blocks.0.norm1.weight"] == (0.0, 0.125)


def test_the_trainer_sets_each_groups_scaled_rate():
    trainer = Trainer(tiny_gpt(n_layers=2), tiny_cfg(max_steps=3, layer_lr_decay=0.5, schedule="constant",
                                                    warmup_steps=0), pattern_data())
    trainer.train_step()
    rates = {g["lr_scale"]: g["lr"] for g in trainer.optimizer.param_groups}
    assert rates == {1.0: pytest.approx(3e-3), 0.5: pytest.approx(1.5e-3), 0.25: pytest.approx(7.5e-4),
                     0.125: pytest.approx(3.75e-4)}
    # - off by default: one rate for every group
    plain = Trainer(tiny_gpt(n_layers=2), tiny_cfg(max_steps=3, schedule="constant", warmup_steps=0), pattern_data())
    plain.train_step()
    assert [g["lr"] for g in plain.optimizer.param_groups] == pytest.approx([3e-3] * len(plain.optimizer.param_groups))


def test_layer_lr_decay_out_of_range_is_a_clear_error():
    with pytest.raises(ValueError, match=r"layer_lr_decay must be in \(0, 1\]"):
        TrainConfig(layer_lr_decay=1.5)
    with pytest.raises(ValueError, match="layer_lr_decay"):
        TrainConfig(layer_lr_decay=0.0)


def test_muon_on_a_torch_without_it_is_a_one_line_error(monkeypatch, capsys):
    """torch.optim.Muon arrived in torch 2.9; the floor is lower, so asking for it earlier must say so."""
    from scratchformer.cli.main import main

    monkeypatch.delattr(torch.optim, "Muon", raising=False)
    with pytest.raises(ValueError, match=r"'muon' needs torch >= 2\.9.*choose optimizer 'adamw'"):
        TrainConfig(optimizer="muon")
    with pytest.raises(ValueError, match=r"needs torch >= 2\.9"):
        build_optimizer(tiny_gpt(), 1e-3, 0.1, (0.9, 0.99), name="muon")
    # - the shipped demo preset uses Muon: the command line stops before any work, on one line
    assert main(["train", "--config", "configs/demo.yaml", "--train.max_steps", "1"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and "torch >= 2.9" in err and "\n" not in err
    # - AdamW needs nothing new
    assert isinstance(build_optimizer(tiny_gpt(), 1e-3, 0.1, (0.9, 0.99)), torch.optim.AdamW)
