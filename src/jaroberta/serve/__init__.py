"""The local HTTP service and its web page.

    from jaroberta.serve import ServeConfig, create_app, load_backend, serve

FastAPI and uvicorn are imported only when these names are first used.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "ServeConfig": "jaroberta.serve.config",
    "create_app": "jaroberta.serve.app",
    "load_backend": "jaroberta.serve.backend",
    "ModelBackend": "jaroberta.serve.backend",
    "serve": "jaroberta.serve.server",
    "BackgroundServer": "jaroberta.serve.server",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'jaroberta.serve' has no attribute {name!r}")
