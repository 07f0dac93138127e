"""A run folder: everything needed to reproduce and inspect one training run.

  runs/NAME/
    config.yaml      the resolved config (every field, after presets and overrides)
    command.txt      the command line that started the run
    env.json         git commit, versions of Python / PyTorch, device, host
    metrics.jsonl    one JSON object per logged step (train and validation)
    checkpoint.pt    the latest checkpoint (see checkpoint.py)
"""

from __future__ import annotations

import json
import math
import os
import platform
import shlex
import subprocess
import sys
import time
from pathlib import Path

import torch
import yaml

from scratchformer.training.checkpoint import CHECKPOINT_NAME


def git_commit() -> str:
    """The current commit of the source tree (with '-dirty' for uncommitted changes), or 'unknown'."""
    here = Path(__file__).resolve().parent
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True,
                                timeout=5, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=here,
                               capture_output=True, text=True, timeout=5).stdout.strip()
        return commit + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def cpu_model() -> str:
    """The CPU's model name (from /proc/cpuinfo on Linux, else what the platform module says)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def machine() -> str:
    """One line for results and summaries: the CPU model, its cores, and the load while it ran."""
    line = f"{cpu_model()}, {os.cpu_count()} cores"
    if hasattr(os, "getloadavg"):
        line += ", load average {:.1f} / {:.1f} / {:.1f} (1 / 5 / 15 min)".format(*os.getloadavg())
    if torch.cuda.is_available():
        line += f", GPU {torch.cuda.get_device_name(0)}"
    return line


def environment(device: str) -> dict:
    return {
        "machine": machine(),
        "git_commit": git_commit(),
        "python": sys.version.split()[0],
        "torch": torch.__version__,
        "platform": platform.platform(),
        "host": platform.node(),
        "device": device,
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "threads": torch.get_num_threads(),
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def json_safe(record: dict) -> dict:
    """The record with NaN and inf written as null: JSON has no NaN, and metrics.jsonl stays valid JSON."""
    return {k: None if isinstance(v, float) and not math.isfinite(v) else v for k, v in record.items()}


class RunDir:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.mkdir(parents=True, exist_ok=True)

    @property
    def checkpoint(self) -> Path:
        return self.path / CHECKPOINT_NAME

    @property
    def metrics_path(self) -> Path:
        return self.path / "metrics.jsonl"

    def write_start(self, config: dict, device: str, argv: list[str] | None = None) -> None:
        """Record the resolved config, the command line and the environment."""
        (self.path / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
        argv = sys.argv if argv is None else argv
        (self.path / "command.txt").write_text(" ".join(shlex.quote(a) for a in argv) + "\n")
        (self.path / "env.json").write_text(json.dumps(environment(device), indent=2) + "\n")

    def log(self, record: dict) -> None:
        with self.metrics_path.open("a") as f:
            f.write(json.dumps(json_safe(record), allow_nan=False) + "\n")

    def read_metrics(self) -> list[dict]:
        if not self.metrics_path.exists():
            return []
        return [json.loads(line) for line in self.metrics_path.read_text().splitlines() if line.strip()]

    def truncate_metrics(self, step: int) -> None:
        """On resume, drop records logged after the checkpoint's step (they will be redone)."""
        kept = [r for r in self.read_metrics() if r.get("step", 0) <= step]
        self.metrics_path.write_text("".join(json.dumps(r) + "\n" for r in kept))
