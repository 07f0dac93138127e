"""The experiment harness: a grid of variants x seeds, one run folder and one results row per run.

An experiment file says three things and ends with one `Experiment(...)`:

    the task       run(cfg, run) -> {metric: value}: data, model and trainer wiring (tasks layer)
    the variants   {"name": {"dotted.field": value, ...}}: what each variant changes in the config
    the metrics    [Metric("val_acc", "%", scale=100, baseline=0.5, headline=True), ...]

The harness owns everything else:

    OUT/                          runs/experiments/NAME unless --out_dir says otherwise
      sweep.json                  the sweep: experiment, options, the resolved config (what array tasks read)
      VARIANT/seed-S/             one run folder per run: run.json, config.yaml, and whatever run() writes
                                  (a checkpoint there is how an unfinished run resumes)
      rows/VARIANT-seedS.json     one results row per finished run, written once (tmp file + rename)
      rows.jsonl                  every row of the grid, one per line (rewritten from rows/)
      summary.csv, summary.md     per variant and metric: n, mean, std and a 95% interval over seeds
      METRIC.png                  one bar chart per headline metric: mean, each seed, the seeds' spread

Resume: a sweep stopped by Ctrl-C, a crash, a kill or a cluster time limit is continued by running
the same command again. A run whose row exists (same variant, seed and config hash) is skipped; any
other run is started again, and its run() continues from the checkpoint in its folder if it left one.
A changed setting changes the config hash: the harness then refuses the old folder (give another
--out_dir) rather than mix two configs in one table.

Where runs execute: one after another in this process (default), in K worker processes side by side
(--jobs K), or as a SLURM job array (--launcher slurm), where array task i runs run #i of the grid.
Workers and array tasks run `python -m scratchformer.experiments.harness OUT/sweep.json --run_index i`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib
import json
import math
import os
import platform
import re
import shlex
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar

import torch
import yaml
from tqdm.auto import tqdm

from scratchformer.errors import UserError
from scratchformer.training.checkpoint import CHECKPOINT_NAME
from scratchformer.training.run_dir import git_commit

C = TypeVar("C")  # an experiment's config dataclass
NAME = re.compile(r"^[A-Za-z0-9_.+-]+$")  # variant names become folder and file names
LAUNCHERS = ("local", "slurm")
SCALES = ("cpu", "gpu")


# --------------------------------------------------------------------------------------------
# what an experiment declares


@dataclass(frozen=True)
class Metric:
    """One number a run reports, and how to show it."""

    name: str
    """The key in the dict that run() returns."""
    unit: str = ""
    """Unit as shown in tables and on axes ('%', 'bits/char', 's', ...), after `scale`."""
    higher_is_better: bool = True
    headline: bool = False
    """Drawn as a figure (METRIC.png) as well as tabled."""
    scale: float = 1.0
    """Shown value = stored value x scale (100 turns a stored fraction into %)."""
    baseline: float | None = None
    """A chance level or baseline, in stored units, drawn as a line on the figure."""
    baseline_label: str = "chance"
    digits: int = 3
    """Decimals shown in tables."""
    label: str = ""
    """Axis and column label; the name when empty."""

    def title(self) -> str:
        text = self.label or self.name
        return f"{text} ({self.unit})" if self.unit else text


@dataclass
class Run:
    """What run() gets besides the config: which run this is, where it writes, a per-process cache."""

    experiment: str
    variant: str
    seed: int
    dir: Path
    """The run folder. Write checkpoints here: a checkpoint is how an unfinished run resumes."""
    cache: dict = field(default_factory=dict, repr=False)

    @property
    def checkpoint(self) -> Path:
        """Where a trainer built with run_dir=run.dir writes its checkpoint."""
        return self.dir / CHECKPOINT_NAME

    def cached(self, key: str, build: Callable[[], Any]) -> Any:
        """build() once per process for each key (e.g. a tokenised dataset shared by every run)."""
        if key not in self.cache:
            self.cache[key] = build()
        return self.cache[key]


@dataclass(frozen=True)
class Experiment(Generic[C]):
    """A research question as the harness runs it. See the module docstring and docs/experiments.md."""

    name: str
    """The command name: `scratchformer experiment NAME`."""
    help: str
    """One line for `scratchformer experiment --help`."""
    config: type[C]
    """The config dataclass; it nests the model and train configs (GPTConfig, TrainConfig, ...)."""
    run: Callable[[C, Run], dict[str, float]]
    """Train and measure one (variant, seed); continue from run.dir's checkpoint if there is one."""
    variants: dict[str, dict[str, Any]]
    """Variant name -> dotted config overrides, applied on top of everything else."""
    metrics: Sequence[Metric] | Callable[[C], Sequence[Metric]]
    """The metrics run() reports (or a function of the config that lists them)."""
    scales: dict[str, dict[str, Any]] = field(default_factory=lambda: {"cpu": {}, "gpu": {}})
    """--scale NAME -> dotted overrides. cpu: at most 30 minutes on 2 cores; gpu: a real-size config.
    Options given on the command line or in --config win over the scale's."""
    seeds: int = 1
    """Seeds per variant when --seeds is not given."""
    threads: int = 0
    """torch CPU threads per run when --threads is not given; 0 keeps torch's default."""
    figures: Callable[[C, list[dict], Path], list[Path]] | None = None
    """Optional: extra figures drawn from the finished rows (cfg, rows, out folder) -> paths written."""

    def __post_init__(self):
        if not NAME.match(self.name):
            raise ValueError(f"experiment name {self.name!r} may hold letters, digits and _.+- only")
        if not dataclasses.is_dataclass(self.config):
            raise ValueError(f"experiment {self.name}: config must be a dataclass, got {self.config!r}")
        clash = {f.name for f in dataclasses.fields(self.config)} & {f.name for f in dataclasses.fields(SweepOptions)}
        if clash:
            raise ValueError(f"experiment {self.name}: config fields {sorted(clash)} clash with the harness's options")
        if not self.variants:
            raise ValueError(f"experiment {self.name} declares no variants")
        for variant in self.variants:
            if not NAME.match(variant):
                raise ValueError(f"variant name {variant!r} may hold letters, digits and _.+- only")
        if set(self.scales) != set(SCALES):
            raise ValueError(f"experiment {self.name}: scales must be exactly {list(SCALES)}, got {list(self.scales)}")

    def metric_list(self, cfg: C) -> list[Metric]:
        return list(self.metrics(cfg) if callable(self.metrics) else self.metrics)


