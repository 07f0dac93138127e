"""Train a GPT on a corpus: a YAML preset (--config configs/NAME.yaml) plus dotted overrides.

  scratchformer train --config configs/demo.yaml --train.lr 3e-4 --model.n_layers 6
  scratchformer train --resume runs/NAME                            # continue a run where it stopped
  scratchformer train --resume runs/NAME --train.max_steps 2000     # ... and end it at another step

Unknown keys and wrong types are errors. The run folder (runs/NAME) gets the resolved config,
the command line, the environment, metrics.jsonl and checkpoint.pt. --resume reads the run's own
config.yaml and needs no other option; it accepts only changes that are safe mid-run (another
train.max_steps fits the rest of the learning-rate schedule to the new length, without a jump;
evaluation, logging, tracking, device, sampling) and refuses any change to the data, tokenizer,
model or optimiser.
"""

from __future__ import annotations

import sys

from scratchformer.errors import UserError, config_from_options
from scratchformer.tasks.language_model import LMRunConfig

HELP = "train a model from a config (YAML preset plus dotted overrides)"


def add_arguments(parser) -> None:
    parser.add_argument("--config", action="config", help="a YAML preset from configs/ (later options override it)")
    parser.add_class_arguments(LMRunConfig, None, as_group=False)


def resumed_config(run: str, argv: list[str]) -> LMRunConfig:
    """The config to resume with: the run's config.yaml first, then the options given on this
    command line (argv) over it."""
    from jsonargparse import ArgumentParser

    from scratchformer.training.run_dir import CONFIG_NAME, RunDir, existing_run_folder

    folder = existing_run_folder(run)
    RunDir(folder).read_config()  # a clear error when there is none
    parser = ArgumentParser(prog="scratchformer train", exit_on_error=False)
    add_arguments(parser)
    args = parser.instantiate(parser.parse_args(["--config", str(folder / CONFIG_NAME), *argv]))
    return config_from_options(LMRunConfig, args)


def run(args, argv: list[str] | None = None) -> None:
    from scratchformer.models.generate import generate_stream
    from scratchformer.tasks.language_model import train_language_model
    from scratchformer.training.checkpoint import unwrap

    from scratchformer.training import tracking

    cfg = config_from_options(LMRunConfig, args)
    if cfg.resume is not None and argv is not None:
        cfg = resumed_config(cfg.resume, argv)
    # - checks that need no data come first: nothing is loaded, learned or written before them
    #   (whether the tokenizer can read the prompt is checked once it is learned, before training)
    if cfg.prompt == "":
        raise UserError("--prompt is empty; the sample after training continues a prompt of at least one "
                        "character, e.g. --prompt 'The '")
    tracking.check_available(cfg.train.track)
    folder, result, trainer = train_language_model(cfg)
    if not trainer.dist.is_main:  # under torchrun, only rank 0 reports and samples
        return
    metrics = ", ".join(f"{k} {v:.4f}" for k, v in result.items() if isinstance(v, float))
    print(f"\ntrained {result['step']} steps: {metrics}")

    # - a sample from the trained model, streamed as it is generated
    import torch

    tokenizer, model = trainer.tokenizer, unwrap(trainer.model)
    prompt = torch.tensor([tokenizer.encode(cfg.prompt)], device=trainer.device)
    print("\n--- sample " + "-" * 60)
    print(cfg.prompt, end="")
    # - decode_stream holds back a character split over several BPE/byte tokens
    from scratchformer.cli.pretrained_hook import decode_stream

    for piece in decode_stream(tokenizer, (t.item() for t in generate_stream(model, prompt, cfg.sample))):
        print(piece, end="", flush=True)
    print("\n" + "-" * 71)
    print(f"run folder: {folder}\ncheckpoint: {folder / 'checkpoint.pt'}")
    print(f"more text:  scratchformer generate --run {folder} --prompt 'ROMEO:'")
    sys.stdout.flush()
