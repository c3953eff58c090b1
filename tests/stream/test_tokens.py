"""Who may read a customer's stream: only a live session token of that customer, at hello and while connected.

A refresh on the stream gives a token that also works over HTTP.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import httpx

from omnicart.protocol.problems import CloseCode
from tests.support.async_devices import AsyncDevice
from tests.support.catalog import SKUS
from tests.support.devices import bearer
from tests.support.server import ServerProcess, StartServer
from tests.support.stream import wait_until
from tests.support.stream_fixtures import ConnectStream, OpenStreamDevice
from tests.support.tokens import tamper

WRITES_PER_CUSTOMER = 12


async def test_tampered_token_is_closed_4401(
    server: ServerProcess, stream_device: OpenStreamDevice, connect_stream: ConnectStream
) -> None:
    """A hello whose token was altered is closed with 4401 and gets no frame."""
    device = await stream_device()
    stream = await connect_stream(server, tamper(device.session_token))
    assert await stream.wait_closed() == CloseCode.TOKEN_REJECTED
    assert not stream.frames


async def test_revoked_token_is_closed_4401(
    server: ServerProcess, stream_device: OpenStreamDevice, connect_stream: ConnectStream
) -> None:
    """A hello with the token of a revoked session is closed with 4401."""
    phone = await stream_device(device="phone")
    laptop = await stream_device(device="laptop", customer_token=phone.customer_token)
    await laptop.revoke(phone.session_id)
    stream = await connect_stream(server, phone.session_token)
    assert await stream.wait_closed() == CloseCode.TOKEN_REJECTED
    assert not stream.frames


async def test_customer_token_is_not_a_session_token(
    server: ServerProcess, stream_device: OpenStreamDevice, connect_stream: ConnectStream
) -> None:
    """A hello carrying the customer token (another kind of token, of the same customer) is closed with 4401."""
    device = await stream_device()
    stream = await connect_stream(server, device.customer_token)
    assert await stream.wait_closed() == CloseCode.TOKEN_REJECTED
    assert not stream.frames


async def test_expired_token_is_closed_4401(
    start_server: StartServer, stream_device: OpenStreamDevice, connect_stream: ConnectStream
) -> None:
    """Once a session token has expired (OMNICART_SESSION_TTL_SECONDS=1), its hello is closed with 4401."""
    server = start_server(env={"OMNICART_SESSION_TTL_SECONDS": "1"})
    device = await stream_device(server)

    async def expired() -> bool:
        return (await device.client.get("/v1/cart")).status_code == 401

    await wait_until(expired, 10, interval=0.1, message="the session token expiring over HTTP")
    stream = await connect_stream(server, device.session_token)
    assert await stream.wait_closed() == CloseCode.TOKEN_REJECTED
    assert not stream.frames


async def test_token_of_another_server_key_is_closed_4401(
    server: ServerProcess,
    start_server: StartServer,
    stream_device: OpenStreamDevice,
    connect_stream: ConnectStream,
) -> None:
    """A well-formed session token signed with a key this server does not hold is closed with 4401."""
    other = start_server(env={"OMNICART_SECRET_KEYS": "another-deployment-" + "k" * 40})
    foreign = await stream_device(other)
    stream = await connect_stream(server, foreign.session_token)
    assert await stream.wait_closed() == CloseCode.TOKEN_REJECTED
    assert not stream.frames


async def test_devices_only_receive_their_own_customers_events(
    server: ServerProcess, stream_device: OpenStreamDevice, connect_stream: ConnectStream
) -> None:
    """Two customers writing at once: each stream carries exactly its own customer's log, nothing of the other."""
    alice = await stream_device(device="alice")
    bob = await stream_device(device="bob")
    alice_stream = await connect_stream(server, alice.session_token, name="alice")
    bob_stream = await connect_stream(server, bob.session_token, name="bob")
    assert (await alice_stream.wait_for_welcome())["customer_id"] == alice.customer_id
    assert (await bob_stream.wait_for_welcome())["customer_id"] == bob.customer_id

    async def write(device: AsyncDevice) -> None:
        for n in range(WRITES_PER_CUSTOMER):
            await device.add(SKUS[n % len(SKUS)])

    await asyncio.gather(write(alice), write(bob))
    for device, stream in ((alice, alice_stream), (bob, bob_stream)):
        log = await device.events()
        await stream.wait_for_seq(len(log))
        assert stream.events == log
    alice_carts = {e["data"]["cart"]["cart_id"] for e in alice_stream.events if e["kind"] == "cart.updated"}
    bob_carts = {e["data"]["cart"]["cart_id"] for e in bob_stream.events if e["kind"] == "cart.updated"}
    assert len(alice_carts) == len(bob_carts) == 1
    assert alice_carts != bob_carts


