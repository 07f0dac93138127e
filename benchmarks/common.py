"""Helpers shared by the benchmarks: results files, peak memory, medians, shared data paths."""

from __future__ import annotations

import json
import os
import resource
import statistics
import sys
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
SHARED_DATA = Path(os.environ.get("SCRATCHFORMER_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))


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


def report(name: str, result: dict) -> dict:
    """Write benchmarks/results/NAME.json and print the same object as the last stdout line."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    text = json.dumps(result, sort_keys=False)
    (RESULTS / f"{name}.json").write_text(json.dumps(result, indent=2) + "\n")
    print(text, flush=True)
    return result
