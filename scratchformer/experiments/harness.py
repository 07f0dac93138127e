"""The experiment harness: what an experiment file declares, and how one run of its grid becomes a row.

An experiment asks one question by training variants x seeds. Its file says three things and ends
with one `EXPERIMENT = Experiment(...)` (docs/experiments.md shows a whole one):

    the task       run(cfg, run) -> {metric: value}: data, model and trainer wiring (tasks layer);
                   it writes into run.dir and continues from a checkpoint there (see fit below)
    the variants   {"name": {"dotted.field": value, ...}}: what each variant changes in the config
    the metrics    [Metric("val_acc", "%", scale=100, baseline=0.5, headline=True), ...]

The harness owns everything else. This file: the declarations, dotted overrides and config hashes,
the grid, and one run -> one row. sweep.py runs the grid (here, in worker processes or as a SLURM
array) and resumes it; summary.py turns the rows into tables and figures.

    OUT/                          runs/experiments/NAME unless --out_dir says otherwise
      sweep.json                  the sweep: experiment, options, the resolved config (what workers read)
      VARIANT/seed-S/             one run folder per run: run.json, config.yaml, and whatever run() writes
      rows/VARIANT-seedS.json     one results row per finished run, written once (tmp file + rename)
      rows.jsonl                  every row of the grid, one per line
      summary.csv, summary.md     per variant and metric: n, mean, std and a 95% interval over seeds
      METRIC.png                  one bar chart per headline metric: mean, each seed, the seeds' spread

A run is finished when its row exists with the same variant, seed and config hash; a rerun skips
it. Any other run starts again, and its run() continues from the checkpoint in its folder.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar

import torch
import yaml

from scratchformer.errors import UserError
from scratchformer.training.checkpoint import CHECKPOINT_NAME
from scratchformer.provenance import git_commit, machine

C = TypeVar("C")  # an experiment's config dataclass
NAME = re.compile(r"^[A-Za-z0-9_.+-]+$")  # variant names become folder and file names
SCALES = ("cpu", "gpu")
# the options every experiment takes (sweep.SweepOptions): no config field may share their names
HARNESS_OPTIONS = ("seeds", "scale", "variants", "list", "quick", "jobs", "out_dir", "threads", "launcher", "sbatch",
                   "sbatch_args")


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
    """Which way is better (tables mark it with an arrow; figures say it)."""
    headline: bool = False
    """Drawn as a figure (METRIC.png) as well as tabled."""
    scale: float = 1.0
    """Shown value = stored value x scale (100 turns a stored fraction into %)."""
    baseline: float | None = None
    """A chance level or baseline, in stored units, drawn as a line on the figure."""
    baseline_label: str = "chance"
    """The baseline line's name in the figure's legend."""
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
    quick: dict[str, Any] = field(default_factory=dict)
    """--quick: dotted overrides that make every run take seconds (for tests and a first look; its
    figures mean nothing). Applied after the scale; options given on the command line still win."""
    quick_variants: dict[str, dict[str, Any]] | None = None
    """--quick runs these variants instead of `variants` (where the variants themselves set sizes,
    e.g. contexts of 4,096); None runs the same variants."""
    scale_variants: dict[str, list[str]] | None = None
    """Optional: the variants each --scale runs when --variants is not given (e.g. contexts of 8,192
    only at the gpu scale); None runs every variant at every scale."""
    derive: Callable[[C, list[dict]], list[dict]] | None = None
    """Optional: metrics computed across the finished rows, (cfg, rows) -> rows, e.g. one variant's share
    of the gap between two others of the same seed. Tables, figures and rows.jsonl show them; each
    row file keeps what run() returned (there, such a metric is null)."""

    def __post_init__(self):
        if not NAME.match(self.name):
            raise ValueError(f"experiment name {self.name!r} may hold letters, digits and _.+- only")
        if not dataclasses.is_dataclass(self.config):
            raise ValueError(f"experiment {self.name}: config must be a dataclass, got {self.config!r}")
        clash = {f.name for f in dataclasses.fields(self.config)} & set(HARNESS_OPTIONS)
        if clash:
            raise ValueError(f"experiment {self.name}: config fields {sorted(clash)} clash with the harness's options")
        if not self.variants:
            raise ValueError(f"experiment {self.name} declares no variants")
        for variant in self.variants:
            if not NAME.match(variant):
                raise ValueError(f"variant name {variant!r} may hold letters, digits and _.+- only")
        for scale, names in (self.scale_variants or {}).items():
            if scale not in SCALES or not set(names) <= set(self.variants) or not names:
                raise ValueError(f"experiment {self.name}: scale_variants[{scale!r}] must name known variants")
        if set(self.scales) != set(SCALES):
            raise ValueError(f"experiment {self.name}: scales must be exactly {list(SCALES)}, got {list(self.scales)}")

    def quickened(self) -> "Experiment[C]":
        """The same experiment at its --quick size (its quick variants, if it has its own). A scale's
        default variants stay its default where the quick variants hold them all."""
        if self.quick_variants is None:
            return self
        kept = {scale: names for scale, names in (self.scale_variants or {}).items()
                if set(names) <= set(self.quick_variants)}
        return dataclasses.replace(self, variants=self.quick_variants, scale_variants=kept or None)

    def metric_list(self, cfg: C) -> list[Metric]:
        return list(self.metrics(cfg) if callable(self.metrics) else self.metrics)


# --------------------------------------------------------------------------------------------
# configs: dotted overrides, hashes, and back from JSON


def get_dotted(cfg, key: str):
    for part in key.split("."):
        cfg = getattr(cfg, part)
    return cfg


class _Changes(dict):
    """Field name -> new value, or -> the _Changes of a nested dataclass."""


def with_overrides(cfg: C, overrides: dict[str, Any]) -> C:
    """A copy of cfg with each dotted field set ({"model.d_model": 128}). Each dataclass on the way
    is rebuilt once, with all of its changes together, so its __post_init__ validates the new
    values as a whole (not one at a time). An unknown field is a ValueError."""
    tree = _Changes()
    for key, value in overrides.items():
        node = tree
        for part in key.split(".")[:-1]:
            node = node.setdefault(part, _Changes())
        node[key.split(".")[-1]] = value
    return _apply(cfg, tree, "")


def _apply(node, changes: _Changes, path: str):
    names = [f.name for f in dataclasses.fields(node)] if dataclasses.is_dataclass(node) else []
    new = {}
    for name, change in changes.items():
        if name not in names:
            raise ValueError(f"unknown config field {path + name!r}: {type(node).__name__} has {names}")
        new[name] = _apply(getattr(node, name), change, f"{path}{name}.") if isinstance(change, _Changes) else change
    return dataclasses.replace(node, **new)


def as_dict(cfg) -> dict:
    """The config as plain JSON values."""
    return json.loads(json.dumps(dataclasses.asdict(cfg), default=str))


def config_hash(cfg) -> str:
    """12 hex digits that change whenever any resolved setting changes."""
    return hashlib.sha256(json.dumps(as_dict(cfg), sort_keys=True).encode()).hexdigest()[:12]


# budgets were seconds as numbers until 2026-12-05 (0: no limit); a sweep written then still reads
SECONDS_BUDGETS = {"time_budget_s": "budget", "budget_s": "budget", "lm_time_budget_s": "lm_budget",
                   "finetune_time_budget_s": "finetune_budget"}


def renamed_budgets(data: dict) -> dict:
    """data with each budget in seconds under its old name turned into a length under its new one."""
    out = {}
    for key, value in data.items():
        if isinstance(value, dict):
            value = renamed_budgets(value)
        if key in SECONDS_BUDGETS and isinstance(value, (int, float)):
            key, value = SECONDS_BUDGETS[key], f"{value:g}s" if value > 0 else None
        out[key] = value
    return out


def config_from_dict(cls: type[C], data: dict) -> C:
    """Rebuild a (nested) config dataclass from as_dict()'s output, validating it as the CLI does
    (a sweep written before budgets were lengths is read with its budgets renamed)."""
    from jsonargparse import ArgumentParser

    parser = ArgumentParser(exit_on_error=False)
    parser.add_class_arguments(cls, "cfg")
    return parser.instantiate(parser.parse_object({"cfg": renamed_budgets(data)})).cfg


def scaled(experiment: Experiment[C], cfg: C, scale: str, quick: bool = False) -> C:
    """cfg with the scale's overrides (then, with quick, the quick ones), each applied only where cfg
    still holds the default value (so options given on the command line or in --config win)."""
    default = experiment.config()
    overrides = {**experiment.scales[scale], **(experiment.quick if quick else {})}
    keep = {k: v for k, v in overrides.items() if get_dotted(cfg, k) == get_dotted(default, k)}
    return with_overrides(cfg, keep)


def overridden_by_variants(experiment: Experiment[C], cfg: C, variants: list[str],
                           given_keys: set[str] | None = None) -> list[str]:
    """One line per option given that a chosen variant sets to something else: the variant wins,
    since its overrides are applied last, so the user is told. given_keys: the dotted options given
    (the command line knows them, default values included); None: those where cfg differs from the
    experiment's defaults."""
    default, lines = experiment.config(), []
    for variant in variants:
        for key, value in experiment.variants[variant].items():
            given = get_dotted(cfg, key)
            was_given = key in given_keys if given_keys is not None else given != get_dotted(default, key)
            if was_given and given != value:
                lines.append(f"variant {variant!r} sets {key}={value!r} over the {key}={given!r} given "
                             "(variants' overrides are applied last)")
    return lines


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


