"""Resumable transactions: state machines driven by one device at a time, checkout locking and paying exactly once."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from tests.support.catalog import PRICES, SKUS
from tests.support.databases import Databases
from tests.support.devices import Device, OpenDevice, add_item, describe
from tests.support.identity import api_key
from tests.support.live import open_stream
from tests.support.problems import assert_problem
from tests.support.server import ServerProcess
from tests.support.transactions import (
    BOOKING_DETAILS,
    CHECKOUT_DETAILS,
    PaymentBackend,
    get,
    listed,
    parse_time,
    post_start,
    post_step,
    ready_to_pay,
    start,
    step,
    take_over,
)
from tests.support.wait import wait_for

CUP, TEAPOT, MUG = SKUS[0], SKUS[1], SKUS[2]
PAYMENTS = "payments"
REPLAYED = "Idempotent-Replayed"


@pytest.fixture
def payments(server: ServerProcess) -> Iterator[PaymentBackend]:
    """The payment backend of the shared server (API key of scope `payments`)."""
    with PaymentBackend(server.url, api_key(server, PAYMENTS)) as backend:
        yield backend


@pytest.fixture
def phone(device: Device, open_device: OpenDevice) -> Device:
    """A second device (mobile) of the `device` fixture's customer."""
    return open_device(channel="mobile", device="phone", customer_token=device.customer_token)


def new_key() -> str:
    return f"test-{uuid.uuid4()}"


def kinds_of(device: Device, kind: str) -> list[dict[str, object]]:
    return [event for event in device.all_events() if event["kind"] == kind]


@pytest.mark.parametrize(
    ("kind", "data", "initial"),
    [
        pytest.param("checkout", {}, "open", id="checkout"),
        pytest.param("booking", {}, "requested", id="booking"),
        pytest.param("return", {"order_id": "ord_1", "reason": "too small"}, "requested", id="return"),
        pytest.param("support_case", {"topic": "complaint"}, "open", id="support_case"),
    ],
)
def test_start_answers_201_in_initial_state(device: Device, kind: str, data: dict[str, str], initial: str) -> None:
    """Each shipped kind starts in its initial state at version 1, driven by the starting device, with its data."""
    started = start(device, kind, data)
    assert (started["kind"], started["state"], started["version"]) == (kind, initial, 1)
    assert started["driver_session_id"] == device.session_id
    assert started["data"] == data
    assert started["terminal"] is False and started["allowed_next"], started
    assert parse_time(started["lease_expires_at"]) > datetime.now(UTC)


def test_start_needs_the_initial_states_fields(device: Device) -> None:
    """A kind whose initial state requires fields (support_case needs topic) refuses to start without them."""
    body = assert_problem(post_start(device, "support_case"), 422, "missing_fields")
    assert body["missing"] == ["topic"]


def test_unknown_kind_is_refused(device: Device) -> None:
    """A kind the server does not configure gets 422 unknown_transaction_kind."""
    assert_problem(post_start(device, "mortgage"), 422, "unknown_transaction_kind")


def test_start_logs_transaction_started(device: Device) -> None:
    """Starting writes a transaction.started event with the id and kind."""
    started = start(device, "booking")
    event = device.all_events()[-1]
    assert event["kind"] == "transaction.started"
    assert event["data"]["transaction_id"] == started["transaction_id"]
    assert event["data"]["kind"] == "booking"


def test_step_moves_state_and_bumps_version(device: Device) -> None:
    """A valid move answers the transaction in the new state, one version on, with its next moves."""
    booking = start(device, "booking")
    moved = step(device, booking["transaction_id"], to="details", data=BOOKING_DETAILS)
    assert (moved["state"], moved["version"]) == ("details", 2)
    assert moved["data"] == BOOKING_DETAILS
    assert set(moved["allowed_next"]) == {"confirmed", "cancelled"}
    assert get(device, booking["transaction_id"]) == moved


def test_step_data_accumulates(device: Device) -> None:
    """Fields sent over several steps add up; a later value replaces an earlier one."""
    booking = start(device, "booking", {"service": "tasting"})
    step(device, booking["transaction_id"], data={"slot": "morning"})
    updated = step(device, booking["transaction_id"], data={"slot": "evening"})
    assert updated["data"] == {"service": "tasting", "slot": "evening"}
    assert updated["state"] == "requested"


def test_missing_fields_are_listed(device: Device) -> None:
    """Moving to a state without its required fields gets 422 missing_fields listing what is missing."""
    checkout = start(device, "checkout")
    response = post_step(device, checkout["transaction_id"], to="details", data={"contact": "x@example.com"})
    body = assert_problem(response, 422, "missing_fields")
    assert body["missing"] == ["fulfilment"]
    assert get(device, checkout["transaction_id"])["state"] == "open"


