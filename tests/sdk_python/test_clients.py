"""Client and AsyncClient against a real server: one suite, run over both clients and both backends."""

from __future__ import annotations

import asyncio
import inspect
import itertools
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from omnicart import (
    AsyncClient,
    AuthError,
    Client,
    ConflictError,
    ForbiddenError,
    InvalidRequestError,
    ProblemError,
)
from omnicart.protocol.cart import AddItem, SetQuantity
from omnicart.protocol.events import EventKind
from tests.support.assist import new_agent_id
from tests.support.catalog import PRICES, TITLES
from tests.support.identity import api_key
from tests.support.server import ServerProcess
from tests.support.transactions import BOOKING_DETAILS

OpenClient = Callable[..., Any]
"""open_client(channel=..., customer_token=None, agent=None): a started Client, or an AsyncClient run to completion.

With `agent={"api_key": ..., "agent_id": ..., "pin": ...}` it is an agent app's client, picked up by PIN."""


class Synced:
    """An AsyncClient (or one of its namespaces) whose coroutine methods run to completion on one event loop."""

    def __init__(self, target: Any, runner: asyncio.Runner) -> None:
        self._target = target
        self._runner = runner

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._target, name)
        if inspect.iscoroutinefunction(value):
            return lambda *args, **kwargs: self._runner.run(value(*args, **kwargs))
        if hasattr(value, "_client"):  # a namespace: client.cart, client.sessions, ...
            return Synced(value, self._runner)
        return value


@pytest.fixture(params=["sync", "async"])
def open_client(request: pytest.FixtureRequest, server: ServerProcess) -> Iterator[OpenClient]:
    """Start clients of the kind under test on the shared server; all are closed afterwards."""
    devices = itertools.count(1)
    closers: list[Callable[[], object]] = []
    with asyncio.Runner() as runner:

        def open_(
            *, channel: str = "web", customer_token: str | None = None, agent: dict[str, str] | None = None
        ) -> Any:
            device = f"sdk-{request.param}-{next(devices)}"
            if request.param == "sync":
                if agent is not None:
                    client = Client.agent(server.url, device=device, **agent)
                else:
                    client = Client.start(server.url, channel=channel, device=device, customer_token=customer_token)
                closers.append(client.close)
                return client
            if agent is not None:
                starting = AsyncClient.agent(server.url, device=device, **agent)
            else:
                starting = AsyncClient.start(server.url, channel=channel, device=device, customer_token=customer_token)
            started = runner.run(starting)
            closers.append(lambda: runner.run(started.aclose()))
            return Synced(started, runner)

        yield open_
        for close in closers:
            close()


def test_start_opens_a_session_for_a_new_customer(open_client: OpenClient) -> None:
    """Starting without stored credentials opens a session for a new customer with an empty cart."""
    client = open_client()
    assert client.customer_id and client.session_id
    assert client.credentials.customer_token and client.credentials.session_token
    cart = client.cart.get()
    assert cart.lines == [] and cart.item_count == 0


def test_add_prices_from_the_catalog_and_raises_an_existing_line(open_client: OpenClient) -> None:
    """Adding a SKU twice keeps one line at the catalog price with the quantities summed."""
    client = open_client()
    client.cart.add("MUG-BLK", 2)
    cart = client.cart.add("MUG-BLK", 1)
    [line] = cart.lines
    assert (line.sku, line.qty, line.unit_price, line.title) == ("MUG-BLK", 3, PRICES["MUG-BLK"], TITLES["MUG-BLK"])
    assert cart.subtotal == 3 * PRICES["MUG-BLK"]


def test_set_quantity_changes_the_line(open_client: OpenClient) -> None:
    """set_quantity sets a line's quantity and the subtotal follows."""
    client = open_client()
    [line] = client.cart.add("ESP-CUP").lines
    cart = client.cart.set_quantity(line.line_id, 4)
    assert [(row.line_id, row.qty) for row in cart.lines] == [(line.line_id, 4)]
    assert cart.subtotal == 4 * PRICES["ESP-CUP"]


