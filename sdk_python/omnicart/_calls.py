"""Every API call as a Call value, built once and run by either client."""

from __future__ import annotations

from typing import Any

from omnicart._http import Call, call, no_content
from omnicart.protocol.assist import AgentPickup, AgentSession, AssistOffer
from omnicart.protocol.cart import AddItem, Cart, CartOp, CartOpsRequest, Clear, RemoveItem, SetPrice, SetQuantity
from omnicart.protocol.catalog import CatalogItem, CatalogPage
from omnicart.protocol.events import EventPage
from omnicart.protocol.handoff import ClaimHandoff, HandoffOffer
from omnicart.protocol.identity import CustomerProfile
from omnicart.protocol.sessions import CreateSession, DeviceSession, SessionCreated
from omnicart.protocol.timeline import Timeline
from omnicart.protocol.transactions import StartTransaction, Step, Transaction, TransactionList


def open_session(channel: str, device: str, customer_token: str | None) -> Call[SessionCreated]:
    body = CreateSession(channel=channel, device=device, customer_token=customer_token)
    return call("POST", "/v1/sessions", SessionCreated, body=body)


def list_sessions() -> Call[list[DeviceSession]]:
    return call("GET", "/v1/sessions", list[DeviceSession])


def revoke_session(session_id: str) -> Call[None]:
    return Call("DELETE", f"/v1/sessions/{session_id}", no_content)


def get_cart() -> Call[Cart]:
    return call("GET", "/v1/cart", Cart)


def cart_ops(ops: list[CartOp], expected_version: int | None = None) -> Call[Cart]:
    body = CartOpsRequest(ops=ops, expected_version=expected_version)
    return call("POST", "/v1/cart/ops", Cart, body=body, write=True)


def add_item(sku: str, qty: int, expected_version: int | None) -> Call[Cart]:
    return cart_ops([AddItem(sku=sku, qty=qty)], expected_version)


def set_quantity(line_id: str, qty: int, expected_version: int | None) -> Call[Cart]:
    return cart_ops([SetQuantity(line_id=line_id, qty=qty)], expected_version)


def remove_item(line_id: str, expected_version: int | None) -> Call[Cart]:
    return cart_ops([RemoveItem(line_id=line_id)], expected_version)


def clear_cart(expected_version: int | None) -> Call[Cart]:
    return cart_ops([Clear()], expected_version)


def set_price(line_id: str, unit_price: int, reason: str) -> Call[Cart]:
    return cart_ops([SetPrice(line_id=line_id, unit_price=unit_price, reason=reason)])


def list_events(since: int, limit: int) -> Call[EventPage]:
    return call("GET", "/v1/events", EventPage, params={"since": since, "limit": limit})


def timeline() -> Call[Timeline]:
    return call("GET", "/v1/timeline", Timeline)


def customer() -> Call[CustomerProfile]:
    return call("GET", "/v1/customer", CustomerProfile)


def search_catalog(query: str) -> Call[CatalogPage]:
    return call("GET", "/v1/catalog", CatalogPage, params={"q": query})


def catalog_item(sku: str) -> Call[CatalogItem]:
    return call("GET", f"/v1/catalog/{sku}", CatalogItem)


def offer_handoff() -> Call[HandoffOffer]:
    return call("POST", "/v1/handoff", HandoffOffer)


def claim_handoff(code: str, channel: str, device: str) -> Call[SessionCreated]:
    return call(
        "POST", "/v1/handoff/claim", SessionCreated, body=ClaimHandoff(code=code, channel=channel, device=device)
    )


def offer_assist() -> Call[AssistOffer]:
    return call("POST", "/v1/assist", AssistOffer)


def agent_pickup(api_key: str, agent_id: str, device: str, pin: str) -> Call[AgentSession]:
    body = AgentPickup(agent_id=agent_id, device=device, pin=pin)
    return call("POST", "/v1/agent/sessions", AgentSession, body=body, credential=api_key)


def revoke_assist(consent_id: str) -> Call[None]:
    return Call("DELETE", f"/v1/assist/{consent_id}", no_content)


def start_transaction(kind: str, data: dict[str, Any]) -> Call[Transaction]:
    return call("POST", "/v1/transactions", Transaction, body=StartTransaction(kind=kind, data=data))


def list_transactions() -> Call[TransactionList]:
    return call("GET", "/v1/transactions", TransactionList)


def get_transaction(transaction_id: str) -> Call[Transaction]:
    return call("GET", f"/v1/transactions/{transaction_id}", Transaction)


def step_transaction(
    transaction_id: str, to: str | None, data: dict[str, Any], expected_version: int | None
) -> Call[Transaction]:
    body = Step(to=to, data=data, expected_version=expected_version)
    return call("POST", f"/v1/transactions/{transaction_id}/step", Transaction, body=body, write=True)


def take_over_transaction(transaction_id: str) -> Call[Transaction]:
    return call("POST", f"/v1/transactions/{transaction_id}/takeover", Transaction)
