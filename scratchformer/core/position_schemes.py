"""Every position scheme by name: the absolute ones (positions.py) and the relative ones (relative_positions.py).

    build_positions("rope", d_model=128, n_heads=4, context_len=256)  ->  a RotaryPositions module
"""

from __future__ import annotations

from scratchformer.core.positions import ABSOLUTE_POSITIONS, Positions
from scratchformer.core.relative_positions import RELATIVE_POSITIONS

POSITIONS: dict[str, type[Positions]] = {**ABSOLUTE_POSITIONS, **RELATIVE_POSITIONS}


def build_positions(name: str, d_model: int, n_heads: int, context_len: int, **kwargs) -> Positions:
    """The scheme called `name`; an unknown name is a ValueError that lists the valid ones."""
    if name not in POSITIONS:
        raise ValueError(f"unknown position scheme {name!r}; choose one of {sorted(POSITIONS)}")
    return POSITIONS[name](d_model=d_model, n_heads=n_heads, context_len=context_len, **kwargs)
