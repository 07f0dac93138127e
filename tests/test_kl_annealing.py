"""The KL weight's schedules: values at chosen steps, and the one-line errors."""

import pytest

from scratchformer.errors import UserError
from scratchformer.training.kl_annealing import KLAnnealingConfig, kl_weight


def test_cyclical_rises_over_half_of_each_cycle_then_holds():
    cfg = KLAnnealingConfig(schedule="cyclical", cycles=4, ramp=0.5)
    # - 400 steps: cycles of 100, rising over the first 50 steps of each
    got = [kl_weight(cfg, s, 400) for s in (0, 25, 50, 99, 100, 125, 350, 399, 400, 500)]
    assert got == pytest.approx([0.0, 0.5, 1.0, 1.0, 0.0, 0.5, 1.0, 1.0, 1.0, 1.0])


def test_start_end_and_max_beta():
    cfg = KLAnnealingConfig(schedule="cyclical", start=100, end=300, cycles=2, ramp=1.0, max_beta=0.5)
    assert kl_weight(cfg, 50, 1000) == 0.0  # before the start: a pure autoencoder
    assert kl_weight(cfg, 150, 1000) == pytest.approx(0.25)
    assert kl_weight(cfg, 200, 1000) == 0.0  # the second cycle starts again at 0
    assert kl_weight(cfg, 300, 1000) == 0.5  # after the end: held at max_beta


def test_linear_and_constant():
    linear = KLAnnealingConfig(schedule="linear")
    assert [kl_weight(linear, s, 200) for s in (0, 50, 100, 200)] == pytest.approx([0.0, 0.25, 0.5, 1.0])
    assert kl_weight(KLAnnealingConfig(schedule="constant", max_beta=0.3), 0, 10) == 0.3


def test_a_schedule_that_ends_before_it_starts_is_refused_in_one_line():
    with pytest.raises(ValueError, match="ends .step 10. before it starts .step 20."):
        KLAnnealingConfig(start=20, end=10)
    # - the end left to the run's last step: a start past it is refused when the weight is asked for
    with pytest.raises(UserError, match="before it starts"):
        kl_weight(KLAnnealingConfig(start=500), 0, 100)
    with pytest.raises(ValueError, match="unknown KL schedule"):
        KLAnnealingConfig(schedule="sigmoid")
