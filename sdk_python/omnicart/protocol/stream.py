"""Frames of the live stream at /v1/stream: JSON text frames, tagged by `type`.

A connection goes:  connect -> client `hello` -> server `welcome` -> (`snapshot`)? -> `event`* in seq order, live,
with `presence` frames whenever the customer's devices come or go, `refreshed` after a client `refresh` and `pong`
after a client `ping`.
Only `event` frames carry a seq; a client keeps the last seq it applied and resumes with `hello.since` = that seq.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import msgspec

from omnicart.protocol._base import ClientMessage, ServerMessage
from omnicart.protocol.cart import Cart
from omnicart.protocol.events import Event


class Hello(ClientMessage, tag_field="type", tag="hello", frozen=True):
    """First frame of every connection: who I am (the token never travels in the URL) and what I already hold."""

    token: Annotated[str, msgspec.Meta(max_length=2048)]
    since: Annotated[
        int, msgspec.Meta(ge=0, le=2**53 - 1, description="The last seq this device applied; 0 for none.")
    ] = 0
    epoch: Annotated[str | None, msgspec.Meta(description="`welcome.epoch` of the log `since` belongs to.")] = None


class Refresh(ClientMessage, tag_field="type", tag="refresh", frozen=True):
    """Ask for a fresh session token without reconnecting (long-lived kiosks and tills)."""


class Ping(ClientMessage, tag_field="type", tag="ping", frozen=True):
    """Ask for a `pong`: browsers never show an app the WebSocket protocol's pings.

    A browser client that has heard nothing for a while asks, and takes a connection that stays silent for dead
    (a network gone without a close).
    """


ClientFrame = Hello | Refresh | Ping


class Welcome(ServerMessage, tag_field="type", tag="welcome", frozen=True):
    """The hello was accepted; events after `since` follow, then live ones."""

    session_id: str
    customer_id: str
    head: Annotated[int, msgspec.Meta(description="The customer's latest seq when the connection was accepted.")]
    epoch: Annotated[
        str, msgspec.Meta(description="Identifies this log; a different epoch means start from a snapshot.")
    ]
    answers_ping: Annotated[
        bool, msgspec.Meta(description="A client `ping` gets a `pong` (servers without this field close on it).")
    ] = False


class Snapshot(ServerMessage, tag_field="type", tag="snapshot", frozen=True):
    """The whole state at `head`, sent instead of a replay the log cannot give; events after `head` follow."""

    head: int
    epoch: str
    cart: Cart


class PresenceSession(ServerMessage, frozen=True):
    """A device connected now; `role` `agent` means a call-center agent is looking at the customer's cart."""

    session_id: str
    channel: str
    device: str
    role: str = "shopper"
    agent_id: str | None = None


class Presence(ServerMessage, tag_field="type", tag="presence", frozen=True):
    """The customer's devices connected right now (ephemeral: not in the log)."""

    sessions: list[PresenceSession]


class Refreshed(ServerMessage, tag_field="type", tag="refreshed", frozen=True):
    """A new session token for this device; use it from now on, also over HTTP."""

    token: str
    expires_at: datetime


class Pong(ServerMessage, tag_field="type", tag="pong", frozen=True):
    """The answer to a client `ping`: the connection carries frames both ways."""


ServerFrame = Welcome | Snapshot | Event | Presence | Refreshed | Pong
