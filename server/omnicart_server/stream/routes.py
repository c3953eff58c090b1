"""The WebSocket route /v1/stream: authenticate the hello frame, then hand the socket to a StreamConnection."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import msgspec
from litestar import WebSocket, websocket
from litestar.exceptions import WebSocketDisconnect

from omnicart.protocol.problems import CloseCode
from omnicart.protocol.stream import Hello, Snapshot, Welcome
from omnicart_server.context import ServerContext
from omnicart_server.errors import OmnicartError
from omnicart_server.events.log import log_position
from omnicart_server.stream.connection import StreamConnection, client_frame_decoder


@websocket("/v1/stream")
async def stream(socket: WebSocket[Any, Any, Any], ctx: ServerContext) -> None:
    """Live events of the customer: send `hello` first; see omnicart.protocol.stream for the frames."""
    await socket.accept()
    hello = await _receive_hello(socket, ctx.settings.hello_timeout_seconds)
    if hello is None:
        return
    try:
        device = await ctx.sessions.authenticate(hello.token)
    except OmnicartError as exc:
        await socket.close(code=CloseCode.TOKEN_REJECTED, reason=exc.code)
        return
    connection = StreamConnection(
        socket,
        device,
        since=hello.since,
        reader=ctx.point_reader,
        fanout=ctx.fanout,
        sessions=ctx.sessions,
        queue_size=ctx.settings.stream_queue_size,
    )
    # Subscribe before reading the log, so nothing committed in between is missed (DESIGN.md §2).
    if not ctx.hub.add(connection):
        limit = ctx.settings.max_sockets_per_customer
        await socket.close(code=CloseCode.TOO_MANY_CONNECTIONS, reason=f"at most {limit} connections per customer")
        return
    try:
        ctx.fanout.joined(connection)
        try:
            head, epoch, pruned_seq = await log_position(ctx.point_reader, device.customer_id)
            snapshot = None
            if hello.since > head or hello.since < pruned_seq or (hello.epoch is not None and hello.epoch != epoch):
                # The log cannot bring this client up to date (its seq is from another log, or past retention): send
                # the state instead; the cart is read after the head, so events after `head` only move it forward.
                snapshot = Snapshot(head=head, epoch=epoch, cart=await ctx.carts.get(device.customer_id))
        except OmnicartError as exc:  # the customer was purged while its session was still trusted from the cache
            await socket.close(code=CloseCode.TOKEN_REJECTED, reason=exc.code)
            return
        welcome = Welcome(
            session_id=device.session_id, customer_id=device.customer_id, head=head, epoch=epoch, answers_ping=True
        )
        await connection.run(welcome, snapshot)
    finally:
        ctx.hub.remove(connection)
        ctx.fanout.left(connection)


async def _receive_hello(socket: WebSocket[Any, Any, Any], timeout: float) -> Hello | None:
    """The first frame, if it is a hello in time; otherwise the socket is closed with the reason."""
    try:
        async with asyncio.timeout(timeout):  # not wait_for: on Python 3.11 it can swallow a shutdown's cancellation
            raw = await socket.receive_data(mode="text")
    except TimeoutError:
        await socket.close(code=CloseCode.HELLO_TIMEOUT, reason="send hello first")
        return None
    except WebSocketDisconnect:
        return None
    try:
        frame = client_frame_decoder.decode(raw)
    except msgspec.DecodeError as exc:
        with contextlib.suppress(Exception):
            await socket.close(code=CloseCode.BAD_FRAME, reason=f"bad frame: {exc}"[:120])
        return None
    if not isinstance(frame, Hello):
        await socket.close(code=CloseCode.BAD_FRAME, reason="the first frame must be hello")
        return None
    return frame


ROUTES = [stream]