async def test_revoking_a_connected_session_closes_it_4401_after_the_event(
    server: ServerProcess, stream_device: OpenStreamDevice, connect_stream: ConnectStream
) -> None:
    """A session revoked while connected gets the session.revoked event naming it as its last frame, then 4401."""
    phone = await stream_device(device="phone")
    laptop = await stream_device(device="laptop", customer_token=phone.customer_token)
    phone_stream = await connect_stream(server, phone.session_token, name="phone")
    laptop_stream = await connect_stream(server, laptop.session_token, name="laptop")
    head = await phone.head()
    await phone_stream.wait_for_seq(head)
    await laptop_stream.wait_for_seq(head)

    await laptop.revoke(phone.session_id)
    assert await phone_stream.wait_closed() == CloseCode.TOKEN_REJECTED
    last = phone_stream.events[-1]
    assert (last["seq"], last["kind"], last["data"]["session_id"]) == (head + 1, "session.revoked", phone.session_id)

    # The other device sees the same event and stays connected.
    await laptop_stream.wait_for_seq(head + 1)
    await laptop.add(SKUS[0])
    await laptop_stream.wait_for_seq(head + 2)
    assert not laptop_stream.closed


async def test_revoking_ones_own_connected_session_closes_it_4401(
    server: ServerProcess, stream_device: OpenStreamDevice, connect_stream: ConnectStream
) -> None:
    """A device that revokes its own session (logging out) is cut with 4401 after its session.revoked event."""
    device = await stream_device()
    stream = await connect_stream(server, device.session_token)
    await stream.wait_for_seq(1)
    await device.revoke(device.session_id)
    assert await stream.wait_closed() == CloseCode.TOKEN_REJECTED
    assert stream.events[-1]["kind"] == "session.revoked"


async def test_refresh_returns_a_token_that_works_over_http(
    server: ServerProcess, stream_device: OpenStreamDevice, connect_stream: ConnectStream
) -> None:
    """A `refresh` frame is answered with `refreshed`: a new token, accepted by HTTP and by a new hello."""
    device = await stream_device()
    stream = await connect_stream(server, device.session_token)
    await stream.wait_for_seq(1)
    await stream.refresh()
    refreshed = await stream.wait_for_type("refreshed")
    token = refreshed["token"]
    assert isinstance(token, str)
    # Within the same second the new token may equal the old one (its timestamp has 1 s resolution).
    assert _instant(refreshed["expires_at"]) >= _instant(device.expires_at) > datetime.now(UTC)

    async with httpx.AsyncClient(base_url=server.url, headers=bearer(token)) as client:
        response = await client.post("/v1/cart/ops", json={"ops": [{"op": "add_item", "sku": SKUS[0], "qty": 1}]})
        assert response.status_code == 200, response.text
        sessions = (await client.get("/v1/sessions")).json()
    assert [s["session_id"] for s in sessions] == [device.session_id], "the same session, with a new token"
    await stream.wait_for_seq(2)
    assert not stream.closed, "refreshing does not end the connection"

    again = await connect_stream(server, token, since=2)
    assert (await again.wait_for_welcome())["session_id"] == device.session_id


def _instant(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))
