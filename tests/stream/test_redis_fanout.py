"""Fan-out across server processes through Redis (`omnicart serve --redis URL`), on one PostgreSQL database.

Every test runs its own private `redis-server` (never the machine's shared one), so it may kill and restart it.
Redis is only the doorbell: devices must end with the whole log even while it is down.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Protocol

import httpx
import pytest
import redis.asyncio as aioredis

from tests.conftest import unavailable
from tests.support.async_devices import AsyncDevice
from tests.support.catalog import SKUS
from tests.support.databases import PostgresDatabases
from tests.support.devices import JSON
from tests.support.redis_server import PrivateRedis, redis_server_binary
from tests.support.server import ServerProcess, track_server
from tests.support.stream import Follower, StreamClient, presence_ids, wait_until
from tests.support.stream_fixtures import ConnectStream, Follow, OpenStreamDevice

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

GRACE_ENV = {"OMNICART_PRESENCE_GRACE_SECONDS": "1"}
CATCH_UP_TIMEOUT = 30.0
"""While Redis is down the servers poll the log every second; generous for a loaded machine."""
READY_TIMEOUT = 10.0
"""The fan-out reconnects to Redis with a backoff capped at 5 s."""


class StartFanoutServer(Protocol):
    def __call__(self, *, workers: int = 1, env: dict[str, str] | None = None) -> ServerProcess: ...


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    """A redis-server of this test's own on a free port, without persistence."""
    binary = redis_server_binary()
    if binary is None:
        unavailable("redis-server is not installed: the Redis fan-out tests start a private one")
    redis = PrivateRedis(binary, tmp_path / "redis.log").start()
    yield redis
    redis.stop()


@pytest.fixture
def fanout_db_url(postgres_databases: PostgresDatabases) -> str:
    """A fresh PostgreSQL database that every server process of the test shares."""
    return postgres_databases.new()


@pytest.fixture
def start_fanout_server(
    request: pytest.FixtureRequest,
    private_redis: PrivateRedis,
    fanout_db_url: str,
    catalog_file: Path,
    tmp_path: Path,
) -> Iterator[StartFanoutServer]:
    """Start `omnicart serve --redis <private redis>` on the test's shared database; all are stopped afterwards."""
    started: list[ServerProcess] = []

    def start(*, workers: int = 1, env: dict[str, str] | None = None) -> ServerProcess:
        args: Sequence[str] = ["--redis", private_redis.url]
        if workers > 1:
            args = [*args, "--workers", str(workers)]
        server = ServerProcess(
            fanout_db_url,
            tmp_path / f"fanout-server-{len(started) + 1}.log",
            env={**GRACE_ENV, **(env or {})},
            args=args,
            catalog=catalog_file,
        )
        started.append(server)
        track_server(request, server).start()
        return server

    yield start
    for server in started:
        server.stop()


async def _readiness(server: ServerProcess) -> JSON:
    async with httpx.AsyncClient(base_url=server.url, timeout=5) as client:
        body: JSON = (await client.get("/ready")).json()
        return body


async def _wait_fanout(server: ServerProcess, *, healthy: bool) -> None:
    async def reached() -> bool:
        readiness = await _readiness(server)
        return (readiness.get("fanout") == "ok") is healthy

    state = "ok" if healthy else "degraded"
    await wait_until(reached, READY_TIMEOUT, interval=0.1, message=f"{server.url} fan-out {state}")


async def _assert_holds_the_log(streams: Sequence[StreamClient | Follower], device: AsyncDevice) -> None:
    log = await device.events()
    head = len(log)
    assert [event["seq"] for event in log] == list(range(1, head + 1))
    for stream in streams:
        await stream.wait_for_seq(head, CATCH_UP_TIMEOUT)
    for stream in streams:
        assert stream.seqs == list(range(1, head + 1)), f"{stream.name}: gap or duplicate"
        assert stream.events == log, f"{stream.name}: events differ from GET /v1/events"


