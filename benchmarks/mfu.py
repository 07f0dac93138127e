"""Training throughput and model FLOPs utilisation (MFU) of a GPT on one device.

    python -m benchmarks.mfu                        # GPT-2 small, context 1024: eager and compiled, bf16 on a GPU
    python -m benchmarks.mfu --peak_tflops 989      # a device the table below does not know
    python -m benchmarks.mfu --quick                # a tiny GPT on the CPU, seconds (prints, writes nothing)
    python -m benchmarks.mfu --nanogpt ../nanoGPT   # nanoGPT's own bench.py beside ours, same GPU, same run

Each mode (eager, compiled) trains a fresh GPT of the same seed with our own Trainer, on random
tokens (throughput does not depend on the text), `warmup` steps and then `steps` timed steps.
The first step is timed apart: with torch.compile that is where compiling happens (compile_s).
A step's time ends when its loss and gradient norm reach the host (the step's one read-back waits
for the device), so the GPU's queue is never left out of it.

    tokens/s  = batch_size * context_len / (median seconds per timed step)
    MFU       = FLOPs per token * tokens/s / the device's peak FLOPs per second

FLOPs per token are counted analytically (scratchformer/models/flops.py): the matrix products of a
forward and backward pass (3 x forward), attention over the whole score matrix, as the kernels
compute it. The peak is the device's dense bf16 tensor-core figure from its maker's data sheet
(PEAK_TFLOPS); MFU is reported against it whatever the dtype, as the PaLM paper and nanoGPT do.
A CPU has no such figure here: give `--peak_tflops` to get an MFU, else it is null.

The anchor (--nanogpt DIR, a checkout of karpathy/nanoGPT, copied, never modified): nanoGPT's own
bench.py, run in the same invocation on the same GPU with the same batch, on random tokens
(--real_data=False), once per mode (--compile=False / True). It trains the same shape (GPT-2
small, context 1024, no biases, tied head) in bf16 and prints the mean time of 20 steps after 10
burn-in steps; tokens/s and MFU are derived from it with the same FLOPs count and peak as ours
(its own printed MFU, against an A100's 312 TFLOPs, is kept as `own_mfu_a100`). nanoGPT's code is
never imported: it runs in its own process.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

import torch

from benchmarks.common import RandomTokens, load_average, peak_rss_mb, report, require_clean
from scratchformer.devices import resolve_device
from scratchformer.models.flops import sequence_flops
from scratchformer.models.gpt import GPT, GPTConfig
from scratchformer.provenance import machine
from scratchformer.training.trainer import TrainConfig, Trainer

# GPT-2 small (124M parameters with the tied head), as nanoGPT trains it, in our fast path
GPT2_SMALL = dict(vocab_size=50304, context_len=1024, d_model=768, n_heads=12, n_layers=12, dropout=0.0, bias=False)
QUICK_MODEL = dict(vocab_size=256, context_len=64, d_model=64, n_heads=4, n_layers=2, dropout=0.0, bias=False)

# dense (not sparse) bf16 tensor-core peaks, TFLOPs, from NVIDIA's data sheets; the first name
# found in torch.cuda.get_device_name() wins, so the more specific names come first
PEAK_TFLOPS = {
    "H200": 989.4,       # H200 SXM
    "H100 PCIe": 756.0,
    "H100": 989.4,       # H100 SXM
    "A100": 312.0,
    "L40S": 362.1,
    "L4": 121.0,
}


def peak_tflops_of(device_name: str) -> float | None:
    """The dense bf16 peak of a GPU named `device_name`, or None when the table does not know it."""
    for name, tflops in PEAK_TFLOPS.items():
        if name in device_name:
            return tflops
    return None


def time_mode(model_cfg: GPTConfig, compile: bool, args) -> dict:
    """Train a fresh GPT `warmup + steps` steps; the first step's time, the timed steps' times, peak memory."""
    torch.manual_seed(0)
    model = GPT(model_cfg)
    train = TrainConfig(max_steps=args.warmup + args.steps, batch_size=args.batch_size, lr=6e-4, min_lr=6e-5,
                        warmup_steps=0, eval_interval=0, stats_interval=0, log_interval=10_000,
                        device=args.device, dtype=args.dtype, compile=compile, progress=False)
    trainer = Trainer(model, train, RandomTokens(model_cfg.vocab_size, model_cfg.context_len))
    cuda = trainer.device.type == "cuda"
    if cuda:
        torch.cuda.reset_peak_memory_stats(trainer.device)
    step_s = []
    for _ in range(args.warmup + args.steps):
        start = time.perf_counter()
        trainer.train_step()
        if cuda:
            torch.cuda.synchronize(trainer.device)
        step_s.append(time.perf_counter() - start)
    peak_mb = torch.cuda.max_memory_allocated(trainer.device) / 2**20 if cuda else peak_rss_mb()
    return {"parameters": sum(p.numel() for p in model.parameters()),
            "compiled": trainer.compiled,  # False when compiling failed and the trainer fell back
            "dtype": str(trainer.dtype).removeprefix("torch."), "device": str(trainer.device),
            "first_step_s": round(step_s[0], 4), "warmup_step_s": [round(s, 4) for s in step_s[1:args.warmup]],
            "step_s": [round(s, 5) for s in step_s[args.warmup:]], "peak_mem_mb": round(peak_mb, 1),
            "peak_mem_kind": "torch.cuda.max_memory_allocated" if cuda else "process peak RSS (all modes so far)"}


# bench.py's last line: "time per iteration: 123.4567ms, MFU: 45.67%"
NANOGPT_LINE = re.compile(r"time per iteration: ([\d.]+)ms, MFU: ([\d.]+)%")


def parse_nanogpt_bench(stdout: str) -> tuple[float, float]:
    """(seconds per step, its own MFU as a fraction) from the output of nanoGPT's bench.py."""
    match = NANOGPT_LINE.search(stdout)
    if match is None:
        raise ValueError("nanoGPT's bench.py printed no 'time per iteration' line; its output ends: "
                         + stdout.strip()[-300:])
    return float(match.group(1)) / 1000, float(match.group(2)) / 100


