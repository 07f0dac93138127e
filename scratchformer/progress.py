"""Progress on stderr for anything that takes more than a few seconds, in a terminal or a log file.

  for text in progress_bar(texts, desc="learning the vocabulary", unit="review"):
      ...
  with progress_bar(total=n_bytes, desc="reading the archive", unit="B", unit_scale=True) as bar:
      bar.update(k)

In a terminal: a tqdm bar redrawn in place, shown once the work has taken `delay` seconds (so
quick steps stay quiet). Anywhere else (a log file, a pipe, a batch job): one plain line every
LOG_INTERVAL_S seconds, never a wall of carriage returns, and nothing at all for work that ends
sooner. `enabled=False` (e.g. --train.progress false) shows nothing.
"""

from __future__ import annotations

import re
import sys

from tqdm.auto import tqdm

LOG_INTERVAL_S = 15.0  # away from a terminal: a line this often
TERMINAL_DELAY_S = 1.0  # in a terminal: show a bar once the work has taken this long

# cursor movements tqdm writes to redraw in place
REDRAW = re.compile(r"\r|\x1b\[[0-9]*[A-Za-z]")


class LineWriter:
    """A file for tqdm that turns each redraw into one plain line on stderr."""

    def write(self, s: str) -> None:
        line = REDRAW.sub("", s).rstrip()
        if line:
            sys.stderr.write(line + "\n")

    def flush(self) -> None:
        sys.stderr.flush()


def is_terminal() -> bool:
    return hasattr(sys.stderr, "isatty") and sys.stderr.isatty()


def progress_bar(iterable=None, *, total: float | None = None, desc: str | None = None, unit: str = "it",
                 enabled: bool = True, delay: float = TERMINAL_DELAY_S, **kwargs) -> tqdm:
    """A tqdm bar on stderr suited to where stderr goes (see the module docstring)."""
    if is_terminal():
        placement = dict(file=sys.stderr, delay=delay, dynamic_ncols=True)
    else:
        placement = dict(file=LineWriter(), delay=LOG_INTERVAL_S, mininterval=LOG_INTERVAL_S, ncols=100)
    return tqdm(iterable, total=total, desc=desc, unit=unit, disable=not enabled, **placement, **kwargs)
