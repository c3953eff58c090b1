"""Journey "three channels": a purchase started on the web, continued on the phone, completed for the store."""

from __future__ import annotations

from tests.support.carts import quantities
from tests.support.catalog import PRICES, SKUS
from tests.support.devices import OpenDevice, add_item
from tests.support.handoff import Claimer, offer
from tests.support.identity import api_key, new_email, trusted_backend
from tests.support.live import open_stream
from tests.support.problems import assert_problem
from tests.support.server import ServerProcess
from tests.support.transactions import (
    BOOKING_DETAILS,
    CHECKOUT_DETAILS,
    PaymentBackend,
    listed,
    post_step,
    start,
    step,
    take_over,
)

CUP, TEAPOT, MUG, BEANS, FILTERS = SKUS


def in_order(found: list[str], expected: list[str]) -> bool:
    """Whether `expected` occurs in `found` in this order (other lines may sit between)."""
    rest = iter(found)
    return all(any(line == wanted for line in rest) for wanted in expected)


def test_three_channels(server: ServerProcess, open_device: OpenDevice) -> None:
    """Web starts the checkout, the phone takes it over and pays, the kiosk sees the order; then a case and a cancel."""
    email = new_email()
    with trusted_backend(server) as crm, PaymentBackend(server.url, api_key(server, "payments")) as psp:
        # On the web Ana logs in, fills her cart and starts the checkout: the cart is frozen as it is.
        web = open_device(channel="web", device="laptop")
        crm.link(web, "email", email)
        web.add(CUP, 2)
        web.add(BEANS)
        checkout = start(web, "checkout")
        tid = checkout["transaction_id"]
        assert quantities(checkout["frozen_cart"]) == {CUP: 2, BEANS: 1}

        # She moves to her phone with a handoff code; the phone finds the checkout the web still drives.
        code = offer(web)["code"]
        with open_stream(web, since=web.head()) as web_stream, Claimer(server.url) as phone_side:
            phone = phone_side.claim(code, "mobile", "phone")
            assert phone.customer_id == web.customer_id
            (found,) = listed(phone)
            assert (found["transaction_id"], found["state"]) == (tid, "open")
            assert_problem(post_step(phone, tid, to="details", data=CHECKOUT_DETAILS), 409, "transaction_lease_held")

            # The phone takes over (the web page is told live), gives the details and presses pay.
            take_over(phone, tid)
            assert web_stream.wait_for_event("transaction.taken_over")["data"]["to_session"] == phone.session_id
            step(phone, tid, to="details", data=CHECKOUT_DETAILS)
            assert step(phone, tid, to="payment_pending")["state"] == "payment_pending"
            assert_problem(web.post_ops({"ops": [add_item(MUG)]}), 409, "cart_locked")

            # The payment backend confirms: the checkout completes with its order.
            order = psp.confirm(tid, "psp-3ch-1")["order"]
            assert order["total"] == 2 * PRICES[CUP] + PRICES[BEANS]

        # At the store the kiosk opens her by email and sees the order; her cart is empty again.
        kiosk = crm.open("email", email, "kiosk", "store-kiosk")
        (paid,) = [item for item in listed(kiosk) if item["transaction_id"] == tid]
        assert (paid["state"], paid["order"]) == ("completed", order)
        assert quantities(paid["order"]["cart"]) == {CUP: 2, BEANS: 1}
        assert kiosk.cart()["lines"] == []

        # She files a complaint at the kiosk, and cancels a masterclass she had booked.
        case = start(kiosk, "support_case", {"topic": "complaint"})
        step(kiosk, case["transaction_id"], to="in_progress")
        booking = start(kiosk, "booking", BOOKING_DETAILS)
        assert step(kiosk, booking["transaction_id"], to="cancelled")["state"] == "cancelled"

        # All of it is one timeline, in order, across the three channels and the payment backend.
        entries = kiosk.client.get("/v1/timeline").json()["entries"]
        summaries = [entry["summary"] for entry in entries]
        expected = [
            "Started checkout on web",
            "Offered to continue on another device on web",
            "Continued on another device on mobile",
            "Checkout taken over on mobile",
            "Checkout: open -> details on mobile",
            "Checkout: details -> payment_pending on mobile",
            f"Order {order['order_id']} placed: {order['total']} EUR",
            "Opened on kiosk (store-kiosk)",
            "Started support_case on kiosk",
            "Support_case: open -> in_progress on kiosk",
            "Started booking on kiosk",
            "Booking: requested -> cancelled on kiosk",
        ]
        assert in_order(summaries, expected), "\n".join(summaries)
        # The payment backend's step sits between paying and the store (before or after the order: one commit).
        paid_at = summaries.index("Checkout: payment_pending -> completed by the payment backend")
        assert summaries.index(expected[5]) < paid_at < summaries.index(expected[7]), "\n".join(summaries)
        assert [entry["at"] for entry in entries] == sorted(entry["at"] for entry in entries)
        assert [item["kind"] for item in listed(web)] == ["booking", "support_case", "checkout"]