@dataclass
class SweepOptions:
    """How to run the grid: the options every experiment takes."""

    seeds: int | None = None
    """Seeds per variant: runs seeds 0..N-1 (default: the experiment's own)."""
    scale: str = "cpu"
    """cpu (the default size: at most 30 minutes on 2 cores) or gpu (a real-size config)."""
    variants: str | None = None
    """Comma-separated variants to run, e.g. pool,kqv (default: all; --list shows them)."""
    list: bool = False
    """Print the variants and metrics, and exit."""
    jobs: int = 1
    """Runs side by side, each in its own process (1: one after another in this process)."""
    out_dir: str | None = None
    """The sweep's folder (default runs/experiments/NAME)."""
    threads: int | None = None
    """torch CPU threads per run (default: the experiment's own; 0 keeps torch's default)."""
    launcher: str = "local"
    """local (this machine) or slurm (submit a job array: task i runs run #i; rerun later to tabulate)."""
    sbatch: str = "sbatch"
    """The command that submits the array script (with --launcher slurm)."""
    sbatch_args: str = ""
    """Extra sbatch options, e.g. '--time=04:00:00 --gres=gpu:1 --partition=gpu'."""

    def __post_init__(self):
        if self.seeds is not None and self.seeds < 1:
            raise ValueError(f"seeds must be at least 1, got {self.seeds}")
        if self.scale not in SCALES:
            raise ValueError(f"scale must be one of {list(SCALES)}, got {self.scale!r}")
        if self.jobs < 1:
            raise ValueError(f"jobs must be at least 1, got {self.jobs}")
        if self.threads is not None and self.threads < 0:
            raise ValueError(f"threads must be >= 0, got {self.threads}")
        if self.launcher not in LAUNCHERS:
            raise ValueError(f"launcher must be one of {list(LAUNCHERS)}, got {self.launcher!r}")


# --------------------------------------------------------------------------------------------
# configs: dotted overrides, hashes, and back from JSON


