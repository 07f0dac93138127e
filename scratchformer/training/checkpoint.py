"""Checkpoints: one file holding everything needed to resume or reuse a run.

  {"format", "kind", "model", "model_config", "tokenizer", "optimizer", "step", "rng", ...}

- Written atomically: to `NAME.tmp`, then renamed over `NAME`, so a crash mid-write never
  leaves a half-written checkpoint where a good one was.
- Read with torch.load(weights_only=True): tensors, numbers, strings, lists and dicts only,
  never arbitrary pickled objects (a checkpoint from the internet cannot run code).
- Weights saved from a torch.compile'd or DistributedDataParallel model carry no
  `_orig_mod.` / `module.` prefixes, so they load anywhere.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import nn

from scratchformer.errors import UserError

FORMAT = 1
CHECKPOINT_NAME = "checkpoint.pt"
WRAPPER_PREFIXES = ("_orig_mod.", "module.")


def unwrap(model: nn.Module) -> nn.Module:
    """The plain model inside torch.compile (`_orig_mod`) and DDP/FSDP (`module`) wrappers."""
    while True:
        if hasattr(model, "_orig_mod"):
            model = model._orig_mod
        elif isinstance(model, nn.parallel.DistributedDataParallel):
            model = model.module
        else:
            return model


def clean_state_dict(state: dict) -> dict:
    """Strip wrapper prefixes from every key."""
    out = {}
    for key, value in state.items():
        changed = True
        while changed:
            changed = False
            for prefix in WRAPPER_PREFIXES:
                if key.startswith(prefix):
                    key, changed = key[len(prefix):], True
        out[key] = value
    return out


def save_checkpoint(path: str | Path, state: dict) -> Path:
    """Write `state` atomically; `state["model"]` may come from a wrapped model."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {"format": FORMAT, **state}
    if "model" in state:
        state["model"] = clean_state_dict(state["model"])
    tmp = path.with_name(path.name + ".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)  # atomic on POSIX: readers see the old file or the new one
    return path


def resolve_checkpoint(path: str | Path) -> Path:
    """A run folder or a checkpoint file -> the checkpoint file."""
    path = Path(path)
    if path.is_dir():
        path = path / CHECKPOINT_NAME
    if not path.exists():
        raise UserError(f"no checkpoint at {path}; give a run folder (runs/NAME) or its {CHECKPOINT_NAME}")
    return path


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict:
    """Read a checkpoint safely (weights_only=True); a clear UserError for anything wrong."""
    path = resolve_checkpoint(path)
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:  # truncated, corrupt, or holding pickled objects
        reason = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise UserError(f"cannot read checkpoint {path}: it is corrupt, truncated or not a scratchformer "
                        f"checkpoint ({reason[:160]})") from None
    if not isinstance(state, dict) or "model" not in state or "format" not in state:
        raise UserError(f"{path} is not a scratchformer checkpoint (no model weights or format field)")
    if state["format"] > FORMAT:
        raise UserError(f"{path} was written by a newer scratchformer (format {state['format']}); upgrade")
    return state


def load_weights(model: nn.Module, state_dict: dict, source: str = "checkpoint") -> None:
    """Load weights strictly, turning a shape or name mismatch into one clear sentence."""
    state_dict = clean_state_dict(state_dict)
    own = unwrap(model).state_dict()
    for key, value in state_dict.items():
        if key in own and own[key].shape != value.shape:
            raise UserError(f"{source} does not fit this model: {key} has shape {tuple(value.shape)} there "
                            f"but {tuple(own[key].shape)} here; use the model config the checkpoint was trained with")
    missing = sorted(set(own) - set(state_dict))
    unexpected = sorted(set(state_dict) - set(own))
    if missing or unexpected:
        raise UserError(f"{source} does not fit this model: missing {missing[:3]}, unexpected {unexpected[:3]}; "
                        "use the model config the checkpoint was trained with")
    unwrap(model).load_state_dict(state_dict)
