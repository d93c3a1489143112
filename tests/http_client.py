"""A minimal HTTP/1.1 keep-alive JSON client (asyncio streams + h11) for load tests and benches.

Why not httpx: its AsyncClient spends ~10 ms of CPU per request on this machine. In a load
test that shares the process (and the GIL) with the server, the clients then starve the
event loop, requests trickle in one by one, micro-batching never forms, and the test
measures httpx. h11 (uvicorn's own HTTP/1.1 parser, already installed with it) costs a
fraction of that. One `KeepAliveClient` is one connection, used by one client at a time.

    async with KeepAliveClient("127.0.0.1", port) as client:
        status, body = await client.post_json("/api/fill-mask", {"text": "..."})
"""

from __future__ import annotations

import asyncio
import json

import h11


class KeepAliveClient:
    """One keep-alive connection; requests on it are sent one after the other."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port

    async def __aenter__(self) -> "KeepAliveClient":
        self._reader, self._writer = await asyncio.open_connection(self.host, self.port)
        self._connection = h11.Connection(h11.CLIENT)
        return self

    async def __aexit__(self, *exc_info) -> None:
        self._writer.close()
        await self._writer.wait_closed()

    async def post_json(self, path: str, body: dict) -> tuple[int, dict]:
        """(status, parsed JSON body) of one POST."""
        data = json.dumps(body).encode()
        headers = [
            ("Host", f"{self.host}:{self.port}"),
            ("Content-Type", "application/json"),
            ("Content-Length", str(len(data))),
        ]
        send = self._connection.send
        self._writer.write(send(h11.Request(method="POST", target=path, headers=headers)) + send(h11.Data(data=data)) + send(h11.EndOfMessage()))
        status, chunks = 0, []
        while True:
            event = self._connection.next_event()
            if event is h11.NEED_DATA:
                self._connection.receive_data(await self._reader.read(1 << 16))
            elif isinstance(event, h11.Response):
                status = event.status_code
            elif isinstance(event, h11.Data):
                chunks.append(bytes(event.data))
            elif isinstance(event, h11.EndOfMessage):
                self._connection.start_next_cycle()
                return status, json.loads(b"".join(chunks))
            elif isinstance(event, h11.ConnectionClosed):
                raise ConnectionError(f"{self.host}:{self.port} closed the connection during {path}")
