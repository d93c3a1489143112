"""Progress bars: tqdm's, which every long stage shows, and one switch that turns them all off
(`--no-progress`, or `no_progress=True` in the Python verbs).

On a terminal a bar redraws in place. Anywhere else (a log file, CI, `nohup`) a redrawn bar is
either invisible (tqdm's `disable=None`) or one endless line of carriage returns, so there the
bar writes a plain line at most every `LOG_INTERVAL_S` seconds, and nothing at all for work
that ends sooner: long work stays visible in logs, short work stays quiet.
"""

from __future__ import annotations

import contextlib
import sys

from tqdm.auto import tqdm

LOG_INTERVAL_S = 30.0
"""Seconds between two progress lines when stderr is not a terminal."""

_state = {"off": False}


class LineBar(tqdm):
    """A tqdm bar for non-terminals: whole lines, rate-limited, none before `delay` seconds."""

    def display(self, msg=None, pos=None):
        if msg == "":  # tqdm clearing its line: nothing was drawn in place
            return False
        self.fp.write(self.__str__() + "\n")
        self.fp.flush()
        return True

    def close(self):
        if not self.disable and getattr(self, "last_print_t", self.start_t) >= self.start_t + self.delay:
            self.display()  # the final count, once, if anything was shown
        self.leave = False
        super().close()


def _terminal(stream) -> bool:
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


def progress_bar(iterable=None, **kwargs) -> tqdm:
    """A tqdm bar; rate-limited lines when stderr is not a terminal; silent when bars are off."""
    if _state["off"]:
        kwargs["disable"] = True
        return tqdm(iterable, **kwargs)
    if _terminal(kwargs.get("file") or sys.stderr):
        return tqdm(iterable, **kwargs)
    if kwargs.get("disable") is None:
        kwargs["disable"] = False
    kwargs["mininterval"] = max(kwargs.get("mininterval", 0.1), LOG_INTERVAL_S)
    kwargs.setdefault("delay", LOG_INTERVAL_S)
    kwargs.pop("dynamic_ncols", None)
    return LineBar(iterable, **kwargs)


@contextlib.contextmanager
def bars_off(off: bool = True):
    """Switch every jaroberta progress bar off while the block runs (then back as it was)."""
    before = _state["off"]
    _state["off"] = before or off
    try:
        yield
    finally:
        _state["off"] = before