def chosen_variants(experiment: Experiment, variants: str | list[str] | None, scale: str = "cpu") -> list[str]:
    """The variants named (comma-separated), or else those the scale runs by default."""
    by_scale = (experiment.scale_variants or {}).get(scale)
    names = list(by_scale or experiment.variants) if variants is None else (
        [v.strip() for v in variants.split(",") if v.strip()] if isinstance(variants, str) else list(variants))
    unknown = [v for v in names if v not in experiment.variants]
    if unknown or not names:
        raise UserError(f"unknown variants {unknown or names} for experiment {experiment.name}; "
                        f"choose from {', '.join(experiment.variants)} (--list shows what each changes)")
    return names


def run_folder(out: Path, variant: str, seed: int) -> Path:
    """Where the sweep in folder out keeps a run's files (its row goes to out/rows)."""
    return out / variant / f"seed-{seed}"


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
            cells.append(Cell(len(cells), variant, seed, run_cfg, digest, run_folder(out, variant, seed),
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


def execute(experiment: Experiment, cell: Cell, scale: str, threads: int, cache: dict, jobs: int | None = 1) -> dict:
    """Run one cell (resuming from its folder) and write its row; returns the row. jobs: how many runs
    the sweep ran side by side on this machine (None: a SLURM array), recorded with the threads."""
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
        # - the machine, with the load averages at the end: others' jobs slow wall_s
        # - and the sweep's runs side by side (machine() gives torch's threads)
        **machine(), "jobs": jobs,
        "device": f"cuda ({torch.cuda.get_device_name(0)})" if torch.cuda.is_available() else "cpu",
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