def get_dotted(cfg, key: str):
    for part in key.split("."):
        cfg = getattr(cfg, part)
    return cfg


def with_overrides(cfg: C, overrides: dict[str, Any]) -> C:
    """A copy of cfg with each dotted field set ({"model.d_model": 128}); each dataclass on the way
    is rebuilt, so its __post_init__ validates the new values. An unknown field is a ValueError."""
    for key, value in overrides.items():
        cfg = _replace(cfg, key.split("."), value, key)
    return cfg


def _replace(node, parts: list[str], value, key: str):
    names = [f.name for f in dataclasses.fields(node)] if dataclasses.is_dataclass(node) else []
    if parts[0] not in names:
        raise ValueError(f"unknown config field {key!r}: {type(node).__name__} has {names}")
    new = value if len(parts) == 1 else _replace(getattr(node, parts[0]), parts[1:], value, key)
    return dataclasses.replace(node, **{parts[0]: new})


def as_dict(cfg) -> dict:
    """The config as plain JSON values."""
    return json.loads(json.dumps(dataclasses.asdict(cfg), default=str))


def config_hash(cfg) -> str:
    """12 hex digits that change whenever any resolved setting changes."""
    return hashlib.sha256(json.dumps(as_dict(cfg), sort_keys=True).encode()).hexdigest()[:12]


def config_from_dict(cls: type[C], data: dict) -> C:
    """Rebuild a (nested) config dataclass from as_dict()'s output, validating it as the CLI does."""
    from jsonargparse import ArgumentParser

    parser = ArgumentParser(exit_on_error=False)
    parser.add_class_arguments(cls, "cfg")
    return parser.instantiate_classes(parser.parse_object({"cfg": data})).cfg


def scaled(experiment: Experiment[C], cfg: C, scale: str) -> C:
    """cfg with the scale's overrides, each applied only where cfg still holds the default value
    (so options given on the command line or in --config win over the scale)."""
    default = experiment.config()
    keep = {k: v for k, v in experiment.scales[scale].items() if get_dotted(cfg, k) == get_dotted(default, k)}
    return with_overrides(cfg, keep)


# --------------------------------------------------------------------------------------------
# the grid


@dataclass(frozen=True)
class Cell:
    """One run of the grid: its index, variant, seed, resolved config and where it writes."""

    index: int
    variant: str
    seed: int
    cfg: Any
    hash: str
    dir: Path
    row_path: Path


def default_out_dir(experiment: Experiment) -> Path:
    return Path("runs") / "experiments" / experiment.name


def chosen_variants(experiment: Experiment, variants: str | list[str] | None) -> list[str]:
    names = list(experiment.variants) if variants is None else (
        [v.strip() for v in variants.split(",") if v.strip()] if isinstance(variants, str) else list(variants))
    unknown = [v for v in names if v not in experiment.variants]
    if unknown or not names:
        raise UserError(f"unknown variants {unknown or names} for experiment {experiment.name}; "
                        f"choose from {', '.join(experiment.variants)} (--list shows what each changes)")
    return names


def grid(experiment: Experiment[C], cfg: C, variants: list[str], seeds: int, out: Path) -> list[Cell]:
    """Every (variant, seed) in a fixed order: variant by variant, seeds 0..seeds-1."""
    cells = []
    for variant in variants:
        try:
            run_cfg = with_overrides(cfg, experiment.variants[variant])
        except (ValueError, TypeError) as e:
            raise UserError(f"variant {variant!r} of {experiment.name} does not fit the config: {e}") from None
        digest = config_hash(run_cfg)
        for seed in range(seeds):
            cells.append(Cell(len(cells), variant, seed, run_cfg, digest, out / variant / f"seed-{seed}",
                              out / "rows" / f"{variant}-seed{seed}.json"))
    return cells