def test_disallowed_move_lists_allowed_next(device: Device) -> None:
    """A move the machine does not allow gets 409 invalid_transition with the allowed next states."""
    checkout = start(device, "checkout")
    body = assert_problem(
        post_step(device, checkout["transaction_id"], to="payment_pending"), 409, "invalid_transition"
    )
    assert set(body["allowed_next"]) == {"details", "cancelled"}


def test_stale_expected_version_conflicts(device: Device) -> None:
    """A step with an expected_version that is not current gets 409 version_conflict with current_version."""
    booking = start(device, "booking")
    step(device, booking["transaction_id"], data={"service": "tasting"})
    response = post_step(device, booking["transaction_id"], data={"slot": "x"}, expected_version=1)
    body = assert_problem(response, 409, "version_conflict")
    assert body["current_version"] == 2
    assert "slot" not in get(device, booking["transaction_id"])["data"]


def test_step_retry_with_same_key_replays(device: Device) -> None:
    """A step retried with the same Idempotency-Key and body replays the answer, marked, with no second effect."""
    booking = start(device, "booking")
    key, tid = new_key(), booking["transaction_id"]
    first = post_step(device, tid, to="details", data=BOOKING_DETAILS, idempotency_key=key)
    assert first.status_code == 200, describe(first)
    again = post_step(device, tid, to="details", data=BOOKING_DETAILS, idempotency_key=key)
    assert again.status_code == 200, describe(again)
    assert again.headers.get(REPLAYED) == "true"
    assert REPLAYED not in first.headers
    assert again.json() == first.json()
    assert get(device, tid)["version"] == 2
    assert len(kinds_of(device, "transaction.updated")) == 1


def test_step_key_reused_with_other_body_is_refused(device: Device) -> None:
    """The same Idempotency-Key with another step body gets 422 idempotency_key_reused."""
    booking = start(device, "booking")
    key, tid = new_key(), booking["transaction_id"]
    assert post_step(device, tid, data={"service": "a"}, idempotency_key=key).status_code == 200
    assert_problem(post_step(device, tid, data={"service": "b"}, idempotency_key=key), 422, "idempotency_key_reused")
    assert get(device, tid)["data"] == {"service": "a"}


def test_other_device_is_refused_while_lease_held(device: Device, phone: Device) -> None:
    """Another device of the customer stepping a driven transaction gets 409 transaction_lease_held."""
    booking = start(device, "booking")
    response = post_step(phone, booking["transaction_id"], data={"service": "tasting"})
    assert_problem(response, 409, "transaction_lease_held")
    assert get(phone, booking["transaction_id"])["data"] == {}


def test_takeover_moves_the_lease(device: Device, phone: Device) -> None:
    """After POST .../takeover the new device steps, and the previous driver gets 409 transaction_lease_held."""
    booking = start(device, "booking")
    tid = booking["transaction_id"]
    taken = take_over(phone, tid)
    assert taken["driver_session_id"] == phone.session_id
    assert step(phone, tid, to="details", data=BOOKING_DETAILS)["state"] == "details"
    assert_problem(post_step(device, tid, to="cancelled"), 409, "transaction_lease_held")


def test_previous_driver_is_told_of_takeover(device: Device, phone: Device) -> None:
    """The previous driver's live stream receives transaction.taken_over naming both sessions."""
    booking = start(device, "booking")
    with open_stream(device, since=device.head()) as stream:
        take_over(phone, booking["transaction_id"])
        event = stream.wait_for_event("transaction.taken_over")
    assert event["data"]["transaction_id"] == booking["transaction_id"]
    assert (event["data"]["from_session"], event["data"]["to_session"]) == (device.session_id, phone.session_id)


def test_transactions_belong_to_their_customer(device: Device, open_device: OpenDevice) -> None:
    """Another customer can neither read, step nor take over a transaction: 404 not_found."""
    booking = start(device, "booking")
    stranger, tid = open_device(), booking["transaction_id"]
    assert_problem(stranger.client.get(f"/v1/transactions/{tid}"), 404, "not_found")
    assert_problem(post_step(stranger, tid, data={"service": "x"}), 404, "not_found")
    assert_problem(stranger.client.post(f"/v1/transactions/{tid}/takeover"), 404, "not_found")
    assert listed(stranger) == []


