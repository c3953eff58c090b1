"""Idempotency-Key: a retried batch replays the first answer and has no second effect, also after a restart."""

from __future__ import annotations

import asyncio
import uuid

import httpx
import pytest

from tests.support.catalog import SKUS
from tests.support.devices import Device, OpenDevice, add_item, describe, line_for
from tests.support.problems import assert_problem
from tests.support.server import StartServer

CUP, TEAPOT = SKUS[0], SKUS[1]


def new_key() -> str:
    return f"test-{uuid.uuid4()}"


def test_same_key_same_body_replays_first_answer(device: Device) -> None:
    """A retry with the same key and body answers exactly as the first request did."""
    key, body = new_key(), {"ops": [add_item(CUP, 2)]}
    first = device.post_ops(body, idempotency_key=key)
    assert first.status_code == 200, describe(first)
    device.add(TEAPOT, 1)
    again = device.post_ops(body, idempotency_key=key)
    assert (again.status_code, again.json()) == (first.status_code, first.json())


def test_retry_has_no_second_effect(device: Device) -> None:
    """A retried batch is applied once: same quantity, same version, same event head."""
    key, body = new_key(), {"ops": [add_item(CUP, 2)]}
    first = device.post_ops(body, idempotency_key=key)
    assert first.status_code == 200, describe(first)
    head = device.head()
    for _ in range(3):
        assert device.post_ops(body, idempotency_key=key).status_code == 200
    cart = device.cart()
    assert line_for(cart, CUP)["qty"] == 2
    assert cart["version"] == first.json()["version"]
    assert device.head() == head


def test_retry_from_another_device_of_the_customer_replays(device: Device, open_device: OpenDevice) -> None:
    """Keys belong to the customer: the same key and body from another of its devices replays, without effect."""
    phone = open_device(customer_token=device.customer_token)
    key, body = new_key(), {"ops": [add_item(CUP, 1)]}
    first = device.post_ops(body, idempotency_key=key)
    again = phone.post_ops(body, idempotency_key=key)
    assert (again.status_code, again.json()) == (first.status_code, first.json())
    assert line_for(device.cart(), CUP)["qty"] == 1


def test_same_key_different_body_is_refused(device: Device) -> None:
    """Reusing a key with another body gets 422 idempotency_key_reused and changes nothing."""
    key = new_key()
    first = device.post_ops({"ops": [add_item(CUP, 1)]}, idempotency_key=key)
    assert first.status_code == 200, describe(first)
    head = device.head()
    response = device.post_ops({"ops": [add_item(CUP, 5)]}, idempotency_key=key)
    assert_problem(response, 422, "idempotency_key_reused")
    assert device.cart() == first.json()
    assert device.head() == head


def test_different_keys_apply_twice(device: Device) -> None:
    """The same body under two keys is two batches."""
    body = {"ops": [add_item(CUP, 1)]}
    device.post_ops(body, idempotency_key=new_key())
    device.post_ops(body, idempotency_key=new_key())
    assert line_for(device.cart(), CUP)["qty"] == 2


def test_keys_are_scoped_to_the_customer(device: Device, open_device: OpenDevice) -> None:
    """Another customer using the same key gets its own batch applied, never the first customer's answer."""
    stranger = open_device()
    key = new_key()
    mine = device.post_ops({"ops": [add_item(CUP, 1)]}, idempotency_key=key)
    theirs = stranger.post_ops({"ops": [add_item(TEAPOT, 3)]}, idempotency_key=key)
    assert theirs.status_code == 200, describe(theirs)
    assert theirs.json()["cart_id"] != mine.json()["cart_id"]
    assert line_for(stranger.cart(), TEAPOT)["qty"] == 3


async def test_concurrent_retries_apply_once(device: Device) -> None:
    """Ten simultaneous sends of one key and body apply once and all get the same answer."""
    key, body = new_key(), {"ops": [add_item(CUP, 1)]}
    async with device.async_client() as client:

        async def send() -> httpx.Response:
            return await client.post("/v1/cart/ops", json=body, headers={"Idempotency-Key": key})

        responses = await asyncio.gather(*[send() for _ in range(10)])
    assert [r.status_code for r in responses] == [200] * 10, [describe(r) for r in responses]
    assert len({r.content for r in responses}) == 1
    assert line_for(device.cart(), CUP)["qty"] == 1


@pytest.mark.slow
def test_retry_after_restart_replays_without_effect(start_server: StartServer, open_device: OpenDevice) -> None:
    """After the server restarts, a retry with the same key and body replays the first answer, with no effect."""
    server = start_server()
    shop = open_device(server)
    key, body = new_key(), {"ops": [add_item(CUP, 2), add_item(TEAPOT, 1)]}
    first = shop.post_ops(body, idempotency_key=key)
    assert first.status_code == 200, describe(first)
    head = shop.head()
    server.restart()
    again = shop.post_ops(body, idempotency_key=key)
    assert (again.status_code, again.json()) == (first.status_code, first.json())
    assert shop.cart() == first.json()
    assert shop.head() == head


@pytest.mark.slow
def test_reused_key_refused_after_restart(start_server: StartServer, open_device: OpenDevice) -> None:
    """After a restart, the key still remembers its body: another body gets 422 idempotency_key_reused."""
    server = start_server()
    shop = open_device(server)
    key = new_key()
    assert shop.post_ops({"ops": [add_item(CUP, 1)]}, idempotency_key=key).status_code == 200
    server.restart()
    assert_problem(shop.post_ops({"ops": [add_item(CUP, 9)]}, idempotency_key=key), 422, "idempotency_key_reused")
