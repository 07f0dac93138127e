"""Choosing the batch size: the largest that fits, and the largest that is worth it (course week 5).

1. The largest micro-batch that fits in memory: double the batch until a step no longer fits,
   then binary-search between the last that fitted and the first that did not.
     GPU   run forward + backward and read the peak of allocated memory; out-of-memory = no fit
     CPU   there is no out-of-memory to catch (the machine swaps instead), so check against a
           memory budget: the bytes of the weights, gradients and AdamW moments, plus the
           activations that autograd saves for the backward pass (counted by a hook), which
           grow with the batch
2. The critical batch size: the gradient noise scale B_simple = tr(Σ) / |G|² (McCandlish et al.
   2018, "An Empirical Model of Large-Batch Training"; see grad_stats.NoiseScale). Beyond it, a
   bigger batch buys little; below it, steps are wasted on noise. It is measured from the
   gradients of n micro-batches: each one is a small-batch sample, their mean a big-batch one.

A target batch above what fits is reached by gradient accumulation:
    grad_accum = ceil(target / micro_batch)
"""

from __future__ import annotations

import copy
import math
import os
from dataclasses import dataclass, field

import torch
from torch import nn

from scratchformer.errors import UserError
from scratchformer.progress import progress_bar
from scratchformer.training.grad_stats import noise_estimates


@dataclass
class MaxBatchResult:
    batch_size: int
    """The largest micro-batch that fits."""
    budget_bytes: int
    tried: dict = field(default_factory=dict)
    """batch size -> bytes needed (None when it ran out of memory)."""


def available_memory_bytes() -> int:
    """Free physical memory of this machine (Linux / macOS)."""
    return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


def fixed_bytes(model: nn.Module) -> int:
    """Memory that does not grow with the batch: weights, their gradients and AdamW's two moments."""
    params = sum(p.numel() * p.element_size() for p in model.parameters())
    return 4 * params


def saved_activation_bytes(model: nn.Module, batch: tuple) -> int:
    """Bytes of the tensors autograd keeps for the backward pass of one forward (each storage once)."""
    storages: dict[int, int] = {}
    param_ptrs = {p.data_ptr() for p in model.parameters()}

    def pack(t: torch.Tensor):
        ptr = t.untyped_storage().data_ptr()
        if ptr not in param_ptrs:  # weights are counted in fixed_bytes
            storages[ptr] = t.untyped_storage().nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        _, loss = model(*batch)
    storages[loss.untyped_storage().data_ptr()] = loss.untyped_storage().nbytes()
    return sum(storages.values())


def step_bytes(model: nn.Module, batch: tuple, device: torch.device) -> int | None:
    """Memory one training step with this batch needs; None when it runs out of GPU memory."""
    if device.type != "cuda":
        return fixed_bytes(model) + saved_activation_bytes(model, batch)
    torch.cuda.empty_cache()
    torch.cuda.reset_peak_memory_stats(device)
    try:
        _, loss = model(*batch)
        loss.backward()
        peak = torch.cuda.max_memory_allocated(device)
    except torch.cuda.OutOfMemoryError:
        peak = None
    finally:
        model.zero_grad(set_to_none=True)
        torch.cuda.empty_cache()
    # - AdamW's two moments are not allocated yet: add them
    return None if peak is None else peak + 2 * sum(p.numel() * p.element_size() for p in model.parameters())


def find_max_batch(model: nn.Module, data, device: str | torch.device = "cpu", budget_bytes: int | None = None,
                   start: int = 1, max_batch: int = 1024) -> MaxBatchResult:
    """The largest micro-batch in [start, max_batch] whose training step fits: doubling, then binary search.

    budget_bytes defaults to the GPU's memory, or on a CPU to half the free memory."""
    device = torch.device(device)
    if start < 1 or max_batch < start:
        raise UserError(f"the batch range must satisfy 1 <= start <= max_batch, got start={start}, max_batch={max_batch}")
    if budget_bytes is None:
        budget_bytes = (torch.cuda.get_device_properties(device).total_memory if device.type == "cuda"
                        else available_memory_bytes() // 2)
    rng_state = torch.get_rng_state()
    model = model.to(device)
    was_training = model.training
    model.train()
    generator = torch.Generator().manual_seed(0)
    tried: dict[int, int | None] = {}

    def fits(B: int) -> bool:
        batch = tuple(t.to(device) for t in data.batch("train", B, generator))
        tried[B] = step_bytes(model, batch, device)
        return tried[B] is not None and tried[B] <= budget_bytes

    try:
        # - doubling: find a batch that fits (lo) and one that does not (hi, or just past max_batch)
        lo, B = None, start
        while B <= max_batch and fits(B):
            lo, B = B, B * 2
        if lo is None:
            need = tried[start]
            raise UserError(f"even a batch of {start} does not fit" + (f" ({need / 2**20:.0f} MiB needed, "
                            f"budget {budget_bytes / 2**20:.0f} MiB)" if need else " (out of memory)") +
                            "; use a smaller model, a shorter context or a larger memory budget")
        hi = min(B, max_batch + 1)
        # - binary search: lo always fits, hi never does
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if fits(mid):
                lo = mid
            else:
                hi = mid
    finally:
        model.train(was_training)
        torch.set_rng_state(rng_state)
    return MaxBatchResult(batch_size=lo, budget_bytes=budget_bytes, tried=dict(sorted(tried.items())))


def measure_noise_scale(model: nn.Module, data, batch_size: int, n_batches: int = 8, repeats: int = 4,
                        device: str | torch.device = "cpu", seed: int = 0) -> dict:
    """B_simple from `repeats` rounds of `n_batches` micro-batches of `batch_size` rows each.

    Each micro-batch gradient g_i gives |g_small|² (b = batch_size); their mean gives |g_big|²
    (b = batch_size * n_batches). The squared norms are averaged over rounds before the ratio.
    The weights are not changed (gradients only, on a copy)."""
    if batch_size < 1 or n_batches < 2 or repeats < 1:
        raise UserError(f"the noise scale needs batch_size >= 1, n_batches >= 2 and repeats >= 1, got "
                        f"{batch_size}, {n_batches}, {repeats}")
    device = torch.device(device)
    rng_state = torch.get_rng_state()
    model = copy.deepcopy(model).to(device).train()
    params = [p for p in model.parameters() if p.requires_grad]
    generator = torch.Generator().manual_seed(seed)
    small_sq, big_sq = [], []
    try:
        for _ in progress_bar(range(repeats), desc="noise scale", unit="round"):
            total = [torch.zeros_like(p) for p in params]
            for _ in range(n_batches):
                model.zero_grad(set_to_none=True)
                batch = tuple(t.to(device) for t in data.batch("train", batch_size, generator))
                _, loss = model(*batch)
                loss.backward()
                grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
                small_sq.append(sum(float(g.float().square().sum()) for g in grads))
                for t, g in zip(total, grads):
                    t.add_(g)
            big_sq.append(sum(float((t / n_batches).float().square().sum()) for t in total))
    finally:
        torch.set_rng_state(rng_state)
    b_small, b_big = batch_size, batch_size * n_batches
    g2, trace = noise_estimates(sum(small_sq) / len(small_sq), b_small, sum(big_sq) / len(big_sq), b_big)
    return {"noise_scale": trace / g2 if g2 > 0 else float("inf"), "grad_sq": g2, "trace_sigma": trace,
            "b_small": b_small, "b_big": b_big}


def accumulation_for(target_batch: int, micro_batch: int) -> int:
    """Micro-batches per step to reach at least target_batch rows."""
    return max(1, math.ceil(target_batch / micro_batch))