def time_nanogpt(nanogpt_dir: Path, compile: bool, args) -> dict:
    """nanoGPT's bench.py in a copy of its checkout, in its own process: seconds per step."""
    if not (Path(nanogpt_dir) / "bench.py").is_file():
        sys.exit(f"error: {nanogpt_dir} is not a nanoGPT checkout (no bench.py); pass the folder of a clone "
                 "of karpathy/nanoGPT")
    with tempfile.TemporaryDirectory() as tmp:
        copy = shutil.copytree(nanogpt_dir, Path(tmp) / "nanogpt", ignore=shutil.ignore_patterns(".git"))
        command = [sys.executable, "bench.py", "--real_data=False", f"--batch_size={args.batch_size}",
                   f"--compile={compile}", f"--device={args.device if args.device != 'auto' else 'cuda'}"]
        done = subprocess.run(command, cwd=copy, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"error: nanoGPT's bench.py failed ({' '.join(command[1:])}): "
                 + (done.stderr.strip().splitlines() or ["no output"])[-1])
    step_s, own_mfu = parse_nanogpt_bench(done.stdout)
    return {"command": " ".join(command[1:]), "compiled": compile, "step_s": step_s, "own_mfu_a100": own_mfu,
            "timing": "mean of 20 steps after 10 burn-in steps (bench.py's own)"}


def summarise(timing: dict, tokens_per_step: int, flops_per_token: float, peak_tflops: float | None) -> dict:
    """tokens/s, achieved TFLOPs and MFU from the median timed step."""
    step = statistics.median(timing["step_s"])
    tokens_per_s = tokens_per_step / step
    achieved = flops_per_token * tokens_per_s / 1e12
    return {**timing, "median_step_s": round(step, 5), "tokens_per_s": round(tokens_per_s, 1),
            "achieved_tflops": round(achieved, 4),
            "mfu": round(achieved / peak_tflops, 5) if peak_tflops else None}


