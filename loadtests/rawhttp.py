"""A bare HTTP/1.1 keep-alive client on asyncio's Protocol API, so the load client costs little next to the server.

httpx spends ~0.5 ms of CPU per request; on a 2-core box shared with the server that caps the load near what the
server does, and the figure would be the client's. This client only writes prepared request bytes and reads
status, Content-Length and body: ~30 µs a request. One request at a time per connection (no pipelining), as a
browser or an SDK does. Responses must carry Content-Length (uvicorn sets it on every non-streamed answer).
"""

from __future__ import annotations

import asyncio
import re
import time
from collections import deque
from collections.abc import Mapping
from typing import NamedTuple, cast
from urllib.parse import urlsplit

CONTENT_LENGTH = re.compile(rb"\r\ncontent-length:[ \t]*(\d+)", re.IGNORECASE)
MAX_IDLE_SECONDS = 4.0
"""Under uvicorn's 5 s keep-alive timeout: a connection idle longer may be closing on the server's side just as a
request goes out on it, which then fails with ConnectionResetError (BENCHMARKS.md, nineteenth session)."""


class Response(NamedTuple):
    status: int
    body: bytes


class ProtocolError(Exception):
    """The server answered something this client does not read (no Content-Length, a broken status line)."""


def post(base_url: str, path: str, body: bytes, headers: Mapping[str, str]) -> bytes:
    """The bytes of a JSON POST request to `base_url` + `path`."""
    head = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
    return (
        f"POST {path} HTTP/1.1\r\nHost: {urlsplit(base_url).netloc}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n{head}\r\n"
    ).encode() + body


class Connection(asyncio.Protocol):
    """One keep-alive connection; `request` sends one request and waits for its whole response."""

    def __init__(self) -> None:
        self._transport: asyncio.Transport | None = None
        self._buffer = bytearray()
        self._waiter: asyncio.Future[Response] | None = None
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's transports do not subclass asyncio's

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        if self._waiter is None or self._waiter.done():
            return
        head_end = self._buffer.find(b"\r\n\r\n")
        if head_end < 0:
            return
        head = bytes(self._buffer[:head_end])
        length = CONTENT_LENGTH.search(head)
        if length is None or not head.startswith(b"HTTP/1.1 "):
            self._waiter.set_exception(ProtocolError(head[:200].decode(errors="replace")))
            return
        end = head_end + 4 + int(length[1])
        if len(self._buffer) < end:
            return
        body = bytes(self._buffer[head_end + 4 : end])
        del self._buffer[:end]
        self._waiter.set_result(Response(int(head[9:12]), body))

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_exception(ConnectionResetError("the server closed the connection"))

    async def request(self, data: bytes) -> Response:
        if self.closed or self._transport is None:
            raise ConnectionResetError("the connection is closed")
        self._waiter = asyncio.get_running_loop().create_future()
        self._transport.write(data)
        return await self._waiter

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()


async def connect(base_url: str) -> Connection:
    parts = urlsplit(base_url)
    _, connection = await asyncio.get_running_loop().create_connection(
        Connection, parts.hostname or "127.0.0.1", parts.port or 80
    )
    return connection


class Pool:
    """Connections to one server for open-loop load: a request takes an idle connection or opens a new one.

    At most `limit` requests are in flight; more wait for a connection to come free. A connection idle for
    `max_idle` seconds is closed instead of reused.
    """

    def __init__(self, base_url: str, limit: int, max_idle: float = MAX_IDLE_SECONDS) -> None:
        self.base_url = base_url
        self._idle: deque[tuple[Connection, float]] = deque()
        """Open connections with the time each came free, the most recently used last."""
        self._slots = asyncio.Semaphore(limit)
        self._max_idle = max_idle

    async def request(self, data: bytes) -> Response:
        async with self._slots:
            connection = self._take_idle() or await connect(self.base_url)
            try:
                response = await connection.request(data)
            except BaseException:
                connection.close()
                raise
            if not connection.closed:
                self._idle.append((connection, time.monotonic()))
            return response

    def _take_idle(self) -> Connection | None:
        """The most recently used open connection; those the server closed or may be closing (idle too long) go."""
        now = time.monotonic()
        while self._idle:
            connection, free_since = self._idle.pop()
            if not connection.closed and now - free_since < self._max_idle:
                return connection
            connection.close()
        return None

    def close(self) -> None:
        while self._idle:
            self._idle.pop()[0].close()
