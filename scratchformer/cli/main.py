"""The `scratchformer` command: one subcommand per module, each documented by `--help`.

A command module has a docstring (its description), HELP (one line), and two functions:
  add_arguments(parser)   declare options on a jsonargparse.ArgumentParser
  run(args)               do the work; raise UserError for a user mistake
Modules are imported only when their command runs, so `scratchformer --help` stays quick.
"""

from __future__ import annotations

import importlib
import sys

from argparse import ArgumentError

from jsonargparse import ArgumentParser, set_parsing_settings

from scratchformer.errors import UserError

# - `--help` shows each config field's docstring
set_parsing_settings(docstring_parse_attribute_docstrings=True)

# command name -> (module, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    # issue 2: the core
    "train": ("scratchformer.cli.train", "train a model from a config (YAML preset plus dotted overrides)"),
    "generate": ("scratchformer.cli.generate", "generate text from a run folder or checkpoint and a prompt"),
    "eval": ("scratchformer.cli.evaluate", "evaluate a run's checkpoint: loss in nats and bits per character"),
    # issue 3: IMDb
    "experiment": ("scratchformer.cli.experiment", "run a course experiment by name (imdb-ablation, ...)"),
    "train-classifier": ("scratchformer.cli.train_classifier", "train an IMDb sentiment classifier from a preset"),
    "classify": ("scratchformer.cli.classify", "classify the sentiment of a review with a trained classifier"),
    # issue 4: training toolkit
    "find-lr": ("scratchformer.cli.find_lr", "learning-rate range test: suggest a learning rate and plot loss against lr"),
    "find-batch-size": ("scratchformer.cli.find_batch_size", "largest batch that fits and the critical batch size"),
    "plot-schedule": ("scratchformer.cli.plot_schedule", "draw learning-rate schedules into a PNG"),
    "plot": ("scratchformer.cli.plot", "plot loss, learning rate and gradient norm of several runs into one PNG"),
    # issue 5: week-6 features
    "seq2seq": ("scratchformer.cli.seq2seq", "train an encoder-decoder on reverse/sort/add, or decode with one"),
    # issue 6: pretrained weights
    "export": ("scratchformer.cli.export", "write a run's weights as safetensors or as a Hugging Face GPT-2/Llama folder"),
    "chat": ("scratchformer.cli.chat", "chat with an instruct model or a run: reads prompts until EOF or /exit"),
}


def build_parser(command: str | None) -> ArgumentParser:
    """The top-level parser; only the chosen command's module is imported and given options."""
    parser = ArgumentParser(prog="scratchformer", description=__doc__.splitlines()[0], exit_on_error=False)
    sub = parser.add_subcommands(dest="command", required=True)
    for name, (module_name, help_line) in COMMANDS.items():
        child = ArgumentParser(prog=f"scratchformer {name}", exit_on_error=False)
        # - attach the child first: a command may add its own subcommands (jsonargparse wants level order)
        sub.add_subcommand(name, child, help=help_line)
        if name == command:
            module = importlib.import_module(module_name)
            child.description = module.__doc__
            module.add_arguments(child)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    command = next((a for a in argv if not a.startswith("-")), None)
    if command is not None and command not in COMMANDS:
        print(f"error: unknown command {command!r}; choose one of: {', '.join(COMMANDS)}", file=sys.stderr)
        return 2
    parser = build_parser(command)
    try:
        # - parse: unknown keys and wrong types are ArgumentErrors
        args = parser.parse_args(argv)
        # - instantiate: the config dataclasses validate themselves in __post_init__ (ValueError)
        try:
            args = parser.instantiate(args)
        except (ValueError, TypeError) as e:
            raise UserError(f"invalid config: {one_line(e)}") from None
        module = importlib.import_module(COMMANDS[args.command][0])
        module.run(args[args.command])
    except (UserError, ArgumentError) as e:
        print(f"error: {one_line(e)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return 0


def one_line(e: BaseException) -> str:
    """An exception's message folded onto one line."""
    return " ".join(ln.strip() for ln in str(e).splitlines() if ln.strip()) or type(e).__name__


if __name__ == "__main__":
    sys.exit(main())
