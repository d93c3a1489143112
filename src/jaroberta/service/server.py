"""Running the app under uvicorn: in the foreground (`jaroberta serve`) or in a
background thread on a free port (tests and bench/serve.py)."""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import Sequence

import torch

from jaroberta.deps import require
from jaroberta.errors import JarobertaError
from jaroberta.service.app import create_app
from jaroberta.service.backend import load_backend
from jaroberta.service.config import ServeConfig
from jaroberta.service.connections import guarded_protocol

log = logging.getLogger(__name__)


def serve(
    model: str | Path,
    config: ServeConfig,
    *,
    int8: bool = False,
    user_dicts: Sequence[str | Path] = (),
    conventions: dict[str, str] | None = None,
    device: str = "cpu",
) -> None:
    """Load `model` and answer HTTP requests until interrupted (`conventions`: --convention overrides)."""
    uvicorn = require("uvicorn", "jaroberta serve")
    require("fastapi", "jaroberta serve")

    if not Path(model).exists():
        raise JarobertaError(f"model directory {model} does not exist: give a directory saved by jaroberta or Hugging Face")
    if not config.is_loopback:
        log.warning("binding %s: the service is reachable from other machines and has no authentication", config.host)

    torch.set_num_threads(config.torch_threads())  # this process serves only: set it for all of it
    backend = load_backend(model, int8=int8, user_dicts=user_dicts, conventions=conventions, device=device)
    app = create_app(backend, config)
    log.info("serving %s on http://%s:%d/ (API docs at /docs; %d model threads)", model, config.host, config.port, torch.get_num_threads())
    uvicorn.run(app, host=config.host, port=config.port, log_level="info", timeout_graceful_shutdown=5, **_connection_limits(config))


def _connection_limits(config: ServeConfig) -> dict:
    """uvicorn options that bound each connection: the read deadline and the connection cap."""
    return {"http": guarded_protocol(config.read_timeout_s, config.max_connections)}


class BackgroundServer:
    """`with BackgroundServer(app) as server:` serves `app` on a free loopback port in a
    thread; `server.url` is its base URL. Always shut down on exit, even on errors."""

    def __init__(self, app, host: str = "127.0.0.1", port: int = 0, startup_timeout_s: float = 30.0) -> None:
        uvicorn = require("uvicorn", "the background server")
        # Let uvicorn bind (port 0: the OS picks a free one, read back once started). A
        # socket bound by us and handed over would serve without TCP_NODELAY, and every
        # keep-alive response would wait ~40 ms for a delayed ACK.
        limits = _connection_limits(getattr(app.state, "config", None) or ServeConfig())
        config = uvicorn.Config(app, host=host, port=port, log_level="warning", timeout_graceful_shutdown=2, backlog=2048, **limits)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)
        self._startup_timeout_s = startup_timeout_s
        self.host, self.port = host, port

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def __enter__(self) -> "BackgroundServer":
        self._thread.start()
        deadline = time.monotonic() + self._startup_timeout_s
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.__exit__(None, None, None)
                raise RuntimeError(f"uvicorn did not start on {self.url}")
            time.sleep(0.01)
        self.port = self._server.servers[0].sockets[0].getsockname()[1]
        return self

    def __exit__(self, *exc_info) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)
