"""Find a learning rate: the range test (Smith 2015) on a throw-away copy of the model.

  scratchformer find-lr --config configs/demo.yaml --finder.num_steps 100 --plot lr_finder.png
  scratchformer find-lr --task classifier --classifier configs/imdb.yaml --classifier.data.source PATH

The model and data are built exactly as `train` builds them (same preset, same dotted overrides;
the batch, accumulation, clipping and precision come from --train.*); with --task classifier, as
`train-classifier` builds them from the --classifier preset (and --classifier.train.*). The
learning rate grows exponentially from --finder.start_lr to --finder.end_lr; the sweep stops when
the smoothed loss diverges. Prints the suggestion (valley and steepest) and writes a PNG of loss
against lr: to --plot, else into the --resume run's folder, else to runs/lr_finder-TIME.png.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from scratchformer.tasks.classification import ClassifierRunConfig
from scratchformer.tasks.language_model import LMRunConfig
from scratchformer.training.lr_finder import LRFinderConfig

TASKS = ("lm", "classifier")

# Options a preset may set but that change neither the model, the data nor one training step: a
# finder accepts them (so every preset loads) and leaves them out of its --help.
NOT_FOR_FINDERS = (
    "sample", "out_dir", "name", "prompt", "init",  # a language-model run's sampling and run folder
    "budget", "fit_schedule_to_budget", "eval_batch_size", "final_test", "save", "threads",  # a classifier run's
    *(f"train.{k}" for k in ("max_steps", "lr", "min_lr", "warmup_steps", "schedule", "eval_interval",
                             "eval_batches", "log_interval", "stats_interval", "on_nan", "track", "wandb_project",
                             "parallel", "checkpoint_interval", "progress")),
)


CLASSIFIER_HELP = ("with --task classifier: a `train-classifier` preset (configs/imdb.yaml); every train-classifier "
                   "option overrides it as --classifier.NAME, e.g. --classifier.data.source PATH "
                   "--classifier.train.batch_size 32 (see `scratchformer train-classifier --help`)")


def hide_from_help(parser, names, prefix: str = "") -> None:
    """Leave the options `names` (and the options under them) out of --help; they still parse."""
    hidden = tuple(f"--{prefix}{name}" for name in names)
    for action in parser._actions:
        if any(opt == h or opt.startswith(h + ".") for opt in action.option_strings for h in hidden):
            action.help = argparse.SUPPRESS

HELP = "learning-rate range test: suggest a learning rate and plot loss against lr"


def add_model_arguments(parser) -> None:
    """The options that say which model and data: a language-model run, or a classifier run."""
    parser.add_argument("--task", type=str, default="lm", help="lm (a `train` preset via --config) or classifier "
                        "(a `train-classifier` preset via --classifier configs/imdb.yaml)")
    parser.add_argument("--config", action="config", help="a YAML preset from configs/ (later options override it)")
    parser.add_class_arguments(LMRunConfig, None, as_group=False)
    parser.add_class_arguments(ClassifierRunConfig, "classifier")
    hide_from_help(parser, NOT_FOR_FINDERS)
    # - the classifier's options are those of train-classifier, documented there: one line here
    for action in parser._actions:
        if action.option_strings == ["--classifier"]:
            action.help = CLASSIFIER_HELP
        elif any(opt.startswith("--classifier.") for opt in action.option_strings):
            action.help = argparse.SUPPRESS
    parser.usage = (f"{parser.prog} [--config PRESET] [--model.* ...] [--train.* ...] [--data.* ...] "
                    "[--resume RUN] [options]\n"
                    f"       {parser.prog} --task classifier --classifier PRESET [--classifier.* ...] [options]")


def add_arguments(parser) -> None:
    add_model_arguments(parser)
    parser.add_class_arguments(LRFinderConfig, "finder")
    parser.add_argument("--plot", type=str | None, default=None,
                        help="where to write the PNG (default: lr_finder.png in the --resume run's folder, "
                             "else runs/lr_finder-TIME.png)")


def plot_path(plot: str | None, cfg) -> Path:
    """Where the plot goes: --plot, else beside the run it measured, else a new file under runs/."""
    if plot is not None:
        return Path(plot)
    resume = getattr(cfg, "resume", None)
    if resume is not None:
        from scratchformer.training.checkpoint import resolve_checkpoint

        return resolve_checkpoint(resume).parent / "lr_finder.png"
    return Path(cfg.out_dir) / time.strftime("lr_finder-%Y%m%d-%H%M%S.png")


def model_and_data(args):
    """(run config, model, data) as `train` (or `train-classifier`) would build them; for a
    language model with --resume, the run's trained weights."""
    import torch

    from scratchformer.errors import UserError, config_from_options

    if args.task not in TASKS:
        raise UserError(f"--task must be one of {', '.join(TASKS)}, got {args.task!r}")
    if args.task == "classifier":
        from scratchformer.models.classifier import Classifier
        from scratchformer.tasks.classification import model_config_for, prepare_data

        cfg = args.classifier
        tokenizer, data, _ = prepare_data(cfg)
        torch.manual_seed(cfg.train.seed)
        return cfg, Classifier(model_config_for(cfg, tokenizer)), data

    from scratchformer.models.gpt import GPT
    from scratchformer.training.checkpoint import load_checkpoint, load_weights
    from scratchformer.tasks.language_model import prepare

    cfg = config_from_options(LMRunConfig, args)
    _, data, model_cfg = prepare(cfg)
    torch.manual_seed(cfg.train.seed)
    model = GPT(model_cfg)
    if cfg.resume is not None:
        load_weights(model, load_checkpoint(cfg.resume)["model"], source=f"checkpoint {cfg.resume}")
    return cfg, model, data


def run(args) -> None:
    from scratchformer.training.lr_finder import lr_range_test
    from scratchformer.training.plots import plot_lr_finder

    cfg, model, data = model_and_data(args)
    print(f"sweeping lr from {args.finder.start_lr:g} to {args.finder.end_lr:g} over at most "
          f"{args.finder.num_steps} steps (batch {cfg.train.batch_size} x {cfg.train.grad_accum}) ...", flush=True)
    try:
        result = lr_range_test(model, data, cfg.train, args.finder)
    except ValueError as e:
        from scratchformer.errors import UserError

        raise UserError(str(e)) from None
    path = plot_lr_finder(result, plot_path(args.plot, cfg))
    stop = f"stopped on divergence at lr {result.lrs[-1]:.2e}" if result.diverged else "did not diverge"
    print(f"{len(result.lrs)} steps, {stop}")
    print(f"steepest descent: lr {result.steepest:.2e}")
    print(f"valley:           lr {result.valley:.2e}")
    train = "--classifier.train" if args.task == "classifier" else "--train"
    print(f"suggested ({result.rule}): {train}.lr {result.suggestion:.2e}")
    print(f"plot: {path}")
