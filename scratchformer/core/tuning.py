"""Tuning a frozen model: freeze the base, wrap its named linear layers, count what still trains.

The pieces that adapters (scratchformer.core.adapters) and LoRA (scratchformer.core.lora) share:

  linear_layers(model)                 {full name: module} of every linear layer
  wrap_linear_layers(model, targets, make)
                                       replace each layer named by a target with make(layer)
  freeze_base(model)                   only the added modules' parameters keep requires_grad
  trainable_share(*modules)            (trained, total) parameters, shared tensors counted once
  print_trainable(*modules)            one line: "trains 1,536 of 98,304 parameters (1.56%)"

A target names a layer by the end of its dotted name, so "attn.q_proj" picks blocks.0.attn.q_proj,
blocks.1.attn.q_proj, ... The names of our GPT (and of GPT-2 and SmolLM2, which load into it):

  attn.q_proj   attn.kv_proj   attn.out_proj   mlp.fc_in   mlp.fc_out   lm_head

A module added for tuning says which of its parameters train with a method `tuned_parameters()`;
everything else is the base, and freeze_base freezes it.
"""

from __future__ import annotations

import re
from typing import Callable, Iterable

import torch
from torch import nn

from scratchformer.errors import UserError

ATTENTION_AND_MLP = ("attn.q_proj", "attn.kv_proj", "attn.out_proj", "mlp.fc_in", "mlp.fc_out")


def is_linear(module: nn.Module) -> bool:
    """A layer that maps in_features to out_features: nn.Linear, the int8 layer of a quantised model,
    or a linear layer already wrapped for tuning (so that adapters and LoRA can be stacked)."""
    return hasattr(module, "in_features") and hasattr(module, "out_features")


def factory_of(layer: nn.Module) -> dict:
    """device and dtype for new parameters beside `layer`: its weight's, or float32 on its device when
    it holds no float parameter (the int8 layers of a quantised model keep buffers only)."""
    weight = next(layer.parameters(), None)
    if weight is not None and weight.is_floating_point():
        return dict(device=weight.device, dtype=weight.dtype)
    buffer = next(layer.buffers(), None)
    return dict(device=buffer.device if buffer is not None else None, dtype=torch.float32)


def linear_layers(model: nn.Module) -> dict[str, nn.Module]:
    """{dotted name: module} of the outermost linear layers (not the base inside a wrapper)."""
    found: dict[str, nn.Module] = {}
    for name, module in model.named_modules():
        inside_found = any(name.startswith(f"{outer}.") for outer in found)
        if name and is_linear(module) and not inside_found:
            found[name] = module
    return found


def short_name(name: str) -> str:
    """blocks.3.attn.q_proj -> attn.q_proj: the name a target uses, without the block's index."""
    return re.sub(r"^(.*\.)?\d+\.", "", name)


def wrap_linear_layers(model: nn.Module, targets: Iterable[str], make: Callable[[nn.Module], nn.Module]) -> list[str]:
    """Replace every linear layer whose name ends with a target by make(layer); return their names.

    A target that names no linear layer of the model is a UserError listing the names it has.
    """
    targets = list(targets)
    if not targets:
        raise UserError("name at least one layer to wrap, e.g. attn.q_proj")
    layers = linear_layers(model)
    chosen = {target: [name for name in layers if name == target or name.endswith(f".{target}")]
              for target in targets}
    missing = [target for target, names in chosen.items() if not names]
    if missing:
        have = sorted({short_name(name) for name in layers})
        raise UserError(f"the model has no linear layer named {', '.join(map(repr, missing))}; "
                        f"its linear layers are {', '.join(have)}")
    wrapped = sorted({name for names in chosen.values() for name in names})
    for name in wrapped:
        # - swap the module in its parent: blocks.3.attn.q_proj is attribute q_proj of blocks.3.attn
        parent_name, _, attr = name.rpartition(".")
        parent = model.get_submodule(parent_name) if parent_name else model
        setattr(parent, attr, make(getattr(parent, attr)))
    return wrapped


def freeze_base(model: nn.Module) -> None:
    """Freeze every parameter except those of modules added for tuning (their tuned_parameters())."""
    for p in model.parameters():
        p.requires_grad_(False)
    for module in model.modules():
        if hasattr(module, "tuned_parameters"):
            for p in module.tuned_parameters():
                p.requires_grad_(True)


def trainable_share(*modules: nn.Module) -> tuple[int, int]:
    """(parameters that train, all parameters) over the modules; a tensor shared by two counts once."""
    seen: dict[int, nn.Parameter] = {}
    for module in modules:
        for p in module.parameters():
            seen.setdefault(id(p), p)
    total = sum(p.numel() for p in seen.values())
    trained = sum(p.numel() for p in seen.values() if p.requires_grad)
    return trained, total


def print_trainable(*modules: nn.Module) -> tuple[int, int]:
    """Print the share of trained parameters on one line; return (trained, total)."""
    trained, total = trainable_share(*modules)
    print(f"trains {trained:,} of {total:,} parameters ({100 * trained / max(total, 1):.2f}%)")
    return trained, total
