"""Optimisers: AdamW with weight decay on matrices only, and Muon for the hidden matrices.

AdamW (Loshchilov & Hutter 2019). Weight decay pulls weights toward zero. It makes sense for
weight matrices and embedding tables (2-D and up) but not for biases and norm gains (1-D),
which set scales and offsets.

Muon (Jordan et al. 2024, "Muon: an optimizer for hidden layers"): momentum SGD whose update
for a weight matrix is orthogonalised by a few Newton-Schulz iterations, so every direction
of the matrix moves at the same rate. Only the blocks' 2-D weights use it; embeddings, the
output layer, norms and biases stay with AdamW. torch.optim.Muon does the orthogonalisation;
adjust_lr_fn="match_rms_adamw" scales its update so one learning rate suits both. It arrived in
torch 2.9; on an older torch, asking for Muon is a one-line error that says so.
"""

from __future__ import annotations

import torch
from torch import nn

OPTIMIZERS = ("adamw", "muon")
MUON_TORCH = "2.9"  # the first torch with torch.optim.Muon


def check_optimizer(name: str) -> None:
    """ValueError for an unknown optimizer, or for Muon on a torch that lacks it."""
    if name not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {name!r}; choose one of {list(OPTIMIZERS)}")
    if name == "muon" and not hasattr(torch.optim, "Muon"):
        raise ValueError(f"optimizer 'muon' needs torch >= {MUON_TORCH} (torch.optim.Muon), but this is torch "
                         f"{torch.__version__}; upgrade torch, or choose optimizer 'adamw'")


def param_groups(named: list[tuple[str, nn.Parameter]], weight_decay: float, layer_lr_decay: float = 1.0,
                 n_layers: int = 0) -> list[dict]:
    """Parameter groups: tensors with dim >= 2 get weight decay, the rest do not.

    With layer_lr_decay < 1, each depth (see layer_depth) is a group of its own whose
    "lr_scale" is layer_lr_decay ** (levels above it); the trainer multiplies the scheduled
    rate by it. Empty groups are left out.
    """
    groups: dict[tuple[int, bool], dict] = {}
    for name, p in named:
        depth = layer_depth(name, n_layers) if layer_lr_decay != 1.0 else 0
        decays = p.dim() >= 2
        group = groups.setdefault((depth, decays), {
            "params": [], "weight_decay": weight_decay if decays else 0.0,
            "lr_scale": layer_lr_decay ** (n_layers + 1 - depth) if layer_lr_decay != 1.0 else 1.0})
        group["params"].append(p)
    # - input side first, and within a depth the decayed tensors first
    return [groups[key] for key in sorted(groups, key=lambda k: (k[0], not k[1]))]


def layer_depth(name: str, n_layers: int) -> int:
    """Where a parameter sits: 0 for embeddings and positions (the input), i + 1 for block i,
    n_layers + 1 for everything after the blocks (final norm, output layer, classifier head)."""
    parts = name.split(".")
    if "blocks" in parts:
        return int(parts[parts.index("blocks") + 1]) + 1
    if "emb" in name or "positions" in parts or name in ("cls",):
        return 0
    return n_layers + 1


def count_layers(named: list[tuple[str, nn.Parameter]]) -> int:
    """The number of blocks, read off parameter names such as 'attention.blocks.3.attn.q_proj.weight'."""
    indices = [layer_depth(n, 0) for n, _ in named if ".blocks." in f".{n}"]
    return max(indices, default=0)


def is_hidden_matrix(name: str, p: nn.Parameter) -> bool:
    """A 2-D weight inside a transformer block (not an embedding or the output layer)."""
    return p.dim() == 2 and ".blocks." in f".{name}" and "emb" not in name


class ChainedOptimizer:
    """Several optimisers over disjoint parameters, stepped together as one."""

    def __init__(self, *optimizers: torch.optim.Optimizer):
        self.optimizers = optimizers

    @property
    def param_groups(self) -> list[dict]:
        return [g for opt in self.optimizers for g in opt.param_groups]

    def step(self) -> None:
        for opt in self.optimizers:
            opt.step()

    def zero_grad(self, set_to_none: bool = True) -> None:
        for opt in self.optimizers:
            opt.zero_grad(set_to_none=set_to_none)

    def state_dict(self) -> dict:
        return {"optimizers": [opt.state_dict() for opt in self.optimizers]}

    def load_state_dict(self, state: dict) -> None:
        for opt, s in zip(self.optimizers, state["optimizers"]):
            opt.load_state_dict(s)


def build_optimizer(model: nn.Module, lr: float, weight_decay: float, betas: tuple[float, float],
                    eps: float = 1e-8, name: str = "adamw", layer_lr_decay: float = 1.0):
    """AdamW over all parameters, or Muon for hidden matrices chained with AdamW for the rest.

    layer_lr_decay < 1: discriminative fine-tuning (Howard & Ruder 2018, ULMFiT; Clark et al. 2020,
    ELECTRA): the top (head, final norm) learns at lr, each block below at layer_lr_decay times the
    rate of the one above, the embeddings lowest; general features low down change least.
    """
    check_optimizer(name)
    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]  # tied weights appear once
    n_layers = count_layers(named)
    # - the fused kernel updates all tensors in one pass (CPU and CUDA); fall back to the loop elsewhere
    fused = all(p.device.type in ("cpu", "cuda") for _, p in named) or None
    if name == "adamw":
        return torch.optim.AdamW(param_groups(named, weight_decay, layer_lr_decay, n_layers), lr=lr, betas=betas,
                                 eps=eps, fused=fused)
    # - muon: the blocks' matrices to Muon, everything else to AdamW
    hidden = [(n, p) for n, p in named if is_hidden_matrix(n, p)]
    rest = [(n, p) for n, p in named if not is_hidden_matrix(n, p)]
    muon = torch.optim.Muon(param_groups(hidden, weight_decay, layer_lr_decay, n_layers), lr=lr,
                            weight_decay=weight_decay, adjust_lr_fn="match_rms_adamw")
    adamw = torch.optim.AdamW(param_groups(rest, weight_decay, layer_lr_decay, n_layers), lr=lr, betas=betas,
                              eps=eps, fused=fused)
    return ChainedOptimizer(muon, adamw)
