"""The MFU benchmark: tokens/s from timed steps, FLOPs per token from the analytic count, MFU against a peak."""

import pytest

from benchmarks import mfu
from scratchformer.models.flops import sequence_flops
from scratchformer.models.gpt import GPTConfig


def test_quick_form_times_real_steps_and_derives_mfu_from_the_given_peak():
    result = mfu.main(["--quick", "--device", "cpu", "--peak_tflops", "0.5"])
    eager = result["modes"]["eager"]
    cfg = GPTConfig(**mfu.QUICK_MODEL)
    # - the FLOPs are the analytic count of flops.py, per predicted token of a training step
    assert result["flops_per_token_train"] == sequence_flops(cfg, "gpt").train_per_predicted_token
    assert len(eager["step_s"]) == 3 and all(s > 0 for s in eager["step_s"])
    # - tokens/s from the median step; MFU = achieved FLOPs / the peak given
    tokens_per_s = 4 * cfg.context_len / eager["median_step_s"]
    assert eager["tokens_per_s"] == pytest.approx(tokens_per_s, rel=1e-3)
    achieved = result["flops_per_token_train"] * eager["tokens_per_s"] / 1e12
    assert eager["mfu"] == pytest.approx(achieved / 0.5, rel=1e-3)
    assert eager["parameters"] > 0 and eager["peak_mem_mb"] > 0 and not eager["compiled"]


def test_a_cpu_without_a_given_peak_reports_no_mfu():
    result = mfu.main(["--quick", "--device", "cpu", "--steps", "1", "--warmup", "1"])
    assert result["peak_tflops"] is None and result["modes"]["eager"]["mfu"] is None


def test_known_gpus_get_their_dense_bf16_peak_and_specific_names_win():
    assert mfu.peak_tflops_of("NVIDIA H100 PCIe") == 756.0
    assert mfu.peak_tflops_of("NVIDIA H100 80GB HBM3") == 989.4
    assert mfu.peak_tflops_of("NVIDIA L40S") == 362.1
    assert mfu.peak_tflops_of("NVIDIA A100-SXM4-80GB") == 312.0
    assert mfu.peak_tflops_of("Some Other GPU") is None


def test_bad_modes_are_one_line_errors(capsys):
    with pytest.raises(SystemExit):
        mfu.main(["--quick", "--modes", "fast"])
    assert "--modes takes eager and/or compiled" in capsys.readouterr().err
