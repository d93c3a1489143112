"""The local HTTP service and its web page.

    from jaroberta.service import ServeConfig, create_app, load_backend, serve

FastAPI and uvicorn are imported only when these names are first used.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "ServeConfig": "jaroberta.service.config",
    "create_app": "jaroberta.service.app",
    "load_backend": "jaroberta.service.backend",
    "ModelBackend": "jaroberta.service.backend",
    "serve": "jaroberta.service.server",
    "BackgroundServer": "jaroberta.service.server",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'jaroberta.service' has no attribute {name!r}")
