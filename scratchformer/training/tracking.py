"""Experiment tracking: send each logged record to Weights & Biases and/or TensorBoard.

The run folder's metrics.jsonl is always written (run_dir.py); these are optional extras,
chosen with TrainConfig.track: 'none', 'wandb', 'tensorboard' or 'wandb,tensorboard'.

  wandb         the real `wandb` package; WANDB_MODE=offline works without network and keeps
                the run under RUN/wandb/ (upload it later with `wandb sync`)
  tensorboard   event files under RUN/tensorboard/ (`tensorboard --logdir runs`)

The libraries are imported only when asked for; a missing one is a UserError naming the fix.
"""

from __future__ import annotations

import importlib.util
import netrc
import os
from pathlib import Path
from urllib.parse import urlparse

from scratchformer.errors import UserError


class Tracker:
    """Receives every record the Trainer logs ({'step': ..., 'loss': ..., ...})."""

    def log(self, record: dict) -> None:
        raise NotImplementedError

    def close(self) -> None:
        pass


def numbers(record: dict) -> dict:
    """The numeric fields of a record, without the step."""
    return {k: v for k, v in record.items() if k != "step" and isinstance(v, (int, float)) and not isinstance(v, bool)}


class WandbTracker(Tracker):
    def __init__(self, run_dir: Path | None, config: dict, project: str, name: str | None):
        import wandb

        self.run = wandb.init(project=project, name=name, config=config,
                              dir=str(run_dir) if run_dir is not None else None)

    def log(self, record: dict) -> None:
        self.run.log(numbers(record), step=record["step"])

    def close(self) -> None:
        self.run.finish()


class TensorBoardTracker(Tracker):
    def __init__(self, run_dir: Path | None, config: dict, project: str, name: str | None):
        from torch.utils.tensorboard import SummaryWriter

        if run_dir is None:
            raise UserError("TensorBoard tracking needs a run folder to write to; give the Trainer a run_dir")
        self.writer = SummaryWriter(str(Path(run_dir) / "tensorboard"))

    def log(self, record: dict) -> None:
        for key, value in numbers(record).items():
            self.writer.add_scalar(key, value, record["step"])

    def close(self) -> None:
        self.writer.close()


TRACKERS = {"wandb": WandbTracker, "tensorboard": TensorBoardTracker}
PACKAGES = {"wandb": "wandb", "tensorboard": "tensorboard"}


def parse_track(spec: str) -> list[str]:
    """'none' -> [], 'wandb,tensorboard' -> ['wandb', 'tensorboard']; an unknown name is a ValueError."""
    names = [s.strip() for s in spec.split(",") if s.strip() and s.strip() != "none"]
    for name in names:
        if name not in TRACKERS:
            raise ValueError(f"unknown tracker {name!r}; choose 'none' or any of {sorted(TRACKERS)}, comma-separated")
    return names


def check_available(spec: str) -> None:
    """A clear one-line error now, rather than an ImportError or a login prompt after the run folder
    is made and the model built."""
    for name in parse_track(spec):
        if importlib.util.find_spec(PACKAGES[name]) is None:
            raise UserError(f"tracking with {name} needs the {PACKAGES[name]} package: pip install {PACKAGES[name]} "
                            f"(or pip install 'scratchformer[tracking]'), or set track to 'none'")
        if name == "wandb" and not wandb_can_log():
            raise UserError("tracking with wandb needs a login: run `wandb login` (or set WANDB_API_KEY), or set "
                            "WANDB_MODE=offline to keep the run on this machine, or set track to 'none'")


def wandb_can_log() -> bool:
    """True when wandb will run without asking for a key: offline or disabled, or logged in (an API key
    in the environment or in the netrc file that `wandb login` writes)."""
    if os.environ.get("WANDB_MODE", "").lower() in ("offline", "disabled", "dryrun") or os.environ.get("WANDB_API_KEY"):
        return True
    host = urlparse(os.environ.get("WANDB_BASE_URL", "https://api.wandb.ai")).hostname
    for path in (os.environ.get("NETRC"), "~/.netrc", "~/_netrc"):
        if path and Path(path).expanduser().is_file():
            try:
                if netrc.netrc(Path(path).expanduser()).authenticators(host):
                    return True
            except (netrc.NetrcParseError, OSError):
                continue
    return False


def build_trackers(spec: str, run_dir: Path | None, config: dict, project: str = "scratchformer",
                   name: str | None = None) -> list[Tracker]:
    check_available(spec)
    return [TRACKERS[t](run_dir, config, project, name) for t in parse_track(spec)]
