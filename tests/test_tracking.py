"""Run folders and trackers (issue 4): config, command, commit, environment, metrics; wandb offline;
TensorBoard; the `plot` command."""

import json
import sys

import pytest
import yaml
from toolkit_helpers import pattern_data, tiny_cfg, tiny_gpt, tiny_preset  # noqa: F401

from scratchformer.cli.main import main
from scratchformer.errors import UserError
from scratchformer.training.trainer import Trainer


def test_run_folder_holds_config_command_commit_environment_and_metrics(tmp_path, monkeypatch):
    preset = tiny_preset(tmp_path, max_steps=6, log_interval=2, stats_interval=3)
    argv = ["train", "--config", preset, "--name", "a", "--train.lr", "0.01"]
    monkeypatch.setattr(sys, "argv", ["scratchformer", *argv])  # as the command line would see it
    assert main(argv) == 0
    run = tmp_path / "runs" / "a"
    config = yaml.safe_load((run / "config.yaml").read_text())
    assert config["train"]["lr"] == 0.01 and config["model"]["d_model"] == 32
    assert "--train.lr 0.01" in (run / "command.txt").read_text()
    env = json.loads((run / "env.json").read_text())
    assert env["git_commit"] and env["torch"] and env["device"] == "cpu" and env["python"]
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    train = [r for r in records if "loss" in r]
    assert [r["step"] for r in train] == [2, 3, 4, 6]  # every log_interval, plus the statistics steps
    assert {"lr", "grad_norm", "tokens_per_s"} <= set(train[0]) and "grad_norm/blocks.0" in train[1]
    assert any("val_loss" in r for r in records)


def test_wandb_offline_writes_a_local_run(tmp_path, monkeypatch):
    pytest.importorskip("wandb")
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    monkeypatch.setenv("WANDB_DIR", str(tmp_path))
    trainer = Trainer(tiny_gpt(), tiny_cfg(max_steps=3, track="wandb", stats_interval=3), pattern_data(),
                      run_dir=tmp_path / "run", run_config={"note": "offline test"})
    trainer.fit()
    runs = list((tmp_path / "run" / "wandb").glob("offline-run-*"))
    assert len(runs) == 1  # a local run, for `wandb sync` later
    # - the run file holds the logged keys and values as protobuf records (values as JSON text)
    # - wandb's writer process may still be flushing when finish() returns: wait for it (30 s at most)
    import time
    deadline = time.time() + 30
    while True:
        records = next(runs[0].glob("run-*.wandb")).read_bytes()
        if b"offline test" in records and b"val_loss" in records or time.time() > deadline:
            break
        time.sleep(0.2)
    for key in (b"grad_norm/blocks.0", b"update_ratio/tok_emb", b"val_loss", b"tokens_per_s", b"offline test"):
        assert key in records, key
    last_loss = [r["loss"] for r in trainer.history if "loss" in r][-1]
    assert json.dumps(last_loss).encode() in records


def test_tensorboard_gets_every_scalar(tmp_path):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    trainer = Trainer(tiny_gpt(), tiny_cfg(max_steps=4, track="tensorboard"), pattern_data(), run_dir=tmp_path / "run")
    trainer.fit()
    events = EventAccumulator(str(tmp_path / "run" / "tensorboard"))
    events.Reload()
    loss = events.Scalars("loss")
    assert [e.step for e in loss] == [1, 2, 3, 4]
    assert loss[-1].value == pytest.approx(trainer.history[-2]["loss"], rel=1e-6)
    assert "val_loss" in events.Tags()["scalars"]


def test_missing_wandb_is_a_one_line_error(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "wandb", None)  # as if it were not installed
    with pytest.raises(UserError, match="needs the wandb package: pip install wandb"):
        Trainer(tiny_gpt(), tiny_cfg(track="wandb"), pattern_data())
    preset = tiny_preset(tmp_path)
    assert main(["train", "--config", preset, "--train.track", "wandb"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: tracking with wandb needs the wandb package") and "\n" not in err


def test_plot_command_draws_several_runs(tmp_path, capsys):
    runs = []
    for name, lr in (("a", 3e-3), ("b", 3e-2)):
        Trainer(tiny_gpt(), tiny_cfg(max_steps=4, lr=lr), pattern_data(), run_dir=tmp_path / name).fit()
        runs.append(str(tmp_path / name))
    out = tmp_path / "compare.png"
    assert main(["plot", *runs, "--out", str(out)]) == 0
    assert out.read_bytes()[:4] == b"\x89PNG"
    assert main(["plot", str(tmp_path / "nothing"), "--out", str(out)]) == 2
    assert "has no metrics.jsonl" in capsys.readouterr().err
