"""Devices that drop and resume (since = the last seq they hold) end with the whole log, gap-free, no duplicate.

Across random disconnections during concurrent writes, and across a kill -9 of the server.
"""

from __future__ import annotations

import asyncio
import random

import httpx
import pytest
from websockets.exceptions import InvalidHandshake

from tests.support.async_devices import AsyncDevice
from tests.support.catalog import SKUS
from tests.support.devices import JSON
from tests.support.server import ServerProcess, StartServer
from tests.support.stream import Follower, StreamWaitTimeout, wait_until
from tests.support.stream_fixtures import Follow, OpenStreamDevice

DEVICES = 4
WRITES_PER_DEVICE = 25
CHAOS_SEEDS = (7, 2026)
CATCH_UP_TIMEOUT = 30.0


async def _assert_everyone_holds_the_log(followers: list[Follower], device: AsyncDevice) -> None:
    """Each follower holds every event 1..head exactly once, in order, equal to the HTTP log; carts agree."""
    for follower in followers:
        if follower.current is None or follower.current.closed:
            await follower.connect()
    log = await device.events()
    head = len(log)
    assert [event["seq"] for event in log] == list(range(1, head + 1)), "the HTTP log itself has a gap"
    for follower in followers:
        await follower.wait_for_seq(head, CATCH_UP_TIMEOUT)
    cart = await device.cart()
    for follower in followers:
        assert not follower.snapshots, f"{follower.name}: resuming got a snapshot instead of the events"
        assert follower.seqs == list(range(1, head + 1)), f"{follower.name}: gap or duplicate"
        assert follower.events == log, f"{follower.name}: events differ from GET /v1/events"
        last_cart = [event for event in follower.events if event["kind"] == "cart.updated"][-1]["data"]["cart"]
        assert last_cart == cart, f"{follower.name}: its last cart.updated is not GET /v1/cart"


async def _write(device: AsyncDevice, count: int, seed: int) -> list[JSON]:
    rng = random.Random(seed)
    return [await device.add(rng.choice(SKUS), rng.randint(1, 3)) for _ in range(count)]


@pytest.mark.parametrize("seed", CHAOS_SEEDS)
async def test_random_reconnects_during_concurrent_writes_lose_and_repeat_nothing(
    seed: int, server: ServerProcess, stream_device: OpenStreamDevice, follow: Follow
) -> None:
    """Devices dropping (closing or losing the network) and resuming at random during a burst all end gap-free."""
    first = await stream_device(device="device-0")
    devices = [first] + [
        await stream_device(device=f"device-{n}", customer_token=first.customer_token) for n in range(1, DEVICES)
    ]
    followers = [follow(device) for device in devices]
    for follower in followers:
        await follower.connect()

    writers = asyncio.gather(*(_write(device, WRITES_PER_DEVICE, seed + n) for n, device in enumerate(devices)))
    drops = await asyncio.gather(*(_disrupt(follower, writers, seed + n) for n, follower in enumerate(followers)))
    await writers

    assert sum(drops) >= DEVICES * 3, f"the writes ended before the devices were disrupted enough: {drops}"
    await _assert_everyone_holds_the_log(followers, first)
    assert [len(follower.connections) for follower in followers] == [n + 1 for n in drops]


async def _disrupt(follower: Follower, writers: asyncio.Future[list[list[JSON]]], seed: int) -> int:
    """Drop and resume the follower at random until the writes end; returns how many times it was dropped.

    A drop closes the connection or cuts the TCP connection; the follower resumes from its last seq a while later.
    """
    rng = random.Random(seed)
    drops = 0
    while not writers.done():
        await asyncio.wait({writers}, timeout=rng.uniform(0, 0.03))
        assert follower.current is not None
        if rng.random() < 0.5:
            await follower.current.close()
        else:
            await follower.current.abort()
        drops += 1
        await asyncio.wait({writers}, timeout=rng.uniform(0, 0.03))  # events go on while it is away
        await follower.connect()
    return drops


async def _reconnect_after_restart(follower: Follower) -> None:
    """Resume once the server answers again (connecting fails while it is down)."""

    async def resumed() -> bool:
        try:
            await follower.connect()
        except (OSError, TimeoutError, InvalidHandshake, StreamWaitTimeout):
            return False
        return True

    await wait_until(resumed, 30, interval=0.1, message=f"{follower.name} resuming")


async def _keep_writing(device: AsyncDevice, acknowledged: list[JSON], stop: asyncio.Event) -> None:
    """Write until the server goes away; every answered write is acknowledged and must survive."""
    n = 0
    while not stop.is_set():
        try:
            acknowledged.append(await device.add(SKUS[n % len(SKUS)]))
        except (httpx.TransportError, AssertionError):
            return  # the server was killed under this request: it may or may not have committed
        n += 1


@pytest.mark.slow
async def test_devices_resume_gap_free_after_kill9_during_writes(
    start_server: StartServer, stream_device: OpenStreamDevice, follow: Follow
) -> None:
    """kill -9 while devices write and follow: after a restart they resume from their last seq and hold it all."""
    server = start_server()
    first = await stream_device(server, device="device-0")
    devices = [first] + [
        await stream_device(server, device=f"device-{n}", customer_token=first.customer_token) for n in (1, 2)
    ]
    followers = [follow(device) for device in devices]
    for follower in followers:
        await follower.connect()

    acknowledged: list[JSON] = []
    stop = asyncio.Event()
    writers = [asyncio.create_task(_keep_writing(device, acknowledged, stop)) for device in devices[:2]]
    await wait_until(lambda: len(acknowledged) >= 20, 30, message="20 acknowledged writes")
    server.kill9()
    stop.set()
    await asyncio.gather(*writers)
    for follower in followers:
        assert follower.current is not None
        await follower.current.wait_closed()

    await asyncio.to_thread(server.start)
    for follower in followers:
        await _reconnect_after_restart(follower)
    for n, device in enumerate(devices):
        await _write(device, 3, n)

    await _assert_everyone_holds_the_log(followers, first)
    versions = {event["data"]["version"] for event in await first.events() if event["kind"] == "cart.updated"}
    assert {cart["version"] for cart in acknowledged} <= versions, "an acknowledged write is missing from the log"


@pytest.mark.slow
async def test_devices_resume_without_duplicates_after_kill9_at_rest(
    start_server: StartServer, stream_device: OpenStreamDevice, follow: Follow
) -> None:
    """kill -9 after every write was delivered: resuming replays nothing twice and live events continue."""
    server = start_server()
    first = await stream_device(server, device="device-0")
    second = await stream_device(server, device="device-1", customer_token=first.customer_token)
    followers = [follow(first), follow(second)]
    for follower in followers:
        await follower.connect()
    await _write(first, 5, 1)
    head = await first.head()
    for follower in followers:
        await follower.wait_for_seq(head)

    server.kill9()
    for follower in followers:
        assert follower.current is not None
        await follower.current.wait_closed()
    await asyncio.to_thread(server.start)
    for follower in followers:
        await _reconnect_after_restart(follower)
        assert follower.current is not None and follower.current.welcome is not None
        assert follower.current.welcome["head"] == head
    await _write(second, 4, 2)

    await _assert_everyone_holds_the_log(followers, first)