def read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def write_atomic(path: Path, text: str) -> None:
    """Write to a temporary name, then rename: readers see no file or the whole file, never half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def finished(cell: Cell) -> bool:
    row = read_json(cell.row_path)
    return row is not None and row.get("config_hash") == cell.hash


def check_no_other_config(cells: list[Cell]) -> None:
    """Refuse, before anything runs, folders that hold a row or a run of other settings."""
    for cell in cells:
        for path in (cell.row_path, cell.dir / "run.json"):
            held = read_json(path)
            if held is not None and held.get("config_hash") != cell.hash:
                raise UserError(f"{path} is from a run with other settings (config hash {held.get('config_hash')}, "
                                f"now {cell.hash}); give another --out_dir, or delete {cell.dir} and {cell.row_path} "
                                "to redo that run")


# --------------------------------------------------------------------------------------------
# one run


def machine() -> dict:
    """What ran it: CPU model, device, threads, host, versions."""
    cpu = platform.processor() or platform.machine()
    try:
        names = [ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines()
                 if ln.startswith("model name")]
        cpu = names[0] if names else cpu
    except OSError:
        pass
    device = f"cuda ({torch.cuda.get_device_name(0)})" if torch.cuda.is_available() else "cpu"
    return {"device": device, "cpu": cpu, "threads": torch.get_num_threads(), "host": platform.node(),
            "python": platform.python_version(), "torch": torch.__version__}


def reset_peak_memory() -> bool:
    """Start this process's peak resident memory (VmHWM) afresh; False where Linux does not allow it."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def peak_memory_mb() -> float | None:
    """VmHWM of this process from /proc/self/status, in MB (None off Linux)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return None


def execute(experiment: Experiment, cell: Cell, scale: str, threads: int, cache: dict) -> dict:
    """Run one cell (resuming from its folder) and write its row; returns the row."""
    cell.dir.mkdir(parents=True, exist_ok=True)
    (cell.dir / "config.yaml").write_text(yaml.safe_dump(as_dict(cell.cfg), sort_keys=False))
    write_atomic(cell.dir / "run.json", json.dumps({"experiment": experiment.name, "variant": cell.variant,
                                                    "seed": cell.seed, "config_hash": cell.hash}, indent=2) + "\n")
    if threads:
        torch.set_num_threads(threads)
    peak_is_this_run = reset_peak_memory()
    start = time.perf_counter()
    metrics = experiment.run(cell.cfg, Run(experiment.name, cell.variant, cell.seed, cell.dir, cache))
    wall_s = time.perf_counter() - start
    declared = {m.name for m in experiment.metric_list(cell.cfg)}
    missing = declared - set(metrics)
    commit = git_commit()
    row = {
        "experiment": experiment.name, "variant": cell.variant, "seed": cell.seed, "scale": scale,
        "config_hash": cell.hash, "commit": commit.removesuffix("-dirty"), "dirty": commit.endswith("-dirty"),
        "metrics": {k: clean_number(v) for k, v in metrics.items()},
        "missing_metrics": sorted(missing), "wall_s": round(wall_s, 2),
        **machine(), "threads": torch.get_num_threads(),
        "peak_mem_mb": peak_memory_mb(), "peak_mem_scope": "run" if peak_is_this_run else "process",
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "run_dir": str(cell.dir),
    }
    write_atomic(cell.row_path, json.dumps(row, indent=2) + "\n")
    return row


def clean_number(value):
    """JSON has no NaN: a NaN or inf metric (undefined, e.g. n/a) is stored as null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def describe(experiment: Experiment, cfg, row: dict) -> str:
    """One line for a finished run: its headline metrics (or its first few) and its wall-clock."""
    metrics = experiment.metric_list(cfg)
    metrics = [m for m in metrics if m.headline] or metrics[:4]
    shown = [f"{m.name} {row['metrics'][m.name] * m.scale:.{m.digits}f}{m.unit if m.unit == '%' else ''}"
             for m in metrics if isinstance(row["metrics"].get(m.name), (int, float))]
    return f"{row['variant']} seed {row['seed']}: {', '.join(shown) or 'no metrics'} ({row['wall_s']:.0f} s)"


# --------------------------------------------------------------------------------------------
# the sweep


