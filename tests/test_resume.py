"""`scratchformer train --resume runs/NAME`, driven through the command line: the run's own config,
only safe changes, the schedule continued without a jump, every resume recorded, nothing lost."""

import json

import pytest
import torch
import yaml
from toolkit_helpers import tiny_preset

import scratchformer.training.trainer as trainer_module
from scratchformer.cli.main import main
from scratchformer.training.checkpoint import load_checkpoint
from scratchformer.training.schedules import cosine


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def one_line_error(code, err):
    lines = [ln for ln in err.splitlines() if ln.strip() and not ln.startswith("warning: ")]
    return code == 2 and len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in err


class StopAfter:
    """Stands in for the Ctrl-C/SIGTERM handler: 'receives' SIGTERM after `steps` steps."""

    def __init__(self, steps: int):
        self.steps, self.checks = steps, 0

    def __call__(self):
        return self

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        pass

    @property
    def received(self):
        self.checks += 1
        return "SIGTERM" if self.checks >= self.steps else None


@pytest.fixture
def preset(tmp_path):
    # - its own corpus (not the built-in Shakespeare), cosine decay to min_lr over 8 steps
    return tiny_preset(tmp_path, max_steps=8, log_interval=1, lr=1e-2, min_lr=1e-3, warmup_steps=2)


def interrupted_run(capsys, monkeypatch, preset, name="r", after=4):
    """A run stopped by SIGTERM after `after` steps; returns what the command printed."""
    monkeypatch.setattr(trainer_module, "StopSignal", StopAfter(after))
    code, out, err = run(capsys, "train", "--config", preset, "--name", name)
    monkeypatch.undo()
    assert code == 130 and err.strip().endswith("interrupted"), err
    return out


def lrs(folder):
    records = [json.loads(line) for line in (folder / "metrics.jsonl").read_text().splitlines()]
    return {r["step"]: r["lr"] for r in records if "lr" in r}


def test_resume_needs_no_options_and_equals_an_uninterrupted_run(capsys, monkeypatch, preset, tmp_path):
    runs = tmp_path / "runs"
    out = interrupted_run(capsys, monkeypatch, preset)
    # - the hint is a command that works as printed: no --config, no --data.corpus
    hint = f"continue with: scratchformer train --resume {runs / 'r'}"
    assert hint in out
    assert load_checkpoint(runs / "r")["step"] == 4
    code, out, err = run(capsys, *hint.split(": ", 1)[1].split()[1:])
    assert code == 0, err
    assert "trained 8 steps" in out
    # - the same data, model and schedule as a run that was never stopped: the same weights
    assert run(capsys, "train", "--config", preset, "--name", "full")[0] == 0
    resumed, full = load_checkpoint(runs / "r"), load_checkpoint(runs / "full")
    assert resumed["step"] == full["step"] == 8
    for key, value in full["model"].items():
        assert torch.equal(value, resumed["model"][key]), key
    config = yaml.safe_load((runs / "r" / "config.yaml").read_text())
    assert config["data"]["corpus"] == str(tmp_path / "corpus.txt")
    # - the resume is recorded: when, from which step, the command, and that nothing changed
    (record,) = [json.loads(line) for line in (runs / "r" / "resumes.jsonl").read_text().splitlines()]
    assert record["step"] == 4 and record["changes"] == {} and record["time"]


@pytest.mark.parametrize("option, value, field", [
    ("--data.corpus", "other.txt", "data.corpus"),
    ("--model.d_model", "64", "model.d_model"),
    ("--tokenizer", "byte", "tokenizer"),
    ("--train.lr", "0.5", "train.lr"),
])
def test_resume_refuses_a_change_of_data_tokenizer_model_or_optimiser(capsys, monkeypatch, preset, tmp_path,
                                                                      option, value, field):
    runs = tmp_path / "runs"
    interrupted_run(capsys, monkeypatch, preset)
    if option == "--data.corpus":
        value = str(tmp_path / value)
        (tmp_path / "other.txt").write_text("Something else entirely.\n" * 100)
    before = (runs / "r" / "checkpoint.pt").read_bytes(), (runs / "r" / "config.yaml").read_text()
    code, _, err = run(capsys, "train", "--resume", str(runs / "r"), option, value)
    assert one_line_error(code, err), err
    assert field in err and "there" in err
    # - nothing in the run folder changed, and no resume was recorded
    assert ((runs / "r" / "checkpoint.pt").read_bytes(), (runs / "r" / "config.yaml").read_text()) == before
    assert not (runs / "r" / "resumes.jsonl").exists()


