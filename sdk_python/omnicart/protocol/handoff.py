"""Handoff: move the customer to another device with a short code a person can type, or a QR code."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import msgspec

from omnicart.protocol._base import ClientMessage, ServerMessage
from omnicart.protocol.sessions import Channel, DeviceLabel

HANDOFF_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
"""No 0/O, 1/I/L: nothing a person can misread; 31**8 codes (8.5e11)."""


class HandoffOffer(ServerMessage, frozen=True):
    """A single-use code for another device to continue as this customer."""

    code: Annotated[str, msgspec.Meta(description="Shown to the person, e.g. 'K7QM-4XTR'; case and dashes ignored.")]
    url: Annotated[str, msgspec.Meta(description="Where a scanning phone lands; the code rides in the #fragment.")]
    qr_svg: Annotated[str, msgspec.Meta(description="An SVG QR code of `url`.")]
    expires_at: datetime


class ClaimHandoff(ClientMessage, frozen=True):
    """Claim a handoff code from the new device; the answer is a session for the same customer."""

    code: Annotated[str, msgspec.Meta(min_length=1, max_length=32)]
    channel: Channel
    device: DeviceLabel
