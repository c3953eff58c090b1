"""How many sockets a server takes, per customer and per process.

Per customer a cap (OMNICART_MAX_SOCKETS_PER_CUSTOMER): one more is refused with 4429. Per process as many as its
hard open-file limit allows, whatever soft limit it was started under.
"""

from __future__ import annotations

import resource

from omnicart.protocol.problems import CloseCode
from tests.conftest import unavailable
from tests.support.catalog import SKUS
from tests.support.server import ServerProcess, StartServer
from tests.support.stream import StreamClient, wait_until
from tests.support.stream_fixtures import ConnectStream, OpenStreamDevice, connected

LOW_SOFT_LIMIT = 64
"""Open files the server is started with as its soft limit: fewer than the sockets the test below opens on it."""
DEVICES = 100
"""Devices of the test below: their streams alone are more sockets than LOW_SOFT_LIMIT allows."""


async def test_socket_over_the_customer_cap_is_closed_4429(
    capped_server: ServerProcess, stream_device: OpenStreamDevice, connect_stream: ConnectStream
) -> None:
    """With a cap of 2, the third socket of one customer is closed with 4429; the first two keep getting events."""
    phone = await stream_device(capped_server, device="phone")
    laptop = await stream_device(capped_server, device="laptop", customer_token=phone.customer_token)
    first = await connect_stream(capped_server, phone.session_token, name="first")
    second = await connect_stream(capped_server, laptop.session_token, name="second")
    head = await phone.head()
    await first.wait_for_seq(head)
    await second.wait_for_seq(head)

    third = await connect_stream(capped_server, phone.session_token, name="third")
    assert await third.wait_closed() == CloseCode.TOO_MANY_CONNECTIONS
    assert not third.of_type("welcome")

    await laptop.add(SKUS[0])
    await first.wait_for_seq(head + 1)
    await second.wait_for_seq(head + 1)


async def test_cap_is_per_customer(
    capped_server: ServerProcess, stream_device: OpenStreamDevice, connect_stream: ConnectStream
) -> None:
    """A customer at the cap does not stop another customer from connecting."""
    busy = await stream_device(capped_server, device="busy")
    for n in range(2):
        await (await connect_stream(capped_server, busy.session_token, name=f"busy-{n}")).wait_for_welcome()
    other = await stream_device(capped_server, device="other")
    stream = await connect_stream(capped_server, other.session_token, name="other")
    assert (await stream.wait_for_welcome())["customer_id"] == other.customer_id


async def test_closing_a_socket_frees_its_place(
    capped_server: ServerProcess, stream_device: OpenStreamDevice, connect_stream: ConnectStream
) -> None:
    """After one of the customer's sockets closes, a new one is accepted again."""
    device = await stream_device(capped_server)
    kept = await connect_stream(capped_server, device.session_token, name="kept")
    leaving = await connect_stream(capped_server, device.session_token, name="leaving")
    await kept.wait_for_welcome()
    await leaving.wait_for_welcome()
    await leaving.close()

    async def accepted() -> StreamClient | None:
        # The server forgets a socket once its handler ends, a moment after the client's close: retry until then.
        attempt = await connect_stream(capped_server, device.session_token, name="newcomer")
        await wait_until(lambda: attempt.welcome or attempt.closed, 10, message="welcome or close")
        if attempt.welcome:
            return attempt
        assert attempt.close_code == CloseCode.TOO_MANY_CONNECTIONS, attempt
        return None

    newcomer = await wait_until(accepted, 10, interval=0.1, message="a new socket accepted after one closed")
    assert newcomer.welcome is not None


def _low_soft_open_file_limit() -> None:
    """In the server's process before it starts: a soft limit of LOW_SOFT_LIMIT under an unchanged hard one."""
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (LOW_SOFT_LIMIT, hard))


async def test_a_low_soft_open_file_limit_does_not_cap_the_devices(
    start_server: StartServer, stream_device: OpenStreamDevice, connect_stream: ConnectStream
) -> None:
    """Started under a soft limit of 64 open files, the server still takes 100 devices' streams and serves them.

    Left at such a limit (1,024 is the usual one), the process would reset every connection past it, unlogged; it
    logs the limit it runs with instead.
    """
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < 4 * DEVICES:
        unavailable(f"the hard open-file limit ({hard}) is too low to hold {DEVICES} devices and their HTTP clients")
    server = start_server(preexec=_low_soft_open_file_limit)
    devices = [await stream_device(server, device=f"till-{n}") for n in range(DEVICES)]
    streams = [await connected(connect_stream, server, device) for device in devices]

    await devices[-1].add(SKUS[0])
    await streams[-1].wait_for_seq(await devices[-1].head())
    assert not [stream for stream in streams if stream.closed]
    assert "open-file limit" in server.log_text(), server.log_tail()
