"""Render a SLURM batch script for scratchformer training, on one node or several.

    python scripts/slurm/render.py --nodes 1 --gpus_per_node 4 --config configs/demo.yaml --name demo > job.sbatch
    python scripts/slurm/render.py --nodes 2 --gpus_per_node 8 --config configs/demo.yaml --name big \\
        --extra "--train.parallel fsdp" > job.sbatch

One node uses single_node.sbatch (torchrun --standalone), several use multi_node.sbatch (a c10d
rendezvous on the first node). Every {{placeholder}} in the template is filled from an option.
"""

from __future__ import annotations

import argparse
import re
import shlex
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
TIME = re.compile(r"^(\d+-)?\d{1,2}:\d{2}:\d{2}$")  # [D-]HH:MM:SS
NAME = re.compile(r"^[A-Za-z0-9_.-]+$")


def render(*, nodes: int, gpus_per_node: int, config: str, name: str, time: str = "04:00:00",
           partition: str = "gpu", cpus_per_task: int = 16, signal_seconds: int = 120, port: int = 29500,
           out_dir: str = "runs", log_dir: str = "logs", workdir: str = ".", venv: str = ".venv",
           extra: str = "") -> str:
    """The batch script as text; a ValueError names the first bad option."""
    if nodes < 1 or gpus_per_node < 1 or cpus_per_task < 1:
        raise ValueError("--nodes, --gpus_per_node and --cpus_per_task must be at least 1")
    if not TIME.match(time):
        raise ValueError(f"--time must look like HH:MM:SS or D-HH:MM:SS, got {time!r}")
    if not NAME.match(name):
        raise ValueError(f"--name may hold letters, digits, '_', '.', '-' only, got {name!r}")
    if not 30 <= signal_seconds <= 3600:
        raise ValueError(f"--signal_seconds must be between 30 and 3600, got {signal_seconds}")
    values = {"nodes": nodes, "gpus_per_node": gpus_per_node, "config": shlex.quote(config), "name": name,
              "job_name": f"sf-{name}", "time": time, "partition": partition, "cpus_per_task": cpus_per_task,
              "signal_seconds": signal_seconds, "port": port, "out_dir": shlex.quote(out_dir),
              "log_dir": shlex.quote(log_dir), "workdir": shlex.quote(workdir), "venv": shlex.quote(venv),
              "extra": " ".join(shlex.quote(a) for a in shlex.split(extra))}
    template = (HERE / ("single_node.sbatch" if nodes == 1 else "multi_node.sbatch")).read_text()
    text = re.sub(r"\{\{(\w+)\}\}", lambda m: str(values[m.group(1)]), template)
    return text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=1, help="nodes (1: single_node.sbatch)")
    parser.add_argument("--gpus_per_node", type=int, default=1, help="GPUs (= training processes) per node")
    parser.add_argument("--config", required=True, help="a preset for `scratchformer train`")
    parser.add_argument("--name", required=True, help="run name: the run folder is OUT_DIR/NAME")
    parser.add_argument("--time", default="04:00:00", help="time limit, [D-]HH:MM:SS")
    parser.add_argument("--partition", default="gpu", help="SLURM partition")
    parser.add_argument("--cpus_per_task", type=int, default=16, help="CPU cores per node")
    parser.add_argument("--signal_seconds", type=int, default=120, help="SIGTERM this long before the limit")
    parser.add_argument("--port", type=int, default=29500, help="rendezvous port on the first node")
    parser.add_argument("--out_dir", default="runs", help="folder of run folders (shared file system)")
    parser.add_argument("--log_dir", default="logs", help="folder of SLURM's output files")
    parser.add_argument("--workdir", default=".", help="the scratchformer checkout on the cluster")
    parser.add_argument("--venv", default=".venv", help="its virtual environment")
    parser.add_argument("--extra", default="", help="more options for `scratchformer train`, quoted")
    args = parser.parse_args(argv)
    try:
        print(render(**vars(args)), end="")
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
