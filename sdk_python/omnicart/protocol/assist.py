"""Call-center assist: the shopper's consent as a PIN read out on the phone, and the agent's session it opens."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import msgspec

from omnicart.protocol._base import ClientMessage, ServerMessage
from omnicart.protocol.identity import IdentityKind, IdentityValue
from omnicart.protocol.sessions import DeviceLabel


class AssistOffer(ServerMessage, frozen=True):
    """Shown on the shopper's screen: the PIN to read out, and the consent it stands for (revocable)."""

    consent_id: str
    pin: Annotated[str, msgspec.Meta(description="Six digits, single use, expiring in minutes.")]
    expires_at: datetime


class AgentPickup(ClientMessage, frozen=True):
    """An agent app (API key with scope `agent`) picks a customer up by PIN, or by identity in trusted setups."""

    agent_id: Annotated[str, msgspec.Meta(min_length=1, max_length=64, description="Who acts: written to the log.")]
    device: DeviceLabel
    pin: Annotated[str, msgspec.Meta(pattern="^[0-9]{6}$")] | None = None
    kind: IdentityKind | None = None
    """With `value`, instead of a PIN: needs the key's scope `identity:write` too."""
    value: IdentityValue | None = None


class AgentSession(ServerMessage, frozen=True):
    """A short-lived session on the customer for one agent; no customer token: an agent cannot resume alone."""

    customer_id: str
    session_id: str
    session_token: str
    expires_at: datetime