async def _a_device_on_each_process(
    start_fanout_server: StartFanoutServer, stream_device: OpenStreamDevice, connect_stream: ConnectStream
) -> tuple[tuple[ServerProcess, ServerProcess], AsyncDevice, AsyncDevice, list[StreamClient]]:
    """Two processes on one database; the phone streams from the first, the kiosk (same customer) from the second.

    Both sockets are welcomed and both processes' fan-out through Redis is healthy before this returns.
    """
    first, second = start_fanout_server(), start_fanout_server()
    phone = await stream_device(first, device="phone")
    kiosk = await stream_device(second, device="kiosk", customer_token=phone.customer_token)
    streams = [
        await connect_stream(first, phone.session_token, name="phone@first"),
        await connect_stream(second, kiosk.session_token, name="kiosk@second"),
    ]
    for stream in streams:
        await stream.wait_for_welcome()
    for server in (first, second):
        await _wait_fanout(server, healthy=True)
    return (first, second), phone, kiosk, streams


async def _write(devices: Sequence[AsyncDevice], rounds: int) -> None:
    """Every device writes `rounds` times, all devices at once."""

    async def one(device: AsyncDevice, offset: int) -> None:
        for n in range(rounds):
            await device.add(SKUS[(n + offset) % len(SKUS)])

    await asyncio.gather(*(one(device, offset) for offset, device in enumerate(devices)))


async def test_serve_accepts_redis_and_reports_the_fanout_ready(start_fanout_server: StartFanoutServer) -> None:
    """`omnicart serve --redis URL` starts, and /ready reports Redis and the fan-out as ok."""
    server = start_fanout_server()
    await _wait_fanout(server, healthy=True)
    readiness = await _readiness(server)
    assert (readiness["ready"], readiness["redis"], readiness["fanout"]) == (True, "ok", "ok")


async def test_reachable_redis_is_never_reported_degraded(
    start_fanout_server: StartFanoutServer, stream_device: OpenStreamDevice, connect_stream: ConnectStream
) -> None:
    """With Redis up the whole time, before and while devices are connected, the server never reports it degraded."""
    server = start_fanout_server()
    device = await stream_device(server)
    stream = await connect_stream(server, device.session_token)
    await stream.wait_for_welcome()
    await _wait_fanout(server, healthy=True)
    await device.add(SKUS[0])
    await stream.wait_for_seq(await device.head())
    degraded = [line for line in server.log_text().splitlines() if "degraded" in line]
    assert not degraded, f"{len(degraded)} degraded reports, e.g. {degraded[:2]}"


BURST_DEVICES = 40
PRESENCE_WRITE_TIMEOUT = 5.0
"""Well before a device's presence entry would be written again (every 10 s), so a lost write fails the test."""


async def test_a_burst_of_devices_beyond_the_redis_pool_waits_for_it_instead_of_degrading(
    private_redis: PrivateRedis,
    start_fanout_server: StartFanoutServer,
    stream_device: OpenStreamDevice,
    connect_stream: ConnectStream,
) -> None:
    """More devices connect at once than the process has Redis connections: each presence write waits for one.

    redis-py's default pool raised "Too many connections" instead, and the fan-out reported itself degraded.
    """
    server = start_fanout_server(env={"OMNICART_REDIS_POOL_SIZE": "2"})
    await _wait_fanout(server, healthy=True)
    devices = [await stream_device(server, device=f"till-{n}") for n in range(BURST_DEVICES)]
    streams = await asyncio.gather(*(connect_stream(server, device.session_token) for device in devices))
    await asyncio.gather(*(stream.wait_for_welcome() for stream in streams))

    client = aioredis.Redis.from_url(private_redis.url)
    try:

        async def all_present() -> bool:
            for device in devices:
                entries = await client.hkeys(f"oc:presence:{{{device.customer_id}}}")
                if device.session_id.encode() not in entries:
                    return False
            return True

        await wait_until(all_present, PRESENCE_WRITE_TIMEOUT, interval=0.1, message="every device's presence in Redis")
    finally:
        await client.aclose()
    degraded = [line for line in server.log_text().splitlines() if "degraded" in line]
    assert not degraded, f"{len(degraded)} degraded reports, e.g. {degraded[:2]}"