def sweep(experiment: Experiment[C], cfg: C | None = None, options: SweepOptions | None = None) -> list[dict] | None:
    """Run the grid (or submit it), skipping finished runs; tabulate and plot; return the summary rows.

    cfg: the config before the scale and the variants (default: the experiment's defaults).
    Returns None when nothing was tabulated (--list, or a submitted SLURM array).
    """
    options = options or SweepOptions()
    if options.list:
        print(listing(experiment))
        return None
    cfg = scaled(experiment, cfg if cfg is not None else experiment.config(), options.scale)
    out = Path(options.out_dir) if options.out_dir else default_out_dir(experiment)
    seeds = options.seeds or experiment.seeds
    threads = experiment.threads if options.threads is None else options.threads
    variants = chosen_variants(experiment, options.variants)
    cells = grid(experiment, cfg, variants, seeds, out)
    check_no_other_config(cells)
    sweep_file = write_sweep(experiment, cfg, options, variants, seeds, threads, out)
    pending = [c for c in cells if not finished(c)]
    if options.launcher == "slurm":
        submit_array(experiment, pending, options, sweep_file, out)
        return None
    print(f"{experiment.name}: {len(cells)} runs ({len(variants)} variants x {seeds} seeds, scale {options.scale}), "
          f"{len(cells) - len(pending)} already finished; writing to {out}", flush=True)
    bar = tqdm(total=len(cells), initial=len(cells) - len(pending), unit="run", desc=experiment.name,
               dynamic_ncols=True)
    try:
        if options.jobs == 1:
            cache: dict = {}
            for cell in pending:
                row = execute(experiment, cell, options.scale, threads, cache)
                tqdm.write(describe(experiment, cell.cfg, row))
                bar.update(1)
        else:
            run_in_workers(experiment, pending, options.jobs, sweep_file, bar)
    except KeyboardInterrupt:
        bar.close()
        done = sum(finished(c) for c in cells)
        print(f"stopped: {done} of {len(cells)} runs finished; run the same command again to continue",
              file=sys.stderr, flush=True)
        raise
    bar.close()
    return aggregate(experiment, cfg, cells, out)


def listing(experiment: Experiment) -> str:
    lines = [f"{experiment.name}: {experiment.help}", "", "variants (dotted config changes):"]
    width = max(map(len, experiment.variants))
    for name, overrides in experiment.variants.items():
        changes = ", ".join(f"{k}={v!r}" for k, v in overrides.items()) or "(the config as given)"
        lines.append(f"  {name:<{width}}  {changes}")
    lines += ["", "metrics:"]
    for m in experiment.metric_list(experiment.config()):
        better = "higher" if m.higher_is_better else "lower"
        lines.append(f"  {m.name} ({m.unit or 'no unit'}, {better} is better{', headline' if m.headline else ''})")
    for scale, overrides in experiment.scales.items():
        lines.append(f"scale {scale}: " + (", ".join(f"{k}={v!r}" for k, v in overrides.items()) or "the defaults"))
    return "\n".join(lines)


