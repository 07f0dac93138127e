"""Multi-process training (issue 4): 2 processes under torchrun (gloo, CPU) match one process."""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from toolkit_helpers import one_thread, pattern_data, tiny_gpt, worker_cfg  # noqa: F401

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
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
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
