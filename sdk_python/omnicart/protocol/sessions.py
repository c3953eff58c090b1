"""Device sessions: how a device becomes (or resumes) a customer."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import msgspec

from omnicart.protocol._base import ClientMessage, ServerMessage

KNOWN_CHANNELS = ("web", "mobile", "kiosk", "pos", "call_center", "store", "whatsapp", "instagram", "email", "sms")
"""Channels the demo and SDKs use; any lowercase name of the same form is accepted."""

Channel = Annotated[
    str,
    msgspec.Meta(
        pattern="^[a-z][a-z0-9_]{0,31}$",
        description="Where the device is: web, mobile, kiosk, pos, call_center, ... (lowercase, at most 32).",
        examples=list(KNOWN_CHANNELS[:5]),
    ),
]
DeviceLabel = Annotated[
    str, msgspec.Meta(min_length=1, max_length=100, description="A label a person recognises, e.g. 'kiosk-7'.")
]


class CreateSession(ClientMessage, frozen=True):
    """Open a device session; without `customer_token` a new anonymous customer is made."""

    channel: Channel
    device: DeviceLabel
    customer_token: Annotated[str, msgspec.Meta(max_length=2048)] | None = None


class SessionCreated(ServerMessage, frozen=True):
    """The tokens a device keeps: the customer token to hand on, the session token to authorize itself."""

    customer_id: str
    customer_token: Annotated[str, msgspec.Meta(description="Hand this on to resume the same customer elsewhere.")]
    session_id: str
    session_token: Annotated[str, msgspec.Meta(description="Send as `Authorization: Bearer <session_token>`.")]
    expires_at: Annotated[datetime, msgspec.Meta(description="When the session token stops being accepted.")]


class DeviceSession(ServerMessage, frozen=True):
    """One of the customer's devices."""

    session_id: str
    channel: str
    device: str
    created_at: datetime
    last_seen: datetime
    online: Annotated[bool, msgspec.Meta(description="Connected to the live stream now (or within the grace period).")]
    revoked: bool = False
    role: Annotated[str, msgspec.Meta(description="`shopper`, or `agent`: a call-center agent helping.")] = "shopper"
    agent_id: str | None = None
