"""Several devices of one customer writing at once: no lost update, no duplicate line, one gap-free log."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from tests.support.catalog import SKUS
from tests.support.devices import JSON, Device, OpenDevice, add_item, describe, line_for, new_device, set_quantity
from tests.support.server import ServerProcess, StartServer

DEVICES = 8
ADDS_PER_DEVICE = 25
WRITES = DEVICES * ADDS_PER_DEVICE


@dataclass
class Race:
    """One customer's devices after they all sent their add_item batches at the same time."""

    devices: list[Device]
    sent: Counter[str]
    """How many add_item of qty 1 were sent per SKU."""
    responses: list[httpx.Response]

    @property
    def first(self) -> Device:
        return self.devices[0]


async def open_devices(server: ServerProcess, count: int) -> list[Device]:
    """A new customer's first device, then `count - 1` more of its devices opened simultaneously."""
    first = new_device(server, "web", "device-0")

    async def open_one(index: int) -> Device:
        return await asyncio.to_thread(new_device, server, "mobile", f"device-{index}", first.customer_token)

    return [first, *await asyncio.gather(*[open_one(i) for i in range(1, count)])]


async def race(server: ServerProcess, sku_of: list[list[str]]) -> Race:
    """Open len(sku_of) devices of a new customer; device i sends one add_item per SKU in sku_of[i], all at once."""
    devices = await open_devices(server, len(sku_of))
    clients = [device.async_client() for device in devices]
    try:
        requests = [
            clients[i].post("/v1/cart/ops", json={"ops": [add_item(sku)]})
            for i, skus in enumerate(sku_of)
            for sku in skus
        ]
        responses = await asyncio.gather(*requests)
    finally:
        await asyncio.gather(*[client.aclose() for client in clients])
    return Race(devices, Counter(sku for skus in sku_of for sku in skus), list(responses))


@pytest.fixture(scope="module", params=["one-sku", "many-skus"])
def raced(shared_server: ServerProcess, request: pytest.FixtureRequest) -> Iterator[Race]:
    """8 devices x 25 simultaneous add_item, all of one SKU ("one-sku") or spread over the catalog ("many-skus")."""
    one_sku = [[SKUS[0]] * ADDS_PER_DEVICE for _ in range(DEVICES)]
    many_skus = [[SKUS[(d + n) % len(SKUS)] for n in range(ADDS_PER_DEVICE)] for d in range(DEVICES)]
    plan = one_sku if request.param == "one-sku" else many_skus
    result = asyncio.run(race(shared_server, plan))
    yield result
    for device in result.devices:
        device.close()


def test_every_concurrent_add_is_acknowledged(raced: Race) -> None:
    """Each of the simultaneous batches is answered 200."""
    failed = [describe(r) for r in raced.responses if r.status_code != 200]
    assert not failed, f"{len(failed)} of {WRITES} failed, e.g. {failed[:3]}"


def test_concurrent_adds_lose_no_update(raced: Race) -> None:
    """The final quantity of every SKU is the number of adds sent for it."""
    cart = raced.first.cart()
    assert {line["sku"]: line["qty"] for line in cart["lines"]} == dict(raced.sent)
    assert cart["item_count"] == WRITES


def test_concurrent_adds_make_one_line_per_sku(raced: Race) -> None:
    """Racing adds of the same SKU never create a second line for it."""
    skus = [line["sku"] for line in raced.first.cart()["lines"]]
    assert sorted(skus) == sorted(set(skus)) == sorted(raced.sent)


def test_concurrent_first_writes_share_one_cart(raced: Race) -> None:
    """All devices' first writes, racing, landed in the customer's one cart."""
    assert {r.json()["cart_id"] for r in raced.responses if r.status_code == 200} == {raced.first.cart()["cart_id"]}


def test_each_acknowledged_batch_got_its_own_version(raced: Race) -> None:
    """The acknowledged batches hold consecutive distinct versions, the last being the cart's version."""
    versions = sorted(r.json()["version"] for r in raced.responses if r.status_code == 200)
    assert versions == list(range(versions[0], versions[0] + WRITES))
    assert raced.first.cart()["version"] == versions[-1]


