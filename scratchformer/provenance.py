"""Provenance: which code and which machine produced a result.

    source_state()  ->  {"commit": "109095b...", "dirty": False}
    git_commit()    ->  "109095b..." (with "-dirty" when the code differs from the commit)
    cpu_model()     ->  "AMD EPYC"

Every run folder, experiment row and benchmark results file names the commit that wrote it, so
this is the one rule for what "the code differs from the commit" means. It needs no torch, so the
report renderer can use it on its own.
"""

from __future__ import annotations

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
