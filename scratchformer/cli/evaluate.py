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


def add_arguments(parser) -> None:
    parser.add_class_arguments(EvalConfig, None, as_group=False)


def run(args) -> None:
    import dataclasses
    import json

    from scratchformer.data.corpus import CorpusConfig, load_splits
    from scratchformer.data.lm_data import LMData
    from scratchformer.errors import UserError
    from scratchformer.tasks.language_model import load_run, restrict_to_vocabulary
    from scratchformer.training.trainer import TrainConfig, Trainer

    if args.run is None:
        raise UserError("say which run to evaluate: --run runs/NAME")
    if args.split not in ("train", "val", "test"):
        raise UserError(f"--split must be train, val or test, got {args.split!r}")
    model, tokenizer, state = load_run(args.run, args.device)
    data_cfg = CorpusConfig(**state.get("run_config", {}).get("data", {}))
    if args.corpus is not None:
        data_cfg = dataclasses.replace(data_cfg, corpus=args.corpus)
    splits = load_splits(data_cfg)
    if not splits.get(args.split):
        raise UserError(f"the corpus has no {args.split} split")
    splits = restrict_to_vocabulary(splits, tokenizer)
    data = LMData.from_text(splits, tokenizer, model.config.context_len)
    cfg = TrainConfig(batch_size=args.batch_size, eval_batches=args.batches, device=args.device, progress=False)
    result = Trainer(model, cfg, data).evaluate(args.split)
    print(json.dumps({"run": str(args.run), "split": args.split, **result}))
