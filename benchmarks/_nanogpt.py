"""nanoGPT's own train.py as an anchor, run here beside ours rather than quoted.

Takes a checkout of karpathy/nanoGPT (never modified: it is copied to a temporary folder),
writes data/shakespeare_char/{train,val}.bin and meta.pkl into the copy the way nanoGPT's
data/shakespeare_char/prepare.py does (but from a local text file, without its download), runs
`python train.py config/train_shakespeare_char.py` with the CPU recipe of nanoGPT's README, and
reads its stdout:

    tokens per iteration will be: 768
    step 250: train loss 1.9801, val loss 2.0715
    iter 251: loss 1.9874, time 52.31ms, mfu 0.02%

`time` is the wall-clock of one iteration (the iterations that validate include the validation),
so their sum is the training wall-clock including validation, measured as our Trainer measures it.

Its "val loss" is an estimate from 20 random batches (a standard error of about 0.015 nats here),
so the copy also keeps its final model (--always_save_checkpoint=True: the recipe writes the
checkpoint at each validation that improves, which is every one in a run this short) and
`load_checkpoint` reads it into our GPT, to be scored on the whole validation split with the
same evaluator as ours. Only its file format is read here; nanoGPT's code is never imported.
"""

from __future__ import annotations

import pickle
import re
import shutil
import statistics
from pathlib import Path

import numpy as np
import torch

# nanoGPT's README, "I only have a macbook": the CPU recipe for Tiny Shakespeare at character level
CPU_RECIPE = ["--device=cpu", "--compile=False", "--eval_iters=20", "--log_interval=1", "--block_size=64",
              "--batch_size=12", "--n_layer=4", "--n_head=4", "--n_embd=128", "--max_iters=2000",
              "--lr_decay_iters=2000", "--dropout=0.0"]
# keep the final model, not only the best one so far, so that it can be evaluated afterwards
KEEP_FINAL = ["--always_save_checkpoint=True"]
CHECKPOINT = Path("out-shakespeare-char") / "ckpt.pt"  # the config's out_dir, inside the copy
# a smoke run: the same recipe for 20 iterations, validating at 0, 10 and 20 on 2 batches
QUICK = ["--max_iters=20", "--lr_decay_iters=20", "--warmup_iters=2", "--eval_interval=10", "--eval_iters=2"]

EVAL_LINE = re.compile(r"^step (\d+): train loss ([\d.]+), val loss ([\d.]+)")
ITER_LINE = re.compile(r"^iter (\d+): loss ([\d.]+), time ([\d.]+)ms")
TOKENS_LINE = re.compile(r"^tokens per iteration will be: ([\d,]+)", re.MULTILINE)


def prepare_checkout(nanogpt_dir: Path, text_path: Path, into: Path) -> Path:
    """Copy the checkout to `into`/nanogpt and write its Shakespeare data there; returns the copy."""
    source = Path(nanogpt_dir)
    if not (source / "train.py").exists() or not (source / "config" / "train_shakespeare_char.py").exists():
        raise FileNotFoundError(f"{source} is not a nanoGPT checkout (no train.py and "
                                "config/train_shakespeare_char.py); pass the folder of a clone of karpathy/nanoGPT")
    copy = Path(into) / "nanogpt"
    shutil.copytree(source, copy, ignore=shutil.ignore_patterns(".git", "out-*", "*.bin", "*.pkl"))
    # - as prepare.py: characters sorted, first 90% train, last 10% validation, uint16 ids
    data = text_path.read_text(encoding="utf-8")
    chars = sorted(set(data))
    stoi = {ch: i for i, ch in enumerate(chars)}
    n = len(data)
    folder = copy / "data" / "shakespeare_char"
    folder.mkdir(parents=True, exist_ok=True)
    np.array([stoi[c] for c in data[: int(n * 0.9)]], dtype=np.uint16).tofile(folder / "train.bin")
    np.array([stoi[c] for c in data[int(n * 0.9):]], dtype=np.uint16).tofile(folder / "val.bin")
    with open(folder / "meta.pkl", "wb") as f:
        pickle.dump({"vocab_size": len(chars), "itos": dict(enumerate(chars)), "stoi": stoi}, f)
    return copy


def command(python: str, quick: bool) -> list[str]:
    """The command line, run inside the prepared copy."""
    return [python, "train.py", "config/train_shakespeare_char.py", *CPU_RECIPE, *KEEP_FINAL,
            *(QUICK if quick else [])]