def test_remove_drops_only_that_line(open_client: OpenClient) -> None:
    """remove drops the given line and keeps the others."""
    client = open_client()
    client.cart.add("ESP-CUP")
    cart = client.cart.add("TEA-POT")
    teapot = next(line for line in cart.lines if line.sku == "TEA-POT")
    cart = client.cart.remove(teapot.line_id)
    assert [line.sku for line in cart.lines] == ["ESP-CUP"]


def test_clear_empties_the_cart(open_client: OpenClient) -> None:
    """clear leaves no lines and a zero subtotal."""
    client = open_client()
    client.cart.add("BEANS-1KG", 2)
    cart = client.cart.clear()
    assert (cart.lines, cart.subtotal, cart.item_count) == ([], 0, 0)


def test_apply_runs_a_batch_as_one_version(open_client: OpenClient) -> None:
    """apply applies several ops atomically and raises the version by one."""
    client = open_client()
    before = client.cart.add("FILTERS-100")
    [line] = before.lines
    cart = client.cart.apply([AddItem(sku="ESP-CUP", qty=2), SetQuantity(line_id=line.line_id, qty=3)])
    assert cart.version == before.version + 1
    assert sorted((row.sku, row.qty) for row in cart.lines) == [("ESP-CUP", 2), ("FILTERS-100", 3)]


def test_unknown_sku_raises_invalid_request(open_client: OpenClient) -> None:
    """A SKU outside the catalog raises InvalidRequestError with code unknown_sku."""
    client = open_client()
    with pytest.raises(InvalidRequestError) as caught:
        client.cart.add("NO-SUCH-SKU")
    assert caught.value.code == "unknown_sku"


def test_stale_expected_version_raises_conflict_with_the_current_version(open_client: OpenClient) -> None:
    """A write at a stale expected_version raises ConflictError carrying the cart's current version."""
    client = open_client()
    first = client.cart.add("ESP-CUP")
    second = client.cart.add("MUG-BLK")
    with pytest.raises(ConflictError) as caught:
        client.cart.add("TEA-POT", expected_version=first.version)
    assert caught.value.code == "version_conflict"
    assert caught.value.current_version == second.version
    assert [line.sku for line in client.cart.get().lines] == ["ESP-CUP", "MUG-BLK"]


def test_set_price_as_a_shopper_is_forbidden(open_client: OpenClient) -> None:
    """A shopper overriding a price gets ForbiddenError and the price stays the catalog's."""
    client = open_client()
    [line] = client.cart.add("TEA-POT").lines
    with pytest.raises(ForbiddenError):
        client.cart.set_price(line.line_id, 1, "friend of the owner")
    assert client.cart.get().lines[0].unit_price == PRICES["TEA-POT"]


def test_revoking_the_own_session_makes_calls_raise_auth_error(open_client: OpenClient) -> None:
    """After revoking its own session a client's calls raise AuthError (session_revoked)."""
    client = open_client()
    client.sessions.revoke(client.session_id)
    with pytest.raises(AuthError) as caught:
        client.cart.get()
    assert caught.value.code == "session_revoked"


def test_sessions_list_holds_every_device_of_the_customer(open_client: OpenClient) -> None:
    """sessions.list shows both devices of one customer."""
    first = open_client()
    second = open_client(channel="kiosk", customer_token=first.credentials.customer_token)
    listed = {(row.session_id, row.channel) for row in first.sessions.list()}
    assert {(first.session_id, "web"), (second.session_id, "kiosk")} <= listed


def test_events_list_the_cart_update(open_client: OpenClient) -> None:
    """events() returns the cart.updated event of a write, with the page head at the last seq."""
    client = open_client()
    client.cart.add("ESP-CUP")
    page = client.events()
    updates = [event for event in page.events if event.kind == EventKind.CART_UPDATED]
    assert len(updates) == 1 and updates[0].session_id == client.session_id
    assert page.head == page.events[-1].seq


def test_timeline_has_an_entry_for_the_cart_change(open_client: OpenClient) -> None:
    """timeline() holds a cart.updated entry of this customer."""
    client = open_client()
    client.cart.add("ESP-CUP")
    timeline = client.timeline()
    assert timeline.customer_id == client.customer_id
    assert EventKind.CART_UPDATED in [entry.kind for entry in timeline.entries]


