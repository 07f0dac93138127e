"""Cached generation: a Perceiver AR against a GPT of the same size, at the same long context.

    python -m benchmarks.perceiver_generate            # about a minute
    python -m benchmarks.perceiver_generate --quick    # seconds (a test runs this)

Both models read up to `context_len` tokens and generate with their cache, batch 1, greedy,
one CPU thread: from a random prompt of context_len - new_tokens tokens up to a full context
(no sliding), so every step reads the whole long context. Reports the prefill time (the
prompt in one forward) and the decode speed (new tokens/s), medians of `repeats` runs, the two
models alternating in each repeat; the speed-up is the ratio within this run.

What each decode step costs (C d_model, T context, N latents, L layers):
- GPT: L layers for one token, each attending over up to T cached keys;
- Perceiver AR (block-wise decoding, see PerceiverARCache): one cross-attention layer for one
  token over up to T cached keys, then L - 1 layers for one latent over at most N cached
  latents; once every N tokens a new block starts, which computes the keys of T - N + 1 inputs
  for the cross-attention layer again (one layer's projections, not L).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time

import torch

from benchmarks.common import report
from scratchformer.models.generate import SamplingConfig, generate_stream
from scratchformer.models.gpt import GPT, GPTConfig
from scratchformer.models.perceiver import PerceiverAR, PerceiverARConfig
from scratchformer.provenance import cpu_model, git_commit

SETTINGS = dict(context_len=4096, n_latents=256, new_tokens=256, d_model=128, n_heads=4, n_layers=4,
                position="rope", vocab_size=65, repeats=5, threads=1)
QUICK = dict(context_len=256, n_latents=32, new_tokens=16, d_model=32, n_heads=2, n_layers=2, repeats=2)


def build(kind: str, s: dict):
    common = dict(vocab_size=s["vocab_size"], context_len=s["context_len"], d_model=s["d_model"],
                  n_heads=s["n_heads"], n_layers=s["n_layers"], position=s["position"])
    torch.manual_seed(0)
    if kind == "gpt":
        return GPT(GPTConfig(**common)).eval()
    return PerceiverAR(PerceiverARConfig(**common, n_latents=s["n_latents"])).eval()


def time_generation(model, s: dict) -> tuple[float, float]:
    """(prefill seconds, decode tokens/s) of one greedy cached generation up to a full context."""
    prompt = torch.randint(0, s["vocab_size"], (1, s["context_len"] - s["new_tokens"]),
                           generator=torch.Generator().manual_seed(1))
    steps = generate_stream(model, prompt, SamplingConfig(max_new_tokens=s["new_tokens"], temperature=0.0,
                                                          use_cache=True))
    start = time.perf_counter()
    next(steps)  # the prompt in one forward, and the first token
    prefilled = time.perf_counter()
    n = sum(1 for _ in steps)
    done = time.perf_counter()
    return prefilled - start, n / (done - prefilled)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a tiny configuration, for tests (prints, writes nothing)")
    args = parser.parse_args()
    s = {**SETTINGS, **(QUICK if args.quick else {})}
    torch.set_num_threads(s["threads"])
    models = {kind: build(kind, s) for kind in ("gpt", "perceiver_ar")}
    load_start = os.getloadavg()[0]
    runs = {kind: {"prefill_s": [], "decode_tokens_per_s": []} for kind in models}
    for _ in range(s["repeats"]):
        for kind, model in models.items():  # alternating, so load changes hit both
            prefill, speed = time_generation(model, s)
            runs[kind]["prefill_s"].append(round(prefill, 4))
            runs[kind]["decode_tokens_per_s"].append(round(speed, 1))
    medians = {kind: {k: statistics.median(v) for k, v in r.items()} for kind, r in runs.items()}
    ratios = [p / g for p, g in zip(runs["perceiver_ar"]["decode_tokens_per_s"], runs["gpt"]["decode_tokens_per_s"])]
    result = {
        "benchmark": "perceiver_generate", "commit": git_commit(), "settings": s, "torch": torch.__version__,
        "cpu": cpu_model(), "load_average_at_start": load_start, "load_average_at_end": os.getloadavg()[0],
        "runs": runs, "medians": medians,
        "decode_speedup_perceiver_over_gpt": round(statistics.median(ratios), 3),
        "decode_speedup_min_max": [round(min(ratios), 3), round(max(ratios), 3)],
        "goal": ">= 3x the GPT's decode tokens/s at context 4096",
    }
    if args.quick:
        print(json.dumps(result))
    else:
        report("perceiver_generate", result)


if __name__ == "__main__":
    main()
