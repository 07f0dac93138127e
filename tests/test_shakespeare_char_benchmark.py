"""The Tiny Shakespeare benchmark's side-by-side path, with a stand-in for nanoGPT's train.py."""

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from benchmarks import _nanogpt as nanogpt_anchor
from benchmarks.shakespeare_char import compare, render

REPO = Path(__file__).resolve().parents[1]

# prints what nanoGPT's train.py prints, at 10 ms an iteration, after checking the data it was given
FAKE_TRAIN = '''
import pickle, sys
import numpy as np
args = dict(a[2:].split("=", 1) for a in sys.argv[2:])
meta = pickle.load(open("data/shakespeare_char/meta.pkl", "rb"))
train = np.fromfile("data/shakespeare_char/train.bin", dtype=np.uint16)
val = np.fromfile("data/shakespeare_char/val.bin", dtype=np.uint16)
assert meta["vocab_size"] == int(train.max()) + 1 or meta["vocab_size"] > train.max()
assert len(train) == 9 * len(val) or abs(len(train) - 9 * len(val)) < 10
print(f"tokens per iteration will be: {int(args['batch_size']) * int(args['block_size']):,}")
max_iters, every = int(args["max_iters"]), int(args.get("eval_interval", 250))
for it in range(max_iters + 1):
    if it % every == 0:
        print(f"step {it}: train loss {4 - it / 10:.4f}, val loss {4.1 - it / 10:.4f}")
    print(f"iter {it}: loss {4 - it / 10:.4f}, time 10.00ms, mfu -100.00%")
# the final model, in nanoGPT's checkpoint format (random weights of the recipe's shapes)
import os, torch
assert args["always_save_checkpoint"] == "True"
L, C, T, V = int(args["n_layer"]), int(args["n_embd"]), int(args["block_size"]), meta["vocab_size"]
torch.manual_seed(0)
w = lambda *shape: torch.randn(*shape) * 0.02
state = {"transformer.wte.weight": w(V, C), "transformer.wpe.weight": w(T, C), "transformer.ln_f.weight": torch.ones(C)}
state["lm_head.weight"] = state["transformer.wte.weight"]
for i in range(L):
    h = f"transformer.h.{i}."
    state.update({h + "ln_1.weight": torch.ones(C), h + "ln_2.weight": torch.ones(C), h + "attn.c_attn.weight": w(3 * C, C),
                  h + "attn.c_proj.weight": w(C, C), h + "mlp.c_fc.weight": w(4 * C, C), h + "mlp.c_proj.weight": w(C, 4 * C)})
os.makedirs("out-shakespeare-char", exist_ok=True)
torch.save({"model": state, "iter_num": max_iters, "model_args": dict(n_layer=L, n_head=int(args["n_head"]), n_embd=C,
            block_size=T, bias=False, vocab_size=V, dropout=0.0)}, "out-shakespeare-char/ckpt.pt")
'''


@pytest.fixture
def fake_nanogpt(tmp_path):
    checkout = tmp_path / "nanoGPT"
    (checkout / "config").mkdir(parents=True)
    (checkout / "config" / "train_shakespeare_char.py").write_text("# the real one sets the recipe's defaults\n")
    (checkout / "train.py").write_text(FAKE_TRAIN)
    return checkout


def test_parse_reads_nanogpts_lines_as_our_trainer_reports_them():
    stdout = "\n".join(["tokens per iteration will be: 768", "step 0: train loss 4.2000, val loss 4.3000"]
                       + [f"iter {i}: loss 4.0, time {20 if i < 10 else 40}.00ms, mfu 0.01%" for i in range(20)]
                       + ["step 20: train loss 3.0000, val loss 3.1000"])
    out = nanogpt_anchor.parse(stdout, window=10)
    # two windows of 10 iterations: 768 * 10 tokens in 0.2 s and in 0.4 s; their median
    assert out["tokens_per_s"] == pytest.approx((38400 + 19200) / 2)
    assert out["train_wall_s"] == pytest.approx(0.6)
    assert out["final_val_loss"] == 3.1
    assert out["val_curve"] == [[0, 0.0, 4.3], [20, 0.6, 3.1]]


def test_parse_refuses_output_that_is_not_nanogpts():
    with pytest.raises(ValueError, match="tokens per iteration"):
        nanogpt_anchor.parse("Traceback (most recent call last):\n")


