"""The training loop, written out (course weeks 4-5).

Read training/step.py first: the bare step of week 1 (forward, loss, backward, clip, step,
zero_grad). `Trainer.train_step` is that step with instruments around it (a test checks both
give the same weights):
  for each of grad_accum micro-batches:  loss = model(*batch)[1] / grad_accum;  loss.backward()
  (fp16: scale the loss, then unscale the gradients)
  stop or skip on a NaN/inf loss or gradient;  clip the gradient norm
  set the scheduled learning rate;  optimizer.step();  zero the gradients

Around it: periodic validation (nats and bits per character), logging to the run folder and
optional trackers (tracking.py), gradient statistics every stats_interval steps (grad_stats.py),
several processes under torchrun (distributed.py), a clean stop on Ctrl-C or SIGTERM with a
checkpoint (interrupt.py), atomic checkpoints and exact resume. Works with any model whose forward
is `model(*batch) -> (logits, loss)` and any data object with
`batch(split, batch_size, generator) -> tuple of tensors`.

Exact resume: a checkpoint stores the weights, the optimizer moments, the step, the state of
the generator that draws training batches, the global RNG state (dropout) and the fp16 loss
scale. Validation draws from its own generator, reseeded each time, so it never disturbs the
training stream.

Another length on resume: with a different max_steps (past the step reached), what is left of the
learning-rate schedule is fitted to the new remaining steps. From the step the run resumes at, the
rate follows the rest of the original curve (a cosine keeps decaying from where it was, to min_lr),
slowed down (a longer run) or sped up (a shorter one) so that it ends at the new max_steps; a run
that had already finished and is made longer continues at its final rate. There is never a jump.
Each change is stored in the checkpoint, so several of them compose.
"""

from __future__ import annotations

import dataclasses
import time
from contextlib import nullcontext
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import nn
from tqdm.auto import tqdm

from scratchformer.devices import resolve_device
from scratchformer.errors import UserError, warn
from scratchformer.progress import progress_bar
from scratchformer.training import distributed, tracking
from scratchformer.training.checkpoint import load_checkpoint, load_weights, save_checkpoint, unwrap
from scratchformer.training.evaluation import evaluate_loss
from scratchformer.training.grad_stats import GradStats, NonFiniteError, check_finite, gathered
from scratchformer.training.interrupt import StopSignal
from scratchformer.training.optim import build_optimizer, check_optimizer
from scratchformer.training.ramps import ramp_steps, ramp_value, round_up
from scratchformer.training.run_dir import RunDir
from scratchformer.training.schedules import SCHEDULES, get_schedule

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
ON_NAN = ("stop", "skip")
# with on_nan='skip': a run that skipped more than this fraction of its steps has not trained; it
# stops with an error once it has skipped at least SKIPPED_TO_STOP steps (or at its end)
MAX_SKIPPED_FRACTION = 0.5
SKIPPED_TO_STOP = 10


