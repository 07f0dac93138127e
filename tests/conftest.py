"""Shared test settings: deterministic seeds, and one intra-op thread per test.

Tiny models run several times faster on one thread than on two, above all when other jobs
share the cores (CI has 2).
"""

import pytest
import torch


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


@pytest.fixture(autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
