"""Stop cleanly on Ctrl-C (SIGINT) or SIGTERM, such as a cluster's time limit.

A signal does not kill the run mid-step: the handler only raises a flag, the loop finishes the
step it is in, writes a checkpoint and returns; `--resume` continues from there. A second
Ctrl-C stops at once (KeyboardInterrupt), for when the checkpoint itself hangs; a second SIGTERM
is ignored (on a cluster, SLURM and torchrun may each forward one).

    with StopSignal() as stop:
        while training:
            train_step()
            if stop.received:    # 'SIGINT' or 'SIGTERM'
                save(); break
"""

from __future__ import annotations

import signal
import sys
import threading

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class TrainingInterrupted(KeyboardInterrupt):
    """Raised by the command line after an interrupted run has written its checkpoint."""


class StopSignal:
    """Turns SIGINT / SIGTERM into a flag (`received`) for the duration of a `with` block."""

    def __init__(self):
        self.received: str | None = None
        self._previous: dict = {}

    def __enter__(self) -> "StopSignal":
        # - Python delivers signals to the main thread only; elsewhere, leave the handlers alone
        if threading.current_thread() is threading.main_thread():
            for sig in SIGNALS:
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum, frame) -> None:
        name = signal.Signals(signum).name
        if self.received is not None:
            if name == "SIGINT":
                raise KeyboardInterrupt  # a second Ctrl-C: stop now
            return  # a repeated SIGTERM (SLURM and torchrun may both send one): keep finishing
        self.received = name
        print(f"\n{self.received} received: finishing this step and writing a checkpoint "
              "(Ctrl-C again stops at once)", file=sys.stderr, flush=True)

    def __exit__(self, *exc) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous.clear()