def test_a_longer_run_continues_the_schedule_without_a_jump(capsys, monkeypatch, preset, tmp_path):
    run_dir = tmp_path / "runs" / "r"
    interrupted_run(capsys, monkeypatch, preset)
    code, _, err = run(capsys, "train", "--resume", str(run_dir), "--train.max_steps", "16")
    assert code == 0, err
    lr = lrs(run_dir)
    assert sorted(lr) == list(range(1, 17))
    # - up to the resume and at its first step, the rate is the original 8-step curve's (step s uses lr_at(s - 1))
    def original(step):
        return cosine(step - 1, max_steps=8, lr=1e-2, min_lr=1e-3, warmup_steps=2)

    assert [lr[s] for s in range(1, 6)] == pytest.approx([original(s) for s in range(1, 6)])
    # - after it, the rest of that curve, slowed down to end at step 16: decaying, never jumping up
    steps_after = [lr[s] for s in range(4, 17)]
    assert all(a >= b for a, b in zip(steps_after, steps_after[1:])), steps_after
    assert original(6) < lr[6] < lr[5]
    assert lr[16] == pytest.approx(1e-3, rel=0.2)  # (step 16 uses the rate of step 15, just above min_lr)
    # - config.yaml is the resolved config of the resumed run, and the change is recorded
    config = yaml.safe_load((run_dir / "config.yaml").read_text())
    assert config["train"]["max_steps"] == 16
    (record,) = [json.loads(line) for line in (run_dir / "resumes.jsonl").read_text().splitlines()]
    assert record["changes"] == {"train.max_steps": [8, 16]}
    # - and resuming again (nothing left to do but extend) composes with the first extension
    code, _, err = run(capsys, "train", "--resume", str(run_dir), "--train.max_steps", "20")
    assert code == 0, err
    lr = lrs(run_dir)
    # - a run that had reached its end goes on at its final rate, min_lr
    assert [lr[s] for s in range(17, 21)] == pytest.approx([1e-3] * 4) and lr[17] <= lr[16]
    assert len((run_dir / "resumes.jsonl").read_text().splitlines()) == 2


def test_resume_keeps_the_old_checkpoint_until_a_new_one_is_written(capsys, monkeypatch, preset, tmp_path):
    run_dir = tmp_path / "runs" / "r"
    interrupted_run(capsys, monkeypatch, preset)
    before = (run_dir / "checkpoint.pt").read_bytes()

    # - the resumed run crashes before its first checkpoint: the one it started from is intact
    def crash(self):
        raise RuntimeError("crash before the first new checkpoint")

    monkeypatch.setattr(trainer_module.Trainer, "train_step", crash)
    with pytest.raises(RuntimeError):
        main(["train", "--resume", str(run_dir)])
    monkeypatch.undo()
    assert (run_dir / "checkpoint.pt").read_bytes() == before
    assert not list(run_dir.glob("*.tmp"))


def test_repeating_the_original_command_with_resume_is_no_change(capsys, monkeypatch, preset, tmp_path):
    """Also when the checks before training changed a setting (min_lr above --train.lr)."""
    run_dir = tmp_path / "runs" / "r"
    monkeypatch.setattr(trainer_module, "StopSignal", StopAfter(3))
    assert main(["train", "--config", preset, "--train.lr", "3e-4", "--name", "r"]) == 130
    monkeypatch.undo()
    assert yaml.safe_load((run_dir / "config.yaml").read_text())["train"]["min_lr"] == pytest.approx(3e-5)
    capsys.readouterr()
    assert main(["train", "--config", preset, "--train.lr", "3e-4", "--name", "r", "--resume", str(run_dir)]) == 0
    (record,) = [json.loads(line) for line in (run_dir / "resumes.jsonl").read_text().splitlines()]
    assert record["changes"] == {}
