"""GET /v1/timeline: the customer's journey across channels in time order, merged history included."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.support.assist import AgentApp, new_agent_id, offer_assist, set_price
from tests.support.catalog import PRICES, SKUS
from tests.support.devices import Device, OpenDevice, line_for
from tests.support.identity import IDENTITY_WRITE, Backend, api_key, new_email
from tests.support.problems import assert_problem
from tests.support.server import ServerProcess
from tests.support.transactions import BOOKING_DETAILS, PaymentBackend, ready_to_pay, start, step

CUP, TEAPOT, MUG = SKUS[0], SKUS[1], SKUS[2]
JSON = dict[str, Any]
ENTRY_FIELDS = {"at", "kind", "summary", "channel", "session_id", "customer_id", "seqs", "agent_id"}


def timeline(device: Device, **params: int) -> JSON:
    """GET /v1/timeline, which must answer 200."""
    response = device.client.get("/v1/timeline", params=params)
    assert response.status_code == 200, response.text
    body: JSON = response.json()
    return body


def entries(device: Device) -> list[JSON]:
    found: list[JSON] = timeline(device)["entries"]
    return found


@pytest.fixture
def crm(server: ServerProcess) -> Iterator[Backend]:
    """A trusted backend with scope `identity:write`."""
    backend = Backend(server.url, api_key(server, IDENTITY_WRITE))
    yield backend
    backend.close()


def test_timeline_is_the_customers_journey_in_order(device: Device) -> None:
    """Entries come in time order, one per step: the session, the cart, the booking."""
    device.add(CUP, 1)
    booking = start(device, "booking")
    step(device, booking["transaction_id"], to="details", data=BOOKING_DETAILS)
    body = timeline(device)
    assert body["customer_id"] == device.customer_id
    found = body["entries"]
    assert [entry["kind"] for entry in found] == [
        "session.opened",
        "cart.updated",
        "transaction.started",
        "transaction.updated",
    ]
    assert [entry["at"] for entry in found] == sorted(entry["at"] for entry in found)
    assert found[-1]["summary"] == "Booking: requested -> details on web"


def test_entries_carry_every_field(device: Device) -> None:
    """Each entry has at, kind, summary, channel, session_id, customer_id, seqs and agent_id."""
    device.add(CUP, 1)
    for entry in entries(device):
        assert set(entry) >= ENTRY_FIELDS, entry
        assert (entry["channel"], entry["session_id"], entry["customer_id"]) == (
            "web",
            device.session_id,
            device.customer_id,
        )
        assert entry["agent_id"] is None


def test_cart_run_of_one_device_collapses(device: Device) -> None:
    """Several cart changes by one device in a row read as one entry listing each change and its seqs."""
    device.add(CUP, 1)
    device.add(TEAPOT, 2)
    device.add(MUG, 1)
    carts = [entry for entry in entries(device) if entry["kind"] == "cart.updated"]
    assert len(carts) == 1, carts
    assert carts[0]["seqs"] == [2, 3, 4]
    assert carts[0]["summary"] == f"Cart on web: +1 {CUP}; +2 {TEAPOT}; +1 {MUG}"


def test_another_device_breaks_a_cart_run(device: Device, open_device: OpenDevice) -> None:
    """Cart changes of web, then phone, then web again are three entries, each on its own channel."""
    phone = open_device(channel="mobile", device="phone", customer_token=device.customer_token)
    device.add(CUP, 1)
    phone.add(TEAPOT, 1)
    device.add(MUG, 1)
    carts = [entry for entry in entries(device) if entry["kind"] == "cart.updated"]
    assert [(entry["channel"], entry["summary"]) for entry in carts] == [
        ("web", f"Cart on web: +1 {CUP}"),
        ("mobile", f"Cart on mobile: +1 {TEAPOT}"),
        ("web", f"Cart on web: +1 {MUG}"),
    ]


def test_every_event_is_in_exactly_one_entry(device: Device, open_device: OpenDevice) -> None:
    """The entries' seqs cover the customer's log, each seq once, in order."""
    phone = open_device(channel="mobile", device="phone", customer_token=device.customer_token)
    device.add(CUP, 1)
    device.add(CUP, 1)
    phone.add(TEAPOT, 1)
    start(phone, "support_case", {"topic": "delivery"})
    seqs = [seq for entry in entries(device) for seq in entry["seqs"]]
    assert seqs == list(range(1, device.head() + 1))


def test_timeline_includes_history_merged_in(device: Device, open_device: OpenDevice, crm: Backend) -> None:
    """After a login merged the anonymous shopper into a known customer, the timeline shows both histories."""
    email = new_email()
    known = open_device(channel="kiosk", device="kiosk-1")
    crm.link(known, "email", email)
    device.add(CUP, 1)
    anonymous = device.customer_id
    crm.link(device, "email", email)
    body = timeline(device)
    assert body["customer_id"] == known.customer_id
    by_customer = {(entry["customer_id"], entry["kind"]) for entry in body["entries"]}
    assert {(anonymous, "session.opened"), (anonymous, "cart.updated")} <= by_customer
    assert {(known.customer_id, "session.opened"), (known.customer_id, "customer.merged")} <= by_customer
    assert [entry["at"] for entry in body["entries"]] == sorted(entry["at"] for entry in body["entries"])
    assert timeline(known) == body


def test_agent_steps_carry_the_agent_id(server: ServerProcess, device: Device) -> None:
    """An agent's price override and booking step show with its agent id, the override with its reason."""
    line_id = line_for(device.add(CUP, 1), CUP)["line_id"]
    agent_id = new_agent_id()
    with AgentApp(server.url, api_key(server, "agent")) as agents:
        agent = agents.pick_up(agent_id, offer_assist(device)["pin"])
        agent.apply(set_price(line_id, 300, "loyalty"))
        start(agent, "booking", BOOKING_DETAILS)
    by_agent = [entry for entry in entries(device) if entry["agent_id"] == agent_id]
    assert [entry["kind"] for entry in by_agent] == ["session.opened", "cart.updated", "transaction.started"]
    assert by_agent[1]["summary"] == f"Cart on call_center: {line_id} priced 300 (loyalty)"
    assert by_agent[0]["summary"] == f"Opened on call_center (agent {agent_id})"


