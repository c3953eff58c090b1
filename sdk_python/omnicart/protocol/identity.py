"""One person across channels: identities linked by trusted backends, and the merge of an anonymous customer."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Literal

import msgspec

from omnicart.protocol._base import ClientMessage, ServerMessage
from omnicart.protocol.cart import Cart
from omnicart.protocol.sessions import Channel, DeviceLabel

IdentityKind = Literal["email", "phone", "whatsapp", "instagram", "external_id"]
IdentityValue = Annotated[str, msgspec.Meta(min_length=1, max_length=254)]


class MergeStrategy(StrEnum):
    """How two carts become one when an anonymous customer turns out to be a known one."""

    SUM_QUANTITIES = "sum_quantities"
    """Lines of both; a SKU in both gets the sum (capped at the per-line maximum)."""
    HIGHER_QUANTITY = "higher_quantity"
    """Lines of both; a SKU in both keeps the higher quantity."""
    KEEP_KNOWN = "keep_known"
    """The known customer's cart as it was; the anonymous lines are dropped."""
    KEEP_ANONYMOUS = "keep_anonymous"
    """The anonymous cart replaces the known customer's cart."""
    KEEP_ANONYMOUS_IF_KNOWN_EMPTY = "keep_anonymous_if_known_empty"
    """The anonymous cart if the known one is empty, otherwise the known one."""


class Identity(ServerMessage, frozen=True):
    kind: str
    value: Annotated[str, msgspec.Meta(description="Normalised: lowercase email, E.164 phone, handle without '@'.")]


class LinkIdentity(ClientMessage, frozen=True):
    """A trusted backend asserts that the person behind `session_id` is this identity (it verified it)."""

    session_id: str
    kind: IdentityKind
    value: IdentityValue
    strategy: MergeStrategy | None = None
    """How to merge carts when the identity belongs to another customer; default: the server's setting."""


class OpenByIdentity(ClientMessage, frozen=True):
    """A trusted channel (messaging, call center, store) opens a session for whoever has this identity."""

    kind: IdentityKind
    value: IdentityValue
    channel: Channel
    device: DeviceLabel


class CartChange(ServerMessage, frozen=True):
    """What a merge did to one SKU."""

    sku: str
    known_qty: int
    anonymous_qty: int
    result_qty: int


class LinkReport(ServerMessage, frozen=True):
    """The answer to a link: the customer to use from now on, and what a merge changed."""

    customer_id: str
    identity: Identity
    merged_from: str | None = None
    """The anonymous customer folded into `customer_id`, when there was one."""
    strategy: str | None = None
    cart_changes: list[CartChange] = []
    moved_sessions: list[str] = []
    cart: Cart | None = None


class HistorySummary(ServerMessage, frozen=True):
    events: int
    first_seen: datetime
    last_seen: datetime
    by_kind: dict[str, int]


class CustomerProfile(ServerMessage, frozen=True):
    """Who the customer is across channels."""

    customer_id: str
    identities: list[Identity]
    channels: list[str]
    sessions: int
    history: HistorySummary


class CustomerMerged(ServerMessage, frozen=True):
    """Data of a `customer.merged` event in the merged-away log: where its devices continue."""

    into: str
    strategy: str
