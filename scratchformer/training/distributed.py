"""Several processes, one model: DistributedDataParallel and FSDP under `torchrun` (course week 5).

torchrun starts one process per device and tells each who it is through environment variables:
RANK (0 .. WORLD_SIZE-1), LOCAL_RANK (its device on this node), WORLD_SIZE, MASTER_ADDR/PORT.

    global batch of B rows, W processes ("ranks"), b = B / W:

    shared generator ─► [ rows 0..b-1 | rows b..2b-1 | ... ]      every rank draws the same batch
                            rank 0        rank 1                   and keeps only its own rows
    each rank: forward, backward on its rows ─► all-reduce: mean of the W gradients ─► same step

Every rank draws the same global batch from a generator seeded alike and keeps its own rows, so
each rank trains on its own shard of the data and the step equals one process on the whole batch
(the test checks the losses match). Dropout gets a different seed on each rank.

With gradient accumulation the gradients are averaged only on the last micro-batch (`no_sync` on
the others): one all-reduce per optimizer step instead of one per micro-batch.

  ddp    DistributedDataParallel: a full copy of the model on every rank (Li et al. 2020)
  fsdp   Fully Sharded Data Parallel (FSDP2, `fully_shard`): each rank holds 1/W of every weight,
         gradient and optimizer moment, and gathers a block's weights just before using them
         (Zhao et al. 2023), for models that do not fit on one GPU

Only rank 0 writes logs and checkpoints (the Trainer asks `is_main`).
"""

from __future__ import annotations

import inspect
import os
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn

from scratchformer.errors import UserError

STRATEGIES = ("ddp", "fsdp")


@dataclass(frozen=True)
class DistContext:
    """Who this process is among the processes torchrun started."""

    rank: int = 0
    local_rank: int = 0
    world_size: int = 1
    strategy: str = "ddp"

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def from_env(strategy: str = "ddp") -> DistContext:
    """Read RANK / LOCAL_RANK / WORLD_SIZE as set by torchrun (one process when they are absent)."""
    env = os.environ
    if int(env.get("WORLD_SIZE", "1")) <= 1:
        return DistContext(strategy=strategy)
    return DistContext(int(env["RANK"]), int(env.get("LOCAL_RANK", env["RANK"])), int(env["WORLD_SIZE"]), strategy)


def check_batch(batch_size: int, ctx: DistContext) -> None:
    if batch_size % ctx.world_size:
        raise UserError(f"batch_size {batch_size} is not divisible by the world size {ctx.world_size} "
                        f"(processes started by torchrun); use a multiple of {ctx.world_size}")


def setup(ctx: DistContext, device: torch.device) -> torch.device:
    """Join the process group (NCCL on GPUs, gloo on CPUs); returns this rank's device."""
    if not ctx.enabled:
        return device
    if device.type == "cuda":
        device = torch.device("cuda", ctx.local_rank)
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return device


def wrap(model: nn.Module, ctx: DistContext, device: torch.device) -> nn.Module:
    """The model as the ranks share it: DDP around it, or FSDP shards inside it (in place)."""
    if not ctx.enabled:
        return model
    if ctx.strategy == "ddp":
        # - buffers here are constants (RoPE tables, masks): no need to broadcast them every forward
        ddp = nn.parallel.DistributedDataParallel
        no_buffer_sync = ({"forward_sync_buffers": False} if "forward_sync_buffers" in
                          inspect.signature(ddp).parameters else {"broadcast_buffers": False})  # newer torch
        return ddp(model, device_ids=[device.index] if device.type == "cuda" else None, **no_buffer_sync)
    from torch.distributed.fsdp import fully_shard

    # - shard each block on its own (gathered one at a time), then the rest (embeddings, head)
    for block in getattr(model, "blocks", []):
        fully_shard(block)
    fully_shard(model)
    return model


def shard(batch: tuple, ctx: DistContext) -> tuple:
    """This rank's rows of a global batch (every tensor has the batch first)."""
    if not ctx.enabled:
        return batch
    b = batch[0].shape[0] // ctx.world_size
    return tuple(t[ctx.rank * b:(ctx.rank + 1) * b] for t in batch)  # (b, ...)


@contextmanager
def sync_gradients(wrapped: nn.Module, ctx: DistContext, sync: bool):
    """Average gradients across ranks in this backward only when `sync` (the last micro-batch)."""
    wrapped = getattr(wrapped, "_orig_mod", wrapped)  # the DDP/FSDP model inside torch.compile
    if not ctx.enabled:
        yield
    elif ctx.strategy == "ddp":
        with (nullcontext() if sync else wrapped.no_sync()):
            yield
    else:
        wrapped.set_requires_gradient_sync(sync)
        yield


def mean(value: float, ctx: DistContext) -> float:
    """The mean of a number over all ranks (one all-reduce)."""
    if not ctx.enabled:
        return value
    t = torch.tensor([value], dtype=torch.float64, device=_collective_device(ctx))
    dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return t.item() / ctx.world_size


def any_rank(flag: bool, ctx: DistContext) -> bool:
    """True on every rank when it is true on any rank (so all ranks stop together)."""
    if not ctx.enabled:
        return flag
    t = torch.tensor([float(flag)], device=_collective_device(ctx))
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item())


def _collective_device(ctx: DistContext) -> torch.device:
    return torch.device("cuda", ctx.local_rank) if dist.get_backend() == "nccl" else torch.device("cpu")


def state_dicts(model: nn.Module, optimizer: torch.optim.Optimizer, ctx: DistContext) -> tuple[dict, dict]:
    """Full (unsharded) model and optimizer state; under FSDP every rank must call this."""
    if ctx.enabled and ctx.strategy == "fsdp":
        from torch.distributed.checkpoint.state_dict import StateDictOptions, get_state_dict

        return get_state_dict(model, optimizer, options=StateDictOptions(full_state_dict=True, cpu_offload=True))
    from scratchformer.training.checkpoint import unwrap

    return unwrap(model).state_dict(), optimizer.state_dict()


def load_sharded(model: nn.Module, optimizer: torch.optim.Optimizer, model_state: dict, optim_state: dict) -> None:
    """Load full state saved by `state_dicts` into an FSDP-sharded model and its optimizer."""
    from torch.distributed.checkpoint.state_dict import StateDictOptions, set_state_dict

    set_state_dict(model, optimizer, model_state_dict=model_state, optim_state_dict=optim_state,
                   options=StateDictOptions(full_state_dict=True))


def barrier(ctx: DistContext) -> None:
    if ctx.enabled:
        dist.barrier()
