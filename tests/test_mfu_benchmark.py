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


def test_the_nanogpt_anchor_runs_its_bench_py_in_a_copy_and_reads_its_step_time(tmp_path):
    """A stand-in checkout whose bench.py prints what nanoGPT's prints, and its arguments."""
    checkout = tmp_path / "nanoGPT"
    checkout.mkdir()
    (checkout / "bench.py").write_text(
        "import sys, pathlib\n"
        "pathlib.Path('written_here').write_text('x')\n"
        "print(' '.join(sys.argv[1:]))\n"
        "print('time per iteration: 250.0000ms, MFU: 40.00%')\n")
    args = mfu.argparse.Namespace(batch_size=16, device="cuda")
    timing = mfu.time_nanogpt(checkout, True, args)
    assert timing["step_s"] == 0.25 and timing["own_mfu_a100"] == 0.4
    assert timing["command"] == "bench.py --real_data=False --batch_size=16 --compile=True --device=cuda"
    assert not (checkout / "written_here").exists()  # the checkout itself is never touched


def test_nanogpt_output_without_a_timing_line_is_a_clear_error():
    with pytest.raises(ValueError, match="no 'time per iteration' line"):
        mfu.parse_nanogpt_bench("Compiling model...\n0/10 loss: 10.9\n")


def test_the_nanogpt_anchor_refuses_a_folder_without_bench_py_and_quick(tmp_path, capsys):
    with pytest.raises(SystemExit, match="not a nanoGPT checkout"):
        mfu.time_nanogpt(tmp_path, False, mfu.argparse.Namespace(batch_size=8, device="cuda"))
    with pytest.raises(SystemExit):
        mfu.main(["--quick", "--nanogpt", str(tmp_path)])
    assert "does not go with --quick" in capsys.readouterr().err


def test_the_table_puts_each_mode_beside_nanogpts_with_the_ratio():
    timing = {"parameters": 124_000_000, "compiled": True, "dtype": "bfloat16", "first_step_s": 20.0,
              "peak_mem_mb": 2048.0, "tokens_per_s": 400_000.0, "mfu": 0.35}
    results = {"machine": {"cpu": "Xeon", "cores": 16, "torch": "2.11"}, "device_name": "NVIDIA H200",
               "model": {"n_layers": 12, "d_model": 768, "context_len": 1024}, "batch_size": 16, "steps": 20,
               "warmup": 10, "peak_tflops": 989.4, "peak_source": "data sheet", "flops_per_token_train": 8.5e8,
               "modes": {"compiled": timing}, "nanogpt": {"compiled": {"tokens_per_s": 500_000.0, "mfu": 0.4}},
               "ours_over_nanogpt": {"compiled": 0.8}}
    table = mfu.render(results)
    assert "| compiled | 400,000 | 35.0% | 500,000 | 40.0% | **0.80×** | 20.0 s | 2.0 GiB |" in table
    results["modes"]["compiled"] = {**timing, "compiled": False}
    assert "(fell back to eager)" in mfu.render(results)
