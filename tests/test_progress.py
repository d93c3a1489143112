"""Progress outside a terminal: whole lines, rate-limited, nothing for short work."""

from __future__ import annotations

import io
import time

import pytest

from jaroberta.core import progress


class Pipe(io.StringIO):
    """stderr redirected to a file or a pipe."""

    def isatty(self) -> bool:
        return False


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture
def short_interval(monkeypatch):
    monkeypatch.setattr(progress, "LOG_INTERVAL_S", 0.1)


def test_long_work_off_a_terminal_writes_whole_lines(short_interval):
    out = Pipe()
    for _ in progress.progress_bar(range(8), file=out, desc="score", disable=None):
        time.sleep(0.05)
    lines = out.getvalue().split("\n")
    assert "\r" not in out.getvalue()
    assert lines[-1] == ""  # every line ends
    assert len(lines) - 1 >= 2 and all(line.startswith("score:") for line in lines[:-1])
    assert "8/8" in lines[-2]  # the final count is the last line


def test_short_work_off_a_terminal_is_silent():
    out = Pipe()
    for _ in progress.progress_bar(range(3), file=out, desc="score", disable=None):
        pass
    assert out.getvalue() == ""


def test_a_terminal_gets_tqdms_own_bar():
    out = Terminal()
    bar = progress.progress_bar(range(3), file=out)
    assert not isinstance(bar, progress.LineBar)
    list(bar)


def test_bars_off_silences_both(short_interval):
    out = Pipe()
    with progress.bars_off():
        for _ in progress.progress_bar(range(4), file=out):
            time.sleep(0.05)
    assert out.getvalue() == ""
