"""Silencing transformers: its per-weight load report and per-file progress bars repeat what
our own logs and checks say better."""

from __future__ import annotations

import contextlib

from transformers.utils import logging as hf_logging


def silence_transformers() -> None:
    """For the rest of the process (the command line): errors only, no progress bars."""
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()


@contextlib.contextmanager
def quiet_transformers():
    """For one call (a library function): silence, then restore the caller's settings."""
    verbosity, bars = hf_logging.get_verbosity(), hf_logging.is_progress_bar_enabled()
    silence_transformers()
    try:
        yield
    finally:
        hf_logging.set_verbosity(verbosity)
        if bars:
            hf_logging.enable_progress_bar()
