"""The customer's journey across channels, in order: what a person (or an agent) reads to know where things are."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import msgspec

from omnicart.protocol._base import ServerMessage


class TimelineEntry(ServerMessage, frozen=True):
    at: datetime
    kind: Annotated[str, msgspec.Meta(description="The event kind; a run of cart changes shows as one cart.updated.")]
    summary: Annotated[str, msgspec.Meta(description="One line for a person, e.g. 'Cart on web: +2 JACKET-RAIN'.")]
    channel: str | None
    session_id: str | None
    customer_id: Annotated[str, msgspec.Meta(description="Whose log: differs for history merged in from another.")]
    seqs: Annotated[list[int], msgspec.Meta(description="The events this entry stands for.")]
    agent_id: str | None = None


class Timeline(ServerMessage, frozen=True):
    customer_id: str
    entries: list[TimelineEntry]
