"""Webhook endpoints of trusted backends, and the log of every delivery attempt."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import msgspec

from omnicart.protocol._base import ClientMessage, ServerMessage


class CreateWebhook(ClientMessage, frozen=True):
    url: Annotated[str, msgspec.Meta(pattern="^https?://", max_length=2048)]
    events: Annotated[
        list[Annotated[str, msgspec.Meta(pattern=r"^(\*|[a-z_]+\.[a-z_]+)$")]],
        msgspec.Meta(min_length=1, description="Event kinds to receive, e.g. cart.abandoned; '*' for all."),
    ]


class Webhook(ServerMessage, frozen=True):
    webhook_id: str
    url: str
    events: list[str]
    created_at: datetime
    secret: Annotated[
        str | None, msgspec.Meta(description="Standard Webhooks secret (whsec_...): shown once, at creation.")
    ] = None


class WebhookList(ServerMessage, frozen=True):
    webhooks: list[Webhook]


class DeliveryAttempt(ServerMessage, frozen=True):
    at: datetime
    status_code: int | None
    error: str | None
    duration_ms: int


class Delivery(ServerMessage, frozen=True):
    delivery_id: int
    message_id: Annotated[str, msgspec.Meta(description="The webhook-id header: the same on every retry.")]
    event_kind: str
    customer_id: str
    seq: int
    status: Annotated[str, msgspec.Meta(description="pending, delivered, or parked after the last retry.")]
    attempts: list[DeliveryAttempt]
    next_attempt_at: datetime | None


class DeliveryList(ServerMessage, frozen=True):
    deliveries: list[Delivery]
