"""The training loop, written out (course week 4-5).

One step:
  for each of grad_accum micro-batches:  loss = model(*batch)[1] / grad_accum;  loss.backward()
  clip the gradient norm;  set the scheduled learning rate;  optimizer.step();  zero the gradients

Around it: periodic validation (nats and bits per character), logging to the run folder,
atomic checkpoints, and exact resume. Works with any model whose forward is
`model(*batch) -> (logits, loss)` and any data object with
`batch(split, batch_size, generator) -> tuple of tensors`.

Exact resume: a checkpoint stores the weights, the optimizer moments, the step, the state of
the generator that draws training batches, and the global RNG state (dropout). Validation
draws from its own generator, reseeded each time, so it never disturbs the training stream.
"""

from __future__ import annotations

import math
import time
from contextlib import nullcontext
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import nn
from tqdm.auto import tqdm

from scratchformer.training.checkpoint import load_checkpoint, load_weights, save_checkpoint, unwrap
from scratchformer.training.optim import build_optimizer
from scratchformer.training.run_dir import RunDir
from scratchformer.training.schedules import SCHEDULES, get_schedule

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


@dataclass
class TrainConfig:
    """How to train: optimiser, schedule, batch, precision, evaluation and checkpoints."""

    max_steps: int = 2000
    """Optimizer steps in the whole run."""
    batch_size: int = 12
    """Sequences per micro-batch."""
    grad_accum: int = 1
    """Micro-batches per optimizer step (the effective batch is batch_size * grad_accum)."""
    lr: float = 1e-3
    """Peak learning rate."""
    min_lr: float = 1e-4
    """Learning rate at the end of the decay."""
    warmup_steps: int = 100
    """Steps of linear warmup from 0 to lr."""
    schedule: str = "cosine"
    """Learning-rate schedule: constant, warmup, cosine, linear, wsd, one_cycle."""
    weight_decay: float = 0.1
    """AdamW weight decay, applied to matrices only."""
    beta1: float = 0.9
    """AdamW beta1."""
    beta2: float = 0.99
    """AdamW beta2."""
    grad_clip: float = 1.0
    """Clip the global gradient norm to this value; 0 disables clipping (the norm is still logged)."""
    eval_interval: int = 250
    """Validate every this many steps (and at the end); 0 validates only at the end."""
    eval_batches: int = 20
    """Batches per validation."""
    log_interval: int = 10
    """Log training metrics every this many steps."""
    checkpoint_interval: int = 0
    """Write a checkpoint every this many steps (and always at the end); 0 only at the end."""
    seed: int = 1337
    """Seed for initialisation, batch sampling and dropout."""
    device: str = "auto"
    """cpu, cuda, cuda:N, mps, or auto (cuda when available)."""
    dtype: str = "auto"
    """float32, bfloat16 or float16 autocast; auto is bfloat16 on a GPU that supports it, else float32."""
    compile: bool | None = None
    """torch.compile the model; None means on for GPUs, off for CPUs."""
    progress: bool = True
    """Show a progress bar with loss, learning rate, tokens/s and ETA."""

    def __post_init__(self):
        for name in ("max_steps", "batch_size", "grad_accum", "eval_batches", "log_interval"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        for name in ("warmup_steps", "eval_interval", "checkpoint_interval"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.lr <= 0 or self.min_lr < 0:
            raise ValueError(f"lr must be > 0 and min_lr >= 0, got lr={self.lr}, min_lr={self.min_lr}")
        if self.grad_clip < 0:
            raise ValueError(f"grad_clip must be >= 0, got {self.grad_clip}")
        if self.schedule not in SCHEDULES:
            raise ValueError(f"unknown schedule {self.schedule!r}; choose one of {sorted(SCHEDULES)}")
        if self.dtype not in (*DTYPES, "auto"):
            raise ValueError(f"dtype must be one of {[*DTYPES, 'auto']}, got {self.dtype!r}")


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def resolve_dtype(name: str, device: torch.device) -> torch.dtype:
    if name != "auto":
        return DTYPES[name]
    if device.type == "cuda" and torch.cuda.is_bf16_supported():
        return torch.bfloat16
    return torch.float32


class Trainer:
    def __init__(self, model: nn.Module, cfg: TrainConfig, data, run_dir: str | Path | None = None,
                 tokenizer=None, run_config: dict | None = None, model_kind: str = "gpt"):
        self.cfg = cfg
        self.data = data
        self.tokenizer = tokenizer
        self.run_config = run_config or {}
        self.model_kind = model_kind
        self.device = resolve_device(cfg.device)
        self.dtype = resolve_dtype(cfg.dtype, self.device)
        self.model = model.to(self.device)
        self.optimizer = build_optimizer(self.model, cfg.lr, cfg.weight_decay, (cfg.beta1, cfg.beta2))
        self.schedule = get_schedule(cfg.schedule)
        # - training batches come from their own generator, so its state can be checkpointed
        self.batch_generator = torch.Generator().manual_seed(cfg.seed)
        self.step = 0
        compile_model = cfg.compile if cfg.compile is not None else self.device.type == "cuda"
        self.forward_model = torch.compile(self.model) if compile_model else self.model
        self.run_dir = RunDir(run_dir) if run_dir is not None else None
        self.history: list[dict] = []  # every logged record, also written to metrics.jsonl

    # ----------------------------------------------------------------------------------------
    # one step

    def autocast(self):
        if self.dtype == torch.float32:
            return nullcontext()
        return torch.autocast(self.device.type, dtype=self.dtype)

    def to_device(self, batch) -> tuple:
        return tuple(t.to(self.device, non_blocking=True) for t in batch)

    def lr_at(self, step: int) -> float:
        c = self.cfg
        return self.schedule(step, max_steps=c.max_steps, lr=c.lr, min_lr=c.min_lr, warmup_steps=c.warmup_steps)

    def train_step(self) -> dict:
        """One optimizer step over grad_accum micro-batches; returns loss, grad norm, lr, tokens."""
        cfg = self.cfg
        self.model.train()
        total_loss, tokens = 0.0, 0
        for _ in range(cfg.grad_accum):
            batch = self.to_device(self.data.batch("train", cfg.batch_size, self.batch_generator))
            with self.autocast():
                _, loss = self.forward_model(*batch)
            # - dividing by grad_accum makes the summed gradient the mean over the big batch
            (loss / cfg.grad_accum).backward()
            total_loss += loss.item() / cfg.grad_accum
            tokens += batch[0].numel()
        # - clip the global gradient norm (max_norm=inf just measures it)
        grad_norm = nn.utils.clip_grad_norm_(self.model.parameters(), cfg.grad_clip or float("inf"))
        lr = self.lr_at(self.step)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        self.step += 1
        return {"loss": total_loss, "grad_norm": float(grad_norm), "lr": lr, "tokens": tokens}

    # ----------------------------------------------------------------------------------------
    # validation

    @torch.no_grad()
    def evaluate(self, split: str = "val", batches: int | None = None) -> dict:
        """Mean loss over fixed batches (the same ones every time), in nats and bits per character."""
        self.model.eval()
        generator = torch.Generator().manual_seed(self.cfg.seed + 1)
        losses = []
        for _ in range(batches or self.cfg.eval_batches):
            batch = self.to_device(self.data.batch(split, self.cfg.batch_size, generator))
            with self.autocast():
                _, loss = self.forward_model(*batch)
            losses.append(loss.item())
        self.model.train()
        nats = sum(losses) / len(losses)
        # - bits per character: nats -> bits, then tokens -> characters
        chars_per_token = getattr(self.data, "chars_per_token", {}).get(split, 1.0)
        return {f"{split}_loss": nats, f"{split}_bpc": nats / math.log(2) / chars_per_token}

    # ----------------------------------------------------------------------------------------
    # checkpoints

    def state(self) -> dict:
        return {
            "kind": self.model_kind,
            "model": unwrap(self.model).state_dict(),
            "model_config": asdict(unwrap(self.model).config) if hasattr(unwrap(self.model), "config") else {},
            "tokenizer": self.tokenizer.to_dict() if self.tokenizer is not None else None,
            "optimizer": self.optimizer.state_dict(),
            "step": self.step,
            "train_config": asdict(self.cfg),
            "run_config": self.run_config,
            "rng": {
                "batch": self.batch_generator.get_state(),
                "torch": torch.get_rng_state(),
                "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
            },
        }

    def save(self) -> Path | None:
        if self.run_dir is None:
            return None
        return save_checkpoint(self.run_dir.checkpoint, self.state())

    def resume(self, path: str | Path) -> None:
        """Continue exactly where the checkpoint left off."""
        state = load_checkpoint(path, map_location=self.device)
        load_weights(self.model, state["model"], source=f"checkpoint {path}")
        self.optimizer.load_state_dict(state["optimizer"])
        self.step = int(state["step"])
        self.batch_generator.set_state(state["rng"]["batch"].cpu())
        torch.set_rng_state(state["rng"]["torch"].cpu())
        if torch.cuda.is_available() and state["rng"]["cuda"]:
            torch.cuda.set_rng_state_all([s.cpu() for s in state["rng"]["cuda"]])
        if self.run_dir is not None:
            self.run_dir.truncate_metrics(self.step)

    # ----------------------------------------------------------------------------------------
    # the loop

    def log(self, record: dict) -> None:
        self.history.append(record)
        if self.run_dir is not None:
            self.run_dir.log(record)

    def fit(self, until: int | None = None) -> dict:
        """Train to max_steps (or stop early at step `until`), validating and checkpointing."""
        cfg = self.cfg
        stop = min(cfg.max_steps, until) if until is not None else cfg.max_steps
        bar = tqdm(total=cfg.max_steps, initial=self.step, disable=not cfg.progress, unit="step",
                   dynamic_ncols=True)
        start_time, window_tokens, window_start = time.perf_counter(), 0, time.perf_counter()
        last_eval: dict = {}
        while self.step < stop:
            out = self.train_step()
            window_tokens += out["tokens"]
            step = self.step
            if step % cfg.log_interval == 0 or step == stop:
                now = time.perf_counter()
                tokens_per_s = window_tokens / max(now - window_start, 1e-9)
                window_tokens, window_start = 0, now
                record = {"step": step, "loss": out["loss"], "lr": out["lr"], "grad_norm": out["grad_norm"],
                          "tokens_per_s": tokens_per_s, "elapsed_s": now - start_time}
                self.log(record)
                bar.set_postfix(loss=f"{out['loss']:.4f}", lr=f"{out['lr']:.2e}", tok_s=f"{tokens_per_s:,.0f}")
            is_last = step == cfg.max_steps
            if (cfg.eval_interval and step % cfg.eval_interval == 0) or is_last:
                last_eval = self.evaluate()
                self.log({"step": step, **last_eval, "elapsed_s": time.perf_counter() - start_time})
                bar.write(f"step {step}: " + ", ".join(f"{k} {v:.4f}" for k, v in last_eval.items()))
            if cfg.checkpoint_interval and step % cfg.checkpoint_interval == 0 and not is_last:
                self.save()
            bar.update(1)
        bar.close()
        self.save()
        return {"step": self.step, "elapsed_s": time.perf_counter() - start_time, **last_eval}
