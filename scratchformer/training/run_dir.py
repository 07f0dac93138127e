"""A run folder: everything needed to reproduce and inspect one training run.

  runs/NAME/
    config.yaml      the resolved config (every field, after presets and overrides; the real
                     architecture of the model, vocab_size included); updated by each resume
    command.txt      the command line that started the run
    env.json         git commit, the machine (CPU, cores, threads, load, GPU, host), versions, device
    metrics.jsonl    one JSON object per logged step (train and validation)
    checkpoint.pt    the latest checkpoint (see checkpoint.py)
    resumes.jsonl    one line per resume: when, from which step, the command, what changed

Every kind of run (language model, classifier, seq2seq, an experiment's runs) claims its folder
here, with one rule: a new run never writes into a folder that already holds a run, that is
anything beyond the three files written before the first step (START_FILES: a run that failed
to start, such as a tracker that could not log in, can be started again under its name).

    folder = new_run_folder(out_dir, name, prefix="imdb")     # refuses runs/NAME if it holds a run
    folder = existing_run_folder("runs/NAME")                   # --resume: must hold a checkpoint
    with one_at_a_time(folder): ...                             # runs side by side that share one folder
"""

from __future__ import annotations

import fcntl
import json
import math
import os
import platform
import shlex
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import yaml

from scratchformer.errors import UserError
from scratchformer.provenance import describe_machine, git_commit, machine
from scratchformer.training.checkpoint import CHECKPOINT_NAME, resolve_checkpoint

CONFIG_NAME = "config.yaml"
RESUMES_NAME = "resumes.jsonl"
START_FILES = (CONFIG_NAME, "command.txt", "env.json")  # written before the first step


def holds_run(path: Path) -> bool:
    """Whether a folder holds (part of) a run that trained: anything but START_FILES."""
    return path.is_dir() and any(p.name not in START_FILES for p in path.iterdir())


def new_run_folder(out_dir: str | Path, name: str | None, prefix: str = "run",
                   resume_command: str | None = None) -> Path:
    """The folder out_dir/name for a new run (name None: prefix plus the time), checked but not made.

    Refuses a folder that holds a run (holds_run), so no run is ever overwritten, and an out_dir or
    run folder that is a file. resume_command: the command that continues a run (the folder is
    appended), for the error message; None where runs cannot be continued.
    Under torchrun only rank 0 checks (the other ranks stop when it does): rank 0 may have made
    the folder by the time another rank looks.
    """
    name = name or time.strftime(f"{prefix}-%Y%m%d-%H%M%S")
    out_dir = Path(out_dir)
    path = out_dir / name
    for p in (out_dir, path):
        if p.exists() and not p.is_dir():
            raise UserError(f"{p} is a file, not a folder; give --out_dir a folder and --name a new name")
    if int(os.environ.get("RANK", "0")) == 0 and holds_run(path):
        hint = f", or continue it with `{resume_command} {path}`" if resume_command else ""
        raise UserError(f"run folder {path} already holds a run; pick another --name{hint}")
    return path


def existing_run_folder(path: str | Path) -> Path:
    """The folder of a run to continue: a run folder or its checkpoint file, which must exist."""
    return resolve_checkpoint(path).parent


