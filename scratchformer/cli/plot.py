"""Compare runs: loss (train and validation), learning rate and gradient norm against step, in one PNG.

  scratchformer plot runs/A runs/B runs/C --out compare.png

Reads each run folder's metrics.jsonl.
"""

from __future__ import annotations

HELP = "plot the loss, learning rate and gradient norm of several runs into one PNG"


def add_arguments(parser) -> None:
    parser.add_argument("runs", nargs="+", type=str, help="run folders (runs/NAME)")
    parser.add_argument("--out", type=str, default="runs.png", help="where to write the PNG")


def run(args) -> None:
    from scratchformer.training.plots import plot_runs

    print(f"wrote {plot_runs(args.runs, args.out)}")
