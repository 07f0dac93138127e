"""Helpers shared by the benchmarks: results files that name their code, the machine, peak
memory, medians, shared data paths.

A results file in benchmarks/results/ is a claim about the code that wrote it, so `report()`
stamps every file (and every row of its `rows`) with the commit and refuses to write a real
(non-quick) result from a tree with uncommitted changes: commit the code first, then run.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import sys
import time
from pathlib import Path

from scratchformer.provenance import cpu_model, source_state

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results"
SHARED_DATA = Path(os.environ.get("SCRATCHFORMER_DATA", REPO.parent / "shared" / "data"))
# set to 1 to record a result from uncommitted code anyway; the file then says "dirty": true
ALLOW_DIRTY = "SCRATCHFORMER_ALLOW_DIRTY"


def shared_file(name: str) -> Path:
    """A file from the shared data folder (../shared/data, or $SCRATCHFORMER_DATA)."""
    path = SHARED_DATA / name
    if not path.exists():
        sys.exit(f"error: benchmark data {path} not found; set SCRATCHFORMER_DATA to the folder holding {name}")
    return path


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, in MB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def median(values) -> float:
    return float(statistics.median(values))


def load_average() -> list[float]:
    """The 1, 5 and 15-minute load averages; above the core count, other jobs were competing."""
    return [round(x, 2) for x in os.getloadavg()]


def require_clean(quick: bool = False) -> dict:
    """The source state, checked before a long run rather than after it.

    Exits with one sentence when the code has uncommitted changes and the run is not a quick
    one, unless $SCRATCHFORMER_ALLOW_DIRTY=1, which records "dirty": true instead."""
    state = source_state()
    if state["dirty"] and not quick and os.environ.get(ALLOW_DIRTY) != "1":
        sys.exit("error: the working tree has uncommitted changes, so the result could not name the code that "
                 "produced it; commit first and rerun (or pass --quick for a smoke run)")
    if state["dirty"]:
        print("warning: recording a result from uncommitted code; the file says \"dirty\": true", file=sys.stderr)
    return state


def stamp(result: dict, quick: bool = False, state: dict | None = None) -> dict:
    """`result` with the commit, the dirty flag and the time it was recorded, in the file and in each row.

    `state` is the source state taken when the run started (`require_clean`); without it the
    tree is checked now."""
    state = require_clean(quick) if state is None else state
    # - and the machine it ran on, with the load at the end: a timing means little without them
    stamped = {**state, "recorded": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "cpu": cpu_model(),
               "cores": os.cpu_count(), "load_average_at_end": load_average(), **result}
    # - every row names the code too, so a row copied elsewhere keeps its provenance
    if isinstance(stamped.get("rows"), list):
        stamped["rows"] = [{**state, **row} if isinstance(row, dict) else row for row in stamped["rows"]]
    return stamped


def report(name: str, result: dict, quick: bool | None = None, results_dir: Path | None = None,
           state: dict | None = None) -> dict:
    """Stamp `result` (see `stamp`), write it to benchmarks/results/NAME.json (or RESULTS_DIR/NAME.json),
    and print the same object as the last stdout line. `quick` defaults to result["quick"]."""
    quick = bool(result.get("quick", False)) if quick is None else quick
    if state is None and source_state()["dirty"] and not quick and os.environ.get(ALLOW_DIRTY) != "1":
        print(json.dumps(result), flush=True)  # the figures are not lost, only not recorded
    stamped = stamp(result, quick=quick, state=state)
    folder = RESULTS if results_dir is None else Path(results_dir)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.json").write_text(json.dumps(stamped, indent=2) + "\n")
    print(json.dumps(stamped), flush=True)
    return stamped


# --------------------------------------------------------------------------------------------
# an experiment's rows, for the benchmarks that judge its goals (perceiver, lm_augmentation, recurrent_lm)


def sweep_parser(doc: str, name: str) -> argparse.ArgumentParser:
    """The options of a benchmark that judges an experiment's rows: --sweep FOLDER, --results_dir."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sweep", default=f"runs/experiments/{name}", help="the experiment's folder")
    parser.add_argument("--results_dir", default=None, help="where NAME.json goes (default benchmarks/results)")
    return parser


