"""Provenance: which code and which machine produced a result.

    source_state()  ->  {"commit": "109095b...", "dirty": False}
    git_commit()    ->  "109095b..." (with "-dirty" when the code differs from the commit)
    cpu_model()     ->  "AMD EPYC"
    machine()       ->  {"cpu": "AMD EPYC", "cores": 2, "threads": 2, "load_avg": [1.9, 2.0, 1.7], ...}
    describe_machine(machine())  ->  "AMD EPYC, 2 cores, load average 1.9 / 2.0 / 1.7 (1 / 5 / 15 min)"

Every run folder, experiment row and benchmark results file names the commit that wrote it, so
this is the one rule for what "the code differs from the commit" means; and every speed they
record carries the same machine() beside it. It needs no torch at import, so the report renderer
can use it on its own.
"""

from __future__ import annotations

import os
import platform
import subprocess
from pathlib import Path


# where an untracked file is code a run may import; results files are left out (a benchmark run
# after another one wrote its file still runs committed code)
CODE_DIRS = ("scratchformer", "benchmarks")
RESULTS_DIR = "benchmarks/results"


def source_state(root: str | Path | None = None) -> dict:
    """{"commit": the current commit, "dirty": whether the code differs from it}, for the repository
    holding this file (or `root`); commit "unknown" (and dirty) outside a git checkout.

    Dirty means a tracked file changed, or an untracked file sits among the code (CODE_DIRS): a new
    module a run imported is code the commit does not hold. Changes under benchmarks/results and
    untracked files elsewhere (notes, data) do not count."""
    here = Path(root) if root is not None else Path(__file__).resolve().parent

    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=here, capture_output=True, text=True, timeout=10,
                              check=True).stdout

    try:
        commit = git("rev-parse", "HEAD").strip()
        top = git("rev-parse", "--show-toplevel").strip()
        status = git("-C", top, "status", "--porcelain", "--untracked-files=all")
    except (OSError, subprocess.SubprocessError):
        return {"commit": "unknown", "dirty": True}
    dirty = False
    for line in status.splitlines():
        # - porcelain lines: two status letters, a space, the path (renames: "old -> new")
        code, path = line[:2], line[3:].split(" -> ")[-1].strip('"')
        if path.startswith(RESULTS_DIR + "/"):
            continue
        if code != "??" or path.startswith(tuple(d + "/" for d in CODE_DIRS)):
            dirty = True
    return {"commit": commit, "dirty": dirty}


def git_commit() -> str:
    """The current commit of the source tree (with '-dirty' for uncommitted changes, see source_state),
    or 'unknown'."""
    state = source_state()
    if state["commit"] == "unknown":
        return "unknown"
    return state["commit"] + ("-dirty" if state["dirty"] else "")


def cpu_model() -> str:
    """The CPU's model name (from /proc/cpuinfo on Linux, else what the platform module says)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def machine() -> dict:
    """What a speed-dependent figure needs beside it, in one vocabulary for run folders, budgets,
    experiment rows and benchmark results: the CPU model, the cores this process may use, torch's
    threads, the load averages over 1, 5 and 15 minutes (above the cores, other jobs competed), the
    GPU if any, the host and the versions."""
    import torch  # late: the report renderer imports this module without needing torch

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {"cpu": cpu_model(), "cores": cores, "threads": torch.get_num_threads(),
            "load_avg": [round(x, 2) for x in os.getloadavg()] if hasattr(os, "getloadavg") else None,
            "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
            "host": platform.node(), "python": platform.python_version(), "torch": torch.__version__}


def describe_machine(m: dict) -> str:
    """machine() as one line for a log or a summary."""
    line = f"{m['cpu']}, {m['cores']} cores"
    if m.get("load_avg"):
        line += ", load average {:.1f} / {:.1f} / {:.1f} (1 / 5 / 15 min)".format(*m["load_avg"])
    if m.get("gpu"):
        line += f", GPU {m['gpu']}"
    return line
