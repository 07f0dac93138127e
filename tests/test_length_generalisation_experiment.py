"""The `length-generalisation` experiment: tasks x models through the harness, accuracy at L, 2L, 4L."""

import json

import torch

from scratchformer.cli.main import main
from scratchformer.core.position_schemes import POSITIONS
from scratchformer.data.length_tasks import TASKS
from scratchformer.experiments.harness import Run, scaled, with_overrides
from scratchformer.experiments.length_generalisation import (EXPERIMENT, MODELS, VARIANTS, ExperimentConfig, metric_name,
                                                              metrics, run)

TINY = ["--gpt.d_model", "16", "--gpt.n_heads", "2", "--gpt.n_layers", "1", "--lstm.d_model", "16",
        "--train.max_steps", "6", "--train.batch_size", "8", "--train.warmup_steps", "2",
        "--task.train_len", "4", "--task.test_examples", "20"]


def rows(out):
    return {r["variant"]: r for r in map(json.loads, (out / "rows.jsonl").read_text().splitlines())}


def test_the_variants_cover_every_task_and_model():
    assert len(VARIANTS) == len(TASKS) * len(MODELS) == 30
    assert {v["task.task"] for v in VARIANTS.values()} == set(TASKS)
    assert all(v["model"] == "lstm" or v["model"] in POSITIONS for v in VARIANTS.values())
    assert VARIANTS["dyck2-alibi"] == {"task.task": "dyck2", "model": "alibi"}
    for scale in ("cpu", "gpu"):  # every variant fits the config at every scale
        cfg = scaled(EXPERIMENT, ExperimentConfig(), scale)
        assert all(with_overrides(cfg, v).model == v["model"] for v in VARIANTS.values())


def test_metric_names_count_in_training_lengths():
    assert [metric_name(n, 16) for n in (16, 32, 64, 40)] == ["acc_L", "acc_2L", "acc_4L", "acc_40"]
    names = [m.name for m in metrics(ExperimentConfig())]
    assert names[:3] == ["acc_L", "acc_2L", "acc_4L"] and ExperimentConfig().task.test_lengths == [16, 32, 64]
    assert all(m.baseline == 0.5 for m in metrics(ExperimentConfig())[:3])  # chance of the yes/no tasks


def test_a_sweep_writes_accuracy_at_L_2L_4L_per_task_and_model(tmp_path):
    out = tmp_path / "out"
    variants = "parity-lstm,dyck1-alibi,copy-learned"
    assert main(["experiment", "length-generalisation", "--variants", variants, "--seeds", "2",
                 "--out_dir", str(out), *TINY]) == 0
    found = [json.loads(line) for line in (out / "rows.jsonl").read_text().splitlines()]
    assert sorted((r["variant"], r["seed"]) for r in found) == sorted(
        (v, s) for v in variants.split(",") for s in (0, 1))
    for r in found:
        m = r["metrics"]
        assert {"acc_L", "acc_2L", "acc_4L", "val_acc", "params"} <= set(m) and not r["missing_metrics"]
        assert all(0.0 <= m[k] <= 1.0 for k in ("acc_L", "acc_2L", "acc_4L", "val_acc"))
    # - the same seed gives the same model, whatever else ran in the process
    again = tmp_path / "again"
    main(["experiment", "length-generalisation", "--variants", "parity-lstm", "--seeds", "1", "--out_dir", str(again),
          *TINY])
    first = next(r for r in found if r["variant"] == "parity-lstm" and r["seed"] == 0)
    assert rows(again)["parity-lstm"]["metrics"] == first["metrics"]
    table = (out / "summary.md").read_text()
    assert "accuracy at 2L = 8" in table and "copy-learned" in table
    pivot = (out / "accuracy_table.md").read_text()
    lstm = [r["metrics"] for r in found if r["variant"] == "parity-lstm"]
    cell = " / ".join(f"{100 * (lstm[0][k] + lstm[1][k]) / 2:.0f}" for k in ("acc_L", "acc_2L", "acc_4L"))
    assert f"| parity |  |  |  |  |  | {cell} |" in pivot  # parity-lstm, the mean of its two seeds, in the lstm column
    for name in ("acc_L.png", "acc_4L.png", "accuracy_vs_length.png"):
        assert (out / name).read_bytes()[:4] == b"\x89PNG"


def test_a_run_continues_from_the_checkpoint_in_its_folder(tmp_path):
    cfg = with_overrides(ExperimentConfig(), {"task.task": "dyck1", "model": "alibi", "task.train_len": 4,
                                              "task.test_examples": 10, "gpt.d_model": 16, "gpt.n_heads": 2,
                                              "gpt.n_layers": 1, "train.batch_size": 4, "train.log_interval": 5,
                                              "train.warmup_steps": 2})
    folder = tmp_path / "dyck1-alibi" / "seed-0"
    run(with_overrides(cfg, {"train.max_steps": 5}), Run("length-generalisation", "dyck1-alibi", 0, folder))
    result = run(with_overrides(cfg, {"train.max_steps": 10}), Run("length-generalisation", "dyck1-alibi", 0, folder))
    steps = [r["step"] for r in map(json.loads, (folder / "metrics.jsonl").read_text().splitlines()) if "loss" in r]
    assert steps == [5, 10]  # continued from step 5, not restarted
    assert torch.load(folder / "checkpoint.pt", weights_only=True)["step"] == 10
    assert set(result) == {"acc_L", "acc_2L", "acc_4L", "val_acc", "params"}


def test_test_lengths_below_the_training_length_are_one_line_errors(tmp_path, capsys):
    code = main(["experiment", "length-generalisation", "--variants", "parity-lstm", "--out_dir", str(tmp_path),
                 *TINY, "--task.test_lens", "[2, 8]"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "test lengths [2] are below the training length 4" in err and len(err.splitlines()) == 1


def test_an_unknown_variant_lists_the_valid_ones(tmp_path, capsys):
    assert main(["experiment", "length-generalisation", "--variants", "parity-gru", "--out_dir", str(tmp_path)]) == 2
    assert "parity-lstm" in capsys.readouterr().err

