"""The cart and the ops that change it: prices come from the catalog, never from the client."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import msgspec

from omnicart.protocol._base import ClientMessage, ServerMessage
from omnicart.protocol.catalog import MinorUnits, Sku

LineId = Annotated[str, msgspec.Meta(min_length=1, max_length=32, description="A line's id within its cart.")]
Quantity = Annotated[int, msgspec.Meta(description="Items on the line, 1 to the server's per-line maximum.")]


class AddItem(ClientMessage, tag_field="op", tag="add_item", frozen=True):
    """Add `qty` of a SKU; a SKU already in the cart raises that line's quantity."""

    sku: Sku
    qty: Quantity = 1


class SetQuantity(ClientMessage, tag_field="op", tag="set_quantity", frozen=True):
    """Set a line's quantity (use remove_item to drop it)."""

    line_id: LineId
    qty: Quantity


class RemoveItem(ClientMessage, tag_field="op", tag="remove_item", frozen=True):
    """Drop a line."""

    line_id: LineId


class Clear(ClientMessage, tag_field="op", tag="clear", frozen=True):
    """Empty the cart."""


class SetPrice(ClientMessage, tag_field="op", tag="set_price", frozen=True):
    """Override a line's price with a reason: for authorised agents only; a shopper gets 403."""

    line_id: LineId
    unit_price: MinorUnits
    reason: Annotated[str, msgspec.Meta(min_length=1, max_length=500)]


CartOp = AddItem | SetQuantity | RemoveItem | Clear | SetPrice


class CartOpsRequest(ClientMessage, frozen=True):
    """A batch of ops applied atomically: all of them or none."""

    ops: Annotated[list[CartOp], msgspec.Meta(min_length=1)]
    expected_version: Annotated[
        int | None, msgspec.Meta(description="Refuse with 409 unless the cart is at this version.")
    ] = None


class CartLine(ServerMessage, frozen=True):
    """One SKU in the cart; there is never more than one line per SKU."""

    line_id: LineId
    sku: Sku
    title: str
    qty: int
    unit_price: MinorUnits
    line_total: MinorUnits
    price_reason: str | None = None


class Cart(ServerMessage, frozen=True):
    """The customer's active cart; `version` rises by one with every applied batch."""

    cart_id: str
    version: int
    currency: str
    lines: list[CartLine]
    subtotal: MinorUnits
    item_count: int
    updated_at: datetime
