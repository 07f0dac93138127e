"""Multi-process training: 2 processes under torchrun (gloo, CPU) match one process."""

import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from toolkit_helpers import pattern_data, tiny_gpt, worker_cfg  # noqa: F401

from scratchformer.errors import UserError
from scratchformer.training import distributed
from scratchformer.training.checkpoint import load_checkpoint
from scratchformer.training.trainer import Trainer

WORKER = Path(__file__).parent / "ddp_worker.py"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def two_process_runs(tmp_path_factory):
    """One torchrun launch of 2 processes: DDP then FSDP (about 15 s on a busy CPU)."""
    out = tmp_path_factory.mktemp("ddp")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "GLOO_SOCKET_IFNAME": "lo", "MASTER_ADDR": "127.0.0.1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_addr", "127.0.0.1",
           "--master_port", str(free_port()), str(WORKER), str(out)]
    # - its own process group: on a timeout the workers die with torchrun, so the pipes close and the
    #   test fails (subprocess.run would kill torchrun alone and wait for its workers' pipes)
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        _, stderr = proc.communicate(timeout=300)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        _, stderr = proc.communicate()
        pytest.fail(f"torchrun did not finish within 300 s: {stderr[-3000:]}")
    assert proc.returncode == 0, stderr[-3000:]
    return out


@pytest.fixture(scope="module")
def one_process_losses():
    trainer = Trainer(tiny_gpt(), worker_cfg(), pattern_data())
    trainer.fit()
    return [r["loss"] for r in trainer.history if "loss" in r]


@pytest.mark.parametrize("parallel", ["ddp", "fsdp"])
def test_two_processes_match_one_process_with_the_same_global_batch(two_process_runs, one_process_losses, parallel):
    ranks = [json.loads((two_process_runs / parallel / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert ranks[0]["world"] == 2
    # - every rank reports the loss averaged over both (each saw its own half of the batch)
    assert ranks[0]["losses"] == pytest.approx(one_process_losses, rel=1e-5)
    assert ranks[1]["losses"] == pytest.approx(one_process_losses, rel=1e-5)
    assert len(ranks[0]["stats"]) == 2 and "grad_norm/blocks.0" in ranks[0]["stats"][0]


@pytest.mark.parametrize("parallel", ["ddp", "fsdp"])
def test_only_rank_0_writes_and_the_checkpoint_loads_anywhere(two_process_runs, parallel):
    run = two_process_runs / parallel
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records if "loss" in r] == [1, 2, 3, 4]  # once, not once per rank
    state = load_checkpoint(run)
    assert not any(k.startswith(("module.", "_orig_mod.")) for k in state["model"])
    plain = tiny_gpt(seed=7)
    plain.load_state_dict(state["model"])  # a plain single-process model, no wrapper
    assert state["step"] == 4


def test_each_rank_gets_its_own_rows_of_the_global_batch():
    batch = (torch.arange(8)[:, None].repeat(1, 3), torch.arange(8))
    rows = [distributed.shard(batch, distributed.DistContext(rank=r, world_size=2))[1].tolist() for r in (0, 1)]
    assert rows == [[0, 1, 2, 3], [4, 5, 6, 7]]


def test_world_size_must_divide_the_batch():
    with pytest.raises(UserError, match="batch_size 10 is not divisible by the world size 4"):
        distributed.check_batch(10, distributed.DistContext(rank=0, world_size=4))


def test_torchrun_environment_is_read(monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "4")
    monkeypatch.setenv("RANK", "3")
    monkeypatch.setenv("LOCAL_RANK", "1")
    ctx = distributed.from_env("fsdp")
    assert (ctx.rank, ctx.local_rank, ctx.world_size, ctx.is_main, ctx.strategy) == (3, 1, 4, False, "fsdp")
    monkeypatch.delenv("WORLD_SIZE")
    assert not distributed.from_env().enabled


# ------------------------------------------------------------------------------------------
# SLURM batch scripts

SLURM = Path(__file__).resolve().parents[1] / "scripts" / "slurm"


def render(tmp_path, *args):
    proc = subprocess.run([sys.executable, str(SLURM / "render.py"), *args], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0, proc.stderr
    script = tmp_path / "job.sbatch"
    script.write_text(proc.stdout)
    return script


@pytest.mark.parametrize("nodes", [1, 3])
def test_slurm_script_renders_and_passes_bash_n(tmp_path, nodes):
    script = render(tmp_path, "--nodes", str(nodes), "--gpus_per_node", "4", "--config", "configs/demo.yaml",
                    "--name", "demo", "--time", "1-00:00:00", "--extra", "--train.parallel fsdp")
    text = script.read_text()
    assert "{{" not in text and f"#SBATCH --nodes={nodes}" in text and "#SBATCH --signal=TERM@120" in text
    assert ("--standalone" in text) == (nodes == 1) and ("--rdzv_backend=c10d" in text) == (nodes > 1)
    check = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True)
    assert check.returncode == 0, check.stderr


def test_slurm_script_starts_a_run_then_resumes_it(tmp_path):
    """Run the rendered script with stand-ins for srun and scontrol that record the command."""
    bin_dir, venv = tmp_path / "bin", tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "activate").write_text("")
    bin_dir.mkdir()
    (bin_dir / "srun").write_text('#!/bin/bash\necho "$@" > "$CALLED"\n')
    (bin_dir / "scontrol").write_text("#!/bin/bash\necho node1; echo node2\n")
    for tool in ("srun", "scontrol"):
        (bin_dir / tool).chmod(0o755)
    script = render(tmp_path, "--nodes", "2", "--gpus_per_node", "2", "--config", "c.yaml", "--name", "r",
                    "--workdir", str(tmp_path), "--venv", str(venv))
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "CALLED": str(tmp_path / "called"),
           "SLURM_CPUS_PER_TASK": "8", "SLURM_JOB_ID": "42", "SLURM_JOB_NODELIST": "node[1-2]"}
    for expected in ("--name r", "--resume runs/r"):
        assert subprocess.run(["bash", str(script)], env=env, timeout=60).returncode == 0
        called = (tmp_path / "called").read_text()
        assert "--rdzv_endpoint=node1:29500" in called and expected in called
        (tmp_path / "runs" / "r").mkdir(parents=True, exist_ok=True)
        (tmp_path / "runs" / "r" / "checkpoint.pt").write_text("")  # as if the first job left one


def test_slurm_render_rejects_bad_input():
    proc = subprocess.run([sys.executable, str(SLURM / "render.py"), "--config", "c.yaml", "--name", "r",
                           "--time", "4h"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and proc.stderr.strip() == "error: --time must look like HH:MM:SS or D-HH:MM:SS, got '4h'"