def write_sweep(experiment: Experiment, cfg, options: SweepOptions, variants: list[str], seeds: int,
                threads: int, out: Path) -> Path:
    """OUT/sweep.json: everything a worker or an array task needs to rebuild the grid."""
    module = experiment.run.__module__
    if getattr(importlib.import_module(module), "EXPERIMENT", None) is not experiment:
        raise ValueError(f"experiment {experiment.name}: its module {module} must define EXPERIMENT = Experiment(...)")
    sweep_ = {"experiment": experiment.name, "module": module, "scale": options.scale, "variants": variants,
              "seeds": seeds, "threads": threads, "launcher": options.launcher, "config": as_dict(cfg),
              "cwd": os.getcwd(), "written": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    path = out / "sweep.json"
    write_atomic(path, json.dumps(sweep_, indent=2) + "\n")
    return path


def load_sweep(path: Path) -> tuple[Experiment, dict, list[Cell]]:
    sweep_ = json.loads(Path(path).read_text())
    experiment = importlib.import_module(sweep_["module"]).EXPERIMENT
    cfg = config_from_dict(experiment.config, sweep_["config"])
    return experiment, sweep_, grid(experiment, cfg, sweep_["variants"], sweep_["seeds"], Path(path).parent)


def worker_command(sweep_file: Path, index: int | str) -> list[str]:
    return [sys.executable, "-m", "scratchformer.experiments.harness", str(sweep_file), "--run_index", str(index)]


def run_in_workers(experiment: Experiment, pending: list[Cell], jobs: int, sweep_file: Path, bar) -> None:
    """Each pending run in its own process, `jobs` at a time; output goes to the run folder's output.log."""
    queue, running, failed = list(pending), {}, []  # running: index -> (cell, process, log file)
    try:
        while queue or running:
            while queue and len(running) < jobs and not failed:
                cell = queue.pop(0)
                cell.dir.mkdir(parents=True, exist_ok=True)
                log = (cell.dir / "output.log").open("a")
                running[cell.index] = (cell, subprocess.Popen(worker_command(sweep_file, cell.index), stdout=log,
                                                              stderr=subprocess.STDOUT), log)
            if failed and not running:
                break
            time.sleep(0.2)
            for index, (cell, proc, log) in list(running.items()):
                if proc.poll() is None:
                    continue
                log.close()
                del running[index]
                if proc.returncode == 0 and finished(cell):
                    tqdm.write(describe(experiment, cell.cfg, read_json(cell.row_path)))
                    bar.update(1)
                else:
                    failed.append((cell, proc.returncode))
    except KeyboardInterrupt:
        # - the workers got the same Ctrl-C: let them write their checkpoints and stop
        for _, proc, log in running.values():
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
            log.close()
        raise
    if failed:
        cell, code = failed[0]
        raise UserError(f"run {cell.variant} seed {cell.seed} failed (exit status {code}; see {cell.dir / 'output.log'}); "
                        f"{len(failed)} run(s) failed in all. Run the same command again to continue")


ARRAY_SCRIPT = """#!/bin/bash
# A SLURM job array written by `scratchformer experiment {name}`: array task i runs run #i of the
# grid in {out}/sweep.json (variant by variant, seeds 0..N-1), and writes {out}/rows/VARIANT-seedS.json.
# A task whose row exists does nothing; an unfinished run continues from its checkpoint, so
# resubmitting after a time limit is safe. The last task to finish writes the summary.
#SBATCH --job-name=sf-{name}
#SBATCH --output={out}/slurm/%A_%a.out
#SBATCH --signal=B:INT@120
cd {cwd}
exec {command}
"""


def submit_array(experiment: Experiment, pending: list[Cell], options: SweepOptions, sweep_file: Path, out: Path) -> None:
    """Write OUT/slurm/array.sbatch and submit it for the pending runs' indices."""
    if not pending:
        print(f"{experiment.name}: every run of the grid has its row; nothing to submit (run again without "
              "--launcher slurm to tabulate)")
        return
    (out / "slurm").mkdir(parents=True, exist_ok=True)
    script = out / "slurm" / "array.sbatch"
    command = " ".join(shlex.quote(a) for a in worker_command(sweep_file.resolve(), "X")[:-1]) + " $SLURM_ARRAY_TASK_ID"
    script.write_text(ARRAY_SCRIPT.format(name=experiment.name, out=shlex.quote(str(out.resolve())),
                                          cwd=shlex.quote(os.getcwd()), command=command))
    indices = ",".join(str(c.index) for c in pending) + (f"%{options.jobs}" if options.jobs > 1 else "")
    argv = [*shlex.split(options.sbatch), f"--array={indices}", *shlex.split(options.sbatch_args), str(script)]
    try:
        done = subprocess.run(argv, capture_output=True, text=True)
    except OSError as e:
        raise UserError(f"cannot run {options.sbatch!r} ({e}); is SLURM installed here? The script is {script}") from None
    if done.returncode != 0:
        raise UserError(f"{' '.join(argv)} failed (exit status {done.returncode}): {done.stderr.strip()[:300]}")
    print(done.stdout.strip())
    print(f"submitted {len(pending)} runs as a job array ({script}); rows go to {out / 'rows'}; "
          f"run the same command without --launcher slurm afterwards to tabulate, or to rerun what failed")


def run_index(sweep_file: Path, index: int) -> None:
    """What a worker or an array task does: run #index of the grid unless its row exists."""
    experiment, sweep_, cells = load_sweep(sweep_file)
    if not 0 <= index < len(cells):
        raise UserError(f"--run_index {index} is outside the grid of {len(cells)} runs in {sweep_file}")
    cell = cells[index]
    if not finished(cell):
        row = execute(experiment, cell, sweep_["scale"], sweep_["threads"], {})
        print(describe(experiment, cell.cfg, row), flush=True)
    # - an array has no parent to tabulate: the task that completes the grid does it
    if sweep_["launcher"] == "slurm" and all(finished(c) for c in cells):
        cfg = config_from_dict(experiment.config, sweep_["config"])
        aggregate(experiment, cfg, cells, Path(sweep_file).parent)


# --------------------------------------------------------------------------------------------
# tables and figures

# two-sided 95% quantiles of Student's t, by degrees of freedom (1..30); 1.96 beyond
T95 = [12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145,
       2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048,
       2.045, 2.042]


def t95(df: int) -> float:
    return T95[df - 1] if df <= len(T95) else 1.96


def stats(values: list[float]) -> dict:
    """n, mean, std (over seeds, n-1 in the denominator) and the 95% interval of the mean (Student t)."""
    n = len(values)
    if n == 0:
        return {"n": 0, "mean": None, "std": None, "ci95_low": None, "ci95_high": None}
    mean = statistics.fmean(values)
    if n == 1:
        return {"n": 1, "mean": mean, "std": None, "ci95_low": None, "ci95_high": None}
    std = statistics.stdev(values)
    half = t95(n - 1) * std / math.sqrt(n)
    return {"n": n, "mean": mean, "std": std, "ci95_low": mean - half, "ci95_high": mean + half}


WALL = Metric("wall_s", "s", higher_is_better=False, digits=0, label="wall-clock")


def aggregate(experiment: Experiment, cfg, cells: list[Cell], out: Path) -> list[dict]:
    """Read the grid's rows; write rows.jsonl, summary.csv, summary.md and a PNG per headline metric."""
    rows = [read_json(c.row_path) for c in cells if finished(c)]
    write_atomic(out / "rows.jsonl", "".join(json.dumps(r) + "\n" for r in rows))
    metrics = experiment.metric_list(cfg) + [WALL]
    variants = list(dict.fromkeys(c.variant for c in cells))
    summary = []
    for variant in variants:
        mine = [r for r in rows if r["variant"] == variant]
        for m in metrics:
            values = [r["wall_s"] if m is WALL else r["metrics"].get(m.name) for r in mine]
            values = [v for v in values if isinstance(v, (int, float)) and math.isfinite(v)]
            summary.append({"variant": variant, "metric": m.name, "unit": m.unit, "scale": m.scale,
                            "higher_is_better": m.higher_is_better, **stats(values)})
    write_atomic(out / "summary.csv", summary_csv(summary))
    table = summary_markdown(experiment, metrics, variants, summary, rows, cells)
    write_atomic(out / "summary.md", table)
    figures = [plot_metric(experiment, m, variants, rows, summary, out) for m in metrics if m.headline]
    if experiment.figures is not None and rows:
        figures += experiment.figures(cfg, rows, out)
    print("\n" + table)
    print(f"wrote {out}: rows.jsonl, summary.csv, summary.md" + "".join(f", {f.name}" for f in figures if f))
    return summary


def summary_csv(summary: list[dict]) -> str:
    import csv
    import io

    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(summary[0]) if summary else ["variant"])
    writer.writeheader()
    writer.writerows(summary)
    return buffer.getvalue()