def render(results: dict) -> str:
    """The GPU table: ours and nanoGPT's bench.py per mode, tokens/s and MFU, from one invocation."""
    m, model, anchor = results["machine"], results["model"], results.get("nanogpt", {})
    lines = ["| mode | scratchformer tokens/s | MFU | nanoGPT's bench.py tokens/s | MFU | ours / nanoGPT | "
             "our first step (compiling) | our peak memory |",
             "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for mode, ours in results["modes"].items():
        theirs = anchor.get(mode)
        their_cells = (f"{theirs['tokens_per_s']:,.0f} | {theirs['mfu']:.1%}" if theirs else "not run | –")
        ratio = f"**{results['ours_over_nanogpt'][mode]:.2f}×**" if theirs else "–"
        lines.append(f"| {mode}{'' if ours['compiled'] or mode == 'eager' else ' (fell back to eager)'} | "
                     f"{ours['tokens_per_s']:,.0f} | {ours['mfu']:.1%} | {their_cells} | {ratio} | "
                     f"{ours['first_step_s']:.1f} s | {ours['peak_mem_mb'] / 1024:.1f} GiB |")
    speedup, first = results.get("compiled_speedup"), next(iter(results["modes"].values()))
    lines += ["", f"GPT-2 small ({model['n_layers']} layers, {model['d_model']} wide, context {model['context_len']}, "
                  f"{first['parameters'] / 1e6:.0f}M parameters), batch "
                  f"{results['batch_size']}, {first['dtype']} autocast, "
                  f"random tokens; ours: median of {results['steps']} steps after {results['warmup']}, nanoGPT: "
                  f"its bench.py's mean of 20 after 10. MFU against {results['peak_tflops']:g} TFLOPs "
                  f"({results['peak_source']}), the same analytic FLOPs per token "
                  f"({results['flops_per_token_train'] / 1e9:.3f} GFLOPs) for both. One run each on "
                  f"{results['device_name']} (host {m['cpu']}, {m['cores']} cores, torch {m['torch']})"
                  + (f"; compiling made our steps {speedup:.2f}× faster." if speedup else ".")]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a tiny GPT on the CPU, eager only (prints, writes nothing)")
    parser.add_argument("--modes", default=None, help="comma-separated: eager, compiled (default both; eager with --quick)")
    parser.add_argument("--batch_size", type=int, default=None, help="sequences per step (default 8; 4 with --quick)")
    parser.add_argument("--steps", type=int, default=None, help="timed steps per mode (default 20; 3 with --quick)")
    parser.add_argument("--warmup", type=int, default=None, help="untimed steps first, the first one timed apart "
                                                                  "(default 10, as nanoGPT's bench.py; 2 with --quick)")
    parser.add_argument("--device", default="auto", help="cpu, cuda, cuda:N or auto")
    parser.add_argument("--dtype", default="auto", help="float32, bfloat16, float16 or auto (bf16 on a GPU)")
    parser.add_argument("--nanogpt", default=None, metavar="DIR",
                        help="a karpathy/nanoGPT checkout: run its bench.py beside ours (a GPU; not with --quick)")
    parser.add_argument("--peak_tflops", type=float, default=None,
                        help="the device's peak TFLOPs for MFU (default: PEAK_TFLOPS for a known GPU)")
    args = parser.parse_args(argv)
    quick = args.quick
    args.modes = args.modes or ("eager" if quick else "eager,compiled")
    args.batch_size = args.batch_size or (4 if quick else 8)
    args.steps = args.steps or (3 if quick else 20)
    args.warmup = args.warmup or (2 if quick else 10)
    modes = [m.strip() for m in args.modes.split(",")]
    if not set(modes) <= {"eager", "compiled"}:
        parser.error(f"--modes takes eager and/or compiled, got {args.modes!r}")
    if args.warmup < 1 or args.steps < 1:
        parser.error("--warmup and --steps must be at least 1")
    if args.nanogpt and quick:
        parser.error("--nanogpt times GPT-2 small on a GPU; it does not go with --quick")
    if args.peak_tflops is not None and args.peak_tflops <= 0:
        parser.error(f"--peak_tflops must be > 0, got {args.peak_tflops}")
    state = require_clean(quick)

    # - the device and its peak: the user's figure first, else the table for a known GPU
    device = resolve_device(args.device)
    device_name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    peak = args.peak_tflops or (peak_tflops_of(device_name) if device.type == "cuda" else None)
    model_cfg = GPTConfig(**(QUICK_MODEL if quick else GPT2_SMALL))
    flops_per_token = sequence_flops(model_cfg, "gpt").train_per_predicted_token
    load_start = load_average()

    # - each mode on a fresh model of the same seed
    results = {mode: summarise(time_mode(model_cfg, mode == "compiled", args), args.batch_size * model_cfg.context_len,
                               flops_per_token, peak)
               for mode in modes}
    result = {
        "benchmark": "mfu", "quick": quick, "device_name": device_name, "peak_tflops": peak,
        "peak_source": "--peak_tflops" if args.peak_tflops else ("PEAK_TFLOPS (dense bf16, data sheet)" if peak else None),
        "model": asdict(model_cfg),
        "batch_size": args.batch_size, "steps": args.steps, "warmup": args.warmup,
        "flops_per_token_train": flops_per_token, "modes": results,
        "machine": machine(), "load_average_at_start": load_start,
    }
    if "eager" in results and "compiled" in results:
        result["compiled_speedup"] = round(results["compiled"]["tokens_per_s"] / results["eager"]["tokens_per_s"], 3)

    # - the anchor: nanoGPT's bench.py on the same device, same batch, each mode; the same FLOPs and peak
    if args.nanogpt:
        tokens_per_step = args.batch_size * model_cfg.context_len
        anchor = {}
        for mode in modes:
            timing = time_nanogpt(Path(args.nanogpt), mode == "compiled", args)
            tokens_per_s = tokens_per_step / timing["step_s"]
            achieved = flops_per_token * tokens_per_s / 1e12
            anchor[mode] = {**timing, "tokens_per_s": round(tokens_per_s, 1), "achieved_tflops": round(achieved, 4),
                            "mfu": round(achieved / peak, 5) if peak else None}
        result["nanogpt"] = anchor
        result["ours_over_nanogpt"] = {mode: round(results[mode]["tokens_per_s"] / anchor[mode]["tokens_per_s"], 3)
                                       for mode in modes}
    if quick:
        print(json.dumps(result))
        return result
    return report("mfu", result, state=state)


if __name__ == "__main__":
    main()
