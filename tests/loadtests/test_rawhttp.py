"""The load client's connection pool (loadtests/rawhttp.py), against a real HTTP/1.1 server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest

from tests.loadtests.tools import load_tool_module

rawhttp = load_tool_module("rawhttp")
CONTENT_LENGTH = re.compile(rb"content-length: *(\d+)", re.IGNORECASE)


@dataclass
class KeepAliveServer:
    """Answers every request 200 on the same connection and never closes one itself."""

    base_url: str = ""
    connections: int = 0
    closed_by_client: asyncio.Event = field(default_factory=asyncio.Event)

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = CONTENT_LENGTH.search(head)
                await reader.readexactly(int(length[1]) if length else 0)
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                await writer.drain()
        except asyncio.IncompleteReadError:  # the client closed it
            self.closed_by_client.set()
        finally:
            writer.close()


@pytest.fixture
async def keepalive_server() -> AsyncIterator[KeepAliveServer]:
    state = KeepAliveServer()
    server = await asyncio.start_server(state.serve, "127.0.0.1", 0)
    state.base_url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    async with server:
        yield state


async def test_a_connection_idle_past_max_idle_is_closed_and_another_opened(keepalive_server: KeepAliveServer) -> None:
    """One idle that long may be closing on the server's side as the request goes out: the pool does not risk it."""
    pool = rawhttp.Pool(keepalive_server.base_url, 4, max_idle=0.2)
    request = rawhttp.post(keepalive_server.base_url, "/v1/cart/ops", b"{}", {})
    try:
        for _ in range(3):  # back to back: one connection, reused
            assert (await pool.request(request)).status == 200
        assert keepalive_server.connections == 1

        await asyncio.sleep(0.3)
        assert (await pool.request(request)).status == 200
        assert keepalive_server.connections == 2
        await asyncio.wait_for(keepalive_server.closed_by_client.wait(), 5)
    finally:
        pool.close()
