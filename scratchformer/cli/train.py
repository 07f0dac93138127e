"""Train a GPT on a corpus: a YAML preset (--config configs/NAME.yaml) plus dotted overrides.

  scratchformer train --config configs/demo.yaml --train.lr 3e-4 --model.n_layers 6

Unknown keys and wrong types are errors. The run folder (runs/NAME) gets the resolved config,
the command line, the environment, metrics.jsonl and checkpoint.pt; --resume continues a run.
"""

from __future__ import annotations

import dataclasses
import sys

from scratchformer.errors import UserError, config_from_options
from scratchformer.tasks.language_model import LMRunConfig

HELP = "train a model from a config (YAML preset plus dotted overrides)"


def add_arguments(parser) -> None:
    parser.add_argument("--config", action="config", help="a YAML preset from configs/ (later options override it)")
    parser.add_class_arguments(LMRunConfig, None, as_group=False)


def check_prompt(prompt: str, tokenizer=None) -> None:
    """The sample at the end of training needs a prompt of at least one token: check it before training.

    Without a tokenizer, only that the prompt is not empty; with one, that it encodes to some ids
    (the word tokenizer reads no token in whitespace, and a character model cannot read a character
    its corpus lacks)."""
    if prompt == "":
        raise UserError("--prompt is empty; the sample after training continues a prompt of at least one "
                        "character, e.g. --prompt 'The '")
    if tokenizer is None:
        return
    try:
        ids = tokenizer.encode(prompt)
    except UserError as e:  # e.g. a character the corpus never has (a corpus without a newline)
        raise UserError(f"--prompt {prompt!r} cannot be read: {e}; give a --prompt made of the corpus's "
                        "characters") from None
    if not ids:
        raise UserError(f"--prompt {prompt!r} holds no token for the {tokenizer.kind} tokenizer (it reads words, "
                        "not whitespace); give a prompt with a word in it, e.g. --prompt 'The'")


def run(args) -> None:
    from scratchformer.models.generate import generate_stream
    from scratchformer.tasks.language_model import train_language_model
    from scratchformer.training import tracking

    cfg = config_from_options(LMRunConfig, args)
    # - checks that need no data come first: nothing is loaded, learned or written before them
    check_prompt(cfg.prompt)
    tracking.check_available(cfg.train.track)
    folder, result, trainer = train_language_model(cfg, run_config=dataclasses.asdict(cfg),
                                                   check_tokenizer=lambda tok: check_prompt(cfg.prompt, tok))
    if not trainer.dist.is_main:  # under torchrun, only rank 0 reports and samples
        return
    metrics = ", ".join(f"{k} {v:.4f}" for k, v in result.items() if isinstance(v, float))
    print(f"\ntrained {result['step']} steps: {metrics}")

    # - a sample from the trained model, streamed as it is generated
    import torch

    tokenizer, model = trainer.tokenizer, trainer.model
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
