"""Run by tests/test_distributed.py under torchrun: the tiny GPT under DDP, then under FSDP.

    torchrun --nproc_per_node 2 tests/ddp_worker.py OUT_DIR

Each writes OUT_DIR/{ddp,fsdp}/rank{R}.json (its logged losses) and a run folder from rank 0.
"""

import json
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from toolkit_helpers import pattern_data, worker_cfg, tiny_gpt  # noqa: E402

from scratchformer.training.trainer import Trainer  # noqa: E402

if __name__ == "__main__":
    out = Path(sys.argv[1])
    torch.set_num_threads(1)
    for parallel in ("ddp", "fsdp"):
        trainer = Trainer(tiny_gpt(), worker_cfg(parallel=parallel), pattern_data(), run_dir=out / parallel)
        trainer.fit()
        losses = [r["loss"] for r in trainer.history if "loss" in r]
        stats = [r for r in trainer.history if "clip_frac" in r]
        (out / parallel / f"rank{trainer.dist.rank}.json").write_text(
            json.dumps({"losses": losses, "world": trainer.dist.world_size, "stats": stats}))
    torch.distributed.destroy_process_group()
