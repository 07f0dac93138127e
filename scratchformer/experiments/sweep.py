"""Run an experiment's grid: here one run after another, in worker processes, or as a SLURM job array.

    sweep(EXPERIMENT, cfg, SweepOptions(seeds=3, jobs=2))     what `scratchformer experiment NAME` calls

A sweep resolves the config (the scale, then the variants' overrides), refuses folders that hold
runs of other settings, writes OUT/sweep.json, runs every run that has no row yet, and tabulates.
Stopped by Ctrl-C, a crash, a kill or a cluster's time limit, it continues when run again: rows
are skipped, unfinished runs resume from their checkpoints (harness.py).

Where runs execute:
  --jobs 1 (default)   one after another, in this process (data cached across runs)
  --jobs K             K worker processes side by side, each run in its own process
  --launcher slurm     `sbatch --array=LIST` over the runs without a row: array task i runs run #i
Workers and array tasks both run `python -m scratchformer.experiments.sweep OUT/sweep.json --run_index I`.
"""

from __future__ import annotations

import importlib
import json
import os
import shlex
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from tqdm.auto import tqdm

from scratchformer.errors import UserError, warn
from scratchformer.experiments.harness import (SCALES, Cell, Experiment, as_dict, check_no_other_config,
                                               chosen_variants, config_from_dict, default_out_dir, describe, execute,
                                               finished, grid, overridden_by_variants, read_json, scaled,
                                               write_atomic)
from scratchformer.experiments.summary import WALL, plot_metric, summarise, summary_csv, summary_markdown

LAUNCHERS = ("local", "slurm")


# --------------------------------------------------------------------------------------------
# the options every experiment takes


@dataclass
class SweepOptions:
    """How to run the grid: the options every experiment takes."""

    seeds: int | None = None
    """Seeds per variant: runs seeds 0..N-1 (default: the experiment's own)."""
    scale: str = "cpu"
    """cpu (the default size: at most 30 minutes on 2 cores) or gpu (a real-size config)."""
    variants: str | list[str] | None = None
    """Variants to run, comma-separated (pool,kqv) or a list ([pool, kqv]) (default: all; --list shows them)."""
    list: bool = False
    """Print the variants and metrics, and exit."""
    quick: bool = False
    """A sweep of seconds at a tiny size (the experiment's quick settings), for tests and a first look;
    its figures mean nothing. Writes to runs/experiments/NAME-quick unless --out_dir says otherwise."""
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
        parts = Path(self.out_dir or ".").resolve().parts
        if any(parts[i:i + 2] == ("benchmarks", "results") for i in range(len(parts))):
            raise ValueError(f"out_dir {self.out_dir} is inside benchmarks/results, which only benchmarks write "
                             "(from a clean commit); give a folder under runs/")


# --------------------------------------------------------------------------------------------
# the sweep


def sweep(experiment: Experiment, cfg=None, options: SweepOptions | None = None,
          given_keys: set[str] | None = None) -> list[dict] | None:
    """Run the grid (or submit it), skipping finished runs; tabulate and plot; return the summary rows.

    cfg: the config before the scale and the variants (default: the experiment's defaults).
    given_keys: the dotted options the user gave (for a warning where a variant overrides one);
    None: those where cfg differs from the defaults.
    Returns None when nothing was tabulated (--list, or a submitted SLURM array).
    """
    options = options or SweepOptions()
    if options.quick:
        experiment = experiment.quickened()
    if options.list:
        print(listing(experiment))
        return None
    given = cfg if cfg is not None else experiment.config()
    variants = chosen_variants(experiment, options.variants, options.scale)
    for line in overridden_by_variants(experiment, given, variants, given_keys):
        warn(line)
    cfg = scaled(experiment, given, options.scale, options.quick)
    out = Path(options.out_dir) if options.out_dir else default_out_dir(experiment)
    if options.quick and not options.out_dir:
        out = out.with_name(out.name + "-quick")
    seeds = options.seeds or experiment.seeds
    threads = experiment.threads if options.threads is None else options.threads
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
                row = execute(experiment, cell, options.scale, threads, cache, jobs=1)
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
        if (experiment.scale_variants or {}).get(scale):
            lines.append(f"  runs by default: {', '.join(experiment.scale_variants[scale])}")
    return "\n".join(lines)


