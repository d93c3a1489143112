"""Silencing transformers: its per-weight load report and per-file progress bars repeat what
our own logs and checks say better. transformers is imported when silencing is asked for, so
that `jaroberta --help` (which sets it once, in `jaroberta.cli.main`) stays light."""

from __future__ import annotations

import contextlib

from jaroberta.deps import require


def silence_transformers() -> None:
    """For the rest of the process (the command line): errors only, no progress bars."""
    hf_logging = require("transformers.utils.logging")
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()


@contextlib.contextmanager
def quiet_transformers():
    """For one call (a library function): silence, then restore the caller's settings."""
    hf_logging = require("transformers.utils.logging")
    verbosity, bars = hf_logging.get_verbosity(), hf_logging.is_progress_bar_enabled()
    silence_transformers()
    try:
        yield
    finally:
        hf_logging.set_verbosity(verbosity)
        if bars:
            hf_logging.enable_progress_bar()