@contextmanager
def one_at_a_time(path: Path):
    """Hold the folder (made if missing) against other processes until the block ends.

    For a run that several runs side by side (--jobs) need, such as an experiment's pretrained
    base: the first to arrive trains it, the others wait here and then find it trained.
    """
    path.mkdir(parents=True, exist_ok=True)
    with open(path / "folder.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # (released when the file closes, also if the process dies)
        yield path


def flatten(config: dict, prefix: str = "") -> dict:
    """{"train": {"lr": 1e-3}} -> {"train.lr": 1e-3}."""
    flat = {}
    for key, value in config.items():
        if isinstance(value, dict) and value:
            flat.update(flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def changes_on_resume(saved: dict, resumed: dict, safe: tuple[str, ...], run: str | Path) -> dict:
    """What a resume changes, {field: [before, after]}, after checking each change is safe mid-run.

    saved: the run's config.yaml; resumed: the config the resume would train with. safe: dotted
    fields that may change (a prefix ending in '.' covers a section). Anything else that differs (data, tokenizer, model, optimiser, ...) is a UserError naming it.
    """
    # - (through JSON, so a tuple here equals the list YAML gave back)
    before, after = flatten(json.loads(json.dumps(saved))), flatten(json.loads(json.dumps(resumed)))
    changed = {k: [before.get(k), after.get(k)] for k in sorted(set(before) | set(after))
               if before.get(k) != after.get(k)}
    unsafe = [k for k in changed if not any(k == s or (s.endswith(".") and k.startswith(s)) for s in safe)]
    if unsafe:
        shown = ", ".join(f"{k} = {changed[k][0]!r} there, {changed[k][1]!r} here" for k in unsafe[:3])
        more = f" (and {len(unsafe) - 3} more)" if len(unsafe) > 3 else ""
        raise UserError(f"--resume {run}: the run was trained with other settings ({shown}{more}); a resumed "
                        "run keeps its data, tokenizer, model and optimiser, so drop those options "
                        "(or start a new run with them)")
    return changed


def environment(device: str) -> dict:
    """env.json: provenance.machine()'s fields (CPU, cores, threads, load, GPU, host, versions), the
    same as one line, the commit, the platform, the device the run uses and when it started."""
    m = machine()
    return {**m, "machine": describe_machine(m), "git_commit": git_commit(), "platform": platform.platform(),
            "device": device, "started": time.strftime("%Y-%m-%dT%H:%M:%S%z")}


def json_safe(record: dict) -> dict:
    """The record with NaN and inf written as null: JSON has no NaN, and metrics.jsonl stays valid JSON."""
    return {k: None if isinstance(v, float) and not math.isfinite(v) else v for k, v in record.items()}


class RunDir:
    """The files of one run folder (made when this is created)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.mkdir(parents=True, exist_ok=True)

    @property
    def checkpoint(self) -> Path:
        return self.path / CHECKPOINT_NAME

    @property
    def metrics_path(self) -> Path:
        return self.path / "metrics.jsonl"

    @property
    def config_path(self) -> Path:
        return self.path / CONFIG_NAME

    def write_start(self, config: dict, device: str, argv: list[str] | None = None) -> None:
        """Record the resolved config, the command line and the environment."""
        self.write_config(config)
        argv = sys.argv if argv is None else argv
        (self.path / "command.txt").write_text(" ".join(shlex.quote(a) for a in argv) + "\n")
        (self.path / "env.json").write_text(json.dumps(environment(device), indent=2) + "\n")

    def write_config(self, config: dict) -> None:
        """(Re)write config.yaml atomically: a crash leaves the old one or the new one."""
        replace_text(self.config_path, yaml.safe_dump(config, sort_keys=False))

    def read_config(self) -> dict:
        if not self.config_path.exists():
            raise UserError(f"{self.path} has no {CONFIG_NAME}; it is not a run folder this version can continue")
        return yaml.safe_load(self.config_path.read_text()) or {}

    def record_resume(self, step: int, changes: dict, argv: list[str] | None = None) -> None:
        """Append one line to resumes.jsonl: when, from which step, the command and what changed
        ({field: [before, after]})."""
        argv = sys.argv if argv is None else argv
        record = {"time": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "step": step,
                  "command": " ".join(shlex.quote(a) for a in argv), "changes": changes,
                  "git_commit": git_commit()}
        with (self.path / RESUMES_NAME).open("a") as f:
            f.write(json.dumps(record) + "\n")

    def read_resumes(self) -> list[dict]:
        path = self.path / RESUMES_NAME
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.exists() else []

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
        replace_text(self.metrics_path, "".join(json.dumps(r) + "\n" for r in kept))


def replace_text(path: Path, text: str) -> None:
    """Write a file atomically: to NAME.tmp, then renamed over NAME."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)
