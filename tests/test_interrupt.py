"""Interruption: Ctrl-C or SIGTERM writes a checkpoint and stops cleanly; --resume continues."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch
from toolkit_helpers import pattern_data, tiny_cfg, tiny_gpt, tiny_preset  # noqa: F401

from scratchformer.training.checkpoint import load_checkpoint
from scratchformer.training.interrupt import StopSignal
from scratchformer.training.trainer import Trainer


class SignalAt:
    """Data that sends this process a signal while drawing the n-th training batch (mid-step)."""

    def __init__(self, data, n, sig=signal.SIGINT):
        self.data, self.n, self.sig, self.calls = data, n, sig, 0

    def batch(self, split, B, generator):
        if split == "train":
            self.calls += 1
            if self.calls == self.n:
                os.kill(os.getpid(), self.sig)
        return self.data.batch(split, B, generator)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_signal_finishes_the_step_checkpoints_and_resume_is_exact(tmp_path, sig, capsys):
    # - the handlers the process had (SIG_IGN for SIGINT when a shell starts it in the background)
    before = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    cfg = tiny_cfg(max_steps=8, grad_accum=2)
    full = Trainer(tiny_gpt(), cfg, pattern_data())
    full.fit()
    # - the signal arrives during step 3 (its 5th micro-batch); step 3 still completes
    trainer = Trainer(tiny_gpt(), cfg, SignalAt(pattern_data(), n=5, sig=sig), run_dir=tmp_path / "run")
    result = trainer.fit()
    assert result["interrupted"] == sig.name and result["step"] == 3
    assert f"{sig.name} at step 3: checkpoint written to" in capsys.readouterr().out
    assert load_checkpoint(tmp_path / "run")["step"] == 3
    assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == before  # handlers restored
    resumed = Trainer(tiny_gpt(seed=9), cfg, pattern_data(), run_dir=tmp_path / "run")
    resumed.resume(tmp_path / "run")
    resumed.fit()
    for k, v in full.model.state_dict().items():
        assert torch.equal(v, resumed.model.state_dict()[k]), k


def test_second_ctrl_c_stops_at_once():
    before = signal.getsignal(signal.SIGINT)
    with pytest.raises(KeyboardInterrupt):
        with StopSignal() as stop:
            os.kill(os.getpid(), signal.SIGINT)
            assert stop.received == "SIGINT"
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(1)  # the second signal raises before this ends
    assert signal.getsignal(signal.SIGINT) is before


def test_sigterm_to_the_train_command_then_resume(tmp_path):
    preset = tiny_preset(tmp_path, max_steps=100_000, log_interval=1)  # far more than it will run
    run = tmp_path / "runs" / "r"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "scratchformer.cli.main", "train", "--config", preset]
    proc = subprocess.Popen([*cmd, "--name", "r"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    # - wait until a few steps are logged, then send the cluster's "time is up"
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        metrics = run / "metrics.jsonl"
        if metrics.exists() and len(metrics.read_text().splitlines()) >= 3:
            break
        time.sleep(0.1)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err[-2000:]
    assert "Traceback" not in err and err.strip().endswith("interrupted")
    step = load_checkpoint(run)["step"]
    assert step >= 3 and f"SIGTERM at step {step}: checkpoint written" in out
    # - --resume continues from that step (here to 5 steps later)
    done = subprocess.run([*cmd, "--resume", str(run), "--train.max_steps", str(step + 5),
                           "--sample.max_new_tokens", "1"], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert f"trained {step + 5} steps" in done.stdout
    assert load_checkpoint(run)["step"] == step + 5
    steps = [json.loads(line)["step"] for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert steps[:step] == list(range(1, step + 1)) and steps[-1] == step + 5