def write_sweep(experiment: Experiment, cfg, options: SweepOptions, variants: list[str], seeds: int,
                threads: int, out: Path) -> Path:
    """OUT/sweep.json: everything a worker or an array task needs to rebuild the grid."""
    module = experiment.run.__module__
    declared = getattr(importlib.import_module(module), "EXPERIMENT", None)
    if declared is None or declared.name != experiment.name:  # (at its --quick size it is a copy)
        raise ValueError(f"experiment {experiment.name}: its module {module} must define EXPERIMENT = Experiment(...)")
    sweep_ = {"experiment": experiment.name, "module": module, "scale": options.scale, "quick": options.quick,
              "variants": variants,
              "seeds": seeds, "threads": threads, "launcher": options.launcher,
              # - runs side by side on this machine (local workers); a SLURM array's tasks are the cluster's to place
              "jobs": options.jobs if options.launcher == "local" else None, "config": as_dict(cfg),
              "cwd": os.getcwd(), "written": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    path = out / "sweep.json"
    write_atomic(path, json.dumps(sweep_, indent=2) + "\n")
    return path


def load_sweep(path: Path) -> tuple[Experiment, dict, list[Cell]]:
    sweep_ = json.loads(Path(path).read_text())
    experiment = importlib.import_module(sweep_["module"]).EXPERIMENT
    if sweep_.get("quick"):
        experiment = experiment.quickened()
    cfg = config_from_dict(experiment.config, sweep_["config"])
    return experiment, sweep_, grid(experiment, cfg, sweep_["variants"], sweep_["seeds"], Path(path).parent)


# --------------------------------------------------------------------------------------------
# where runs execute: worker processes and SLURM arrays


def worker_command(sweep_file: Path, index: int | str) -> list[str]:
    return [sys.executable, "-m", "scratchformer.experiments.sweep", str(sweep_file), "--run_index", str(index)]


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
        # - ask every worker to stop (SIGTERM; one that already got the terminal's Ctrl-C ignores it):
        #   each finishes its step, writes its checkpoint and exits
        for _, proc, _ in running.values():
            proc.send_signal(signal.SIGTERM)
        for _, proc, log in running.values():
            try:
                proc.wait(timeout=120)
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
        row = execute(experiment, cell, sweep_["scale"], sweep_["threads"], {}, jobs=sweep_.get("jobs"))
        print(describe(experiment, cell.cfg, row), flush=True)
    # - an array has no parent to tabulate: the task that completes the grid does it
    if sweep_["launcher"] == "slurm" and all(finished(c) for c in cells):
        cfg = config_from_dict(experiment.config, sweep_["config"])
        aggregate(experiment, cfg, cells, Path(sweep_file).parent)



# --------------------------------------------------------------------------------------------
# the tables


def aggregate(experiment: Experiment, cfg, cells: list[Cell], out: Path) -> list[dict]:
    """Read the grid's rows; write rows.jsonl, summary.csv, summary.md and a PNG per headline metric."""
    # - each row's run folder where it is now (a row records it relative to where its run ran, and the
    #   sweep's folder may since have moved): derive reads files there, e.g. per-stream losses, curves
    rows = [read_json(c.row_path) | {"run_dir": str(c.dir)} for c in cells if finished(c)]
    if experiment.derive is not None and rows:
        rows = experiment.derive(cfg, rows)  # metrics that need other rows (docs/experiments.md)
    write_atomic(out / "rows.jsonl", "".join(json.dumps(r) + "\n" for r in rows))
    metrics = experiment.metric_list(cfg) + [WALL]
    variants = list(dict.fromkeys(c.variant for c in cells))
    summary = summarise(rows, variants, metrics)
    write_atomic(out / "summary.csv", summary_csv(summary))
    seeds = sorted({c.seed for c in cells})
    table = summary_markdown(experiment.name, metrics, variants, summary, rows, len(cells), seeds)
    write_atomic(out / "summary.md", table)
    figures = [plot_metric(experiment.name, m, variants, rows, summary, out) for m in metrics if m.headline]
    if experiment.figures is not None and rows:
        figures += experiment.figures(cfg, rows, out)
    print("\n" + table)
    print(f"wrote {out}: rows.jsonl, summary.csv, summary.md" + "".join(f", {f.name}" for f in figures if f))
    return summary


def main(argv: list[str] | None = None) -> int:
    """The worker entry: python -m scratchformer.experiments.sweep OUT/sweep.json --run_index I."""
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
