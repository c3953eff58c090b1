"""Keepalive: the server pings every socket once per interval and fails the ones that stop answering.

A client that cannot see those pings (a browser) sends its own `ping` frame and gets a `pong`.

The pings go out from one timer per process that visits the sockets bucket by bucket (stream/keepalive.py), so
these tests open more sockets than one bucket holds: every bucket must be visited, each socket pinged, and only
the silent ones dropped.
"""

from __future__ import annotations

import asyncio

import pytest

from tests.support.server import ServerProcess, StartServer
from tests.support.stream import StreamClient, wait_until
from tests.support.stream_fixtures import ConnectStream, OpenStreamDevice, connected

INTERVAL = 1.0
"""Seconds between pings on the test server: 10 buckets, a tenth of a second apart."""
SOCKETS = 15


@pytest.fixture
async def pinged_server(start_server: StartServer) -> ServerProcess:
    return start_server(env={"OMNICART_WS_PING_INTERVAL_SECONDS": str(INTERVAL)})


async def _open(server: ServerProcess, stream_device: OpenStreamDevice, connect_stream: ConnectStream) -> StreamClient:
    return await connected(connect_stream, server, await stream_device(server, device="till"))


async def test_only_the_sockets_that_stop_answering_pings_are_dropped(
    pinged_server: ServerProcess, stream_device: OpenStreamDevice, connect_stream: ConnectStream
) -> None:
    """Of 15 sockets over 10 buckets, the 10 that hang (one per bucket) get 1011; the 5 that answer stay on."""
    streams = [await _open(pinged_server, stream_device, connect_stream) for _ in range(SOCKETS)]
    answering, hung = streams[:5], streams[5:]  # round robin: streams 5-14 sit in buckets 5-9 and 0-4
    for stream in hung:
        stream.freeze()

    await wait_until(
        lambda: pinged_server.live_connections() == len(answering),
        timeout=10 * INTERVAL,
        interval=0.1,
        message=f"the server holding only the {len(answering)} answering sockets",
    )
    await asyncio.sleep(3 * INTERVAL)  # three more rounds of pings, each answered
    assert pinged_server.live_connections() == len(answering)
    assert not any(stream.closed for stream in answering), [str(s) for s in answering if s.closed]

    for stream in hung:
        stream.thaw()
    codes = [await stream.wait_closed() for stream in hung]
    assert codes == [1011] * len(hung), [stream.close_reason for stream in hung]
    assert {stream.close_reason for stream in hung} == {"keepalive ping timeout"}


async def test_an_unpinged_server_keeps_idle_sockets(
    start_server: StartServer, stream_device: OpenStreamDevice, connect_stream: ConnectStream
) -> None:
    """With pings off (interval 0) a hung socket is not failed: nothing visits it."""
    server = start_server(env={"OMNICART_WS_PING_INTERVAL_SECONDS": "0"})
    hung = await _open(server, stream_device, connect_stream)
    hung.freeze()
    await asyncio.sleep(3 * INTERVAL)
    assert server.live_connections() == 1
    hung.thaw()
    assert not hung.closed


async def test_a_client_ping_is_answered_with_a_pong(
    server: ServerProcess, stream_device: OpenStreamDevice, connect_stream: ConnectStream
) -> None:
    """A browser cannot see protocol pings, so it asks with a `ping` frame; each gets a `pong`, in order."""
    stream = await _open(server, stream_device, connect_stream)
    assert stream.welcome is not None and stream.welcome["answers_ping"] is True, "clients probe only when told"
    for _ in range(3):
        await stream.send_json({"type": "ping"})
    await wait_until(lambda: len(stream.of_type("pong")) == 3, timeout=10, message="three pongs")
    assert stream.of_type("pong") == [{"type": "pong"}] * 3
    assert not stream.closed
