"""kill -9 of the server right after acknowledged writes: after a restart on the same database nothing is lost."""

from __future__ import annotations

import asyncio
import threading
from collections import Counter

import httpx
import pytest

from tests.support.catalog import SKUS
from tests.support.devices import JSON, Device, OpenDevice, add_item, describe
from tests.support.server import StartServer
from tests.support.wait import wait_for

pytestmark = pytest.mark.slow

WRITES = 30


def assert_log_is_gap_free(device: Device) -> list[JSON]:
    events = device.all_events()
    assert [event["seq"] for event in events] == list(range(1, len(events) + 1))
    assert device.head() == len(events)
    return events


def quantities(cart: JSON) -> dict[str, int]:
    return {line["sku"]: line["qty"] for line in cart["lines"]}


def test_sequential_acknowledged_writes_survive_kill9(start_server: StartServer, open_device: OpenDevice) -> None:
    """Every batch acknowledged before SIGKILL is in the cart and the log after the restart."""
    server = start_server()
    shopper = open_device(server)
    sent: Counter[str] = Counter()
    last: JSON = {}
    for n in range(WRITES):
        sku = SKUS[n % len(SKUS)]
        last = shopper.add(sku)
        sent[sku] += 1
    server.kill9()
    server.start()
    cart = shopper.cart()
    assert cart == last
    assert quantities(cart) == dict(sent)
    kinds = Counter(event["kind"] for event in assert_log_is_gap_free(shopper))
    assert kinds == {"session.opened": 1, "cart.updated": WRITES}


def test_concurrent_acknowledged_writes_survive_kill9(start_server: StartServer, open_device: OpenDevice) -> None:
    """Writes from several devices at once, all acknowledged, are all there after SIGKILL and restart."""
    server = start_server()
    first = open_device(server)
    devices = [first, *[open_device(server, customer_token=first.customer_token) for _ in range(3)]]

    async def write_all() -> list[httpx.Response]:
        clients = [device.async_client() for device in devices]
        try:
            requests = [client.post("/v1/cart/ops", json={"ops": [add_item(SKUS[0])]}) for client in clients * 10]
            return list(await asyncio.gather(*requests))
        finally:
            await asyncio.gather(*[client.aclose() for client in clients])

    responses = asyncio.run(write_all())
    acknowledged = [r for r in responses if r.status_code == 200]
    assert len(acknowledged) == len(responses), [describe(r) for r in responses if r.status_code != 200]
    server.kill9()
    server.start()
    cart = first.cart()
    assert quantities(cart) == {SKUS[0]: len(acknowledged)}
    assert cart["version"] == max(r.json()["version"] for r in acknowledged)
    assert Counter(e["kind"] for e in assert_log_is_gap_free(first))["cart.updated"] == len(acknowledged)


def test_kill9_during_writes_keeps_acknowledged_ones_and_consistency(
    start_server: StartServer, open_device: OpenDevice
) -> None:
    """SIGKILL while writes stream in: every acknowledged write survives, and cart, version and log still agree."""
    server = start_server()
    shopper = open_device(server)
    baseline_version = shopper.cart()["version"]
    acknowledged: list[JSON] = []
    stop = threading.Event()

    def write_until_refused() -> None:
        with httpx.Client(base_url=server.url, headers=shopper.client.headers, timeout=10) as client:
            while not stop.is_set():
                try:
                    response = client.post("/v1/cart/ops", json={"ops": [add_item(SKUS[1])]})
                except httpx.TransportError:
                    return
                if response.status_code != 200:
                    return
                acknowledged.append(response.json())

    writer = threading.Thread(target=write_until_refused)
    writer.start()
    try:
        wait_for(lambda: len(acknowledged) >= 20, timeout=30, message="20 acknowledged writes")
        server.kill9()
    finally:
        stop.set()
        writer.join(30)
    server.start()
    cart = shopper.cart()
    qty = quantities(cart).get(SKUS[1], 0)
    updates = Counter(e["kind"] for e in assert_log_is_gap_free(shopper))["cart.updated"]
    # An unacknowledged write may or may not have committed; an acknowledged one must have.
    assert qty >= len(acknowledged)
    assert qty == updates == cart["version"] - baseline_version
    assert cart["version"] >= acknowledged[-1]["version"]


def test_idempotent_retry_after_kill9_has_no_second_effect(start_server: StartServer, open_device: OpenDevice) -> None:
    """A batch acknowledged just before SIGKILL, retried with its key after restart, replays without effect."""
    server = start_server()
    shopper = open_device(server)
    body = {"ops": [add_item(SKUS[2], 3)]}
    first = shopper.post_ops(body, idempotency_key="kill9-retry")
    assert first.status_code == 200, describe(first)
    server.kill9()
    server.start()
    again = shopper.post_ops(body, idempotency_key="kill9-retry")
    assert (again.status_code, again.json()) == (first.status_code, first.json())
    assert shopper.cart() == first.json()


def test_sessions_survive_kill9(start_server: StartServer, open_device: OpenDevice) -> None:
    """Device sessions opened before SIGKILL still authorize and are listed after the restart."""
    server = start_server()
    web = open_device(server)
    phone = open_device(server, channel="mobile", customer_token=web.customer_token)
    server.kill9()
    server.start()
    assert {s["session_id"] for s in phone.sessions()} == {web.session_id, phone.session_id}
