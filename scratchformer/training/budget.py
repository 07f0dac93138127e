"""Training within a wall-clock budget, and reproducing a budgeted run without one.

    fit_within_budget(trainer, 900, fit_schedule=True)   # as many steps as 900 s allow, rate fully decayed
    fit_within_budget(trainer, 0, replay=budget_plan("runs/a"))   # run a's steps again, on any machine

How a budget becomes a step count:

  1. warm-up     the first steps are slow (torch.compile, first allocations, caches): they count
                 against the budget, but not towards the speed. Short probes of `probe` steps run
                 until two probes in a row agree on the time a step takes (within `tolerance`);
  2. pace        seconds per step, measured from the end of the warm-up to now;
  3. refit       after every chunk, the steps the time left allows at that pace; with fit_schedule
                 the trainer's max_steps becomes that, so the learning-rate schedule ends (fully
                 decayed) with the budget. Chunks shrink towards the end, so the last refits are
                 made on the most measurements.

The returned record (`budget`) says what was done: the steps taken, every refit (step, max_steps),
the warm-up, the pace, the CPU and the load. Written to the run folder as budget.json, it lets a
rerun take the same steps with no budget (`replay=budget_plan(RUN)`): the same schedule at the
same steps, whatever the machine's speed. The trainer only needs `step`, `cfg.max_steps`
and `fit(until=...)`.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch


from scratchformer.errors import UserError
from scratchformer.training.run_dir import cpu_model

BUDGET_FILE = "budget.json"


def cpu_name() -> str:
    """The CPU's model name, and how many cores this process may use."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return f"{cpu_model()}, {cores} cores"


def machine() -> dict:
    """What a speed-dependent figure needs beside it: CPU, threads, load (1, 5, 15 min), GPU if any."""
    out = {"cpu": cpu_name(), "threads": torch.get_num_threads(),
           "load_avg": [round(x, 2) for x in os.getloadavg()] if hasattr(os, "getloadavg") else None}
    if torch.cuda.is_available():
        out["gpu"] = torch.cuda.get_device_name()
    return out


class Pace:
    """Seconds per training step, measured after the warm-up.

    `mark(step, elapsed)` after each chunk of steps. The first chunk is warm-up; warm-up ends at
    the start of the first later chunk whose pace the chunk after it agrees with (within
    `tolerance`, relative). If no two chunks agree by `patience` chunks, or `settle()` is called
    (the warm-up has used its share of the budget), the last chunk's start is taken.
    """

    def __init__(self, tolerance: float = 0.3, patience: int = 8):
        self.tolerance, self.patience = tolerance, patience
        self.marks: list[tuple[int, float]] = []  # (step, seconds since the start)
        self.warm: int | None = None  # index into marks where the warm-up ended

    def mark(self, step: int, elapsed: float) -> None:
        if self.marks and step <= self.marks[-1][0]:
            return  # no step was taken
        self.marks.append((step, elapsed))
        if self.warm is None:
            self.warm = self.find_warm_start()

    def settle(self) -> None:
        """End the warm-up now, at the start of the last chunk (needs two chunks: the first is warm-up)."""
        if self.warm is None and len(self.marks) >= 3:
            self.warm = len(self.marks) - 2

    def chunk_pace(self, i: int) -> float:
        """Seconds per step of the chunk that ends at mark i."""
        (s0, t0), (s1, t1) = self.marks[i - 1], self.marks[i]
        return (t1 - t0) / (s1 - s0)

    def find_warm_start(self) -> int | None:
        # - chunk i ends at mark i; chunk 1 holds the first step, so it is always warm-up
        n = len(self.marks)
        for i in range(2, n - 1):
            a, b = self.chunk_pace(i), self.chunk_pace(i + 1)
            if abs(b - a) <= self.tolerance * min(a, b):
                return i - 1
        if n - 1 >= self.patience:  # never settled (a noisy machine): the latest chunk alone
            return n - 2
        return None

    @property
    def seconds_per_step(self) -> float | None:
        """Mean seconds per step since the warm-up ended; None while still warming up."""
        if self.warm is None:
            return None
        (s0, t0), (s1, t1) = self.marks[self.warm], self.marks[-1]
        return (t1 - t0) / (s1 - s0)

    @property
    def warmup(self) -> tuple[int, float] | None:
        """(steps, seconds) of the warm-up, once it is over."""
        return None if self.warm is None else self.marks[self.warm]


@dataclass
class BudgetPlan:
    """The steps a budgeted run took, and when it changed max_steps: enough to run it again."""

    steps: int
    refits: list[tuple[int, int]] = field(default_factory=list)
    """(step, max_steps): from this step on, the schedule ended at max_steps."""
    source: str = ""
    max_steps: int | None = None
    """The schedule's end before the first refit (the run's configured max_steps); None: keep the trainer's."""


def budget_plan(run: str | Path) -> BudgetPlan:
    """The plan of a previous run, from its folder's budget.json (or results.json's 'budget', or,
    for a run without a budget, the 'step' or 'steps' in results.json)."""
    folder = Path(run).expanduser()
    if folder.is_file():
        folder = folder.parent
    record = None
    if (folder / BUDGET_FILE).exists():
        record = json.loads((folder / BUDGET_FILE).read_text())
    elif (folder / "results.json").exists():
        results = json.loads((folder / "results.json").read_text())
        record = results.get("budget") or {"steps": results.get("step", results.get("steps"))}
    if not record or not isinstance(record.get("steps"), int):
        raise UserError(f"{folder} holds no {BUDGET_FILE} and no results.json with the steps it took; "
                        "give the folder of a finished run")
    return BudgetPlan(record["steps"], [tuple(r) for r in record.get("refits", [])], str(folder),
                      record.get("max_steps_configured"))


