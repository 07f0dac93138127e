"""Find the batch size: the largest micro-batch that fits, and the critical batch size.

  scratchformer find-batch-size --config configs/demo.yaml [--budget_mb 2000] [--resume runs/NAME]
  scratchformer find-batch-size --task classifier --classifier configs/imdb.yaml --classifier.data.source PATH

1. The largest micro-batch whose training step fits: doubling, then binary search; on a GPU an
   out-of-memory error means "does not fit", on a CPU the step's memory is checked against
   --budget_mb (default: half the free memory).
2. The gradient noise scale B_simple (McCandlish et al. 2018), an estimate of the critical batch
   size, from --noise.n_batches micro-batches of --noise.batch_size rows. It grows as training
   goes on: measure it on a trained run with --resume runs/NAME.
Then it suggests --train.batch_size and --train.grad_accum to reach the critical batch.
"""

from __future__ import annotations

from dataclasses import dataclass

HELP = "largest batch that fits (doubling + binary search) and the critical batch size (noise scale)"


@dataclass
class NoiseConfig:
    """Measuring the gradient noise scale."""

    batch_size: int = 4
    """Rows of each small batch."""
    n_batches: int = 8
    """Small batches per round: their mean gradient is the big-batch gradient."""
    repeats: int = 4
    """Rounds to average over."""

    def __post_init__(self):
        if self.batch_size < 1 or self.n_batches < 2 or self.repeats < 1:
            raise ValueError(f"noise needs batch_size >= 1, n_batches >= 2, repeats >= 1, got "
                             f"{self.batch_size}, {self.n_batches}, {self.repeats}")


def add_arguments(parser) -> None:
    from scratchformer.cli.find_lr import add_model_arguments

    add_model_arguments(parser)
    parser.add_class_arguments(NoiseConfig, "noise")
    parser.add_argument("--budget_mb", type=float | None, default=None,
                        help="memory budget per micro-batch step in MiB (default: the GPU's memory, or half "
                             "the free memory on a CPU)")
    parser.add_argument("--max_batch", type=int, default=512, help="largest micro-batch to try")


def run(args) -> None:
    import json

    from scratchformer.cli.find_lr import model_and_data
    from scratchformer.errors import UserError
    from scratchformer.training.batch_size import accumulation_for, find_max_batch, measure_noise_scale
    from scratchformer.devices import resolve_device

    if args.budget_mb is not None and args.budget_mb <= 0:
        raise UserError(f"--budget_mb must be positive, got {args.budget_mb}")
    if args.max_batch < 1:
        raise UserError(f"--max_batch must be at least 1, got {args.max_batch}")
    cfg, model, data = model_and_data(args)
    device = resolve_device(cfg.train.device)
    budget = int(args.budget_mb * 2**20) if args.budget_mb is not None else None
    fit = find_max_batch(model, data, device, budget_bytes=budget, max_batch=args.max_batch)
    for B, need in fit.tried.items():
        print(f"  batch {B:5d}: " + ("out of memory" if need is None else f"{need / 2**20:8.1f} MiB"))
    print(f"largest micro-batch that fits: {fit.batch_size} (budget {fit.budget_bytes / 2**20:.0f} MiB)")
    noise = measure_noise_scale(model, data, args.noise.batch_size, args.noise.n_batches, args.noise.repeats,
                                device=device, seed=cfg.train.seed)
    critical = noise["noise_scale"]
    print(f"gradient noise scale B_simple: {critical:.1f} sequences")
    if critical == critical and critical not in (float("inf"),) and critical > 0:
        target = max(1, round(critical))
        micro = min(fit.batch_size, target)
        accum = accumulation_for(target, micro)
        train = "--classifier.train" if args.task == "classifier" else "--train"
        print(f"suggested: {train}.batch_size {micro} {train}.grad_accum {accum} "
              f"(effective batch {micro * accum}, about the critical batch)")
    else:
        print("the noise scale could not be estimated (the gradient is too noisy); raise --noise.repeats")
    print(json.dumps({"max_micro_batch": fit.batch_size, "noise_scale": critical, **{k: v for k, v in noise.items()
                                                                                       if k != "noise_scale"}}))