def test_prepare_checkout_copies_and_writes_data_as_prepare_py_does(fake_nanogpt, tmp_path):
    text = tmp_path / "input.txt"
    text.write_text("abcab\n" * 100)
    copy = nanogpt_anchor.prepare_checkout(fake_nanogpt, text, tmp_path / "run")
    train = (copy / "data" / "shakespeare_char" / "train.bin").read_bytes()
    assert len(train) == 2 * 540  # uint16 ids of the first 90% of 600 characters
    assert not (fake_nanogpt / "data").exists()  # the checkout itself is never written to


def nanogpt_state(C: int = 8, layers: int = 2, vocab: int = 11, context: int = 6, bias: bool = False) -> dict:
    """A state dict with nanoGPT's names and shapes; every tensor filled with its own value."""
    shapes = {"transformer.wte.weight": (vocab, C), "transformer.wpe.weight": (context, C),
              "transformer.ln_f.weight": (C,)}
    for i in range(layers):
        h = f"transformer.h.{i}."
        shapes.update({h + "ln_1.weight": (C,), h + "ln_2.weight": (C,), h + "attn.c_attn.weight": (3 * C, C),
                       h + "attn.c_proj.weight": (C, C), h + "mlp.c_fc.weight": (4 * C, C),
                       h + "mlp.c_proj.weight": (C, 4 * C)})
        if bias:
            shapes.update({h + "attn.c_attn.bias": (3 * C,), h + "ln_1.bias": (C,), h + "mlp.c_fc.bias": (4 * C,)})
    state = {name: torch.full(shape, float(k)) for k, (name, shape) in enumerate(shapes.items())}
    state["lm_head.weight"] = state["transformer.wte.weight"]  # tied, as nanoGPT saves it
    return state


def test_nanogpts_fused_query_key_value_rows_go_to_our_query_and_key_value_projections():
    C = 8
    state = nanogpt_state(C, bias=True)
    state["transformer.h.1.attn.c_attn.weight"] = torch.arange(3 * C).float()[:, None].repeat(1, C)  # row r holds r
    state["transformer.h.1.attn.c_attn.bias"] = torch.arange(3 * C).float()
    ours = nanogpt_anchor.convert_state(state)
    assert ours["blocks.1.attn.q_proj.weight"][:, 0].tolist() == list(range(C))  # queries: rows 0..C-1
    assert ours["blocks.1.attn.kv_proj.weight"][:, 0].tolist() == list(range(C, 3 * C))  # keys, then values
    assert ours["blocks.1.attn.kv_proj.bias"].tolist() == list(range(C, 3 * C))
    assert torch.equal(ours["blocks.0.mlp.fc_out.weight"], state["transformer.h.0.mlp.c_proj.weight"])
    assert torch.equal(ours["positions.table.weight"], state["transformer.wpe.weight"])


def test_a_nanogpt_checkpoint_loads_into_our_gpt_with_every_weight_accounted_for(tmp_path):
    state = nanogpt_state()
    args = dict(n_layer=2, n_head=2, n_embd=8, block_size=6, bias=False, vocab_size=11, dropout=0.0)
    torch.save({"model": {"_orig_mod." + k: v for k, v in state.items()}, "model_args": args, "iter_num": 7},
               tmp_path / "ckpt.pt")
    model, iteration = nanogpt_anchor.load_checkpoint(tmp_path / "ckpt.pt")
    assert iteration == 7 and not model.training
    assert model.lm_head.weight is model.tok_emb.weight  # still tied
    assert torch.equal(model.blocks[1].mlp.fc_in.weight, state["transformer.h.1.mlp.c_fc.weight"])
    # - a weight nanoGPT has and we would drop is an error, not silence
    state["transformer.h.0.attn.extra.weight"] = torch.zeros(1)
    with pytest.raises(KeyError):
        nanogpt_anchor.convert_state(state)


