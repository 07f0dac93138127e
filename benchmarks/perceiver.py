"""Perceiver AR against a GPT of the same size, at contexts 256, 1024 and 4096.

    python -m benchmarks.perceiver      # about 9 minutes

Both models have the same modules and parameter count (PerceiverAR subclasses the GPT): the
GPT runs every layer over all T positions; the Perceiver AR runs its first layer as
cross-attention from the last N positions to all T, and the other layers over N only.

For each (model, context) a fresh process (so peak memory is its own):
  - trains on the built-in corpus for the same wall-clock budget, on one CPU thread, with the
    same number of input tokens per step (batch_size = tokens_per_step / T);
  - reports training throughput: input tokens/s (context read) and target tokens/s (positions
    trained on: B·T for the GPT, B·N for the Perceiver AR), and the median step time;
  - reports peak resident memory (ru_maxrss) and its growth during training;
  - evaluates validation bits per character on the *same* targets for both models: the last
    N positions of fixed validation windows of length T, each predicted with >= T - N context.
    The GPT's bpc over all positions is reported too.
A separate cost probe times one forward + backward of a single sequence at each context, and
gives the attention score entries per sequence (GPT: n_layers·T², Perceiver AR: N·T + (n_layers-1)·N²).
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import subprocess
import sys
import time

import torch

from benchmarks.common import peak_rss_mb, report

SETTINGS = dict(
    contexts=[256, 1024, 4096],
    models=["gpt", "perceiver_ar"],
    seconds=60.0,  # training wall-clock per (model, context)
    d_model=64, n_heads=4, n_layers=3,
    n_latents=128,  # N, the same at every context
    tokens_per_step=8192,  # input tokens per step: batch_size = 8192 / T
    lr=2e-3, warmup_steps=20, schedule="warmup",
    eval_windows=16,
    threads=1,
    seed=0,
    corpus="shakespeare (built in), char tokenizer",
)


def build(model_name: str, T: int, vocab_size: int):
    from scratchformer.models.gpt import GPT, GPTConfig
    from scratchformer.models.perceiver import PerceiverAR, PerceiverARConfig

    s = SETTINGS
    common = dict(vocab_size=vocab_size, context_len=T, d_model=s["d_model"], n_heads=s["n_heads"],
                  n_layers=s["n_layers"], position="learned")
    torch.manual_seed(s["seed"])
    if model_name == "gpt":
        return GPT(GPTConfig(**common))
    return PerceiverAR(PerceiverARConfig(**common, n_latents=s["n_latents"]))


def load_data(T: int):
    from scratchformer.data.corpus import CorpusConfig, load_splits
    from scratchformer.data.lm_data import LMData
    from scratchformer.data.tokenizers import CharTokenizer

    splits = load_splits(CorpusConfig())
    tok = CharTokenizer.train(splits["train"])
    splits = {k: "".join(c for c in v if c in tok.stoi) for k, v in splits.items()}
    return tok, LMData.from_text(splits, tok, T)


@torch.no_grad()
def evaluate(model, val: torch.Tensor, T: int, n_windows: int, N: int) -> dict:
    """bpc on the last N targets of fixed windows (both models), and on all targets (GPT)."""
    model.eval()
    starts = torch.linspace(0, len(val) - T - 2, n_windows).long()
    last, every = [], []
    for s in starts.tolist():
        window = val[s:s + T + 1][None].long()  # (1, T+1)
        x, y = window[:, :-1], window[:, 1:]
        logits, _ = model(x)  # (1, T, V) for the GPT, (1, N, V) for the Perceiver AR
        logp = torch.log_softmax(logits.float(), dim=-1)
        nll = -logp.gather(-1, y[:, -logits.size(1):, None]).squeeze(-1)  # (1, T or N)
        last.append(nll[:, -N:].mean().item())
        every.append(nll.mean().item())
    model.train()
    bpc = lambda xs: round(statistics.mean(xs) / math.log(2), 4)  # noqa: E731
    return {"val_bpc_last_n": bpc(last), "val_bpc_all_positions": bpc(every)}


def cost_probe(model_name: str, T: int, vocab_size: int, repeats: int = 3) -> float:
    """Median seconds of one forward + backward of a single sequence of T tokens."""
    model = build(model_name, T, vocab_size)
    x = torch.randint(0, vocab_size, (1, T))
    times = []
    for _ in range(repeats + 1):
        start = time.perf_counter()
        _, loss = model(x, x)
        loss.backward()
        times.append(time.perf_counter() - start)
    return statistics.median(times[1:])  # the first is warm-up


def one(model_name: str, T: int) -> dict:
    """Train one (model, context) for the budget; runs in its own process."""
    from scratchformer.training.trainer import TrainConfig, Trainer

    s = SETTINGS
    torch.set_num_threads(s["threads"])
    tok, data = load_data(T)
    probe_s = cost_probe(model_name, T, tok.vocab_size)
    model = build(model_name, T, tok.vocab_size)
    B = max(1, s["tokens_per_step"] // T)
    train = TrainConfig(max_steps=10**9, batch_size=B, lr=s["lr"], warmup_steps=s["warmup_steps"],
                        schedule=s["schedule"], device="cpu", dtype="float32", compile=False, progress=False,
                        seed=s["seed"])
    trainer = Trainer(model, train, data)
    rss_before = peak_rss_mb()
    step_times, start = [], time.perf_counter()
    while time.perf_counter() - start < s["seconds"]:
        t0 = time.perf_counter()
        out = trainer.train_step()
        step_times.append(time.perf_counter() - t0)
    elapsed = time.perf_counter() - start
    steps = len(step_times)
    targets_per_seq = T if model_name == "gpt" else min(s["n_latents"], T)
    row = {
        "model": model_name, "context": T, "batch_size": B, "params": model.num_params(),
        "steps": steps, "train_s": round(elapsed, 1), "final_train_loss": round(out["loss"], 4),
        "input_tokens_per_s": round(steps * B * T / elapsed),
        "target_tokens_per_s": round(steps * B * targets_per_seq / elapsed),
        "median_step_s": round(statistics.median(step_times), 4),
        "fwd_bwd_one_seq_s": round(probe_s, 4),
        "attention_entries_per_seq": (s["n_layers"] * T * T if model_name == "gpt"
                                      else min(s["n_latents"], T) * T + (s["n_layers"] - 1) * min(s["n_latents"], T) ** 2),
        "peak_rss_mb": round(peak_rss_mb(), 1),
        "train_rss_growth_mb": round(peak_rss_mb() - rss_before, 1),
    }
    row.update(evaluate(trainer.model, data.tokens["val"], T, s["eval_windows"], min(s["n_latents"], T)))
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--one", nargs=2, metavar=("MODEL", "CONTEXT"), help="internal: one run, JSON out")
    parser.add_argument("--seconds", type=float, default=SETTINGS["seconds"], help="training budget per run")
    args = parser.parse_args()
    SETTINGS["seconds"] = args.seconds
    if args.one:
        print(json.dumps(one(args.one[0], int(args.one[1]))))
        return
    rows = []
    for T in SETTINGS["contexts"]:
        for model_name in SETTINGS["models"]:
            cmd = [sys.executable, "-m", "benchmarks.perceiver", "--one", model_name, str(T),
                   "--seconds", str(args.seconds)]
            done = subprocess.run(cmd, capture_output=True, text=True, check=True)
            row = json.loads(done.stdout.strip().splitlines()[-1])
            rows.append(row)
            print(json.dumps(row), file=sys.stderr, flush=True)
    report("perceiver", {"benchmark": "perceiver", "settings": SETTINGS, "torch": torch.__version__,
                         "threads": SETTINGS["threads"], "rows": rows, "growth": growth(rows)})


def growth(rows: list[dict]) -> dict:
    """How each cost grows from one context to the next (ratios within this run).

    train_step_s_per_seq: median training step time / batch size, the cost of one sequence of
    T tokens measured over hundreds of steps (steadier than the 3-repeat fwd_bwd probe).
    """
    out = {}
    for model_name in SETTINGS["models"]:
        mine = [r for r in rows if r["model"] == model_name]
        for a, b in zip(mine, mine[1:]):
            per_seq_a, per_seq_b = a["median_step_s"] / a["batch_size"], b["median_step_s"] / b["batch_size"]
            out[f"{model_name} {a['context']}->{b['context']} (x{b['context'] // a['context']} context)"] = {
                "train_step_s_per_seq": [round(per_seq_a, 4), round(per_seq_b, 4)],
                "train_step_per_seq_x": round(per_seq_b / per_seq_a, 2),
                "fwd_bwd_time_x": round(b["fwd_bwd_one_seq_s"] / a["fwd_bwd_one_seq_s"], 2),
                "attention_entries_x": round(b["attention_entries_per_seq"] / a["attention_entries_per_seq"], 2),
                "train_rss_growth_mb": [a["train_rss_growth_mb"], b["train_rss_growth_mb"]],
            }
    return out


if __name__ == "__main__":
    main()
