"""Resuming the stream: welcome with the head, the log's events after `since` in order, then live events.

When the log cannot bring the device up to date (since past the head, or another epoch) a snapshot comes instead.
"""

from __future__ import annotations

from tests.support.async_devices import AsyncDevice
from tests.support.catalog import SKUS
from tests.support.server import ServerProcess, StartServer
from tests.support.stream import StreamClient, wait_until
from tests.support.stream_fixtures import ConnectStream, OpenStreamDevice


async def test_replays_events_after_since_then_delivers_live_ones(
    server: ServerProcess, stream_device: OpenStreamDevice, connect_stream: ConnectStream
) -> None:
    """hello(since=N) gets welcome with the head, the events after N in order, then a write from another device."""
    phone = await stream_device(device="phone")
    for sku in SKUS:
        await phone.add(sku)
    log = await phone.events()
    head = len(log)
    since = 3

    stream = await connect_stream(server, phone.session_token, since=since, name="phone")
    welcome = await stream.wait_for_welcome()
    assert (welcome["session_id"], welcome["customer_id"], welcome["head"]) == (
        phone.session_id,
        phone.customer_id,
        head,
    )
    await stream.wait_for_seq(head)
    assert stream.events == log[since:]

    laptop = await stream_device(device="laptop", customer_token=phone.customer_token)
    cart = await laptop.add(SKUS[0], 2)
    await stream.wait_for_seq(head + 2)  # laptop's session.opened, then its write
    live = stream.events[head - since :]
    assert [(e["seq"], e["kind"], e["session_id"]) for e in live] == [
        (head + 1, "session.opened", laptop.session_id),
        (head + 2, "cart.updated", laptop.session_id),
    ]
    assert live[-1]["data"]["cart"] == cart
    assert stream.events == (await phone.events())[since:]
    assert not stream.of_type("snapshot")


async def test_since_zero_replays_the_whole_log(
    server: ServerProcess, stream_device: OpenStreamDevice, connect_stream: ConnectStream
) -> None:
    """hello(since=0) replays every event from seq 1, the same objects GET /v1/events returns."""
    device = await stream_device()
    await device.add(SKUS[1])
    await device.add(SKUS[2])
    log = await device.events()

    stream = await connect_stream(server, device.session_token)
    await stream.wait_for_seq(len(log))
    assert stream.seqs == list(range(1, len(log) + 1))
    assert stream.events == log


async def test_since_at_head_sends_nothing_old(
    server: ServerProcess, stream_device: OpenStreamDevice, connect_stream: ConnectStream
) -> None:
    """hello(since=head) replays nothing; the next write is the first event that arrives."""
    device = await stream_device()
    await device.add(SKUS[0])
    head = await device.head()

    stream = await connect_stream(server, device.session_token, since=head)
    assert (await stream.wait_for_welcome())["head"] == head
    await device.add(SKUS[1])
    await stream.wait_for_seq(head + 1)
    assert stream.seqs == [head + 1]


async def test_since_past_the_head_gets_a_snapshot_then_live_events(
    server: ServerProcess, stream_device: OpenStreamDevice, connect_stream: ConnectStream
) -> None:
    """A since beyond the head (a seq of another log) gets a snapshot of the current cart, then live events."""
    device = await stream_device()
    await device.add(SKUS[0], 3)
    head = await device.head()
    epoch = (await (await connect_stream(server, device.session_token, since=head)).wait_for_welcome())["epoch"]

    stream = await connect_stream(server, device.session_token, since=head + 50, epoch=epoch)
    await _assert_snapshot_then_live(stream, device, head, epoch)


async def test_another_epoch_gets_a_snapshot_then_live_events(
    server: ServerProcess, stream_device: OpenStreamDevice, connect_stream: ConnectStream
) -> None:
    """A hello whose epoch is not the log's gets a snapshot (never a replay of the wrong log), then live events."""
    device = await stream_device()
    await device.add(SKUS[0], 3)
    await device.add(SKUS[1])
    head = await device.head()

    stream = await connect_stream(server, device.session_token, since=1, epoch="not-this-log")
    welcome = await stream.wait_for_welcome()
    assert welcome["epoch"] != "not-this-log"
    await _assert_snapshot_then_live(stream, device, head, welcome["epoch"])


async def _assert_snapshot_then_live(stream: StreamClient, device: AsyncDevice, head: int, epoch: str) -> None:
    snapshot = await stream.wait_for_type("snapshot")
    assert (snapshot["head"], snapshot["epoch"]) == (head, epoch)
    assert snapshot["cart"] == await device.cart()
    assert [f["type"] for f in stream.frames[:2]] == ["welcome", "snapshot"]
    assert stream.seqs == [], "no event at or before the snapshot's head may follow it"

    cart = await device.add(SKUS[2])
    (event,) = await stream.wait_for_seq(head + 1)
    assert (event["seq"], event["kind"], event["data"]["cart"]) == (head + 1, "cart.updated", cart)


async def test_since_older_than_retention_gets_a_snapshot_then_live_events(
    start_server: StartServer, stream_device: OpenStreamDevice, connect_stream: ConnectStream
) -> None:
    """Once retention pruned the events after `since`, hello gets a snapshot of the cart instead, then live events."""
    server = start_server(
        env={
            "OMNICART_EVENT_RETENTION_SECONDS": "1",
            "OMNICART_JOBS_INTERVAL_SECONDS": "0.2",
            "OMNICART_HOUSEKEEPING_INTERVAL_SECONDS": "0.2",
        }
    )
    device = await stream_device(server)
    await device.add(SKUS[0], 2)
    head = await device.head()

    async def pruned() -> bool:
        return (await device.client.get("/v1/events", params={"since": 0})).status_code == 410

    await wait_until(pruned, 15, interval=0.1, message="retention pruning the log")
    stream = await connect_stream(server, device.session_token, since=0)
    welcome = await stream.wait_for_welcome()
    await _assert_snapshot_then_live(stream, device, head, welcome["epoch"])
