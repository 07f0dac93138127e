"""Progress on stderr: a bar in a terminal; in a log, a plain line now and then, and silence for quick work."""

import io
import sys

import scratchformer.progress as progress
from scratchformer.progress import progress_bar


def test_in_a_log_progress_is_plain_lines(monkeypatch, capsys):
    monkeypatch.setattr(progress, "LOG_INTERVAL_S", 0.0)  # a line at every update
    total = sum(progress_bar(range(5), desc="counting", unit="item"))
    err = capsys.readouterr().err
    assert total == 10
    lines = err.splitlines()
    assert lines and all(line.startswith("counting:") for line in lines)
    assert "\r" not in err and "\x1b[" not in err
    assert "5/5" in lines[-1]


def test_quick_work_in_a_log_prints_nothing(capsys):
    assert list(progress_bar(range(3), desc="quick")) == [0, 1, 2]
    assert capsys.readouterr().err == ""


def test_disabled_progress_prints_nothing(monkeypatch, capsys):
    monkeypatch.setattr(progress, "LOG_INTERVAL_S", 0.0)
    assert list(progress_bar(range(3), desc="off", enabled=False)) == [0, 1, 2]
    assert capsys.readouterr().err == ""


def test_in_a_terminal_the_bar_redraws_in_place(monkeypatch):
    class Terminal(io.StringIO):
        def isatty(self):
            return True

    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    with progress_bar(total=3, desc="bar", delay=0) as bar:
        bar.update(3)
    assert "\r" in terminal.getvalue() and "3/3" in terminal.getvalue()
