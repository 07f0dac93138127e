"""Evaluate a trained run: mean loss in nats and bits per character on a split of its corpus.

  scratchformer eval --run runs/NAME --split val

The corpus and context come from the run's own config; --corpus evaluates on another text.
"""

from __future__ import annotations

from dataclasses import dataclass

HELP = "evaluate a run's checkpoint: loss in nats and bits per character"


@dataclass
class EvalConfig:
    run: str | None = None
    """A run folder (runs/NAME) or a checkpoint file."""
    split: str = "val"
    """train, val or test."""
    corpus: str | None = None
    """Evaluate on this corpus instead of the run's own."""
    batches: int = 50
    """Batches to average over."""
    batch_size: int = 16
    """Sequences per batch."""
    device: str = "cpu"
    """Device to evaluate on."""

    def __post_init__(self):
        if self.batches < 1 or self.batch_size < 1:
            raise ValueError(f"batches and batch_size must be at least 1, got {self.batches} and {self.batch_size}")
        if self.split not in ("train", "val", "test"):
            raise ValueError(f"split must be train, val or test, got {self.split!r}")


def add_arguments(parser) -> None:
    parser.add_class_arguments(EvalConfig, None, as_group=False)


def run(args) -> None:
    import dataclasses
    import json

    from scratchformer.data.corpus import CorpusConfig, load_splits
    from scratchformer.data.lm_data import LMData
    from scratchformer.errors import UserError, config_from_options
    from scratchformer.tasks.language_model import restrict_to_vocabulary
    from scratchformer.tasks.runs import load_language_model
    from scratchformer.training.evaluation import evaluate_loss

    args = config_from_options(EvalConfig, args)
    if args.run is None:
        raise UserError("say which run to evaluate: --run runs/NAME")
    run = load_language_model(args.run, args.device, command="eval")
    data_cfg = CorpusConfig(**run.config.get("data", {}))
    if args.corpus is not None:
        data_cfg = dataclasses.replace(data_cfg, corpus=args.corpus)
    splits = load_splits(data_cfg)
    if not splits.get(args.split):
        raise UserError(f"the corpus has no {args.split} split")
    splits = restrict_to_vocabulary(splits, run.tokenizer)
    data = LMData.from_text(splits, run.tokenizer, run.model.config.context_len)
    # - the same stream of validation batches as the Trainer draws (its seed + 1)
    seed = run.config.get("train", {}).get("seed", 0) + 1
    result = evaluate_loss(run.model, data, args.split, args.batches, args.batch_size, seed=seed, device=args.device)
    print(json.dumps({"run": str(args.run), "split": args.split, **result}))
