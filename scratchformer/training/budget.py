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
                 made on the most measurements. A budget too short for the configured warmup_steps
                 cuts the rate's warm-up to a quarter of the fitted run.

Evaluation is not training: the seconds the trainer spends validating (its `eval_s`) are left out
of the budget and reported apart (eval_s). Compiling is: the first step at every batch shape is
where torch.compile compiles, so its time counts against the budget; the record says how much it
was (compile_s: those steps' time beyond the pace). With batch-size or sequence-length ramps the
steps grow dearer as the ramps climb, so the pace is measured again from the end of the ramps.
The first chunk is a single step: if that step alone does not fit the budget, the run stops with
a one-line error (a budget that cannot fit one step).

Budgets are written as lengths: `parse_budget("15m")` is 900 seconds ("90s", "1h", "1h30m",
"2.5m", or plain seconds "300").

The returned record (`budget`) says what was done: the steps taken, every refit (step, max_steps),
the warm-up, the pace, the CPU and the load. Written to the run folder as budget.json, it lets a
rerun take the same steps with no budget (`replay=budget_plan(RUN)`): the same schedule at the
same steps, whatever the machine's speed. The trainer only needs `step`, `cfg.max_steps`
and `fit(until=...)`.
"""

from __future__ import annotations

import dataclasses
import json
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

from scratchformer.errors import UserError
from scratchformer.provenance import machine

BUDGET_FILE = "budget.json"
UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0}
DURATION = re.compile(r"(\d+(?:\.\d*)?|\.\d+)\s*([smh]?)")


def parse_budget(text: str | float | int) -> float:
    """Seconds in a budget written as '90s', '15m', '1h', '1h30m', '2.5m' or plain seconds ('300', 300).

    A budget of zero, a negative one or one that is not a length is a UserError (one sentence)."""
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        seconds = float(text)
    else:
        spec = str(text).strip().lower().replace(" ", "")
        parts = DURATION.findall(spec)
        if not spec or "".join(n + u for n, u in parts) != spec or (len(parts) > 1 and not all(u for _, u in parts)):
            raise UserError(f"budget {text!r} is not a length of time; write it as 90s, 15m, 1h or 1h30m")
        seconds = sum(float(n) * UNITS[u or "s"] for n, u in parts)
    if not seconds > 0:
        raise UserError(f"a budget of {text!r} leaves no time to train; give a positive length such as 90s or 15m")
    return seconds



def budget_seconds(budget: str | None) -> float:
    """Seconds in an optional budget: 0.0 (no limit) for None, else parse_budget's (and its one-line errors)."""
    return 0.0 if budget is None else parse_budget(budget)


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
        self.since: int | None = None  # index into marks the pace is measured from, after restart()

    def mark(self, step: int, elapsed: float) -> None:
        if self.marks and step <= self.marks[-1][0]:
            return  # no step was taken
        self.marks.append((step, elapsed))
        if self.warm is None:
            self.warm = self.find_warm_start()

    def restart(self) -> None:
        """Measure the pace afresh from the latest mark (the steps got dearer: a ramp reached its end)."""
        if self.warm is not None:
            self.since = len(self.marks) - 1

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
        # - from the restart once a chunk has run since it, else from the warm-up's end
        i = self.since if self.since is not None and self.since < len(self.marks) - 1 else self.warm
        (s0, t0), (s1, t1) = self.marks[i], self.marks[-1]
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


def budget_plan(run: str | Path, stage: str | None = None) -> BudgetPlan:
    """The plan of a previous run, from its folder's budget.json (or results.json's 'budget', or,
    for a run without a budget, the 'step' or 'steps' in results.json).

    stage: one stage of a run in stages (`experiment imdb-pretrain`'s 'lm' or 'classifier'): the
    stage's sub-folder of the run folder, or, given a results file such as a benchmark's, its
    record '{stage}_budget'."""
    path = Path(run).expanduser()
    if stage is not None and path.is_file():  # a results file with one budget record per stage
        record, source = json.loads(path.read_text()).get(f"{stage}_budget"), f"{path} ({stage})"
        if not isinstance(record, dict) or not isinstance(record.get("steps"), int):
            raise UserError(f"{path} holds no {stage}_budget record with the steps its {stage} stage took; "
                            "give the results file of a finished run or its run folder")
        return plan_of(record, source)
    folder = path.parent if path.is_file() else path
    if stage is not None:
        folder = folder / stage
    record = None
    if (folder / BUDGET_FILE).exists():
        record = json.loads((folder / BUDGET_FILE).read_text())
    elif (folder / "results.json").exists():
        results = json.loads((folder / "results.json").read_text())
        record = results.get("budget") or {"steps": results.get("step", results.get("steps"))}
    if not record or not isinstance(record.get("steps"), int):
        raise UserError(f"{folder} holds no {BUDGET_FILE} and no results.json with the steps it took; "
                        "give the folder of a finished run")
    return plan_of(record, str(folder))


def plan_of(record: dict, source: str) -> BudgetPlan:
    """The plan in a budget record (budget.json's contents): its steps, refits and first max_steps."""
    return BudgetPlan(record["steps"], [tuple(r) for r in record.get("refits", [])], source,
                      record.get("max_steps_configured"))


WARMUP_SHARE = 4  # a fitted run spends at most 1/4 of its steps warming the learning rate up


def _set_max_steps(trainer, max_steps: int, warmup: int | None = None) -> None:
    """End the schedule at max_steps; with `warmup` (the configured warmup_steps), the rate's warm-up
    is cut to a quarter of the run when the budget fits fewer steps than that (else the run would
    end during the warm-up, its rate never decayed)."""
    changes = {"max_steps": max_steps}
    if warmup is not None and hasattr(trainer.cfg, "warmup_steps"):
        changes["warmup_steps"] = min(warmup, max_steps // WARMUP_SHARE)
    trainer.cfg = dataclasses.replace(trainer.cfg, **changes)


def _replay(trainer, plan: BudgetPlan) -> dict:
    """Take the plan's steps, changing max_steps at the steps the budgeted run did."""
    result: dict = {}
    refits = sorted(plan.refits)
    warmup = getattr(trainer.cfg, "warmup_steps", None)
    if plan.max_steps is not None:
        _set_max_steps(trainer, plan.max_steps, warmup)  # the schedule as the budgeted run began it
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
            _set_max_steps(trainer, max_steps, warmup)
    return result


def _write(trainer, record: dict) -> None:
    run_dir = getattr(trainer, "run_dir", None)
    if run_dir is not None:
        path = Path(run_dir.path)
        path.mkdir(parents=True, exist_ok=True)
        (path / BUDGET_FILE).write_text(json.dumps(record, indent=2) + "\n")


def fit_within_budget(trainer, time_budget_s: float, chunk: int = 100, fit_schedule: bool = False, *,
                      probe: int = 10, warmup_share: float = 0.25, replay: BudgetPlan | None = None,
                      curve_every_s: float = 0.0, clock=time.perf_counter) -> dict:
    """trainer.fit() within time_budget_s seconds (0: no limit), or replaying a plan.

    fit_schedule: refit max_steps to what the time left allows (see the module's docstring), so the
    learning-rate schedule ends with the budget; without it the configured schedule is cut off
    when the time is up. warmup_share: on a machine too noisy for two probes to agree, the warm-up
    ends anyway once it has used this share of the budget. replay: take a previous run's steps
    exactly (no budget). curve_every_s: validate every this many training seconds (left out of the
    budget) and keep the points, with the final validation, in the record's 'curve'
    [{step, train_s, val_loss, ...}]: time-to-a-target-loss comes from it.
    Returns fit()'s result with 'step', 'train_s' and 'budget' (the record written to budget.json).
    Ctrl-C or SIGTERM stops the trainer after its current step; then this raises KeyboardInterrupt.
    """
    start = clock()
    limit = trainer.cfg.max_steps
    warmup = getattr(trainer.cfg, "warmup_steps", None)  # the configured warm-up (a short budget shortens it)
    record: dict = {"time_budget_s": time_budget_s, "fit_schedule": fit_schedule, "max_steps_configured": limit}
    result: dict = {}
    curve: list[dict] = []

    def eval_s() -> float:
        return getattr(trainer, "eval_s", 0.0)

    eval_before = eval_s()

    def elapsed_now() -> float:
        """Training seconds so far: wall-clock since the start, validation left out."""
        return clock() - start - (eval_s() - eval_before)

    if replay is not None:
        result = _replay(trainer, replay)
        record.update(replayed_from=replay.source, refits=[list(r) for r in replay.refits])
        if "interrupted" not in result and not any(k.startswith("val_") for k in result) \
                and hasattr(trainer, "evaluate"):
            # - a budgeted run cut by time validated where it stopped; the replay does the same there
            result = {**result, **trainer.evaluate()}
    elif not time_budget_s:
        result = trainer.fit()
        record["refits"] = []
    else:
        pace, refits, elapsed, cut = Pace(), [], 0.0, False
        ramping = getattr(trainer, "ramping", lambda: False)
        was_ramping = ramping()
        next_point = curve_every_s
        pace.mark(trainer.step, 0.0)
        while trainer.step < trainer.cfg.max_steps and "interrupted" not in result:
            per_step = pace.seconds_per_step
            if trainer.step == 0:
                steps = 1  # the first step alone: if it does not fit, nothing will
            elif per_step is None:
                steps = probe  # still warming up: short probes, the schedule untouched
            else:
                affordable = int((time_budget_s - elapsed) / per_step)
                if fit_schedule:
                    # - the schedule ends where the time left at this pace ends (never before the next step)
                    max_steps = min(limit, trainer.step + max(1, affordable))
                    if max_steps != trainer.cfg.max_steps:
                        _set_max_steps(trainer, max_steps, warmup)
                        refits.append((trainer.step, max_steps))
                    left = trainer.cfg.max_steps - trainer.step
                    # - shrinking chunks: a quarter of what is left, the last few steps in one go
                    steps = left if left <= probe else min(chunk, max(probe, left // 4))
                else:
                    steps = max(1, min(chunk, affordable))
            result = trainer.fit(until=trainer.step + steps)
            elapsed = elapsed_now()
            if trainer.step == 1 and elapsed > time_budget_s and trainer.cfg.max_steps > 1:
                raise UserError(f"a budget of {time_budget_s:g} s cannot fit one training step (the first took "
                                f"{elapsed:.1f} s, compiling included); give a longer budget or a smaller model")
            pace.mark(trainer.step, elapsed)
            if was_ramping and not ramping():
                pace.restart()  # the ramps are over: full-size steps from here, measure their pace afresh
                was_ramping = False
            if elapsed >= warmup_share * time_budget_s:
                pace.settle()
            if curve_every_s and elapsed >= next_point and trainer.step < trainer.cfg.max_steps:
                curve.append({"step": trainer.step, "train_s": round(elapsed, 3), **trainer.evaluate()})
                next_point = elapsed + curve_every_s
            if elapsed > time_budget_s and trainer.step < trainer.cfg.max_steps:
                cut = True  # the time is up before the schedule's end
                record["steps_short"] = trainer.cfg.max_steps - trainer.step
                if fit_schedule:  # - the schedule ends here: its last steps (a small part of the decay) are skipped
                    _set_max_steps(trainer, trainer.step, warmup)
                    refits.append((trainer.step, trainer.step))
                break
        if cut and not any(k.startswith("val_") for k in result) and hasattr(trainer, "evaluate"):
            result = {**result, **trainer.evaluate()}  # the validation the schedule's end would have run
        warm = pace.warmup
        record.update(refits=[list(r) for r in refits], cut_by_time=cut,
                      warmup_steps=warm[0] if warm else None,
                      warmup_s=round(warm[1], 2) if warm else None,
                      seconds_per_step=round(pace.seconds_per_step, 5) if pace.seconds_per_step else None)
        first = getattr(trainer, "first_shape_steps_s", None)
        if first is not None and pace.seconds_per_step:
            # - the first step at each shape, beyond what a step costs: compiling (and first allocations)
            shapes = len(getattr(trainer, "shapes_seen", ())) or 1
            record["compile_s"] = round(max(0.0, first - shapes * pace.seconds_per_step), 2)
            record["compiled"] = bool(getattr(trainer, "compiled", False))
    train_s = elapsed_now()
    close_bar = getattr(trainer, "close_bar", None)  # (a budget can end the run before max_steps)
    if close_bar is not None:
        close_bar()
    if curve or (time_budget_s and replay is None):
        last = {k: v for k, v in result.items() if k.startswith("val_")}
        if last:  # the trainer's own validation at the end of the schedule
            curve.append({"step": trainer.step, "train_s": round(train_s, 3), **last})
    if warmup is not None:
        record["warmup_steps_fitted"] = trainer.cfg.warmup_steps
    record.update(steps=trainer.step, max_steps=trainer.cfg.max_steps, train_s=round(train_s, 1),
                  eval_s=round(eval_s() - eval_before, 1), curve=curve, **machine())
    _write(trainer, record)
    if "interrupted" in result:
        raise KeyboardInterrupt(result["interrupted"])
    return {**result, "step": trainer.step, "train_s": train_s, "budget": record}