def test_payment_and_order_are_on_the_timeline(server: ServerProcess, device: Device) -> None:
    """The payment backend's completion and the order it created read as their own entries."""
    device.add(CUP, 2)
    checkout = ready_to_pay(device)
    with PaymentBackend(server.url, api_key(server, "payments")) as payments:
        order = payments.confirm(checkout["transaction_id"])["order"]
    summaries = [entry["summary"] for entry in entries(device)]
    assert "Checkout: payment_pending -> completed by the payment backend" in summaries
    assert f"Order {order['order_id']} placed: {2 * PRICES[CUP]} EUR" in summaries


def test_timeline_shows_no_other_customer(device: Device, open_device: OpenDevice) -> None:
    """A customer's timeline holds only its own entries."""
    stranger = open_device()
    stranger.add(TEAPOT, 1)
    device.add(CUP, 1)
    assert {entry["customer_id"] for entry in entries(device)} == {device.customer_id}
    assert stranger.session_id not in {entry["session_id"] for entry in entries(device)}


def test_limit_keeps_the_newest_events(device: Device) -> None:
    """With limit=n, the timeline is built from the customer's n newest events."""
    device.add(CUP, 1)
    start(device, "booking")
    start(device, "support_case", {"topic": "delivery"})
    found = timeline(device, limit=2)["entries"]
    head = device.head()
    assert [seq for entry in found for seq in entry["seqs"]] == [head - 1, head]


@pytest.mark.parametrize("limit", ["0", "-1", "1001", "abc"])
def test_invalid_limit_is_refused(device: Device, limit: str) -> None:
    """A limit outside 1..1000 gets a 4xx invalid_query, not a 5xx."""
    assert_problem(device.client.get("/v1/timeline", params={"limit": limit}), range(400, 500), "invalid_query")


def test_timeline_needs_a_bearer_token(server: ServerProcess) -> None:
    """GET /v1/timeline without a token answers 401 token_missing."""
    assert_problem(httpx.get(f"{server.url}/v1/timeline"), 401, "token_missing")