def test_list_is_newest_first(device: Device, phone: Device) -> None:
    """GET /v1/transactions lists every transaction of the customer, from any device, newest first."""
    first = start(device, "booking")
    second = start(phone, "support_case", {"topic": "delivery"})
    assert [item["transaction_id"] for item in listed(device)] == [second["transaction_id"], first["transaction_id"]]


def test_checkout_freezes_the_cart_at_start(device: Device) -> None:
    """A checkout keeps the cart's lines and prices as they were when it started."""
    device.add(CUP, 2)
    cart = device.cart()
    checkout = start(device, "checkout")
    assert checkout["frozen_cart"] == cart
    device.add(TEAPOT, 1)
    assert get(device, checkout["transaction_id"])["frozen_cart"] == cart


def test_payment_pending_locks_the_cart(device: Device) -> None:
    """While a checkout is payment_pending, cart ops get 409 cart_locked and change nothing."""
    device.add(CUP, 1)
    ready_to_pay(device)
    cart = device.cart()
    assert_problem(device.post_ops({"ops": [add_item(TEAPOT, 1)]}), 409, "cart_locked")
    assert device.cart() == cart


def test_payment_pending_refreezes_the_cart(device: Device) -> None:
    """Entering payment_pending freezes the cart again, with what was added since the checkout began."""
    device.add(CUP, 1)
    checkout = start(device, "checkout")
    tid = checkout["transaction_id"]
    step(device, tid, to="details", data=CHECKOUT_DETAILS)
    device.add(TEAPOT, 1)
    pending = step(device, tid, to="payment_pending")
    assert pending["frozen_cart"] == device.cart()
    assert {line["sku"] for line in pending["frozen_cart"]["lines"]} == {CUP, TEAPOT}


def test_cancel_unlocks_the_cart(device: Device) -> None:
    """Cancelling a payment_pending checkout lets cart ops through again."""
    device.add(CUP, 1)
    checkout = ready_to_pay(device)
    cancelled = step(device, checkout["transaction_id"], to="cancelled")
    assert (cancelled["state"], cancelled["terminal"], cancelled["allowed_next"]) == ("cancelled", True, [])
    assert device.post_ops({"ops": [add_item(TEAPOT, 1)]}).status_code == 200


def test_devices_cannot_complete_a_checkout(device: Device) -> None:
    """Stepping to completed gets 409 invalid_transition: only the payment backend completes a checkout."""
    device.add(CUP, 1)
    checkout = ready_to_pay(device)
    body = assert_problem(post_step(device, checkout["transaction_id"], to="completed"), 409, "invalid_transition")
    assert "completed" not in body["allowed_next"]
    assert get(device, checkout["transaction_id"])["state"] == "payment_pending"


def test_finished_transaction_refuses_steps(device: Device) -> None:
    """A transaction in a final state gets 409 transaction_finished for any step, and for takeover."""
    booking = start(device, "booking")
    tid = booking["transaction_id"]
    step(device, tid, to="cancelled")
    assert_problem(post_step(device, tid, data={"service": "x"}), 409, "transaction_finished")
    assert_problem(post_step(device, tid, to="requested"), 409, "transaction_finished")
    assert_problem(device.client.post(f"/v1/transactions/{tid}/takeover"), 409, "transaction_finished")


def test_payment_success_completes_with_an_order(device: Device, payments: PaymentBackend) -> None:
    """A succeeded payment moves the checkout to completed with an order of the frozen cart."""
    device.add(CUP, 2)
    device.add(TEAPOT, 1)
    checkout = ready_to_pay(device)
    done = payments.confirm(checkout["transaction_id"], "psp-123")
    assert (done["state"], done["terminal"]) == ("completed", True)
    order = done["order"]
    assert order is not None, done
    assert order["transaction_id"] == checkout["transaction_id"]
    assert order["cart"] == checkout["frozen_cart"]
    assert order["total"] == 2 * PRICES[CUP] + PRICES[TEAPOT]
    assert (order["currency"], order["payment_reference"]) == ("EUR", "psp-123")
    assert get(device, checkout["transaction_id"])["order"] == order


def test_completion_is_logged_before_its_order(device: Device, payments: PaymentBackend) -> None:
    """The log says the checkout completed, then the order it created, then the fresh cart: cause before effect."""
    device.add(CUP, 1)
    tid = ready_to_pay(device)["transaction_id"]
    head = device.head()
    payments.confirm(tid)
    written = [(event["kind"], event["data"].get("state")) for event in device.all_events() if event["seq"] > head]
    assert written == [("transaction.updated", "completed"), ("order.created", None), ("cart.updated", None)]