async def test_committed_events_ring_the_customers_redis_channel(
    private_redis: PrivateRedis, start_fanout_server: StartFanoutServer, stream_device: OpenStreamDevice
) -> None:
    """Each committed event is published on the customer's sharded channel oc:{customer_id} (DESIGN.md §2).

    A message is the sending process's id, a space, and the event's JSON.
    """
    server = start_fanout_server()
    device = await stream_device(server)
    rung = await _doorbell_of_next_write(private_redis, device)
    assert rung["kind"] == "cart.updated"


async def test_doorbells_ring_again_once_a_restarted_redis_is_back(
    private_redis: PrivateRedis, start_fanout_server: StartFanoutServer, stream_device: OpenStreamDevice
) -> None:
    """The connection the doorbells go out on died with Redis: the first write after the restart rings all the same.

    Only the doorbell tells other processes at once; missed, they would hear of the write from their next log poll.
    """
    server = start_fanout_server()
    device = await stream_device(server)
    await _doorbell_of_next_write(private_redis, device)  # the doorbells' connection is open

    private_redis.kill()
    private_redis.start()
    await _wait_fanout(server, healthy=True)
    rung = await _doorbell_of_next_write(private_redis, device)
    assert rung["kind"] == "cart.updated"


async def _doorbell_of_next_write(private_redis: PrivateRedis, device: AsyncDevice) -> JSON:
    """Listen on the customer's channel, write, and return the event that rang there."""
    client = aioredis.Redis.from_url(private_redis.url)
    pubsub = client.pubsub()
    try:
        await pubsub.ssubscribe(f"oc:{{{device.customer_id}}}")
        await device.add(SKUS[0])
        head = await device.head()

        async def doorbell() -> JSON | None:
            message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=0.1)
            if message is None:
                return None
            sender, _, event = message["data"].partition(b" ")
            data: JSON = json.loads(event)
            return data if sender and data.get("seq") == head else None

        return await wait_until(doorbell, 10, interval=0, message="the event on the customer's Redis channel")
    finally:
        await pubsub.aclose()  # type: ignore[no-untyped-call]
        await client.aclose()


async def test_events_written_on_one_process_reach_devices_on_another(
    start_fanout_server: StartFanoutServer, stream_device: OpenStreamDevice, connect_stream: ConnectStream
) -> None:
    """Two processes on one database: devices on each get every event written on either, in order, once."""
    _, phone, kiosk, streams = await _a_device_on_each_process(start_fanout_server, stream_device, connect_stream)

    await _write([phone, kiosk], 10)
    await _assert_holds_the_log(streams, phone)


async def test_presence_spans_processes(
    start_fanout_server: StartFanoutServer, stream_device: OpenStreamDevice, connect_stream: ConnectStream
) -> None:
    """A device on another process appears in presence and in GET /v1/sessions, and leaves after the grace period."""
    first, second = start_fanout_server(), start_fanout_server()
    phone = await stream_device(first, device="phone")
    kiosk = await stream_device(second, device="kiosk", customer_token=phone.customer_token)
    phone_stream = await connect_stream(first, phone.session_token, name="phone@first")
    await phone_stream.wait_for_presence({phone.session_id})

    kiosk_stream = await connect_stream(second, kiosk.session_token, name="kiosk@second")
    await phone_stream.wait_for_presence({phone.session_id, kiosk.session_id})
    await kiosk_stream.wait_for_presence({phone.session_id, kiosk.session_id})
    for device in (phone, kiosk):  # each process answers for both devices
        assert {s: v["online"] for s, v in (await device.sessions()).items()} == {
            phone.session_id: True,
            kiosk.session_id: True,
        }

    seen = len(phone_stream.frames)
    await kiosk_stream.close()
    await phone_stream.wait_for_presence({phone.session_id}, after=seen)
    assert (await phone.sessions())[kiosk.session_id]["online"] is False


