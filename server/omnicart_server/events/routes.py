"""HTTP route of the event log."""

from __future__ import annotations

from typing import Annotated

from litestar import get
from litestar.params import Parameter

from omnicart.protocol.events import EventPage
from omnicart.protocol.timeline import Timeline
from omnicart_server.context import ServerContext
from omnicart_server.deps import BEARER_SECURITY
from omnicart_server.events.log import merged_history, read_events
from omnicart_server.events.timeline import build_timeline
from omnicart_server.problems import problem_responses
from omnicart_server.sessions.service import Device

MAX_PAGE = 1000
MAX_SEQ = 2**53 - 1
"""Seqs stay within the integers JavaScript represents exactly."""


@get(
    "/v1/events",
    tags=["events"],
    summary="The customer's events after seq `since`, in order",
    security=BEARER_SECURITY,
    responses=problem_responses(400, 401, 410),
)
async def list_events(
    caller: Device,
    ctx: ServerContext,
    since: Annotated[int, Parameter(ge=0, le=MAX_SEQ, description="Return events with a greater seq; 0 for all.")] = 0,
    limit: Annotated[int, Parameter(ge=1, le=MAX_PAGE, description="At most this many events.")] = 100,
) -> EventPage:
    return await read_events(ctx.point_reader, caller.customer_id, since, limit)


@get(
    "/v1/timeline",
    tags=["events"],
    summary="The customer's journey across channels, in order, including history merged in from other customers",
    security=BEARER_SECURITY,
    responses=problem_responses(400, 401),
)
async def get_timeline(
    caller: Device,
    ctx: ServerContext,
    limit: Annotated[int, Parameter(ge=1, le=MAX_PAGE, description="Read at most this many recent events.")] = 500,
) -> Timeline:
    history = await merged_history(ctx.read_engine, caller.customer_id, limit)
    return Timeline(customer_id=caller.customer_id, entries=build_timeline(history))


ROUTES = [list_events, get_timeline]