@dataclass
class TrainConfig:
    """How to train: optimiser, schedule, batch, precision, evaluation, statistics and checkpoints."""

    max_steps: int = 2000
    """Optimizer steps in the whole run."""
    batch_size: int = 12
    """Sequences per micro-batch (under torchrun: over all processes together)."""
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
    optimizer: str = "adamw"
    """adamw, or muon (Muon for the blocks' matrices, AdamW for the rest)."""
    layer_lr_decay: float = 1.0
    """Layer-wise learning-rate decay, for fine-tuning: the head and final norm learn at lr, each
    block below at this factor times the rate of the one above, the embeddings lowest. 1.0 is off."""
    grad_clip: float = 1.0
    """Clip the global gradient norm to this value; 0 disables clipping (the norm is still logged)."""
    eval_interval: int = 250
    """Validate every this many steps (and at the end); 0 validates only at the end."""
    eval_batches: int = 20
    """Batches per validation."""
    log_interval: int = 10
    """Log training metrics every this many steps."""
    stats_interval: int = 50
    """Log gradient statistics (per-layer gradient norms, update/weight ratios, clipping rate,
    noise scale) every this many steps; 0 turns them off."""
    on_nan: str = "stop"
    """What a NaN or inf loss or gradient does: 'stop' the run with a message, or 'skip' the step (a run
    that skips more than half of its steps still stops with an error: it is not learning)."""
    track: str = "none"
    """Trackers besides metrics.jsonl: 'none', 'wandb', 'tensorboard' or 'wandb,tensorboard'."""
    wandb_project: str = "scratchformer"
    """Weights & Biases project name (with track='wandb'; WANDB_MODE=offline needs no network)."""
    parallel: str = "ddp"
    """Under torchrun: 'ddp' (a model copy per process) or 'fsdp' (weights sharded across processes)."""
    checkpoint_interval: int = 0
    """Write a checkpoint every this many steps (and always at the end); 0 only at the end."""
    seed: int = 1337
    """Seed for initialisation, batch sampling and dropout."""
    device: str = "auto"
    """cpu, cuda, cuda:N, mps, or auto (cuda when available)."""
    dtype: str = "auto"
    """float32, bfloat16 or float16 autocast (float16 adds a gradient scaler); auto is bfloat16 on a
    GPU that supports it, else float32."""
    compile: bool | None = None
    """torch.compile the model; None means on for GPUs, off for CPUs."""
    batch_ramp_start: int = 0
    """Batch-size ramp: the micro-batch at the start, rising in ramp_stages stages to batch_size
    (training/ramps.py); 0 turns it off."""
    seq_ramp_start: int = 0
    """Sequence-length warm-up (language models): the window length at the start, rising in ramp_stages
    stages to the model's context_len; 0 turns it off."""
    ramp_fraction: float = 0.25
    """Both ramps reach their end after this fraction of max_steps (of the run a time budget fits)."""
    ramp_stages: int = 4
    """Stages each ramp climbs in (every new shape costs torch.compile a recompile)."""
    progress: bool = True
    """Show progress on stderr: a bar with loss, learning rate, tokens/s and ETA in a terminal, a line
    every 15 s in a log file."""

    def __post_init__(self):
        for name in ("max_steps", "batch_size", "grad_accum", "eval_batches", "log_interval"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        for name in ("warmup_steps", "eval_interval", "checkpoint_interval", "stats_interval"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.lr <= 0 or self.min_lr < 0:
            raise ValueError(f"lr must be > 0 and min_lr >= 0, got lr={self.lr}, min_lr={self.min_lr}")
        if not 0.0 < self.layer_lr_decay <= 1.0:
            raise ValueError(f"layer_lr_decay must be in (0, 1] (1 turns it off), got {self.layer_lr_decay}")
        if self.grad_clip < 0:
            raise ValueError(f"grad_clip must be >= 0, got {self.grad_clip}")
        check_optimizer(self.optimizer)  # an unknown name, or Muon on a torch before 2.9
        if self.schedule not in SCHEDULES:
            raise ValueError(f"unknown schedule {self.schedule!r}; choose one of {sorted(SCHEDULES)}")
        if self.dtype not in (*DTYPES, "auto"):
            raise ValueError(f"dtype must be one of {[*DTYPES, 'auto']}, got {self.dtype!r}")
        if self.on_nan not in ON_NAN:
            raise ValueError(f"on_nan must be one of {list(ON_NAN)}, got {self.on_nan!r}")
        if self.parallel not in distributed.STRATEGIES:
            raise ValueError(f"parallel must be one of {list(distributed.STRATEGIES)}, got {self.parallel!r}")
        tracking.parse_track(self.track)
        if self.batch_ramp_start < 0 or self.seq_ramp_start < 0:
            raise ValueError("batch_ramp_start and seq_ramp_start must be >= 0 (0 turns a ramp off)")
        if self.batch_ramp_start > self.batch_size:
            raise ValueError(f"the batch ramp ends below its start: batch_ramp_start {self.batch_ramp_start} > "
                             f"batch_size {self.batch_size}; give a start of at most batch_size")
        if not 0.0 < self.ramp_fraction <= 1.0 or self.ramp_stages < 1:
            raise ValueError(f"ramp_fraction must be in (0, 1] and ramp_stages at least 1, got "
                             f"{self.ramp_fraction} and {self.ramp_stages}")


def task_train_config(defaults: dict, **changes) -> TrainConfig:
    """The one way a task gets its TrainConfig: the engine's defaults above, then the task's own
    `defaults` (only the fields it changes), then `changes` (an experiment's, a test's).

        CLASSIFIER_TRAIN = dict(max_steps=1000, batch_size=64, lr=2e-3)     # in tasks/classification.py
        train: TrainConfig = field(default_factory=train_defaults(CLASSIFIER_TRAIN))
        task_train_config(CLASSIFIER_TRAIN, max_steps=300)                  # a variant of it
    """
    return TrainConfig(**{**defaults, **changes})


def train_defaults(defaults: dict):
    """A dataclass default_factory for a task's TrainConfig field (see task_train_config)."""
    def factory() -> TrainConfig:
        return task_train_config(defaults)
    return factory


DECAYING = ("cosine", "linear", "wsd", "one_cycle")  # schedules that end at min_lr


def check_before_training(cfg: TrainConfig, quiet: bool = False) -> TrainConfig:
    """Settings that pass field by field but make no sense together: warn, or fix with a warning.

    Called by the Trainer when it is built, so every task, experiment and command gets the same
    checks; returns the config to train with. quiet: fix without printing (other processes).
    """
    say = (lambda message: None) if quiet else warn
    if cfg.schedule in DECAYING and cfg.min_lr > cfg.lr:
        # - e.g. a preset's min_lr with a smaller --train.lr: the "decay" would rise to min_lr
        fixed = cfg.lr / 10
        say(f"min_lr {cfg.min_lr:g} is above lr {cfg.lr:g}, so the {cfg.schedule} decay would rise; "
            f"training with min_lr = lr/10 = {fixed:g} (set --train.min_lr to choose another)")
        cfg = dataclasses.replace(cfg, min_lr=fixed)
    if cfg.schedule != "constant" and cfg.warmup_steps >= cfg.max_steps:
        say(f"warmup_steps {cfg.warmup_steps} >= max_steps {cfg.max_steps}: the run ends during warmup and "
            f"the learning rate never reaches lr {cfg.lr:g}; lower --train.warmup_steps")
    if cfg.eval_interval > cfg.max_steps:
        say(f"eval_interval {cfg.eval_interval} is longer than the run ({cfg.max_steps} steps): "
            "validation happens only at the end")
    if cfg.checkpoint_interval > cfg.max_steps:
        say(f"checkpoint_interval {cfg.checkpoint_interval} is longer than the run ({cfg.max_steps} steps): "
            "the only checkpoint is written at the end")
    return cfg


def resolve_dtype(name: str, device: torch.device) -> torch.dtype:
    if name != "auto":
        return DTYPES[name]
    if device.type == "cuda" and torch.cuda.is_bf16_supported():
        return torch.bfloat16
    return torch.float32


class Trainer:
    """Trains `model` on `data` as `cfg` says. It holds one handle on the model, `self.model`: the
    model as it is trained (compiled and/or wrapped for several processes where that applies);
    `unwrap(self.model)` (checkpoint.py) is the plain model inside, for saving or generating."""

    def __init__(self, model: nn.Module, cfg: TrainConfig, data, run_dir: str | Path | None = None,
                 tokenizer=None, run_config: dict | None = None, model_kind: str = "gpt",
                 resume_hint: str | None = None):
        """resume_hint: the command that continues this run, printed when Ctrl-C or SIGTERM stops it."""
        self.resume_hint = resume_hint
        self.data = data
        self.tokenizer = tokenizer
        self.run_config = run_config or {}
        self.model_kind = model_kind
        tracking.check_available(cfg.track)
        # - under torchrun: join the other processes; each gets its device and dropout seed
        self.dist = distributed.from_env(cfg.parallel)
        distributed.check_batch(cfg.batch_size, self.dist)
        device = resolve_device(cfg.device)
        self.cfg = cfg = check_before_training(cfg, quiet=not self.dist.is_main)
        self.device = distributed.setup(self.dist, device)
        if self.dist.rank > 0:
            torch.manual_seed(cfg.seed + self.dist.rank)
        self.dtype = resolve_dtype(cfg.dtype, self.device)
        # - the one handle on the model: DDP around it or FSDP shards inside it (in place), then
        #   torch.compile; `model` stays the plain module, whose (sharded) parameters the optimizer holds
        model = model.to(self.device)
        self.model = distributed.wrap(model, self.dist, self.device)
        self.eager_model = self.model  # the model to fall back on if compiling fails
        self.compiled = bool(cfg.compile if cfg.compile is not None else self.device.type == "cuda")
        if self.compiled:
            self.model = torch.compile(self.model)
        self.compile_checked = not self.compiled  # set once a compiled step has run
        context_len = getattr(data, "context_len", None)
        if cfg.seq_ramp_start and context_len is not None and cfg.seq_ramp_start > context_len:
            raise UserError(f"the sequence-length ramp ends below its start: seq_ramp_start {cfg.seq_ramp_start} > "
                            f"the model's context_len {context_len}; give a start of at most {context_len}")
        self.optimizer = build_optimizer(model, cfg.lr, cfg.weight_decay, (cfg.beta1, cfg.beta2),
                                         name=cfg.optimizer, layer_lr_decay=cfg.layer_lr_decay)
        self.schedule = get_schedule(cfg.schedule)
        # - float16 overflows easily: scale the loss up, and the gradients back down (skip on inf)
        self.scaler = torch.amp.GradScaler(self.device.type) if self.dtype == torch.float16 else None
        # - training batches come from their own generator, so its state can be checkpointed
        self.batch_generator = torch.Generator().manual_seed(cfg.seed)
        self.step = 0
        self.skipped_steps = 0
        # - (start, old max_steps) for each resume that changed the run's length (see lr_at)
        self.schedule_stretches: list[tuple[int, int]] = []
        self.stats = GradStats(model, cfg.grad_clip) if cfg.stats_interval else None
        # - the noise scale compares one micro-batch's gradient with the step's (FSDP shards the former)
        self.measures_noise = cfg.grad_accum > 1 and not (self.dist.enabled and self.dist.strategy == "fsdp")
        # - only rank 0 writes the run folder and talks to trackers
        self.run_dir = RunDir(run_dir) if run_dir is not None and self.dist.is_main else None
        self.trackers: list[tracking.Tracker] = []
        self.history: list[dict] = []  # every logged record, also written to metrics.jsonl
        self.bar = None  # the progress bar, kept across fit(until=...) calls
        self.announced = False  # the one start line is printed
        self.eval_s = 0.0  # seconds spent validating (a time budget leaves them out)
        # - the first step at each new batch shape, timed: with torch.compile, that is where it compiles
        self.shapes_seen: set[tuple[int, int]] = set()
        self.first_shape_steps_s = 0.0
        self.tokens_seen = 0  # training tokens since this trainer was built

    def start_line(self) -> str:
        """One line saying what runs where: parameters, device, dtype, threads, run folder."""
        params = sum(p.numel() for p in self.model.parameters())
        threads = torch.get_num_threads() if self.device.type == "cpu" else None
        parts = [f"{params / 1e6:.2f}M parameters" if params >= 1e5 else f"{params:,} parameters",
                 f"device {self.device}", f"dtype {str(self.dtype).removeprefix('torch.')}"]
        if threads is not None:
            parts.append(f"{threads} CPU thread{'s' if threads != 1 else ''}")
        if self.dist.enabled:
            parts.append(f"{self.dist.world_size} processes ({self.dist.strategy})")
        parts.append(f"run folder {self.run_dir.path}" if self.run_dir is not None else "no run folder")
        return "training: " + ", ".join(parts)

    # ----------------------------------------------------------------------------------------
    # one step

    def autocast(self):
        if self.dtype == torch.float32:
            return nullcontext()
        return torch.autocast(self.device.type, dtype=self.dtype)

    def to_device(self, batch) -> tuple:
        return tuple(t.to(self.device, non_blocking=True) for t in batch)

    def ramp_sizes(self, step: int | None = None) -> tuple[int, int | None]:
        """(micro-batch size, window length or None for the data's own) at `step` under the ramps."""
        cfg = self.cfg
        step = self.step if step is None else step
        length = ramp_steps(cfg.max_steps, cfg.ramp_fraction)
        batch = round_up(ramp_value(cfg.batch_ramp_start, cfg.batch_size, step, length, cfg.ramp_stages),
                         self.dist.world_size)
        context_len = getattr(self.data, "context_len", None)
        seq = None
        if cfg.seq_ramp_start and context_len is not None:
            seq = ramp_value(cfg.seq_ramp_start, context_len, step, length, cfg.ramp_stages)
        return min(batch, cfg.batch_size), seq

    def ramping(self) -> bool:
        """Whether a ramp is still below its end at this step."""
        batch, seq = self.ramp_sizes()
        return batch < self.cfg.batch_size or (seq is not None and seq < self.data.context_len)

    def next_batch(self) -> tuple:
        """The next training micro-batch (under torchrun: this rank's rows of it), as the ramps size it."""
        batch_size, seq = self.ramp_sizes()
        batch = self.data.batch("train", batch_size, self.batch_generator)
        if seq is not None:
            # - the length ramp: the first seq tokens of each window and of its targets, (B, T) -> (B, seq)
            batch = tuple(t[:, :seq] if t.dim() == 2 else t for t in batch)
        return self.to_device(distributed.shard(batch, self.dist))

    def lr_at(self, step: int) -> float:
        """The scheduled learning rate. After resumes that changed the run's length, a step past the
        resume point maps back onto the original curve: [start, new max] -> [start, old max], where
        the new max is the next resume's old one, or max_steps now (a time budget may still move it)."""
        c, max_steps = self.cfg, self.cfg.max_steps
        for start, old_max in reversed(self.schedule_stretches):
            if step > start:
                step = start + (step - start) * (old_max - start) / max(max_steps - start, 1)
            max_steps = old_max
        return self.schedule(step, max_steps=max_steps, lr=c.lr, min_lr=c.min_lr, warmup_steps=c.warmup_steps)

    def train_step(self) -> dict:
        """One optimizer step over grad_accum micro-batches; returns loss, grad norm, lr, tokens
        (and 'stats' on a statistics step, 'skipped' when a NaN/inf step was skipped).

        The first step at each new batch shape is timed (first_shape_steps_s): with torch.compile
        that is where compiling happens. If the first compiled step fails (no working compiler
        here), training falls back to the uncompiled model with a warning."""
        shape = self.ramp_sizes()
        new_shape = shape not in self.shapes_seen
        start = time.perf_counter()
        if not self.compile_checked:
            rng, generator = torch.get_rng_state(), self.batch_generator.get_state()
            try:
                out = self._train_step()
            except Exception as e:  # the backend failed: same step again, uncompiled
                reason = (str(e).strip().splitlines() or [""])[0][:160]
                warn(f"torch.compile does not work here ({type(e).__name__}: {reason}); training without it")
                self.model, self.compiled = self.eager_model, False
                self.optimizer.zero_grad(set_to_none=True)
                torch.set_rng_state(rng)
                self.batch_generator.set_state(generator)
                out = self._train_step()
            self.compile_checked = True
        else:
            out = self._train_step()
        self.tokens_seen += out["tokens"]
        if new_shape:
            self.shapes_seen.add(shape)
            self.first_shape_steps_s += time.perf_counter() - start
        return out

    def _train_step(self) -> dict:
        cfg, accum = self.cfg, self.cfg.grad_accum
        stats_step = self.stats is not None and (self.step + 1) % cfg.stats_interval == 0
        self.model.train()
        # - the loss adds up on the device: reading it back (.item()) per micro-batch would wait for the GPU
        total_loss, tokens, first_sq = torch.zeros((), device=self.device), 0, None
        for i in range(accum):
            batch = self.next_batch()
            # - under torchrun, gradients are averaged across processes on the last micro-batch only
            with distributed.sync_gradients(self.model, self.dist, sync=i == accum - 1):
                with self.autocast():
                    _, loss = self.model(*batch)
                # - dividing by grad_accum makes the summed gradient the mean over the big batch
                loss = loss / accum
                (self.scaler.scale(loss) if self.scaler else loss).backward()
            total_loss += loss.detach().float()
            tokens += batch[0].numel() * self.dist.world_size
            if stats_step and i == 0 and self.measures_noise:
                # - one micro-batch's gradient: the small-batch sample for the noise scale
                first_sq = self.stats.grad_sq_norm() * (accum / self.loss_scale()) ** 2
        if self.scaler is not None:
            self.scaler.unscale_(self.optimizer)
        layer_norms = self.stats.layer_grad_norms() if stats_step else {}
        # - clip the global gradient norm (max_norm=inf just measures it)
        norm_t = nn.utils.clip_grad_norm_(self.model.parameters(), cfg.grad_clip or float("inf"))
        # - one host sync per step: the loss and the norm come back together (the NaN guard needs both)
        total_loss, grad_norm = torch.stack([total_loss, gathered(norm_t).float().to(total_loss.device)]).tolist()
        lr = self.lr_at(self.step)
        out = {"loss": total_loss, "grad_norm": grad_norm, "lr": lr, "tokens": tokens}
        # - a NaN/inf never reaches the weights: stop (an error) or skip this step
        #   (with fp16 the gradient scaler itself skips steps whose gradients overflowed)
        if not check_finite(total_loss, grad_norm, self.step, cfg.on_nan, check_grad=self.scaler is None,
                            grad_clip=cfg.grad_clip):
            self.optimizer.zero_grad(set_to_none=True)
            self.step += 1
            self.skipped_steps += 1
            return {**out, "skipped": True}
        for group in self.optimizer.param_groups:
            group["lr"] = lr * group.get("lr_scale", 1.0)  # (layer-wise decay: lower layers learn slower)
        if stats_step:
            self.stats.before_update()
        if self.scaler is not None:
            self.scaler.step(self.optimizer)
            self.scaler.update()
        else:
            self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        self.step += 1
        if self.stats is not None:
            self.stats.count_clip(grad_norm)
        if stats_step:
            out["stats"] = {**layer_norms, **self.stats.update_ratios(), **self.stats.clip_fraction()}
            if first_sq is not None:
                b_small = cfg.batch_size // self.dist.world_size
                self.stats.noise.update(first_sq, b_small, grad_norm ** 2, cfg.batch_size * accum)
                out["stats"]["noise_scale"] = self.stats.noise.value
        return out

    def loss_scale(self) -> float:
        return self.scaler.get_scale() if self.scaler is not None else 1.0

    # ----------------------------------------------------------------------------------------
    # validation

    def evaluate(self, split: str = "val", batches: int | None = None) -> dict:
        """Mean loss over fixed batches (the same ones every time), in nats and bits per character."""
        start = time.perf_counter()
        result = evaluate_loss(self.model, self.data, split, batches or self.cfg.eval_batches, self.cfg.batch_size,
                               seed=self.cfg.seed + 1, device=self.device, autocast=self.autocast)
        self.eval_s += time.perf_counter() - start  # (kept out of a time budget)
        return result

    # ----------------------------------------------------------------------------------------
    # checkpoints

    def state(self) -> dict:
        model_state, optimizer_state = distributed.state_dicts(unwrap(self.model), self.optimizer, self.dist)
        return {
            "kind": self.model_kind,
            "model": model_state,
            "model_config": asdict(unwrap(self.model).config) if hasattr(unwrap(self.model), "config") else {},
            "tokenizer": self.tokenizer.to_dict() if self.tokenizer is not None else None,
            "optimizer": optimizer_state,
            "scaler": self.scaler.state_dict() if self.scaler is not None else None,
            "step": self.step,
            "skipped_steps": self.skipped_steps,
            "schedule_stretches": [list(s) for s in self.schedule_stretches],
            "train_config": asdict(self.cfg),
            "run_config": self.run_config,
            "rng": {
                "batch": self.batch_generator.get_state(),
                "torch": torch.get_rng_state(),
                "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
            },
        }

    def save(self) -> Path | None:
        """Write the checkpoint (rank 0 only; under FSDP every rank must call this)."""
        if self.run_dir is None and not (self.dist.enabled and self.dist.strategy == "fsdp"):
            return None
        state = self.state()
        return save_checkpoint(self.run_dir.checkpoint, state) if self.run_dir is not None else None

    def resume(self, path: str | Path) -> None:
        """Continue exactly where the checkpoint left off."""
        state = load_checkpoint(path, map_location=self.device)
        self.check_same_model(state, path)
        if self.dist.enabled and self.dist.strategy == "fsdp":
            distributed.load_sharded(unwrap(self.model), self.optimizer, state["model"], state["optimizer"])
        else:
            load_weights(self.model, state["model"], source=f"checkpoint {path}")
            self.optimizer.load_state_dict(state["optimizer"])
        if self.scaler is not None and state.get("scaler"):
            self.scaler.load_state_dict(state["scaler"])
        self.step = int(state["step"])
        self.skipped_steps = int(state.get("skipped_steps", 0))
        self.schedule_stretches = [(int(s[0]), int(s[1])) for s in state.get("schedule_stretches", [])]
        saved_max = int(state.get("train_config", {}).get("max_steps", self.cfg.max_steps))
        if self.cfg.max_steps < self.step:
            raise UserError(f"--resume {path} is at step {self.step}, past max_steps {self.cfg.max_steps}; "
                            f"give --train.max_steps larger than {self.step} to train on")
        if self.cfg.max_steps != saved_max and self.cfg.max_steps > self.step:
            # - a longer or shorter run: fit the rest of the schedule to it instead of restarting it
            self.schedule_stretches.append((self.step, saved_max))
        self.batch_generator.set_state(state["rng"]["batch"].cpu())
        if self.dist.rank == 0:
            torch.set_rng_state(state["rng"]["torch"].cpu())
            if torch.cuda.is_available() and state["rng"]["cuda"]:
                torch.cuda.set_rng_state_all([s.cpu() for s in state["rng"]["cuda"]])
        if self.run_dir is not None:
            self.run_dir.truncate_metrics(self.step)

    def check_same_model(self, state: dict, path) -> None:
        """A checkpoint of another kind of model, or another shape, cannot be resumed here."""
        kind = state.get("kind", "gpt")
        if kind != self.model_kind:
            raise UserError(f"--resume {path} is a run of a {kind!r} model, but this run trains a "
                            f"{self.model_kind!r} model; resume a run of the same model or start a new one")
        config = getattr(unwrap(self.model), "config", None)
        saved = state.get("model_config") or {}
        if config is not None and saved:
            differ = [k for k, v in asdict(config).items() if k in saved and saved[k] != v]
            if differ:
                k = differ[0]
                raise UserError(f"--resume {path} was trained with a different model ({k} = {saved[k]!r} there, "
                                f"{getattr(config, k)!r} here); use the run's own model config")

    # ----------------------------------------------------------------------------------------
    # the loop

    def log(self, record: dict) -> None:
        self.history.append(record)
        if self.run_dir is not None:
            self.run_dir.log(record)
        for tracker in self.trackers:
            tracker.log(record)

    def close_trackers(self) -> None:
        for tracker in self.trackers:
            tracker.close()
        self.trackers = []

    def close_bar(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None

    def check_skipped(self, final: bool) -> None:
        """With on_nan='skip': stop with an error when most steps were skipped (the run is not learning)."""
        skipped = self.skipped_steps
        if skipped > MAX_SKIPPED_FRACTION * self.step and (final or skipped >= SKIPPED_TO_STOP):
            raise NonFiniteError(f"{skipped} of {self.step} steps were skipped because the loss or gradient was "
                                 f"NaN/inf, so the model is not learning; lower the learning rate (now "
                                 f"{self.cfg.lr:g})" + ("" if self.cfg.grad_clip else
                                                        " or enable gradient clipping (--train.grad_clip 1.0)"))

    def say(self, message: str) -> None:
        """Print a line above the progress bar (rank 0 only)."""
        if self.dist.is_main:
            tqdm.write(message)

    def fit(self, until: int | None = None) -> dict:
        """Train to max_steps (or stop early at step `until`), validating and checkpointing.

        Ctrl-C or SIGTERM finishes the current step, writes a checkpoint and returns with
        result['interrupted'] set to the signal's name."""
        cfg = self.cfg
        stop = min(cfg.max_steps, until) if until is not None else cfg.max_steps
        if self.dist.is_main and not self.trackers:  # still open after fit(until=...)
            self.trackers = tracking.build_trackers(
                cfg.track, self.run_dir.path if self.run_dir else None, self.run_config or asdict(cfg),
                cfg.wandb_project, self.run_dir.path.name if self.run_dir else None)
        if not self.announced and self.dist.is_main:
            self.say(self.start_line())
            self.announced = True
        # - one bar for the whole run, also when it trains in chunks (fit(until=...))
        if self.bar is None:
            self.bar = progress_bar(total=cfg.max_steps, initial=self.step, desc="training", unit="step", delay=0,
                                    enabled=cfg.progress and self.dist.is_main)
        bar = self.bar
        bar.total = cfg.max_steps  # (a schedule fitted to a time budget moves the end)
        start_time, window_tokens, window_start = time.perf_counter(), 0, time.perf_counter()
        last_eval: dict = {}
        interrupted = None
        try:
            with StopSignal() as signal:
                while self.step < stop:
                    out = self.train_step()
                    window_tokens += out["tokens"]
                    step = self.step
                    if out.get("skipped"):
                        self.say(f"step {step}: skipped, the loss or gradient is NaN/inf "
                                  f"({self.skipped_steps} skipped so far)")
                        self.check_skipped(final=False)
                    if step % cfg.log_interval == 0 or step == stop or "stats" in out:
                        now = time.perf_counter()
                        tokens_per_s = window_tokens / max(now - window_start, 1e-9)
                        window_tokens, window_start = 0, now
                        # - under torchrun, report the loss averaged over all processes
                        loss = distributed.mean(out["loss"], self.dist)
                        record = {"step": step, "loss": loss, "lr": out["lr"], "grad_norm": out["grad_norm"],
                                  "tokens_per_s": tokens_per_s, "elapsed_s": now - start_time,
                                  **out.get("stats", {})}
                        self.log(record)
                        bar.set_postfix(loss=f"{loss:.4f}", lr=f"{out['lr']:.2e}", tok_s=f"{tokens_per_s:,.0f}",
                                        refresh=False)  # (drawn with the next update, at most every few s)
                    is_last = step == cfg.max_steps
                    if (cfg.eval_interval and step % cfg.eval_interval == 0) or is_last:
                        last_eval = self.evaluate()
                        self.log({"step": step, **last_eval, "elapsed_s": time.perf_counter() - start_time})
                        self.say(f"step {step}: " + ", ".join(f"{k} {v:.4f}" for k, v in last_eval.items()))
                    if cfg.checkpoint_interval and step % cfg.checkpoint_interval == 0 and not is_last:
                        self.save()
                    bar.update(1)
                    # - a signal (on any process) stops every process after the same step
                    if distributed.any_rank(signal.received is not None, self.dist):
                        interrupted = signal.received or "a signal on another process"
                        break
            if self.step >= cfg.max_steps or interrupted is not None:
                self.close_bar()
            if self.step >= cfg.max_steps:
                self.check_skipped(final=True)
            path = self.save()
        except BaseException:
            self.close_bar()
            self.close_trackers()
            raise
        # - trackers stay open across fit(until=...) calls, and close when the run ends or stops
        if self.step >= cfg.max_steps or interrupted is not None:
            self.close_trackers()
        result = {"step": self.step, "elapsed_s": time.perf_counter() - start_time, **last_eval}
        if self.skipped_steps:
            result["skipped_steps"] = self.skipped_steps
        if interrupted is not None:
            result["interrupted"] = interrupted
            if self.dist.is_main:
                where = "no run folder, so no checkpoint"
                if path:
                    where = f"checkpoint written to {path}"
                    where += f"; continue with: {self.resume_hint}" if self.resume_hint else ""
                print(f"{interrupted} at step {self.step}: {where}", flush=True)
        return result
