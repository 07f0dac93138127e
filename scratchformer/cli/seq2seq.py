"""Train an encoder-decoder on an exact-answer task, or decode with a trained one.

  scratchformer seq2seq train --task.task reverse --task.max_len 8 --name reverse
  scratchformer seq2seq decode --run runs/reverse --input 12345 9081726 --beam_size 4

Tasks: reverse or sort a string of digits, or add two numbers ('123+58'). Training ends with
the exact match on the held-out set, greedy and with beam search.
"""

from __future__ import annotations

from scratchformer.tasks.seq2seq import Seq2SeqRunConfig

HELP = "train an encoder-decoder on reverse/sort/add, or decode inputs with a trained one"

TRAIN_DESCRIPTION = """Train an encoder-decoder on an exact-answer task and report its held-out exact match.

  scratchformer seq2seq train --task.task reverse --task.max_len 8 --name reverse

The run folder (runs/NAME) gets the config, the metrics and the checkpoint for `seq2seq decode`."""

DECODE_DESCRIPTION = """Answer source strings with a model trained by `seq2seq train`.
A wrong answer is printed with the right one beside it.

  scratchformer seq2seq decode --run runs/reverse --input 12345 9081726
  scratchformer seq2seq decode --run runs/reverse --input 12345 --beam_size 4

--beam_size 1 decodes greedily (the most likely token at each step); more keeps that many
partial answers and returns the most likely whole answer (beam search)."""


def add_arguments(parser) -> None:
    from scratchformer.cli.main import command_parser

    sub = parser.add_subcommands(dest="action", required=True)
    train = command_parser("scratchformer seq2seq train", TRAIN_DESCRIPTION)
    train.add_argument("--config", action="config", help="a YAML preset (later options override it)")
    train.add_class_arguments(Seq2SeqRunConfig, None, as_group=False)
    sub.add_subcommand("train", train, help="train on a task and report held-out exact match")
    decode = command_parser("scratchformer seq2seq decode", DECODE_DESCRIPTION)
    decode.add_argument("--run", type=str, required=True, help="a run folder or checkpoint from seq2seq train")
    decode.add_argument("--input", type=str, nargs="+", required=True, help="source strings, e.g. --input 12345 907")
    decode.add_argument("--beam_size", type=int, default=1, help="1 decodes greedily; more runs beam search")
    sub.add_subcommand("decode", decode, help="answer source strings with a trained model")


def run(args) -> None:
    from scratchformer.errors import UserError, config_from_options

    options = args[args.action]
    if args.action == "train":
        from scratchformer.tasks.seq2seq import train_seq2seq

        cfg = config_from_options(Seq2SeqRunConfig, options)
        result = train_seq2seq(cfg)
        print(f"held-out exact match over {result['held_out']} examples: greedy {result['exact_match_greedy']:.2%}"
              + (f", beam {cfg.beam_size} {result['exact_match_beam']:.2%}" if "exact_match_beam" in result else ""))
        print(f"run folder: {result['run_dir']}")
        return

    import torch

    from scratchformer.data.seq2seq_tasks import PAD, pad
    from scratchformer.tasks.seq2seq import load_seq2seq

    if options.beam_size < 1:
        raise UserError(f"--beam_size must be at least 1, got {options.beam_size}")
    model, data = load_seq2seq(options.run)
    sources = [str(s) for s in options.input]
    src = pad([data.vocab.encode_source(s) for s in sources], PAD)  # UserError for bad input
    with torch.no_grad():
        answers = model.greedy(src) if options.beam_size == 1 else model.beam_search(src, options.beam_size)
    for s, a in zip(sources, answers):
        got = data.vocab.decode(a)
        try:
            right = data.task.answer(s)
        except ValueError:  # e.g. '1++2' for add: no right answer to compare with
            right = got
        print(f"{s} -> {got}" + ("" if got == right else f"   (the right answer is {right})"))
