"""The `scratchformer` command: one subcommand per module, each documented by `--help`.

A command module has a docstring (its description), HELP (one line), and two functions:
  add_arguments(parser)   declare options on a jsonargparse.ArgumentParser
  run(args)               do the work; raise UserError for a user mistake
Modules are imported only when their command runs, so `scratchformer --help` stays quick.
"""

from __future__ import annotations

import importlib
import inspect
import re
import sys

from argparse import ArgumentError, RawDescriptionHelpFormatter

from jsonargparse import ArgumentParser, DefaultHelpFormatter, set_parsing_settings

from scratchformer.errors import UserError

# - `--help` shows each config field's docstring
set_parsing_settings(docstring_parse_attribute_docstrings=True)



class HelpFormatter(RawDescriptionHelpFormatter, DefaultHelpFormatter):
    """jsonargparse's help, with each command's description printed as written (examples stay one a line)."""


def command_parser(prog: str, description: str | None = None) -> ArgumentParser:
    """A parser for one command (or subcommand), with the help layout every command shares."""
    return ArgumentParser(prog=prog, description=description, exit_on_error=False, formatter_class=HelpFormatter)


# command name -> (module, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    # the core: train, sample, measure
    "train": ("scratchformer.cli.train", "train a model from a config (YAML preset plus dotted overrides)"),
    "generate": ("scratchformer.cli.generate", "generate text from a run folder or checkpoint and a prompt"),
    "eval": ("scratchformer.cli.evaluate", "evaluate a run's checkpoint: loss in nats and bits per character"),
    # sentiment classification and the course experiments
    "experiment": ("scratchformer.cli.experiment", "run a course experiment by name (imdb-ablation, ...)"),
    "train-classifier": ("scratchformer.cli.train_classifier", "train a text classifier (IMDb sentiment, or your own .csv/.jsonl) from a preset"),
    "classify": ("scratchformer.cli.classify", "classify the sentiment of a review with a trained classifier"),
    "evaluate-ood": ("scratchformer.cli.evaluate_ood", "evaluate a classifier run on every out-of-distribution set: accuracy, gap, ECE, AUROC"),
    # the training toolkit
    "find-lr": ("scratchformer.cli.find_lr", "learning-rate range test: suggest a learning rate and plot loss against lr"),
    "find-batch-size": ("scratchformer.cli.find_batch_size", "largest batch that fits and the critical batch size"),
    "plot-schedule": ("scratchformer.cli.plot_schedule", "draw learning-rate schedules into a PNG"),
    "plot": ("scratchformer.cli.plot", "plot loss, learning rate and gradient norm of several runs into one PNG"),
    # encoder-decoder
    "seq2seq": ("scratchformer.cli.seq2seq", "train an encoder-decoder on reverse/sort/add, or decode with one"),
    # weights out, and a conversation
    "export": ("scratchformer.cli.export", "write a run's weights as safetensors or as a Hugging Face GPT-2/Llama folder"),
    "chat": ("scratchformer.cli.chat", "chat with an instruct model or a run: reads prompts until EOF or /exit"),
}


def version() -> str:
    """scratchformer's installed version (from its package metadata)."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as installed_version

    try:
        return installed_version("scratchformer")
    except PackageNotFoundError:  # run from a source tree that was never installed
        from scratchformer import __version__

        return f"{__version__} (not installed)"


# a number such as -1, -0.5 or -1e-3; argparse takes the last kind for an option name
NEGATIVE_NUMBER = re.compile(r"-(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?")


def join_negative_numbers(argv: list[str]) -> list[str]:
    """['--train.lr', '-1e-3'] -> ['--train.lr=-1e-3']: a negative value after an option is its value."""
    out: list[str] = []
    for arg in argv:
        if out and NEGATIVE_NUMBER.fullmatch(arg) and out[-1].startswith("--") and "=" not in out[-1]:
            out[-1] = f"{out[-1]}={arg}"
        else:
            out.append(arg)
    return out


def build_parser(command: str | None) -> ArgumentParser:
    """The top-level parser; only the chosen command's module is imported and given options."""
    parser = command_parser("scratchformer", __doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"scratchformer {version()}")
    sub = parser.add_subcommands(dest="command", required=True)
    for name, (module_name, help_line) in COMMANDS.items():
        child = command_parser(f"scratchformer {name}")
        # - attach the child first: a command may add its own subcommands (jsonargparse wants level order)
        sub.add_subcommand(name, child, help=help_line)
        if name == command:
            module = importlib.import_module(module_name)
            child.description = module.__doc__
            module.add_arguments(child)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv in (["--version"], ["-V"]):
        print(f"scratchformer {version()}")
        return 0
    argv = join_negative_numbers(argv)
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
        # - a command that must know which options were given (train --resume) also gets them as typed
        if "argv" in inspect.signature(module.run).parameters:
            module.run(args[args.command], argv=argv[argv.index(args.command) + 1:])
        else:
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
