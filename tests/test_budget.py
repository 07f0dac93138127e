"""Time budgets: fitted to step times measured after warm-up, refitted as the run goes, replayable."""

import json
from dataclasses import dataclass

import pytest

from imdb_fixture import make_imdb
from scratchformer.cli.main import main
from scratchformer.errors import UserError
from scratchformer.training.budget import BudgetPlan, Pace, budget_plan, fit_within_budget


@dataclass
class Cfg:
    max_steps: int


class FakeTrainer:
    """A trainer whose steps cost simulated seconds: the first (compilation) `first_s`, then `step_s`,
    or `slow_s` from step `slow_from` on (the machine gets busier). Records max_steps at every step,
    which is all a learning-rate schedule sees."""

    def __init__(self, max_steps, clock, first_s=30.0, step_s=0.1, slow_from=None, slow_s=None):
        self.cfg, self.clock, self.step = Cfg(max_steps), clock, 0
        self.first_s, self.step_s, self.slow_from, self.slow_s = first_s, step_s, slow_from, slow_s
        self.schedule: list[int] = []  # max_steps seen at each step
        self.run_dir = None

    def fit(self, until=None):
        stop = min(self.cfg.max_steps, until) if until is not None else self.cfg.max_steps
        while self.step < stop:
            slow = self.slow_from is not None and self.step >= self.slow_from
            self.clock.t += self.first_s if self.step == 0 else (self.slow_s if slow else self.step_s)
            self.schedule.append(self.cfg.max_steps)
            self.step += 1
        return {"step": self.step}


class Clock:
    def __init__(self):
        self.t = 0.0

    def __call__(self):
        return self.t


def test_a_slow_first_step_does_not_shorten_the_schedule():
    clock = Clock()
    trainer = FakeTrainer(100_000, clock, first_s=30.0, step_s=0.1)
    out = fit_within_budget(trainer, 100.0, fit_schedule=True, clock=clock)
    # - 70 s left after the 30 s compile step: 700 more steps at 0.1 s
    assert out["step"] == trainer.cfg.max_steps and 690 <= out["step"] <= 701
    # - the schedule never ended early: every fitted end lay near the final one
    assert min(trainer.schedule[20:]) >= 0.95 * out["step"]
    assert 98.0 <= out["train_s"] <= 100.0
    budget = out["budget"]
    assert budget["warmup_steps"] >= 10 and budget["seconds_per_step"] == pytest.approx(0.1)
    assert not budget["cut_by_time"] and budget["cpu"] and "load_avg" in budget


def test_the_refit_follows_a_machine_that_gets_slower_and_ends_within_the_budget():
    clock = Clock()
    trainer = FakeTrainer(100_000, clock, first_s=5.0, step_s=0.1, slow_from=300, slow_s=0.3)
    out = fit_within_budget(trainer, 200.0, fit_schedule=True, clock=clock)
    # - 5 s + 300 x 0.1 s leave 165 s at 0.3 s a step: 850 steps in all
    assert out["step"] == trainer.cfg.max_steps and abs(out["step"] - 850) <= 0.03 * 850
    assert abs(out["train_s"] - 200.0) <= 0.05 * 200.0
    assert len(out["budget"]["refits"]) > 3


def test_without_fit_schedule_the_configured_schedule_is_kept_and_cut_at_the_budget():
    clock = Clock()
    trainer = FakeTrainer(10_000, clock, first_s=2.0, step_s=0.1)
    out = fit_within_budget(trainer, 50.0, clock=clock)
    assert set(trainer.schedule) == {10_000} and 470 <= out["step"] <= 490
    assert out["budget"]["cut_by_time"] and out["budget"]["refits"] == []


def test_a_replay_takes_the_same_steps_with_the_same_schedule_on_a_slower_machine(tmp_path):
    clock = Clock()
    first = FakeTrainer(100_000, clock, first_s=30.0, step_s=0.1)
    out = fit_within_budget(first, 100.0, fit_schedule=True, clock=clock)
    (tmp_path / "budget.json").write_text(json.dumps(out["budget"]))
    plan = budget_plan(tmp_path)
    again = FakeTrainer(500, Clock(), first_s=60.0, step_s=0.5)  # another max_steps: the plan's is used
    replayed = fit_within_budget(again, 0, replay=plan, clock=again.clock)
    assert replayed["step"] == out["step"] and again.schedule == first.schedule
    assert replayed["budget"]["replayed_from"] == str(tmp_path)


def test_pace_skips_warm_up_until_two_chunks_agree():
    pace = Pace(tolerance=0.3)
    for step, t in [(0, 0), (10, 50.0), (20, 58.0), (30, 59.0), (40, 60.0)]:  # compile, a recompile, then 0.1 s
        pace.mark(step, t)
    assert pace.warmup == (20, 58.0) and pace.seconds_per_step == pytest.approx(0.1)


def test_budget_plan_reads_results_and_refuses_a_folder_without_steps(tmp_path):
    (tmp_path / "results.json").write_text(json.dumps({"step": 42}))
    assert budget_plan(tmp_path) == BudgetPlan(42, [], str(tmp_path))
    with pytest.raises(UserError, match="took 42 steps but max_steps is 10"):
        fit_within_budget(FakeTrainer(10, Clock()), 0, replay=budget_plan(tmp_path))
    with pytest.raises(UserError, match="no budget.json"):
        budget_plan(tmp_path / "missing")


def test_budget_from_reproduces_a_budgeted_classifier_run(tmp_path):
    folder = make_imdb(tmp_path, n_train=40, n_test=10)
    common = ["train-classifier", "--data.source", str(folder), "--out_dir", str(tmp_path / "runs"),
              "--model.variant", "pool", "--model.d_model", "16", "--tokenizer.vocab_size", "60",
              "--train.batch_size", "8", "--train.max_steps", "100000", "--threads", "1"]
    assert main(common + ["--name", "a", "--time_budget_s", "1.5", "--fit_schedule_to_budget", "true"]) == 0
    assert main(common + ["--name", "b", "--budget_from", str(tmp_path / "runs" / "a")]) == 0
    a, b = (json.loads((tmp_path / "runs" / n / "results.json").read_text()) for n in "ab")
    # - (how far run a got depends on the machine's load; the replay matches it step for step)
    assert a["step"] == b["step"] > 0 and b["budget"]["refits"] == a["budget"]["refits"]
    assert b["val_acc"] == a["val_acc"] and (b["val_loss"] == pytest.approx(a["val_loss"])
                                             if a["val_loss"] is not None else b["val_loss"] is None)
    assert json.loads((tmp_path / "runs" / "b" / "budget.json").read_text())["replayed_from"].endswith("a")