def _set_max_steps(trainer, max_steps: int) -> None:
    trainer.cfg = dataclasses.replace(trainer.cfg, max_steps=max_steps)


def _replay(trainer, plan: BudgetPlan) -> dict:
    """Take the plan's steps, changing max_steps at the steps the budgeted run did."""
    result: dict = {}
    refits = sorted(plan.refits)
    if plan.max_steps is not None:
        _set_max_steps(trainer, plan.max_steps)  # the schedule as the budgeted run began it
    elif not refits and plan.steps > trainer.cfg.max_steps:
        raise UserError(f"{plan.source} took {plan.steps} steps but max_steps is {trainer.cfg.max_steps} here; "
                        f"set max_steps to at least {plan.steps}")
    # - before the first refit the schedule ran to the configured max_steps, as in the budgeted run
    for at, max_steps in refits + [(plan.steps, None)]:
        if trainer.step < at:
            result = trainer.fit(until=at)
            if "interrupted" in result or trainer.step < at:
                return result
        if max_steps is not None:
            _set_max_steps(trainer, max_steps)
    return result


def _write(trainer, record: dict) -> None:
    run_dir = getattr(trainer, "run_dir", None)
    if run_dir is not None:
        path = Path(run_dir.path)
        path.mkdir(parents=True, exist_ok=True)
        (path / BUDGET_FILE).write_text(json.dumps(record, indent=2) + "\n")


def fit_within_budget(trainer, time_budget_s: float, chunk: int = 100, fit_schedule: bool = False, *,
                      probe: int = 10, warmup_share: float = 0.25, replay: BudgetPlan | None = None,
                      clock=time.perf_counter) -> dict:
    """trainer.fit() within time_budget_s seconds (0: no limit), or replaying a plan.

    fit_schedule: refit max_steps to what the time left allows (see the module's docstring), so the
    learning-rate schedule ends with the budget; without it the configured schedule is cut off
    when the time is up. warmup_share: on a machine too noisy for two probes to agree, the warm-up
    ends anyway once it has used this share of the budget. replay: take a previous run's steps
    exactly (no budget).
    Returns fit()'s result with 'step', 'train_s' and 'budget' (the record written to budget.json).
    Ctrl-C or SIGTERM stops the trainer after its current step; then this raises KeyboardInterrupt.
    """
    start = clock()
    limit = trainer.cfg.max_steps
    record: dict = {"time_budget_s": time_budget_s, "fit_schedule": fit_schedule, "max_steps_configured": limit}
    result: dict = {}
    if replay is not None:
        result = _replay(trainer, replay)
        record.update(replayed_from=replay.source, refits=[list(r) for r in replay.refits])
    elif not time_budget_s:
        result = trainer.fit()
        record["refits"] = []
    else:
        pace, refits, elapsed, cut = Pace(), [], 0.0, False
        pace.mark(trainer.step, 0.0)
        while trainer.step < trainer.cfg.max_steps and "interrupted" not in result:
            per_step = pace.seconds_per_step
            if per_step is None:
                steps = probe  # still warming up: short probes, the schedule untouched
            else:
                affordable = int((time_budget_s - elapsed) / per_step)
                if fit_schedule:
                    # - the schedule ends where the time left at this pace ends (never before the next step)
                    max_steps = min(limit, trainer.step + max(1, affordable))
                    if max_steps != trainer.cfg.max_steps:
                        _set_max_steps(trainer, max_steps)
                        refits.append((trainer.step, max_steps))
                    left = trainer.cfg.max_steps - trainer.step
                    # - shrinking chunks: a quarter of what is left, the last few steps in one go
                    steps = left if left <= probe else min(chunk, max(probe, left // 4))
                else:
                    steps = max(1, min(chunk, affordable))
            result = trainer.fit(until=trainer.step + steps)
            elapsed = clock() - start
            pace.mark(trainer.step, elapsed)
            if elapsed >= warmup_share * time_budget_s:
                pace.settle()
            if elapsed > time_budget_s and trainer.step < trainer.cfg.max_steps:
                cut = True  # the time is up before the schedule's end
                break
        warm = pace.warmup
        record.update(refits=[list(r) for r in refits], cut_by_time=cut,
                      warmup_steps=warm[0] if warm else None,
                      warmup_s=round(warm[1], 2) if warm else None,
                      seconds_per_step=round(pace.seconds_per_step, 5) if pace.seconds_per_step else None)
    train_s = clock() - start
    close_bar = getattr(trainer, "close_bar", None)  # (a budget can end the run before max_steps)
    if close_bar is not None:
        close_bar()
    record.update(steps=trainer.step, max_steps=trainer.cfg.max_steps, train_s=round(train_s, 1), **machine())
    _write(trainer, record)
    if "interrupted" in result:
        raise KeyboardInterrupt(result["interrupted"])
    return {**result, "step": trainer.step, "train_s": train_s, "budget": record}
