"""Errors that mean "the user's input is wrong", as opposed to bugs.

The CLI prints a `JarobertaError` as one clear line (no traceback) and exits with
status 2; anything else is a bug and keeps its traceback.
"""


class JarobertaError(Exception):
    """A problem with the user's input: the message names the input and says what to do."""


class MissingDependency(JarobertaError):
    """An optional dependency is not installed."""
