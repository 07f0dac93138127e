"""Train an encoder-decoder on an exact-answer task, measure exact match, and reload it.

    Seq2SeqTaskConfig ─► Seq2SeqData ─► EncoderDecoder ─► Trainer ─► runs/NAME/checkpoint.pt
                                                            └─► held-out exact match (greedy, beam)
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

from scratchformer.data.seq2seq_tasks import Seq2SeqData, Seq2SeqTaskConfig
from scratchformer.devices import model_device
from scratchformer.models.encoder_decoder import EncoderDecoder, EncoderDecoderConfig
from scratchformer.tasks.runs import load_run
from scratchformer.training.checkpoint import unwrap
from scratchformer.training.run_dir import new_run_folder
from scratchformer.training.trainer import TrainConfig, Trainer, train_defaults


def default_model() -> EncoderDecoderConfig:
    return EncoderDecoderConfig(d_model=64, n_heads=4, n_layers=2)


# - seq2seq training, as changes to the engine's TrainConfig defaults (see task_train_config)
SEQ2SEQ_TRAIN = dict(max_steps=1500, batch_size=64, lr=2e-3, weight_decay=0.01, eval_interval=500,
                     log_interval=100, device="cpu")


@dataclass
class Seq2SeqRunConfig:
    """A sequence-to-sequence run: the task, the model, and how to train it."""

    task: Seq2SeqTaskConfig = field(default_factory=Seq2SeqTaskConfig)
    model: EncoderDecoderConfig = field(default_factory=default_model)
    """vocab_size, max_src_len and max_tgt_len are set from the task."""
    train: TrainConfig = field(default_factory=train_defaults(SEQ2SEQ_TRAIN))
    beam_size: int = 4
    """Beam width for the final beam-search exact match (1 skips it)."""
    threads: int = 1
    """torch CPU threads (small models run best on one)."""
    out_dir: str = "runs"
    """Folder that holds run folders."""
    name: str | None = None
    """Run folder name; None makes one from the task and the time."""

    def __post_init__(self):
        if self.beam_size < 1 or self.threads < 1:
            raise ValueError(f"beam_size and threads must be at least 1, got {self.beam_size}, {self.threads}")


def build(cfg: Seq2SeqRunConfig) -> tuple[Seq2SeqData, EncoderDecoder]:
    """The task's data, and a model sized to its vocabulary and lengths."""
    data = Seq2SeqData(cfg.task)
    model_cfg = dataclasses.replace(cfg.model, vocab_size=data.vocab.vocab_size,
                                    max_src_len=data.task.max_source_len, max_tgt_len=data.max_target_len)
    torch.manual_seed(cfg.train.seed)
    return data, EncoderDecoder(model_cfg)


def exact_match(model: EncoderDecoder, data: Seq2SeqData, pairs: list[tuple[str, str]],
                beam_size: int = 1, batch_size: int = 250) -> float:
    """Fraction of (source, target) pairs the model answers exactly (greedy for beam_size 1)."""
    right = 0
    for i in range(0, len(pairs), batch_size):
        chunk = pairs[i:i + batch_size]
        src, _, _ = data.tensors(chunk)
        src = src.to(model_device(model))
        answers = model.greedy(src) if beam_size == 1 else model.beam_search(src, beam_size)
        right += sum(data.vocab.decode(a) == target for a, (_, target) in zip(answers, chunk))
    return right / len(pairs)


def train_seq2seq(cfg: Seq2SeqRunConfig, run_dir: str | Path | None = "auto") -> dict:
    """Train, then measure held-out exact match. run_dir "auto" makes out_dir/name; None writes nothing."""
    torch.set_num_threads(cfg.threads)
    data, model = build(cfg)
    if run_dir == "auto":
        run_dir = new_run_folder(cfg.out_dir, cfg.name, prefix=cfg.task.task)
    # - the config as run: the model sized to the task, the training after the checks before it
    run_config = {**dataclasses.asdict(cfg), "model": dataclasses.asdict(model.config)}
    trainer = Trainer(model, cfg.train, data, run_dir=run_dir, run_config=run_config,
                      model_kind="encoder_decoder")
    run_config["train"] = dataclasses.asdict(trainer.cfg)
    if trainer.run_dir is not None:
        trainer.run_dir.write_start(run_config, str(trainer.device))
    start = time.perf_counter()
    result = trainer.fit()
    result["train_s"] = round(time.perf_counter() - start, 1)
    # - the whole held-out set, decoded from scratch
    start = time.perf_counter()
    result["exact_match_greedy"] = exact_match(unwrap(trainer.model), data, data.held_out)
    if cfg.beam_size > 1:
        result["exact_match_beam"] = exact_match(unwrap(trainer.model), data, data.held_out, cfg.beam_size)
    result["decode_s"] = round(time.perf_counter() - start, 1)
    result["held_out"] = len(data.held_out)
    result["params"] = model.num_params()
    result["run_dir"] = str(run_dir) if run_dir is not None else None
    if trainer.run_dir is not None:
        trainer.run_dir.log({"step": trainer.step, **{k: v for k, v in result.items() if k.startswith("exact")}})
    return result


def load_seq2seq(path: str | Path) -> tuple[EncoderDecoder, Seq2SeqData]:
    """The trained model and its task (whose vocabulary reads and writes the strings), from a run
    folder or checkpoint: load_run, plus the task."""
    run = load_run(path, expect=("encoder_decoder",), command="seq2seq decode")
    return run.model, Seq2SeqData(Seq2SeqTaskConfig(**run.config["task"]))
