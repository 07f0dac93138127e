"""Learning-rate schedules: pure functions of the step, checked at their landmarks."""

import math

import pytest

from scratchformer.cli.main import main
from scratchformer.training.schedules import SCHEDULES, get_schedule

KW = dict(max_steps=1000, lr=1e-3, min_lr=1e-4, warmup_steps=100)


def lr(name, step, **kw):
    return SCHEDULES[name](step, **{**KW, **kw})


@pytest.mark.parametrize("name", sorted(SCHEDULES))
def test_schedules_are_pure_and_bounded(name):
    values = [lr(name, s) for s in range(0, 1001, 7)]
    assert values == [lr(name, s) for s in range(0, 1001, 7)]  # same step, same rate: no hidden state
    assert all(0 < v <= KW["lr"] * (1 + 1e-12) for v in values)


@pytest.mark.parametrize("name", ["warmup", "cosine", "linear", "wsd"])
def test_linear_warmup_reaches_the_peak(name):
    assert lr(name, 0) == pytest.approx(1e-5)  # lr * 1/warmup_steps: never exactly zero
    assert lr(name, 49) == pytest.approx(5e-4)
    assert lr(name, 99) == pytest.approx(1e-3)
    assert lr(name, 100) == pytest.approx(1e-3)


def test_constant_and_warmup_stay_flat():
    assert {lr("constant", s) for s in (0, 50, 999, 1000)} == {1e-3}
    assert lr("warmup", 500) == lr("warmup", 1000) == 1e-3


def test_cosine_landmarks():
    assert lr("cosine", 550) == pytest.approx((1e-3 + 1e-4) / 2)  # half-way through the decay
    assert lr("cosine", 1000) == pytest.approx(1e-4)
    assert lr("cosine", 5000) == pytest.approx(1e-4)  # past the end: stays at min_lr
    decay = [lr("cosine", s) for s in range(100, 1001)]
    assert all(a >= b for a, b in zip(decay, decay[1:]))


def test_linear_decay_landmarks():
    assert lr("linear", 550) == pytest.approx((1e-3 + 1e-4) / 2)
    assert lr("linear", 325) == pytest.approx(1e-3 - 0.25 * 9e-4)
    assert lr("linear", 1000) == pytest.approx(1e-4)


def test_warmup_stable_decay_landmarks():
    assert lr("wsd", 500) == lr("wsd", 800) == pytest.approx(1e-3)  # stable until the last 20%
    assert lr("wsd", 900) == pytest.approx((1e-3 + 1e-4) / 2)
    assert lr("wsd", 1000) == pytest.approx(1e-4)


def test_one_cycle_landmarks():
    assert lr("one_cycle", 0) == pytest.approx(1e-3 / 25)
    assert lr("one_cycle", 150) == pytest.approx((1e-3 / 25 + 1e-3) / 2)
    assert lr("one_cycle", 300) == pytest.approx(1e-3)
    assert lr("one_cycle", 650) == pytest.approx((1e-3 + 1e-4) / 2)
    assert lr("one_cycle", 1000) == pytest.approx(1e-4)


def test_short_runs_do_not_divide_by_zero():
    for name in SCHEDULES:
        for max_steps, warmup in ((1, 0), (1, 5), (3, 3)):
            assert math.isfinite(lr(name, 0, max_steps=max_steps, warmup_steps=warmup))


def test_unknown_schedule_lists_the_names():
    with pytest.raises(ValueError, match="unknown schedule 'cosin'; choose one of"):
        get_schedule("cosin")


def test_plot_schedule_command(tmp_path, capsys):
    out = tmp_path / "s.png"
    assert main(["plot-schedule", "--schedule", "cosine,wsd", "--max_steps", "200", "--out", str(out)]) == 0
    assert out.read_bytes()[:4] == b"\x89PNG"
    assert main(["plot-schedule", "--schedule", "triangle"]) == 2
    assert "unknown schedule 'triangle'" in capsys.readouterr().err