def cell_text(entry: dict, m: Metric) -> str:
    if entry["n"] == 0:
        return "n/a"
    f = lambda v: f"{v * m.scale:.{m.digits}f}"  # noqa: E731
    if entry["n"] == 1:
        return f"{f(entry['mean'])} (one seed)"
    if entry["std"] == 0:
        return f"{f(entry['mean'])} (every seed)"
    return f"{f(entry['mean'])} ± {f(entry['std'])} [{f(entry['ci95_low'])}, {f(entry['ci95_high'])}]"


def summary_markdown(experiment: Experiment, metrics: list[Metric], variants: list[str], summary: list[dict],
                     rows: list[dict], cells: list[Cell]) -> str:
    commits = sorted({r["commit"][:10] + ("-dirty" if r["dirty"] else "") for r in rows})
    shown = [m for m in metrics if any(e["metric"] == m.name and e["n"] for e in summary)]
    seeds = sorted({c.seed for c in cells})
    machines = sorted({f"{r['cpu']}, {r['threads']} thread(s), {r['device']}" for r in rows})
    lines = [f"# {experiment.name}", "",
             f"{len(rows)} of {len(cells)} runs finished; seeds {seeds[0]}..{seeds[-1]} per variant. "
             "Each cell: mean ± std over seeds [95% interval of the mean, Student t]; one seed shows no spread. "
             f"Commit(s): {', '.join(commits) or 'none'}. Machine(s): {'; '.join(machines) or 'none'}.", "",
             "| variant | " + " | ".join(f"{m.title()} {'↑' if m.higher_is_better else '↓'}" for m in shown) + " |",
             "| --- |" + " --- |" * len(shown)]
    for variant in variants:
        entries = {e["metric"]: e for e in summary if e["variant"] == variant}
        lines.append(f"| {variant} | " + " | ".join(cell_text(entries[m.name], m) for m in shown) + " |")
    return "\n".join(lines) + "\n"


