"""The per-customer event log: the same objects over HTTP and on the live stream."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import msgspec

from omnicart.protocol._base import ServerMessage


class EventKind:
    """Event kinds written to the log."""

    SESSION_OPENED = "session.opened"
    SESSION_REVOKED = "session.revoked"
    CART_UPDATED = "cart.updated"
    CUSTOMER_MERGED = "customer.merged"
    IDENTITY_LINKED = "identity.linked"
    ASSIST_OFFERED = "assist.offered"
    ASSIST_REVOKED = "assist.revoked"
    TRANSACTION_STARTED = "transaction.started"
    TRANSACTION_UPDATED = "transaction.updated"
    TRANSACTION_TAKEN_OVER = "transaction.taken_over"
    ORDER_CREATED = "order.created"
    CART_ABANDONED = "cart.abandoned"
    HANDOFF_OFFERED = "handoff.offered"
    HANDOFF_CLAIMED = "handoff.claimed"


class Event(ServerMessage, tag_field="type", tag="event", frozen=True):
    """One committed change; `seq` is 1, 2, 3 ... per customer with no gaps; the same object on the live stream."""

    seq: Annotated[int, msgspec.Meta(ge=1)]
    kind: str
    at: datetime
    session_id: str | None
    channel: str | None
    data: dict[str, Any]


class EventPage(ServerMessage, frozen=True):
    """Events after `since`, in seq order; ask again with `since = events[-1].seq` while `has_more`."""

    events: list[Event]
    head: Annotated[int, msgspec.Meta(description="The customer's latest seq when this page was read.")]
    has_more: bool