def test_cart_is_fresh_after_an_order(device: Device, payments: PaymentBackend) -> None:
    """Once the order exists the customer has a new, empty, unlocked cart."""
    device.add(CUP, 1)
    before = device.cart()
    payments.confirm(ready_to_pay(device)["transaction_id"])
    after = device.cart()
    assert after["cart_id"] != before["cart_id"]
    assert (after["lines"], after["item_count"], after["subtotal"]) == ([], 0, 0)
    assert device.post_ops({"ops": [add_item(MUG, 1)]}).status_code == 200


async def test_racing_confirmations_create_one_order(device: Device, payments: PaymentBackend) -> None:
    """Five simultaneous confirmations all answer the same order; the log holds exactly one order.created."""
    device.add(CUP, 1)
    tid = ready_to_pay(device)["transaction_id"]
    async with httpx.AsyncClient(base_url=device.base_url, headers=payments.async_headers) as client:

        async def confirm() -> httpx.Response:
            body = {"status": "succeeded", "reference": "psp-race"}
            return await client.post(f"/v1/transactions/{tid}/payment", json=body)

        responses = await asyncio.gather(*[confirm() for _ in range(5)])
    assert [r.status_code for r in responses] == [200] * 5, [describe(r) for r in responses]
    assert len({r.json()["order"]["order_id"] for r in responses}) == 1
    assert len(kinds_of(device, "order.created")) == 1


async def test_two_devices_pressing_pay_at_once_make_one_order(
    device: Device, phone: Device, payments: PaymentBackend
) -> None:
    """Web and phone pressing pay together move the checkout to payment_pending once; paying makes one order."""
    device.add(CUP, 1)
    checkout = start(device, "checkout")
    tid = checkout["transaction_id"]
    step(device, tid, to="details", data=CHECKOUT_DETAILS)

    async def press_pay(who: Device) -> httpx.Response:
        async with who.async_client() as client:
            return await client.post(f"/v1/transactions/{tid}/step", json={"to": "payment_pending"})

    presses = await asyncio.gather(press_pay(device), press_pay(phone), press_pay(device))
    for press in presses:
        if press.status_code != 200:
            assert_problem(press, 409, "transaction_lease_held")
    assert any(press.status_code == 200 for press in presses), [describe(p) for p in presses]
    entered = [e for e in kinds_of(device, "transaction.updated") if e["data"]["state"] == "payment_pending"]
    assert len(entered) == 1, entered
    await asyncio.gather(*[asyncio.to_thread(payments.confirm, tid) for _ in range(2)])
    assert len(kinds_of(device, "order.created")) == 1


def test_payment_failure_returns_to_details(device: Device, payments: PaymentBackend) -> None:
    """A failed payment moves the checkout back to details with data.payment_error, and unlocks the cart."""
    device.add(CUP, 1)
    checkout = ready_to_pay(device)
    response = payments.post_payment(checkout["transaction_id"], "failed", "card_declined")
    assert response.status_code == 200, describe(response)
    back = response.json()
    assert (back["state"], back["order"]) == ("details", None)
    assert back["data"]["payment_error"] == "card_declined"
    assert device.post_ops({"ops": [add_item(TEAPOT, 1)]}).status_code == 200
    assert kinds_of(device, "order.created") == []


def test_payment_needs_payments_scope(server: ServerProcess, device: Device) -> None:
    """A key without scope `payments` gets 403 forbidden and the checkout stays pending."""
    device.add(CUP, 1)
    checkout = ready_to_pay(device)
    with PaymentBackend(server.url, api_key(server, "agent")) as impostor:
        assert_problem(impostor.post_payment(checkout["transaction_id"], "succeeded", "x"), 403, "forbidden")
    assert get(device, checkout["transaction_id"])["state"] == "payment_pending"


def test_payment_needs_an_api_key(server: ServerProcess, device: Device) -> None:
    """A device's session token cannot confirm a payment: 401 token_invalid."""
    device.add(CUP, 1)
    checkout = ready_to_pay(device)
    with PaymentBackend(server.url, device.session_token) as impostor:
        assert_problem(impostor.post_payment(checkout["transaction_id"], "succeeded", "x"), 401, "token_invalid")


def test_payment_for_a_checkout_not_pending_is_refused(device: Device, payments: PaymentBackend) -> None:
    """Confirming a checkout that is not payment_pending gets 409 invalid_transition and creates no order."""
    device.add(CUP, 1)
    checkout = start(device, "checkout")
    step(device, checkout["transaction_id"], to="details", data=CHECKOUT_DETAILS)
    assert_problem(payments.post_payment(checkout["transaction_id"], "succeeded", "x"), 409, "invalid_transition")
    assert kinds_of(device, "order.created") == []