VISITS = 60
"""Visits of a device that closes as soon as it is told who is present. Before the fix about one in twenty stayed
held: a race, so this catches it in nearly every run, not in every one (it failed 8 of 8 idle runs, 2 of 3 with
the cores busy)."""
SHORT_GRACE_ENV = {"OMNICART_PRESENCE_GRACE_SECONDS": "0.05"}
LET_GO_TIMEOUT = 15.0


async def test_a_device_that_leaves_at_once_is_let_go(
    start_fanout_server: StartFanoutServer, stream_device: OpenStreamDevice, connect_stream: ConnectStream
) -> None:
    """A socket closed while its server asks Redis who is present ends there: it is not held, its device leaves.

    On Python 3.11 a cancellation that lands while redis-py sends a command is swallowed (`asyncio.wait_for`): the
    socket's task then ran on, waiting for work forever, and its device stayed present until the server stopped.
    """
    first, second = start_fanout_server(), start_fanout_server(env=SHORT_GRACE_ENV)
    phone = await stream_device(first, device="phone")
    kiosk = await stream_device(second, device="kiosk", customer_token=phone.customer_token)
    phone_stream = await connect_stream(first, phone.session_token, name="phone@first")
    await phone_stream.wait_for_presence({phone.session_id})

    async def only_the_phone_online() -> bool:
        return await _online(phone) == {phone.session_id}

    for visit in range(VISITS):
        kiosk_stream = await connect_stream(second, kiosk.session_token, name=f"kiosk@second, visit {visit}")
        await kiosk_stream.wait_for_presence({phone.session_id, kiosk.session_id})
        await kiosk_stream.close()
        await wait_until(lambda: second.live_connections() == 0, LET_GO_TIMEOUT, message=f"visit {visit} let go")
        await wait_until(only_the_phone_online, LET_GO_TIMEOUT, message=f"visit {visit} over")

    def phone_told_kiosk_left() -> bool:
        presences = [frame for frame in phone_stream.frames if frame.get("type") == "presence"]
        return presence_ids(presences[-1]) == {phone.session_id}

    await wait_until(phone_told_kiosk_left, LET_GO_TIMEOUT, message="the phone told the kiosk left")


PRESENCE_LAPSE_TIMEOUT = 60.0
"""A dead process's heartbeat lapses 25-30 s after its last beat; the others' next beat finds that within 5 s."""
HEARTBEAT_TTL = 30.0
"""How long a process's heartbeat counts without being renewed (redis_bus.PROCESS_TTL_SECONDS)."""


async def _online(device: AsyncDevice) -> set[str]:
    """The sessions of the device's customer that the device's server reports online."""
    return {session_id for session_id, session in (await device.sessions()).items() if session["online"]}


async def test_devices_on_a_live_process_stay_present_past_the_heartbeat_ttl(
    start_fanout_server: StartFanoutServer, stream_device: OpenStreamDevice, connect_stream: ConnectStream
) -> None:
    """Devices are not renewed one by one: their process's heartbeat keeps them present for as long as it lives."""
    _, phone, kiosk, (phone_stream, _) = await _a_device_on_each_process(
        start_fanout_server, stream_device, connect_stream
    )
    await phone_stream.wait_for_presence({phone.session_id, kiosk.session_id})

    seen = len(phone_stream.frames)
    await asyncio.sleep(HEARTBEAT_TTL + 10)
    assert await _online(phone) == {phone.session_id, kiosk.session_id}
    presence_after = [frame for frame in phone_stream.frames[seen:] if frame["type"] == "presence"]
    assert presence_after == [], "presence flapped while both processes were alive"