def test_compare_divides_by_nanogpts_runs_in_the_same_invocation():
    nanogpt = [{"tokens_per_s": 100.0, "train_wall_s": 10.0, "final_val_loss": 2.0, "peak_rss_mb": 300.0},
               {"tokens_per_s": 300.0, "train_wall_s": 30.0, "final_val_loss": 2.2, "peak_rss_mb": 300.0}]
    recipe = [{"tokens_per_s": 200.0, "train_wall_s": 20.0, "final_val_loss": 2.15, "peak_rss_mb": 150.0,
               "val_curve": [[10, 10.0, 2.5], [20, 20.0, 2.15]]}]
    best = [{"val_curve": [[10, 4.0, 2.5], [20, 5.0, 2.05], [30, 6.0, 1.9]]}]
    c = compare(nanogpt, recipe, best)
    assert c["recipe_tokens_per_s"] == {"vs_mean": 1.0, "min": pytest.approx(2 / 3), "max": 2.0}
    assert c["recipe_final_val_loss_minus_nanogpt"] == pytest.approx(0.05)  # against the mean, 2.1
    assert c["best_seconds_to_nanogpt_final"] == [5.0]  # first validation at or below 2.1
    assert c["recipe_seconds_to_nanogpt_final"] == [None]  # never reached
    assert c["best_time_to_nanogpt_final_vs_nanogpt_wall"]["vs_mean"] == pytest.approx(0.25)
    assert c["recipe_peak_rss"]["vs_mean"] == 0.5
    assert "recipe_whole_split_val_loss_minus_nanogpt" not in c  # runs without the whole-split figure
    for run, loss in zip(nanogpt + recipe, [1.9, 1.92, 1.925]):
        run["final_val_loss_whole_split"] = loss
    assert compare(nanogpt, recipe, best)["recipe_whole_split_val_loss_minus_nanogpt"] == pytest.approx(0.015)


@pytest.mark.parametrize("schedule", [[], ["--concurrent"]], ids=["interleaved", "concurrent"])
def test_side_by_side_runs_both_in_one_invocation_and_renders_measured_ratios(fake_nanogpt, tmp_path, schedule):
    text = tmp_path / "tiny.txt"
    text.write_text("First Citizen:\nBefore we proceed any further, hear me speak.\n" * 200)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    out = subprocess.run([sys.executable, "-m", "benchmarks.shakespeare_char", "--quick", "--threads", "1",
                          "--nanogpt", str(fake_nanogpt), "--data", str(text), "--results", str(tmp_path), *schedule],
                         cwd=REPO, env=env, capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, out.stderr[-3000:]
    result = json.loads((tmp_path / "shakespeare_char_quick.json").read_text())
    assert result["order"] == ["nanogpt", "recipe", "best", "nanogpt"]
    assert result["schedule"] == ("concurrent" if schedule else "interleaved")
    assert "commit" in result and "dirty" in result
    # the stand-in runs 21 iterations of 12 x 64 tokens at 10 ms each
    assert [run["tokens_per_s"] for run in result["nanogpt"]] == [pytest.approx(76800)] * 2
    assert [run["iterations"] for run in result["nanogpt"]] == [21, 21]
    # both sides' final models scored on the whole validation split, nanoGPT's read from its checkpoint
    # (the stand-in's checkpoint holds small random weights: a loss of about ln(vocabulary))
    assert [run["final_val_loss_whole_split"] for run in result["nanogpt"]] == [
        pytest.approx(math.log(len(set(text.read_text()))), abs=0.2)] * 2
    for run in result["recipe"] + result["best"]:
        assert 0.0 < run["final_val_loss_whole_split"] < math.log(len(set(text.read_text())))  # trained 20 steps
    assert "recipe_whole_split_val_loss_minus_nanogpt" in result["ratios"]
    assert result["recipe"][0]["steps"] == 20 and result["best"][0]["steps"] == 20
    assert result["ratios"]["recipe_tokens_per_s"]["vs_mean"] == pytest.approx(
        result["recipe"][0]["tokens_per_s"] / 76800)
    for run in result["nanogpt"] + result["recipe"] + result["best"]:
        assert run["peak_rss_mb"] > 1 and len(run["load_before"]) == 3 and len(run["load_after"]) == 3
    table = render(result)
    assert "measured here" in table and "quoted" not in table and "whole validation split" in table
    assert f"{result['ratios']['recipe_tokens_per_s']['vs_mean']:.2f}×" in table


def test_without_nanogpt_the_anchor_is_labelled_quoted_and_no_ratio_is_drawn():
    run = {"tokens_per_s": 1000.0, "train_wall_s": 10.0, "final_val_loss": 2.0, "peak_rss_mb": 300.0,
           "load_before": [0.5, 0.5, 0.5], "load_after": [0.6, 0.5, 0.5], "context_len": 64}
    from benchmarks.shakespeare_char import QUOTED
    results = {"machine": {"cpu": "a CPU", "cores": 2, "torch_threads": 2, "torch": "2.x"},
               "order": ["recipe", "best"], "recipe": [run], "best": [run], "nanogpt_quoted": QUOTED}
    table = render(results)
    assert "quoted" in table and "×" not in table
