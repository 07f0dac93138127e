"""The GPU paths: the fused attention, the KV cache, bf16 autocast, torch.compile and Muon on CUDA.

Skipped without a GPU (CI has none); scripts/device_check.sh runs them on a lent one (they passed
on an H200 with torch 2.11; a GPU without bf16 fails the bf16 ones). On CPUs the
same behaviour is covered by test_gpt, test_attention, test_generate and test_trainer.
"""

import pytest
import torch
from toolkit_helpers import pattern_data, tiny_cfg, tiny_gpt

from scratchformer.models.generate import SamplingConfig, generate
from scratchformer.models.gpt import GPT, GPTConfig
from scratchformer.training.trainer import Trainer

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
CUDA = torch.device("cuda")


def small(**kw) -> GPTConfig:
    base = dict(vocab_size=128, context_len=128, d_model=128, n_heads=4, n_layers=2, dropout=0.0)
    return GPTConfig(**{**base, **kw})


def logits_of(model, idx, dtype=None):
    with torch.no_grad(), torch.autocast("cuda", dtype=dtype, enabled=dtype is not None):
        return model(idx)[0].float()


@pytest.mark.parametrize("variant", [{}, {"position": "rope", "n_kv_heads": 2, "norm": "rmsnorm"}])
def test_fast_and_readable_attention_agree_on_the_gpu_in_fp32_and_bf16(variant):
    """SDPA's fused kernels (flash or memory-efficient on CUDA) against the readable softmax(QK^T)V."""
    torch.manual_seed(0)
    fast = GPT(small(fast_attention=True, **variant)).to(CUDA).eval()
    readable = GPT(small(fast_attention=False, **variant)).to(CUDA).eval()
    readable.load_state_dict(fast.state_dict())
    idx = torch.randint(0, 128, (4, 128), device=CUDA)
    reference = logits_of(readable, idx)
    assert torch.allclose(logits_of(fast, idx), reference, atol=1e-4)
    # - under bf16 autocast each path rounds differently; both stay within bf16's precision of fp32
    for model in (fast, readable):
        assert (logits_of(model, idx, torch.bfloat16) - reference).abs().max() < 5e-2


def test_the_gpu_gives_the_cpus_logits():
    torch.manual_seed(0)
    model = GPT(small()).eval()
    idx = torch.randint(0, 128, (2, 64))
    with torch.no_grad():
        on_cpu = model(idx)[0]
    on_gpu = logits_of(model.to(CUDA), idx.to(CUDA)).cpu()
    assert torch.allclose(on_gpu, on_cpu, atol=1e-4), (on_gpu - on_cpu).abs().max()


def test_the_kv_cache_generates_what_recomputing_does_on_the_gpu():
    torch.manual_seed(0)
    model = GPT(small(position="rope")).to(CUDA)
    prompt = torch.randint(0, 128, (2, 5), device=CUDA)
    cached = generate(model, prompt, SamplingConfig(max_new_tokens=60, temperature=0, use_cache=True))
    recomputed = generate(model, prompt, SamplingConfig(max_new_tokens=60, temperature=0, use_cache=False))
    assert torch.equal(cached, recomputed)


@pytest.mark.parametrize("optimizer", ["adamw", "muon"])
def test_training_on_the_gpu_in_bf16_compiled_learns(optimizer):
    """The Trainer's GPU path: autocast to bf16, torch.compile (no fallback), fused AdamW or Muon."""
    data = pattern_data()
    cfg = tiny_cfg(max_steps=100, device="cuda", dtype="bfloat16", compile=True, optimizer=optimizer)
    trainer = Trainer(tiny_gpt(), cfg, data)
    trainer.fit()
    losses = [r["loss"] for r in trainer.history if "loss" in r]
    assert trainer.device.type == "cuda" and trainer.dtype == torch.bfloat16
    assert trainer.compiled, "torch.compile fell back to eager on the GPU"
    assert losses[-1] < 0.75 * losses[0]


def test_a_gpu_run_is_generated_from_on_the_cpu(tmp_path, capsys):
    """Train on the GPU from the command line, then sample from the run folder on the CPU."""
    from toolkit_helpers import tiny_preset

    from scratchformer.cli.main import main

    assert main(["train", "--config", tiny_preset(tmp_path, max_steps=10), "--train.device", "cuda",
                 "--train.dtype", "bfloat16", "--name", "g"]) == 0
    capsys.readouterr()
    assert main(["generate", "--run", str(tmp_path / "runs" / "g"), "--device", "cpu", "--prompt", "To be",
                 "--sample.max_new_tokens", "8"]) == 0
    assert capsys.readouterr().out.startswith("To be")


def test_the_mfu_benchmark_times_both_modes_on_the_gpu():
    from benchmarks.mfu import main, peak_tflops_of

    # - a GPU the peak table does not know gets a stand-in peak: the test is of the timing, not the table
    peak = [] if peak_tflops_of(torch.cuda.get_device_name()) else ["--peak_tflops", "100"]
    result = main(["--quick", "--device", "cuda", "--modes", "eager,compiled", *peak])
    assert result["peak_tflops"] is not None and result["modes"]["compiled"]["compiled"]
    assert all(0 < mode["mfu"] < 1 for mode in result["modes"].values())