@pytest.mark.parametrize(
    ("end", "within"),
    [(ServerProcess.stop, HEARTBEAT_TTL - 5), (ServerProcess.kill9, PRESENCE_LAPSE_TIMEOUT)],
    ids=["sigterm", "kill9"],
)
async def test_devices_of_an_ended_process_leave_presence(
    start_fanout_server: StartFanoutServer,
    stream_device: OpenStreamDevice,
    connect_stream: ConnectStream,
    end: Callable[[ServerProcess], None],
    within: float,
) -> None:
    """A process's devices leave presence with it.

    Stopped with SIGTERM, it takes its heartbeat along, so the others drop its devices before the heartbeat would
    lapse; killed with -9, it rings nobody, and its devices go once the heartbeat lapses.
    """
    (_, second), phone, kiosk, (phone_stream, _) = await _a_device_on_each_process(
        start_fanout_server, stream_device, connect_stream
    )
    await phone_stream.wait_for_presence({phone.session_id, kiosk.session_id})

    seen = len(phone_stream.frames)
    end(second)
    await phone_stream.wait_for_presence({phone.session_id}, within, after=seen)
    assert await _online(phone) == {phone.session_id}


async def test_devices_resume_on_another_process(
    start_fanout_server: StartFanoutServer, stream_device: OpenStreamDevice, follow: Follow
) -> None:
    """A device that drops from one process and resumes on the other (since = last seq) misses and repeats nothing."""
    first, second = start_fanout_server(), start_fanout_server()
    phone = await stream_device(first, device="phone")
    writer = await stream_device(second, device="writer", customer_token=phone.customer_token)
    follower = follow(phone)
    await follower.connect()
    await _write([writer], 5)
    await follower.disconnect()
    await _write([writer], 5)

    follower.base_url = second.url
    await follower.connect()
    await _write([writer, phone], 3)
    await _assert_holds_the_log([follower], phone)


async def test_redis_restart_mid_run_loses_nothing(
    private_redis: PrivateRedis,
    start_fanout_server: StartFanoutServer,
    stream_device: OpenStreamDevice,
    connect_stream: ConnectStream,
) -> None:
    """Redis killed and restarted while two processes take writes: writes succeed and every device gets every event."""
    servers, phone, kiosk, streams = await _a_device_on_each_process(start_fanout_server, stream_device, connect_stream)
    await _write([phone, kiosk], 4)

    private_redis.kill()
    await _write([phone, kiosk], 4)  # writes never depend on Redis
    for server in servers:
        await _wait_fanout(server, healthy=False)
    await _write([phone, kiosk], 4)
    await _assert_holds_the_log(streams, phone)  # delivered by the log poll while Redis is down

    private_redis.start()
    for server in servers:
        await _wait_fanout(server, healthy=True)
    await _write([phone, kiosk], 4)
    await _assert_holds_the_log(streams, phone)
    assert not any(stream.closed for stream in streams)

    async def both_online_on_both() -> bool:  # the restarted Redis came back empty: each process rewrote its devices
        return await _online(phone) == await _online(kiosk) == {phone.session_id, kiosk.session_id}

    await wait_until(both_online_on_both, READY_TIMEOUT, interval=0.2, message="presence rewritten after the restart")


async def test_workers_share_events_through_redis(
    start_fanout_server: StartFanoutServer, stream_device: OpenStreamDevice, connect_stream: ConnectStream
) -> None:
    """With --workers 2, devices connected to any worker get every event written through any worker."""
    server = start_fanout_server(workers=2)
    first = await stream_device(server, device="device-0")
    devices = [first] + [
        await stream_device(server, device=f"device-{n}", customer_token=first.customer_token) for n in range(1, 6)
    ]
    # Six connections: the kernel spreads them over the workers, so both serve some of them.
    streams = [await connect_stream(server, device.session_token, name=device.device) for device in devices]
    for stream in streams:
        await stream.wait_for_welcome()
    await _write(devices, 4)
    await _assert_holds_the_log(streams, first)
