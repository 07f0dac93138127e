"""Encoder-decoder on exact-answer tasks: held-out exact match after a few CPU minutes.

    python -m benchmarks.seq2seq            # reverse and sort
    python -m benchmarks.seq2seq --tasks reverse sort add

Each task trains the default `scratchformer seq2seq train` model (d_model 64, 2 + 2 layers) on
digit strings of 1-8 symbols with the shared Trainer, then decodes the whole held-out set
(1000 sources the training never draws) greedily and with beam search (width 4).
"""

from __future__ import annotations

import argparse
import dataclasses

import torch

from benchmarks.common import report
from scratchformer.data.seq2seq_tasks import Seq2SeqTaskConfig
from scratchformer.tasks.seq2seq import SEQ2SEQ_TRAIN, Seq2SeqRunConfig, train_seq2seq
from scratchformer.training.trainer import task_train_config


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", nargs="+", default=["reverse", "sort"], help="reverse, sort, add")
    parser.add_argument("--steps", type=int, default=1500, help="optimizer steps per task")
    args = parser.parse_args()
    rows = []
    for task in args.tasks:
        train = task_train_config(SEQ2SEQ_TRAIN, max_steps=args.steps, progress=False, eval_interval=0)
        # - addition: 1-4 digits per number (answers up to 5 digits); the others: 1-8 digits
        max_len = 4 if task == "add" else 8
        cfg = Seq2SeqRunConfig(task=Seq2SeqTaskConfig(task=task, min_len=1, max_len=max_len), train=train,
                               beam_size=4, threads=1)
        result = train_seq2seq(cfg, run_dir=None)
        row = {"task": task, "max_len": max_len, **{k: v for k, v in result.items() if k != "run_dir"},
               "settings": {"model": dataclasses.asdict(cfg.model), "train": dataclasses.asdict(train)}}
        print(f"{task}: greedy {row['exact_match_greedy']:.2%}, beam {row['exact_match_beam']:.2%} "
              f"({row['train_s']} s training)", flush=True)
        rows.append(row)
    report("seq2seq", {"benchmark": "seq2seq", "torch": torch.__version__, "threads": 1, "rows": rows})


if __name__ == "__main__":
    main()