def test_concurrent_writes_leave_a_gap_free_log(raced: Race) -> None:
    """The customer's log is seq 1..head without gaps: a session.opened per device, a cart.updated per batch."""
    events = raced.first.all_events()
    assert [event["seq"] for event in events] == list(range(1, len(events) + 1))
    assert events[-1]["seq"] == raced.first.head()
    kinds = Counter(event["kind"] for event in events)
    assert kinds == {"session.opened": DEVICES, "cart.updated": WRITES}


def test_every_device_sees_the_same_cart(raced: Race) -> None:
    """After the race, GET /v1/cart answers the same cart on every device."""
    carts = [device.cart() for device in raced.devices]
    assert all(cart == carts[0] for cart in carts), carts


async def test_concurrent_logins_keep_the_cart(device: Device, server: ServerProcess) -> None:
    """Eight devices resuming the customer at the same moment neither empty nor replace its cart."""
    before = device.apply(add_item(SKUS[0], 2), add_item(SKUS[1], 1))
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
        body = {"channel": "mobile", "device": "phone", "customer_token": device.customer_token}
        responses = await asyncio.gather(*[client.post("/v1/sessions", json=body) for _ in range(DEVICES)])
    assert [r.status_code for r in responses] == [201] * DEVICES, [describe(r) for r in responses]
    assert {r.json()["customer_id"] for r in responses} == {device.customer_id}
    assert device.cart() == before


async def increment_until_done(client: httpx.AsyncClient, line_id: str, times: int) -> int:
    """Raise the line's quantity by one `times` times with read-modify-write under expected_version; count 409s."""
    conflicts = 0
    done = 0
    while done < times:
        cart: JSON = (await client.get("/v1/cart")).json()
        qty = next(line["qty"] for line in cart["lines"] if line["line_id"] == line_id)
        body = {"ops": [set_quantity(line_id, qty + 1)], "expected_version": cart["version"]}
        response = await client.post("/v1/cart/ops", json=body)
        if response.status_code == 409:
            conflicts += 1
            continue
        assert response.status_code == 200, describe(response)
        done += 1
    return conflicts


async def test_optimistic_writers_never_lose_an_increment(device: Device, open_device: OpenDevice) -> None:
    """Devices doing read-modify-write with expected_version, retrying on 409, end with every increment counted."""
    line_id = line_for(device.add(SKUS[1], 1), SKUS[1])["line_id"]
    others = [open_device(customer_token=device.customer_token) for _ in range(3)]
    clients = [d.async_client() for d in [device, *others]]
    try:
        await asyncio.gather(*[increment_until_done(client, line_id, 5) for client in clients])
    finally:
        await asyncio.gather(*[client.aclose() for client in clients])
    assert line_for(device.cart(), SKUS[1])["qty"] == 1 + 4 * 5


@pytest.mark.slow
async def test_concurrent_adds_across_workers_lose_no_update(
    start_server: StartServer, open_device: OpenDevice, redis_url: str
) -> None:
    """With two server processes (--workers 2, Redis), simultaneous adds from many devices all count, on one line."""
    server = start_server(args=["--workers", "2", "--redis", redis_url])
    first = open_device(server)
    devices = [first, *[open_device(server, customer_token=first.customer_token) for _ in range(DEVICES - 1)]]
    clients = [device.async_client() for device in devices]

    async def add_ten(client: httpx.AsyncClient) -> list[httpx.Response]:
        # One request at a time per device keeps 8 in flight: enough to race, without exhausting PostgreSQL
        # connections (each worker pools up to 30 and the test machine allows 100 in all).
        return [await client.post("/v1/cart/ops", json={"ops": [add_item(SKUS[3])]}) for _ in range(10)]

    try:
        responses = [r for batch in await asyncio.gather(*[add_ten(c) for c in clients]) for r in batch]
    finally:
        await asyncio.gather(*[client.aclose() for client in clients])
    failed = [describe(r) for r in responses if r.status_code != 200]
    assert not failed, f"{len(failed)} of {len(responses)} failed, e.g. {failed[:3]}"
    cart = first.cart()
    assert [(line["sku"], line["qty"]) for line in cart["lines"]] == [(SKUS[3], len(responses))]
    events = first.all_events()
    assert [event["seq"] for event in events] == list(range(1, len(events) + 1))
