"""Shared test settings: deterministic seeds, one intra-op thread per test, and a home of their own.

Tiny models run several times faster on one thread than on two, above all when other jobs
share the cores (CI has 2).
"""

import os

import pytest
import torch


@pytest.fixture(autouse=True, scope="session")
def _a_temporary_home(tmp_path_factory):
    """Caches under ~/.cache/scratchformer (WordNet, tokenised texts, tokenizers) go to a temporary
    home, so the tests' fixtures never land in the user's cache or read a stale one from it."""
    old = os.environ.get("HOME")
    os.environ["HOME"] = str(tmp_path_factory.mktemp("home"))
    yield
    if old is None:
        os.environ.pop("HOME", None)
    else:
        os.environ["HOME"] = old


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


@pytest.fixture(autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