def read_sweep(folder: Path, experiment) -> tuple[object, list[dict], dict]:
    """An experiment's finished sweep: its config (from FOLDER/sweep.json), its rows derived across
    rows as the experiment's own table derives them, and what a results file says of those rows."""
    from scratchformer.experiments.harness import config_from_dict, run_folder  # late: they need torch

    folder = Path(folder)
    sweep = json.loads((folder / "sweep.json").read_text())
    cfg = config_from_dict(experiment.config, sweep["config"])
    rows = read_rows(folder, f"scratchformer experiment {experiment.name}")
    # - each row's run folder where it is now, as the harness's tables take it (a row records it relative
    #   to where its run ran): derive reads files there, e.g. curves
    for r in rows:
        r["run_dir"] = str(run_folder(folder, r["variant"], r["seed"]))
    if experiment.derive is not None:  # the row files hold no cross-row figures: derive pairs them
        rows = experiment.derive(cfg, rows)
    about = {"sweep": str(folder), "quick": bool(sweep.get("quick")), "n_rows": len(rows),
             "row_commits": sorted({r.get("commit") or "unknown" for r in rows}),
             "rows_dirty": any(r.get("dirty") for r in rows)}
    return cfg, rows, about


def read_rows(folder: Path, command: str) -> list[dict]:
    """The finished rows of an experiment's folder (FOLDER/rows/*.json); one line and exit if there are none."""
    rows = sorted((Path(folder) / "rows").glob("*.json"))
    if not rows:
        sys.exit(f"error: no finished rows in {folder}; run `{command}` first")
    return [json.loads(p.read_text()) for p in rows]


def over_seeds_text(d: dict, digits: int = 3, scale: float = 1.0, sign: bool = False, spread: str = "std") -> str:
    """A stats() dict as text: "mean ± std" (spread="std") or "mean [low, high]" (spread="ci95",
    the 95% interval of the mean); the mean alone for one seed, "n/a" for none."""
    if d["mean"] is None:
        return "n/a"
    number = f"{{:{'+' if sign else ''}.{digits}f}}".format
    text = number(d["mean"] * scale)
    if spread == "std" and d["std"] is not None:
        text += f" ± {d['std'] * scale:.{digits}f}"
    elif spread == "ci95" and d["ci95_low"] is not None:
        text += f" [{number(d['ci95_low'] * scale)}, {number(d['ci95_high'] * scale)}]"
    return text


def rounded(d: dict, digits: int = 4) -> dict:
    """d with its float values rounded (a results file need not carry 17 digits)."""
    return {k: (round(v, digits) if isinstance(v, float) else v) for k, v in d.items()}


def over_seeds(values: dict[int, float]) -> dict:
    """{seed: value} -> n, mean, std and the 95% interval of the mean (Student t), rounded, with the
    seeds' own values."""
    from scratchformer.experiments.summary import stats  # late: the renderers need no torch

    per_seed = {str(s): round(v, 4) for s, v in sorted(values.items())}
    return {**rounded(stats(list(values.values()))), "per_seed": per_seed}


def by_seed(rows: list[dict], variant: str, metric: str) -> dict[int, float]:
    """{seed: value} of one variant's metric, for the rows that have a number for it."""
    return {r["seed"]: r["metrics"][metric] for r in rows
            if r["variant"] == variant and isinstance(r["metrics"].get(metric), (int, float))}


# --------------------------------------------------------------------------------------------
# data for timing a trainer: its speed does not depend on the text


class RandomTokens:
    """Random token windows of context_len + 1, drawn from the trainer's generator (Trainer's data protocol)."""

    def __init__(self, vocab_size: int, context_len: int):
        self.vocab_size, self.context_len = vocab_size, context_len

    def batch(self, split, batch_size, generator):
        import torch  # late: the report renderer imports this module without needing torch

        window = torch.randint(self.vocab_size, (batch_size, self.context_len + 1), generator=generator)  # (B, T+1)
        return window[:, :-1], window[:, 1:]
