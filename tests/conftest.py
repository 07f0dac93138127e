"""Shared test settings: small thread count (CI has 2 cores), deterministic seeds."""

import pytest
import torch


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
