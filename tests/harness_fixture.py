"""A tiny experiment for the harness's tests: a 1-layer GPT on random tokens, checkpointing every
5 steps. Environment variables let a test crash, kill or interrupt one run part-way:

  FIXTURE_FAIL=VARIANT:SEED:STEP:HOW   at that training step, HOW = raise | kill | int (SIGINT),
                                       once: a marker file in the run folder stops it happening again

Every call of run() appends "VARIANT SEED" to OUT/calls.txt, so a test can count them.
"""

from __future__ import annotations

import math
import os
import signal
from dataclasses import dataclass, field

import torch

from scratchformer.experiments.harness import Experiment, Metric, Run, fit
from scratchformer.models.gpt import GPT, GPTConfig
from scratchformer.training.trainer import TrainConfig, Trainer

VOCAB = 16


@dataclass
class Config:
    model: GPTConfig = field(default_factory=lambda: GPTConfig(vocab_size=VOCAB, d_model=8, n_heads=2, n_layers=1,
                                                               context_len=8, dropout=0.0))
    train: TrainConfig = field(default_factory=lambda: TrainConfig(
        max_steps=20, batch_size=4, warmup_steps=2, eval_interval=0, eval_batches=2, log_interval=1,
        stats_interval=0, checkpoint_interval=5, device="cpu", dtype="float32", compile=False, progress=False))


class RandomTokens:
    """Random windows; at the step FIXTURE_FAIL names (once), crash, kill or interrupt the process."""

    def __init__(self, run: Run):
        self.run, self.calls = run, 0
        spec = os.environ.get("FIXTURE_FAIL", "::-1:").split(":")
        self.fail = spec[0] == run.variant and spec[1] == str(run.seed)
        self.fail_step, self.how = int(spec[2]), spec[3]

    def batch(self, split, batch_size, generator):
        if split == "train":
            self.calls += 1
            marker = self.run.dir / "failed-once"
            if self.fail and self.calls == self.fail_step and not marker.exists():
                marker.write_text(self.how)
                if self.how == "raise":
                    raise RuntimeError("a crash in the middle of a run")
                os.kill(os.getpid(), signal.SIGKILL if self.how == "kill" else signal.SIGINT)
        x = torch.randint(0, VOCAB, (batch_size, 9), generator=generator)
        return x[:, :-1], x[:, 1:]


def run(cfg: Config, run: Run) -> dict[str, float]:
    with (run.dir.parents[1] / "calls.txt").open("a") as f:
        f.write(f"{run.variant} {run.seed}\n")
    torch.manual_seed(run.seed)
    trainer = Trainer(GPT(cfg.model), cfg.train.__class__(**{**cfg.train.__dict__, "seed": run.seed}),
                      RandomTokens(run), run_dir=run.dir, run_config={"variant": run.variant})
    result = fit(trainer, run)
    return {"val_loss": result["val_loss"], "first_step": trainer.history[0]["step"], "steps": trainer.step}


EXPERIMENT = Experiment(
    name="fixture",
    help="a tiny GPT on random tokens",
    config=Config,
    run=run,
    variants={"small": {}, "wide": {"model.d_model": 16}},
    metrics=[Metric("val_loss", "nats", higher_is_better=False, headline=True, baseline=math.log(VOCAB),
                    baseline_label="uniform guess"),
             Metric("first_step", "steps", digits=0), Metric("steps", "steps", digits=0)],
    scales={"cpu": {}, "gpu": {"train.max_steps": 40}},
    seeds=2,
    threads=1,
)