# ----------------------------------------------------------------------------------------------
# nanoGPT's checkpoint, read into our GPT

# nanoGPT's name (after "transformer.h.N.") -> ours (after "blocks.N."); c_attn is handled apart
BLOCK_NAMES = {"ln_1": "norm1", "ln_2": "norm2", "attn.c_proj": "attn.out_proj",
               "mlp.c_fc": "mlp.fc_in", "mlp.c_proj": "mlp.fc_out"}


def convert_state(state: dict) -> dict:
    """nanoGPT's state dict -> our GPT's. The one change of layout: nanoGPT projects queries, keys
    and values with one (3C, C) matrix c_attn, we with q_proj (C, C) and kv_proj (2C, C), keys
    before values; both split the heads out of the channels the same way."""
    state = {k.removeprefix("_orig_mod."): v for k, v in state.items()}  # (a compiled model's names)
    C = state["transformer.wte.weight"].shape[1]
    out = {"tok_emb.weight": state["transformer.wte.weight"], "lm_head.weight": state["lm_head.weight"],
           "positions.table.weight": state["transformer.wpe.weight"]}
    for name, tensor in state.items():
        if name.startswith("transformer.ln_f."):
            out["norm_f." + name.rsplit(".", 1)[1]] = tensor
        if not name.startswith("transformer.h."):
            continue
        _, _, i, rest = name.split(".", 3)  # transformer, h, N, e.g. "attn.c_attn.weight"
        module, kind = rest.rsplit(".", 1)  # e.g. "attn.c_attn", "weight"
        if module == "attn.c_attn":
            out[f"blocks.{i}.attn.q_proj.{kind}"] = tensor[:C]  # rows 0..C-1: queries
            out[f"blocks.{i}.attn.kv_proj.{kind}"] = tensor[C:]  # then keys, then values
        else:
            out[f"blocks.{i}.{BLOCK_NAMES[module]}.{kind}"] = tensor
    return out


def load_checkpoint(path: Path):
    """nanoGPT's ckpt.pt as our GPT with the same weights: the same function, in our code."""
    from scratchformer.models.gpt import GPT, GPTConfig
    checkpoint = torch.load(path, map_location="cpu", weights_only=False)  # (its config holds plain values)
    args = checkpoint["model_args"]
    # - nanoGPT's GPT: GPT-2's layout, which is ours with these settings
    cfg = GPTConfig(vocab_size=args["vocab_size"], context_len=args["block_size"], d_model=args["n_embd"],
                    n_heads=args["n_head"], n_layers=args["n_layer"], bias=args["bias"], dropout=0.0,
                    norm="layernorm", norm_eps=1e-5, mlp="gelu", position="learned", tie_weights=True)
    model = GPT(cfg)
    model.load_state_dict(convert_state(checkpoint["model"]))  # strict: every weight accounted for
    return model.eval(), checkpoint["iter_num"]


def parse(stdout: str, window: int = 10) -> dict:
    """Turn train.py's stdout into the figures our Trainer reports for its own runs.

    tokens/s is the median over windows of `window` iterations, as our Trainer's log_interval
    windows; wall-clock is the sum of the iteration times; the validation curve carries the
    elapsed time at each validation (the sum of the iteration times before it)."""
    tokens_match = TOKENS_LINE.search(stdout)
    if tokens_match is None:
        raise ValueError("nanoGPT's output has no 'tokens per iteration will be' line; did train.py start?")
    tokens_per_iter = int(tokens_match.group(1).replace(",", ""))
    iter_ms: list[float] = []
    curve: list[list[float]] = []
    for line in stdout.splitlines():
        if m := EVAL_LINE.match(line):
            curve.append([int(m.group(1)), round(sum(iter_ms) / 1000, 1), float(m.group(3))])
        elif m := ITER_LINE.match(line):
            iter_ms.append(float(m.group(3)))
    if not iter_ms or not curve:
        raise ValueError("nanoGPT's output has no iteration or validation lines; did train.py finish?")
    windows = [iter_ms[i:i + window] for i in range(0, len(iter_ms) - window + 1, window)] or [iter_ms]
    speeds = [tokens_per_iter * len(w) / (sum(w) / 1000) for w in windows]
    return {
        "tokens_per_iter": tokens_per_iter,
        "iterations": len(iter_ms),
        "tokens_per_s": statistics.median(speeds),
        "train_wall_s": sum(iter_ms) / 1000,
        "final_val_loss": curve[-1][2],
        "val_curve": curve,
    }
