"""Base Structs for the wire: what clients send is strict, what the server sends may grow."""

from __future__ import annotations

import msgspec


class ClientMessage(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    """Sent by a client: unknown fields are refused so a typo never passes silently."""


class ServerMessage(msgspec.Struct, kw_only=True, frozen=True):
    """Sent by the server: evolves only by adding defaulted fields, so older SDKs still decode it."""
