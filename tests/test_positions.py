"""The `positions` experiment: bits per character at lengths beyond the training context."""

import json
import math

import pytest
import torch

from scratchformer.cli.main import main
from scratchformer.core.position_schemes import POSITIONS
from scratchformer.experiments.harness import Run, with_overrides
from scratchformer.experiments.positions import VARIANTS, ExperimentConfig, bits_per_char, run
from scratchformer.models.gpt import GPT, GPTConfig

TINY = ["--model.d_model", "16", "--model.n_heads", "2", "--model.n_layers", "1", "--model.context_len", "16",
        "--train.max_steps", "10", "--train.batch_size", "4", "--eval_lens", "[16, 32]", "--eval_chars", "512"]


def test_every_variant_is_a_known_position_scheme():
    assert all(set(v) == {"model.position"} and v["model.position"] in POSITIONS for v in VARIANTS.values())


def test_a_model_that_knows_nothing_reads_log2_vocab_bits_per_char():
    model = GPT(GPTConfig(vocab_size=32, d_model=8, n_heads=2, n_layers=1, context_len=16))
    with torch.no_grad():
        model.lm_head.weight.zero_()  # every logit 0: the uniform distribution (lm_head is tied: embeddings too)
    tokens = torch.randint(0, 32, (200,))
    assert bits_per_char(model, tokens, 16, 160) == pytest.approx(math.log2(32), rel=1e-4)


def test_positions_writes_rows_with_na_where_learned_positions_end(tmp_path):
    out = tmp_path / "out"
    assert main(["experiment", "positions", "--variants", "learned,alibi", "--out_dir", str(out), *TINY]) == 0
    found = {r["variant"]: r["metrics"] for r in map(json.loads, (out / "rows.jsonl").read_text().splitlines())}
    assert found["learned"]["bpc_32"] is None and 0 < found["learned"]["bpc_16"] < 8
    assert 0 < found["alibi"]["bpc_32"] < 8  # alibi reads twice its training context
    table = (out / "summary.md").read_text()
    assert "n/a" in table and "(one seed)" in table
    for name in ("bpc_16.png", "bpc_32.png", "bpc_vs_length.png"):
        assert (out / name).read_bytes()[:4] == b"\x89PNG"


def test_a_run_continues_from_the_checkpoint_in_its_folder(tmp_path):
    cfg = with_overrides(ExperimentConfig(), {"model.d_model": 16, "model.n_heads": 2, "model.n_layers": 1,
                                              "model.context_len": 16, "train.batch_size": 4, "eval_lens": [16],
                                              "eval_chars": 256, "model.position": "rope"})
    folder = tmp_path / "rope" / "seed-0"
    run(with_overrides(cfg, {"train.max_steps": 10}), Run("positions", "rope", 0, folder))
    run(with_overrides(cfg, {"train.max_steps": 20}), Run("positions", "rope", 0, folder))
    steps = [r["step"] for r in map(json.loads, (folder / "metrics.jsonl").read_text().splitlines()) if "loss" in r]
    # - logged at step 10, then (continued, not restarted: no second step 10) at step 20
    assert steps == [10, 20]
    assert torch.load(folder / "checkpoint.pt", weights_only=True)["step"] == 20
