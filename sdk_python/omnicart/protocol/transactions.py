"""Resumable transactions (checkout, booking, return, support case ...): small state machines any device can drive."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec

from omnicart.protocol._base import ClientMessage, ServerMessage
from omnicart.protocol.cart import Cart

Kind = Annotated[str, msgspec.Meta(pattern="^[a-z][a-z0-9_]{0,31}$", description="checkout, booking, return, ...")]
State = Annotated[str, msgspec.Meta(pattern="^[a-z][a-z0-9_]{0,31}$")]
Fields = Annotated[dict[str, Any], msgspec.Meta(description="Step fields; each kind says which a state requires.")]


class StartTransaction(ClientMessage, frozen=True):
    kind: Kind
    data: Fields = {}


class Step(ClientMessage, frozen=True):
    """Update fields and/or move to another state; moving to the state it is in already changes nothing."""

    to: State | None = None
    data: Fields = {}
    expected_version: int | None = None


class ConfirmPayment(ClientMessage, frozen=True):
    """A trusted payment backend (API key, scope `payments`) reports the outcome of a checkout's payment."""

    status: Literal["succeeded", "failed"]
    reference: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]


class Order(ServerMessage, frozen=True):
    """Created exactly once, when a checkout completes."""

    order_id: str
    transaction_id: str
    cart: Cart
    total: int
    currency: str
    payment_reference: str
    created_at: datetime


class Transaction(ServerMessage, frozen=True):
    transaction_id: str
    kind: str
    state: str
    version: int
    data: dict[str, Any]
    driver_session_id: Annotated[str | None, msgspec.Meta(description="The device driving it now.")]
    lease_expires_at: datetime | None
    created_at: datetime
    updated_at: datetime
    frozen_cart: Annotated[Cart | None, msgspec.Meta(description="Checkout: the lines and prices when it began.")] = (
        None
    )
    order: Order | None = None
    allowed_next: list[str] = []
    """States this one may move to."""
    terminal: bool = False


class TransactionList(ServerMessage, frozen=True):
    transactions: list[Transaction]
