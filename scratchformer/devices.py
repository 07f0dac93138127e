"""Devices: the one named on the command line, and the one a model's weights are on."""

from __future__ import annotations

import torch
from torch import nn

from scratchformer.errors import UserError


def resolve_device(name: str) -> torch.device:
    """A torch.device from cpu, cuda, cuda:N, mps or auto; a UserError when it is not on this machine."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise UserError(f"unknown device {name!r}; use cpu, cuda, cuda:N, mps or auto") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise UserError(f"device {name!r} asked for, but PyTorch sees no CUDA GPU on this machine; "
                            "use cpu (or auto, which picks a GPU when there is one)")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise UserError(f"device {name!r} asked for, but this machine has {torch.cuda.device_count()} "
                            "CUDA GPU(s), numbered from 0")
    if device.type == "mps" and not (hasattr(torch.backends, "mps") and torch.backends.mps.is_available()):
        raise UserError(f"device {name!r} asked for, but PyTorch sees no Apple GPU (MPS) here; use cpu or auto")
    return device


def model_device(model: nn.Module) -> torch.device:
    """Where the model's weights are (its first parameter's device): inputs are moved there."""
    return next(model.parameters()).device
