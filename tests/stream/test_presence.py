"""Presence: a customer's devices see which of them are connected, and GET /v1/sessions agrees.

A device that leaves is dropped only after the grace period (1 s on `tuned_server`), so a quick reconnect does not
flap.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest

from tests.support.async_devices import AsyncDevice
from tests.support.server import ServerProcess, StartServer
from tests.support.stream import StreamClient, presence_ids, wait_until
from tests.support.stream_fixtures import ConnectStream, OpenStreamDevice, connected


async def _online(device: AsyncDevice) -> dict[str, bool]:
    return {session_id: session["online"] for session_id, session in (await device.sessions()).items()}


async def test_a_connecting_device_is_announced_to_the_others(
    tuned_server: ServerProcess, stream_device: OpenStreamDevice, connect_stream: ConnectStream
) -> None:
    """When B connects, A gets a presence frame listing A and B with their channel and device; both are online."""
    phone = await stream_device(tuned_server, channel="mobile", device="phone")
    kiosk = await stream_device(tuned_server, channel="kiosk", device="kiosk-7", customer_token=phone.customer_token)
    phone_stream = await connected(connect_stream, tuned_server, phone)
    await phone_stream.wait_for_presence({phone.session_id})
    assert await _online(phone) == {phone.session_id: True, kiosk.session_id: False}

    await connected(connect_stream, tuned_server, kiosk)
    presence = await phone_stream.wait_for_presence({phone.session_id, kiosk.session_id})
    listed = {s["session_id"]: (s["channel"], s["device"]) for s in presence["sessions"]}
    assert listed == {phone.session_id: ("mobile", "phone"), kiosk.session_id: ("kiosk", "kiosk-7")}
    assert await _online(phone) == {phone.session_id: True, kiosk.session_id: True}


async def test_a_newly_connected_device_is_told_who_is_there(
    tuned_server: ServerProcess, stream_device: OpenStreamDevice, connect_stream: ConnectStream
) -> None:
    """A device connecting gets a presence frame listing every connected device, itself included."""
    phone = await stream_device(tuned_server, device="phone")
    laptop = await stream_device(tuned_server, device="laptop", customer_token=phone.customer_token)
    await connected(connect_stream, tuned_server, phone)
    laptop_stream = await connected(connect_stream, tuned_server, laptop)
    await laptop_stream.wait_for_presence({phone.session_id, laptop.session_id})


async def test_reconnect_within_the_grace_period_does_not_flap(
    tuned_server: ServerProcess, stream_device: OpenStreamDevice, connect_stream: ConnectStream
) -> None:
    """B dropping and reconnecting at once never shows A a presence without B."""
    phone = await stream_device(tuned_server, device="phone")
    laptop = await stream_device(tuned_server, device="laptop", customer_token=phone.customer_token)
    probe = await stream_device(tuned_server, device="probe", customer_token=phone.customer_token)
    phone_stream = await connected(connect_stream, tuned_server, phone)
    laptop_stream = await connected(connect_stream, tuned_server, laptop)
    both = {phone.session_id, laptop.session_id}
    await phone_stream.wait_for_presence(both)
    seen_both = len(phone_stream.frames)

    for _ in range(3):
        await laptop_stream.close()
        laptop_stream = await connected(connect_stream, tuned_server, laptop)
    await laptop_stream.abort()  # a lost network, not a goodbye
    laptop_stream = await connected(connect_stream, tuned_server, laptop)

    # A probe device that comes and goes after the reconnects: once A sees it dropped, a grace period has passed
    # since B's last drop too, so any flap of B would already be in A's frames.
    probe_stream = await connected(connect_stream, tuned_server, probe)
    with_probe = await phone_stream.wait_for_presence(both | {probe.session_id}, after=seen_both)
    await probe_stream.close()
    await phone_stream.wait_for_presence(both, after=phone_stream.frames.index(with_probe) + 1, timeout=10)

    presences = [f for f in phone_stream.frames[seen_both:] if f["type"] == "presence"]
    flaps = [f for f in presences if laptop.session_id not in presence_ids(f)]
    assert not flaps, f"A was told B left: {flaps}"
    assert (await _online(phone))[laptop.session_id] is True


@pytest.mark.parametrize(
    "leave",
    [
        pytest.param(StreamClient.close, id="closing-its-socket"),
        pytest.param(StreamClient.abort, id="losing-its-network"),
    ],
)
async def test_a_device_gone_past_the_grace_period_is_dropped(
    tuned_server: ServerProcess,
    stream_device: OpenStreamDevice,
    connect_stream: ConnectStream,
    leave: Callable[[StreamClient], Awaitable[None]],
) -> None:
    """After B leaves, with a closing handshake or none, and the grace period passes, A hears B left; B is offline."""
    phone = await stream_device(tuned_server, device="phone")
    laptop = await stream_device(tuned_server, device="laptop", customer_token=phone.customer_token)
    phone_stream = await connected(connect_stream, tuned_server, phone)
    laptop_stream = await connected(connect_stream, tuned_server, laptop)
    await phone_stream.wait_for_presence({phone.session_id, laptop.session_id})
    seen_both = len(phone_stream.frames)

    await leave(laptop_stream)
    await phone_stream.wait_for_presence({phone.session_id}, after=seen_both, timeout=10)
    assert await _online(phone) == {phone.session_id: True, laptop.session_id: False}


async def test_the_last_device_leaving_is_offline_after_the_grace_period(
    tuned_server: ServerProcess, stream_device: OpenStreamDevice, connect_stream: ConnectStream
) -> None:
    """With no device connected any more, GET /v1/sessions lists the customer's device offline after the grace."""
    phone = await stream_device(tuned_server, device="phone")
    stream = await connected(connect_stream, tuned_server, phone)
    await stream.wait_for_presence({phone.session_id})
    await stream.close()

    async def offline() -> bool:
        return (await _online(phone)) == {phone.session_id: False}

    await wait_until(offline, 10, interval=0.1, message="the phone listed offline")


