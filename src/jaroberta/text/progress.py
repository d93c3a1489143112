"""Progress bars: tqdm's, which every long stage shows, and one switch that turns them all off
(`--no-progress`, or `no_progress=True` in the Python verbs). tqdm reads its TQDM_* variables
only once, when it is imported, so the switch is a flag read at each bar instead."""

from __future__ import annotations

import contextlib

from tqdm.auto import tqdm

_state = {"off": False}


def progress_bar(iterable=None, **kwargs) -> tqdm:
    """A tqdm bar, unless bars are switched off (then a silent one that still iterates)."""
    if _state["off"]:
        kwargs["disable"] = True
    return tqdm(iterable, **kwargs)


@contextlib.contextmanager
def bars_off(off: bool = True):
    """Switch every jaroberta progress bar off while the block runs (then back as it was)."""
    before = _state["off"]
    _state["off"] = before or off
    try:
        yield
    finally:
        _state["off"] = before
