"""Devices leave at any moment, even while the server is sending to them: that is ordinary, never a server error.

Each test runs a server of its own and, once the devices that left are gone from a watching device's presence (so
their connection handlers have ended), checks the server's log for errors.
"""

from __future__ import annotations

import asyncio
import random

from tests.support.async_devices import AsyncDevice
from tests.support.catalog import SKUS
from tests.support.server import ServerProcess, StartServer
from tests.support.stream import StreamClient
from tests.support.stream_fixtures import ConnectStream, Follow, OpenStreamDevice

GRACE_ENV = {"OMNICART_PRESENCE_GRACE_SECONDS": "1"}
SERVER_ERRORS = ("ERROR", "Traceback")
CHURN_WRITES = 60
"""Writes per writer (two at once) while devices come and go."""


def _server_errors(server: ServerProcess) -> list[str]:
    return [line for line in server.log_text().splitlines() if any(mark in line for mark in SERVER_ERRORS)]


async def _watch(server: ServerProcess, connect_stream: ConnectStream, watcher: AsyncDevice) -> StreamClient:
    stream = await connect_stream(server, watcher.session_token, since=await watcher.head(), name="watcher")
    await stream.wait_for_welcome()
    return stream


async def _wait_all_gone(watcher: StreamClient, watcher_device: AsyncDevice, after: int) -> None:
    """Wait until the watcher's presence lists only itself again: every other connection's handler has ended."""
    await watcher.wait_for_presence({watcher_device.session_id}, after=after, timeout=20)


async def test_devices_coming_and_going_during_writes_are_not_server_errors(
    start_server: StartServer, stream_device: OpenStreamDevice, connect_stream: ConnectStream, follow: Follow
) -> None:
    """Devices closing or losing their connection at random while events flow leave no error in the server log."""
    server = start_server(env=GRACE_ENV)
    writers = [await stream_device(server, device="writer-0")]
    writers.append(await stream_device(server, device="writer-1", customer_token=writers[0].customer_token))
    devices = [await stream_device(server, device=f"d{n}", customer_token=writers[0].customer_token) for n in range(4)]
    watcher_device = await stream_device(server, device="watcher", customer_token=writers[0].customer_token)
    watcher = await _watch(server, connect_stream, watcher_device)
    followers = [follow(device) for device in devices]
    for follower in followers:
        await follower.connect()

    async def write(writer: AsyncDevice) -> None:
        for n in range(CHURN_WRITES):
            await writer.add(SKUS[n % len(SKUS)])

    writes = asyncio.gather(*(write(writer) for writer in writers))
    rng = random.Random(1011)
    while not writes.done():
        follower = rng.choice(followers)
        assert follower.current is not None
        # Mostly goodbyes: a close frame arriving while the server sends is the likeliest moment to trip it.
        await (follower.current.close() if rng.random() < 0.8 else follower.current.abort())
        await follower.connect()
        await asyncio.wait({writes}, timeout=rng.uniform(0, 0.01))
    await writes
    head = await writers[0].head()
    for follower in followers:
        await follower.wait_for_seq(head)
    seen = len(watcher.frames)
    for follower in followers:
        await follower.disconnect()

    await _wait_all_gone(watcher, watcher_device, seen)
    assert not _server_errors(server), "\n".join(_server_errors(server)[:30])