def test_catalog_search_and_item(open_client: OpenClient) -> None:
    """catalog(query) finds the test catalog's items and catalog_item returns one with its price."""
    client = open_client()
    assert "MUG-BLK" in [item.sku for item in client.catalog("mug").items]
    item = client.catalog_item("ESP-CUP")
    assert (item.title, item.unit_price, item.currency) == (TITLES["ESP-CUP"], PRICES["ESP-CUP"], "EUR")


def test_transaction_start_and_step(open_client: OpenClient) -> None:
    """A booking started and stepped with its required fields reaches details, one version later."""
    client = open_client()
    started = client.transactions.start("booking")
    assert (started.kind, started.state, started.driver_session_id) == ("booking", "requested", client.session_id)
    stepped = client.transactions.step(started.transaction_id, "details", BOOKING_DETAILS)
    assert stepped.state == "details" and stepped.version > started.version
    assert client.transactions.get(started.transaction_id).state == "details"
    assert started.transaction_id in [txn.transaction_id for txn in client.transactions.list().transactions]


def test_take_over_moves_the_transaction_to_the_other_device(open_client: OpenClient) -> None:
    """Another device of the customer takes over a transaction and then drives it."""
    first = open_client()
    second = open_client(channel="kiosk", customer_token=first.credentials.customer_token)
    started = first.transactions.start("booking")
    taken = second.transactions.take_over(started.transaction_id)
    assert taken.driver_session_id == second.session_id
    assert second.transactions.step(started.transaction_id, "details", BOOKING_DETAILS).state == "details"


def test_handoff_claim_continues_the_customer_and_cart(open_client: OpenClient) -> None:
    """A second device claiming a handoff code becomes the same customer with the same cart."""
    phone = open_client(channel="mobile")
    cart = phone.cart.add("BEANS-1KG", 2)
    kiosk = open_client(channel="kiosk")
    kiosk.handoff.claim(phone.handoff.create().code)
    assert kiosk.customer_id == phone.customer_id
    claimed = kiosk.cart.get()
    assert claimed.cart_id == cart.cart_id
    assert [(line.sku, line.qty) for line in claimed.lines] == [("BEANS-1KG", 2)]


def test_agent_picks_up_by_pin_and_edits_the_shoppers_cart(open_client: OpenClient, server: ServerProcess) -> None:
    """An agent app, given the PIN the shopper read out, changes the shopper's cart and overrides a price."""
    shopper = open_client(channel="mobile")
    line = shopper.cart.add("MUG-BLK").lines[0]
    offer = shopper.ask_for_help()
    agent = open_client(agent={"api_key": api_key(server, "agent"), "agent_id": new_agent_id(), "pin": offer.pin})
    assert agent.customer_id == shopper.customer_id and agent.credentials.customer_token is None
    agent.cart.set_quantity(line.line_id, 3)
    agent.cart.set_price(line.line_id, PRICES["MUG-BLK"] - 100, "mug chipped in the photo")
    seen = shopper.cart.get().lines[0]
    assert (seen.qty, seen.unit_price) == (3, PRICES["MUG-BLK"] - 100)


def test_withdrawn_consent_ends_the_agent_session(open_client: OpenClient, server: ServerProcess) -> None:
    """After the shopper withdraws consent the agent's calls fail as AuthError, and resume cannot revive them."""
    shopper = open_client(channel="mobile")
    offer = shopper.ask_for_help()
    agent = open_client(agent={"api_key": api_key(server, "agent"), "agent_id": new_agent_id(), "pin": offer.pin})
    agent.cart.get()
    shopper.withdraw_help(offer.consent_id)
    with pytest.raises(AuthError):
        agent.cart.get()
    with pytest.raises(AuthError):
        agent.resume()
    assert shopper.cart.get().lines == []


def test_agent_pickup_with_a_wrong_pin_is_refused(open_client: OpenClient, server: ServerProcess) -> None:
    """A PIN nobody offered opens nothing: the error carries the server's code and detail."""
    shopper = open_client(channel="mobile")
    offered = shopper.ask_for_help().pin
    wrong = f"{(int(offered) + 1) % 1_000_000:06d}"
    with pytest.raises(ProblemError) as refused:
        open_client(agent={"api_key": api_key(server, "agent"), "agent_id": new_agent_id(), "pin": wrong})
    assert refused.value.status in (401, 404) and refused.value.problem.detail
