"""Worker processes that end with their parent.

A `multiprocessing.Pool` worker whose parent is killed (`kill -9`, the OOM killer) lives
on: it finishes its chunk, writes the result into a pipe nobody reads, and dies printing a
`BrokenPipeError` traceback. Workers call `exit_with_parent()` from their initializer:
on Linux the kernel sends them SIGKILL the moment the parent dies (`PR_SET_PDEATHSIG`);
elsewhere, and as a back-up, a watchdog thread notices the new parent id and exits.
Either way the worker leaves silently: it holds no files or state of its own.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import signal
import sys
import threading
import time

_PR_SET_PDEATHSIG = 1
WATCH_EVERY_S = 0.2
"""How often the watchdog looks at the parent id."""


def exit_with_parent(parent_pid: int | None = None) -> None:
    """Make this process end, quietly, when `parent_pid` (default: its parent now) is gone."""
    parent = parent_pid if parent_pid is not None else os.getppid()
    if sys.platform.startswith("linux"):
        _death_signal(signal.SIGKILL)
    if os.getppid() != parent:  # the parent died before the signal was armed
        os._exit(0)
    threading.Thread(target=_watch, args=(parent,), name="jaroberta-parent-watch", daemon=True).start()


def _death_signal(sig: int) -> None:
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, int(sig), 0, 0, 0)
    except (OSError, AttributeError):  # no prctl here: the watchdog alone
        pass


def _watch(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(WATCH_EVERY_S)
    os._exit(0)