def plot_metric(experiment: Experiment, m: Metric, variants: list[str], rows: list[dict], summary: list[dict],
                out: Path) -> Path | None:
    """A bar per variant (the mean), a dot per seed, an error bar of ± one std, the baseline if any.

    The bars start at zero (a bar's length is its value), so differences are never magnified; where
    that leaves them hard to see, the dots and the table show them."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    entries = {e["variant"]: e for e in summary if e["metric"] == m.name}
    if not any(entries[v]["n"] for v in variants):
        return None
    fig, ax = plt.subplots(figsize=(max(4.0, 1.0 + 0.9 * len(variants)) + 2.5, 4.0))
    xs = list(range(len(variants)))
    means = [entries[v]["mean"] * m.scale if entries[v]["n"] else 0.0 for v in variants]
    stds = [entries[v]["std"] * m.scale if entries[v]["n"] > 1 else 0.0 for v in variants]
    n_max = max(entries[v]["n"] for v in variants)
    ax.bar(xs, means, color="#9ecae1", edgecolor="#3182bd",
           label="mean of one seed" if n_max == 1 else "mean over seeds")
    if n_max > 1:
        ax.errorbar(xs, means, yerr=stds, fmt="none", ecolor="black", capsize=4, label="± one std over seeds")
    for x, v in zip(xs, variants):
        values = [r["metrics"].get(m.name) for r in rows if r["variant"] == v]
        values = [val * m.scale for val in values if isinstance(val, (int, float)) and math.isfinite(val)]
        ax.scatter([x] * len(values), values, color="#08519c", s=14, zorder=3,
                   label="each seed" if x == 0 else None)
        if not entries[v]["n"]:
            ax.text(x, 0, "n/a", ha="center", va="bottom")
    if m.baseline is not None:
        ax.axhline(m.baseline * m.scale, color="firebrick", linestyle="--", label=m.baseline_label)
    top = max([*means, *(a + b for a, b in zip(means, stds)), (m.baseline or 0) * m.scale])
    ax.set_ylim(0, top * 1.12 if top > 0 else 1)
    ax.set_xticks(xs, variants, rotation=20 if len(variants) > 6 else 0)
    ax.set_xlabel("variant")
    ax.set_ylabel(m.title())
    better = "higher" if m.higher_is_better else "lower"
    seeds = "one seed" if n_max == 1 else f"{n_max} seeds"
    ax.set_title(f"{experiment.name}: {m.label or m.name}\n({better} is better; {seeds})", fontsize=10)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8)  # outside, clear of the bars
    fig.tight_layout()
    path = out / f"{m.name}.png"
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


# --------------------------------------------------------------------------------------------
# for experiments: train with resume


def fit(trainer, run: Run) -> dict:
    """trainer.fit(), first continuing from run.dir's checkpoint if an earlier attempt left one.

    Build the trainer with run_dir=run.dir. A stop by Ctrl-C or SIGTERM writes a checkpoint and
    raises KeyboardInterrupt, so no row is written and the next attempt resumes."""
    if run.checkpoint.exists():
        trainer.resume(run.dir)
    elif trainer.run_dir is not None:
        trainer.run_dir.write_start(trainer.run_config, str(trainer.device))
    result = trainer.fit()
    if "interrupted" in result:
        raise KeyboardInterrupt(result["interrupted"])
    return result


def main(argv: list[str] | None = None) -> int:
    """The worker entry: python -m scratchformer.experiments.harness OUT/sweep.json --run_index I."""
    import argparse

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("sweep", type=Path)
    parser.add_argument("--run_index", type=int, required=True)
    args = parser.parse_args(argv)
    try:
        run_index(args.sweep, args.run_index)
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
