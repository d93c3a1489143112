"""The Host check that stops DNS rebinding.

A page on another site can point its own host name at 127.0.0.1 (DNS rebinding): the
browser then sends that page's requests to the local service, as same-origin requests
whose answers the page may read. They still carry the page's name in `Host`, so a
service bound to loopback answers only requests addressed to a loopback name.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable

LOOPBACK_NAMES = ("localhost", "127.0.0.1", "[::1]")
"""What a loopback bind accepts in `Host` (with any port), unless told otherwise."""


def host_name(header: str) -> str:
    """`Host` without its port, lower-cased: 'localhost:8000' -> 'localhost', '[::1]:80' -> '[::1]'."""
    header = header.strip().lower()
    if header.startswith("["):
        return header[: header.find("]") + 1] if "]" in header else header
    return header.rsplit(":", 1)[0] if header.count(":") == 1 else header


def _is_loopback_address(name: str) -> bool:
    try:
        return ipaddress.ip_address(name.strip("[]")).is_loopback
    except ValueError:
        return False


class HostCheck:
    """ASGI middleware: answer 421 to HTTP requests whose `Host` is not an allowed name.

    `allowed`: names as `host_name` gives them; '*' allows any. With the loopback names
    allowed, every loopback address literal (127.0.0.2, [::1]...) is allowed too.
    `respond(status, kind, message)`: the app's error response.
    """

    def __init__(self, app, allowed: tuple[str, ...], respond: Callable) -> None:
        self.app, self.respond = app, respond
        self.allowed = {name.lower() for name in allowed}
        self.any = "*" in self.allowed
        self.loopback_literals = bool(self.allowed & set(LOOPBACK_NAMES))

    def accepts(self, header: str | None) -> bool:
        if self.any:
            return True
        if not header:
            return False
        name = host_name(header)
        return name in self.allowed or (self.loopback_literals and _is_loopback_address(name))

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        header = dict(scope["headers"]).get(b"host")
        text = header.decode("latin-1") if header is not None else None
        if self.accepts(text):
            return await self.app(scope, receive, send)
        shown = "no Host header" if text is None else f"Host {text[:100]!r}"
        message = (
            f"{shown} is not a name this server answers to; it accepts {', '.join(sorted(self.allowed))} "
            f"(the allowed_hosts setting of the server)"
        )
        return await self.respond(421, "wrong_host", message)(scope, receive, send)
