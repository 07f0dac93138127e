"""Time budgets: fitted to step times measured after warm-up, refitted as the run goes, replayable."""

import json
from dataclasses import dataclass

import pytest

from imdb_fixture import make_imdb
from scratchformer.cli.main import main
from scratchformer.errors import UserError
from scratchformer.training.budget import BudgetPlan, Pace, budget_plan, budget_seconds, fit_within_budget, parse_budget
from scratchformer.training.ramps import ramp_steps, ramp_value
from scratchformer.training.schedules import cosine


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
    assert budget["warmup_steps"] >= 1 and budget["seconds_per_step"] == pytest.approx(0.1)
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
    assert main(common + ["--name", "a", "--budget", "1.5s", "--fit_schedule_to_budget", "true"]) == 0
    assert main(common + ["--name", "b", "--budget_from", str(tmp_path / "runs" / "a")]) == 0
    a, b = (json.loads((tmp_path / "runs" / n / "results.json").read_text()) for n in "ab")
    # - (how far run a got depends on the machine's load; the replay matches it step for step)
    assert a["step"] == b["step"] > 0 and b["budget"]["refits"] == a["budget"]["refits"]
    assert b["val_acc"] == a["val_acc"] and (b["val_loss"] == pytest.approx(a["val_loss"])
                                             if a["val_loss"] is not None else b["val_loss"] is None)
    assert json.loads((tmp_path / "runs" / "b" / "budget.json").read_text())["replayed_from"].endswith("a")


# --------------------------------------------------------------------------------------------
# budgets written as lengths; ramps, evaluation and compiling inside a budget


@pytest.mark.parametrize("text, seconds", [("90s", 90.0), ("15m", 900.0), ("1h", 3600.0), ("1h30m", 5400.0),
                                           ("2.5m", 150.0), ("300", 300.0), (" 15 m ", 900.0), (45, 45.0)])
def test_parse_budget_reads_any_length(text, seconds):
    assert parse_budget(text) == seconds


@pytest.mark.parametrize("text, message", [("0", "leaves no time"), ("0s", "leaves no time"), (0, "leaves no time"),
                                           ("-5m", "not a length"), ("15 minutes", "not a length"), ("", "not a length"),
                                           ("1h30", "not a length")])
def test_parse_budget_refuses_zero_and_what_is_not_a_length(text, message):
    with pytest.raises(UserError, match=message):
        parse_budget(text)


def test_an_optional_budget_is_no_limit_when_absent_and_a_length_otherwise():
    assert budget_seconds(None) == 0.0 and budget_seconds("15m") == 900.0
    with pytest.raises(UserError, match="leaves no time"):
        budget_seconds("0")


def test_a_budget_that_cannot_fit_one_step_is_a_one_line_error():
    clock = Clock()
    with pytest.raises(UserError, match="a budget of 10 s cannot fit one training step \\(the first took 30.0 s"):
        fit_within_budget(FakeTrainer(1000, clock, first_s=30.0), 10.0, fit_schedule=True, clock=clock)


class RampingTrainer(FakeTrainer):
    """A fake trainer whose steps cost in proportion to a ramp (a quarter of a full step at first,
    full size after ramp_fraction of max_steps), and which spends `eval_s_per_fit` validating at
    the end of every fit() call."""

    def __init__(self, max_steps, clock, eval_s_per_fit=0.5, **kw):
        super().__init__(max_steps, clock, **kw)
        self.eval_s, self.eval_s_per_fit = 0.0, eval_s_per_fit

    def size(self):
        return ramp_value(1, 4, self.step, ramp_steps(self.cfg.max_steps, 0.3), stages=3) / 4

    def ramping(self):
        return self.size() < 1.0

    def fit(self, until=None):
        stop = min(self.cfg.max_steps, until) if until is not None else self.cfg.max_steps
        while self.step < stop:
            self.clock.t += self.first_s if self.step == 0 else self.step_s * self.size()
            self.schedule.append(self.cfg.max_steps)
            self.step += 1
        self.clock.t += self.eval_s_per_fit  # validation: on the clock, but not in the budget
        self.eval_s += self.eval_s_per_fit
        return {"step": self.step, "val_loss": 1.0}

    def evaluate(self):
        self.clock.t += self.eval_s_per_fit
        self.eval_s += self.eval_s_per_fit
        return {"val_loss": 1.0 / (1 + self.step)}


def test_with_ramps_and_validation_the_schedule_ends_fully_decayed_at_the_budget():
    clock = Clock()
    trainer = RampingTrainer(1_000_000, clock, first_s=5.0, step_s=0.1)
    out = fit_within_budget(trainer, 120.0, fit_schedule=True, curve_every_s=20.0, clock=clock)
    budget = out["budget"]
    # - the schedule's end is reached within the budget, and little of it is left unused
    assert out["step"] == trainer.cfg.max_steps and not budget["cut_by_time"]
    assert 0.95 * 120.0 <= out["train_s"] <= 120.0 + 0.1
    lr = [cosine(s, max_steps=trainer.cfg.max_steps, lr=1.0, min_lr=0.1, warmup_steps=10) for s in range(out["step"] + 1)]
    assert lr[-1] == pytest.approx(0.1)  # fully decayed at the end of the budget
    # - validation ran on the clock but is left out of the budget and reported apart
    assert budget["eval_s"] == pytest.approx(trainer.eval_s, abs=0.1) and clock.t > 120.0 + budget["eval_s"] - 1
    assert len(budget["curve"]) >= 5 and all(p["train_s"] <= 120.1 for p in budget["curve"])
    assert budget["curve"][-1]["step"] == out["step"]


@pytest.mark.parametrize("warmup_steps", [5, 2000])
def test_a_real_trainer_with_ramps_on_a_fake_clock_ends_at_min_lr(warmup_steps):
    """The real trainer and schedule; each step costs fake seconds in proportion to its tokens."""
    import torch

    from scratchformer.data.lm_data import LMData
    from scratchformer.models.gpt import GPT, GPTConfig
    from scratchformer.training.trainer import TrainConfig, Trainer

    clock = Clock()
    data = LMData({"train": torch.randint(0, 20, (400,)), "val": torch.randint(0, 20, (100,))}, context_len=16)
    cfg = TrainConfig(max_steps=100_000, batch_size=8, lr=1e-3, min_lr=1e-4, warmup_steps=warmup_steps, batch_ramp_start=2,
                      seq_ramp_start=4, eval_interval=0, eval_batches=1, stats_interval=0, progress=False, device="cpu")
    trainer = Trainer(GPT(GPTConfig(vocab_size=20, d_model=8, n_heads=2, n_layers=1, context_len=16)), cfg, data)
    step, lrs = trainer.train_step, []

    def costed_step():
        batch, seq = trainer.ramp_sizes()
        out = step()
        clock.t += 0.01 * batch * seq / (8 * 16)  # a full step: 10 ms
        lrs.append(out["lr"])
        return out

    trainer.train_step = costed_step
    out = fit_within_budget(trainer, 5.0, fit_schedule=True, clock=clock)
    assert trainer.step == trainer.cfg.max_steps and not out["budget"]["cut_by_time"]
    assert 4.5 <= clock.t <= 5.01
    assert trainer.lr_at(trainer.step) == pytest.approx(1e-4) and lrs[-1] < 1.1e-4  # decayed at the budget
    assert trainer.ramp_sizes(0) == (2, 4) and trainer.ramp_sizes(trainer.step - 1) == (8, 16)
    # - a warm-up longer than the budget allows is cut to a quarter of the fitted run
    assert out["budget"]["warmup_steps_fitted"] == min(warmup_steps, trainer.step // 4)