async def test_a_revoked_device_leaves_presence(
    tuned_server: ServerProcess, stream_device: OpenStreamDevice, connect_stream: ConnectStream
) -> None:
    """Revoking a connected device removes it from the others' presence and lists it offline."""
    phone = await stream_device(tuned_server, device="phone")
    laptop = await stream_device(tuned_server, device="laptop", customer_token=phone.customer_token)
    phone_stream = await connected(connect_stream, tuned_server, phone)
    await connected(connect_stream, tuned_server, laptop)
    await phone_stream.wait_for_presence({phone.session_id, laptop.session_id})
    seen_both = len(phone_stream.frames)

    await phone.revoke(laptop.session_id)
    await phone_stream.wait_for_presence({phone.session_id}, after=seen_both, timeout=10)
    sessions = await phone.sessions()
    assert (sessions[laptop.session_id]["online"], sessions[laptop.session_id]["revoked"]) == (False, True)


async def test_a_hung_device_is_dropped_by_the_heartbeat(
    start_server: StartServer, stream_device: OpenStreamDevice, connect_stream: ConnectStream
) -> None:
    """A device that stops answering pings (its connection open but dead) is dropped and leaves presence."""
    server = start_server(env={"OMNICART_WS_PING_INTERVAL_SECONDS": "1", "OMNICART_PRESENCE_GRACE_SECONDS": "1"})
    phone = await stream_device(server, device="phone")
    laptop = await stream_device(server, device="laptop", customer_token=phone.customer_token)
    phone_stream = await connected(connect_stream, server, phone)
    laptop_stream = await connected(connect_stream, server, laptop)
    await phone_stream.wait_for_presence({phone.session_id, laptop.session_id})
    seen_both = len(phone_stream.frames)

    laptop_stream.freeze()
    await phone_stream.wait_for_presence({phone.session_id}, after=seen_both, timeout=20)
    assert await _online(phone) == {phone.session_id: True, laptop.session_id: False}
    assert not phone_stream.closed, "the device answering pings stays connected"