def test_payment_for_a_cancelled_checkout_is_refused(device: Device, payments: PaymentBackend) -> None:
    """A success reported for a cancelled checkout gets 409, so the payment backend knows to refund."""
    device.add(CUP, 1)
    checkout = ready_to_pay(device)
    step(device, checkout["transaction_id"], to="cancelled")
    response = payments.post_payment(checkout["transaction_id"], "succeeded", "psp-late")
    assert_problem(response, 409, ("transaction_finished", "invalid_transition"))


def test_payment_for_unknown_transaction_is_not_found(payments: PaymentBackend) -> None:
    """Confirming a transaction id that does not exist answers 404 not_found."""
    assert_problem(payments.post_payment("txn_0000000000000000", "succeeded", "x"), 404, "not_found")


CUSTOM_MACHINES = {
    "repair": {
        "initial": "received",
        "states": {
            "received": {"next": ["diagnosed"]},
            "diagnosed": {"next": ["fixed"], "requires": ["diagnosis"]},
            "fixed": {"final": True},
        },
    }
}
"""The only kind of the `custom_server`."""


@pytest.fixture(scope="module")
def custom_server(
    databases: Databases, catalog_file: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    """A server of this module's own: the CUSTOM_MACHINES file and a one-second transaction lease."""
    directory = tmp_path_factory.mktemp("custom-machines")
    machines = directory / "machines.json"
    machines.write_text(json.dumps(CUSTOM_MACHINES))
    env = {"OMNICART_TRANSACTIONS_FILE": str(machines), "OMNICART_TRANSACTION_LEASE_SECONDS": "1"}
    server = ServerProcess(databases.new(), directory / f"{databases.backend}.log", env=env, catalog=catalog_file)
    server.start()
    yield server
    server.stop()


def test_expired_lease_lets_another_device_step(custom_server: ServerProcess, open_device: OpenDevice) -> None:
    """Once the driver's lease (OMNICART_TRANSACTION_LEASE_SECONDS) ran out, another device steps without takeover."""
    web = open_device(custom_server)
    phone = open_device(custom_server, channel="mobile", device="phone", customer_token=web.customer_token)
    repair = start(web, "repair")
    lease_end = parse_time(repair["lease_expires_at"])
    wait_for(lambda: datetime.now(UTC) > lease_end, timeout=10, message="the lease to run out")
    moved = step(phone, repair["transaction_id"], to="diagnosed", data={"diagnosis": "worn gasket"})
    assert (moved["state"], moved["driver_session_id"]) == ("diagnosed", phone.session_id)
    assert_problem(post_step(web, repair["transaction_id"], to="fixed"), 409, "transaction_lease_held")


def test_custom_machines_file_is_used(custom_server: ServerProcess, open_device: OpenDevice) -> None:
    """With OMNICART_TRANSACTIONS_FILE the server runs the kinds of that file, and only those."""
    shop = open_device(custom_server)
    repair = start(shop, "repair")
    assert (repair["state"], repair["allowed_next"]) == ("received", ["diagnosed"])
    tid = repair["transaction_id"]
    assert_problem(post_step(shop, tid, to="diagnosed"), 422, "missing_fields")
    step(shop, tid, to="diagnosed", data={"diagnosis": "worn gasket"})
    assert step(shop, tid, to="fixed")["terminal"] is True
    assert_problem(post_start(shop, "checkout"), 422, "unknown_transaction_kind")


@pytest.mark.slow
def test_broken_machines_file_stops_the_server(catalog_file: Path, tmp_path: Path) -> None:
    """`omnicart serve` with an unusable transactions file exits non-zero and says what is wrong."""
    # Every way a file can be unusable is a unit test (tests/unit/test_machine.py); here, that serve refuses one.
    machines = tmp_path / "machines.json"
    machines.write_text(json.dumps({"repair": {"initial": "received", "states": {"received": {"next": ["lost"]}}}}))
    # Reading the file does not depend on the backend, so one throwaway SQLite file shows it.
    server = ServerProcess(
        f"sqlite+aiosqlite:///{tmp_path / 'broken.db'}",
        tmp_path / "broken.log",
        env={"OMNICART_TRANSACTIONS_FILE": str(machines)},
        catalog=catalog_file,
    )
    server.start(wait=False)
    try:
        assert server.wait_exit(timeout=30) != 0, server.log_tail()
    finally:
        server.stop()
    assert "repair.received: next names unknown state(s) lost" in server.log_text(), server.log_tail()
