"""One device's live socket: subscribe first, replay from the log, then forward live events, through one queue.

Everything sent to the socket goes through a bounded queue drained by one task, so frames never interleave and a
slow reader fills only its own queue. Per socket the state is `last`, the seq the device holds (DESIGN.md §2):
    event.seq <= last      duplicate, dropped
    event.seq == last + 1  sent
    event.seq >  last + 1  gap (publish order is not commit order across processes): read (last, seq] from the log
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING, Any

import msgspec
from litestar.exceptions import WebSocketDisconnect

from omnicart.cancellation import cancel_and_wait
from omnicart.protocol.events import Event, EventKind
from omnicart.protocol.problems import CloseCode
from omnicart.protocol.stream import (
    ClientFrame,
    Hello,
    Ping,
    Pong,
    Presence,
    Refresh,
    Refreshed,
    ServerFrame,
    Snapshot,
    Welcome,
)
from omnicart_server.errors import OmnicartError
from omnicart_server.events.log import read_events
from omnicart_server.metrics import SLOW_CONSUMERS_CUT

if TYPE_CHECKING:
    from litestar import WebSocket

    from omnicart_server.db.reader import PointReader
    from omnicart_server.sessions.service import Device, SessionService
    from omnicart_server.stream.fanout import FanOut

logger = logging.getLogger(__name__)

REPLAY_PAGE = 500
_encoder = msgspec.json.Encoder()
client_frame_decoder = msgspec.json.Decoder(ClientFrame)


class _PresenceChanged:
    """Queue marker: send the current presence."""


_PRESENCE_CHANGED = _PresenceChanged()
_PONG = Pong()
_Item = Event | int | _PresenceChanged | Refreshed | Pong


class StreamConnection:
    """A hub subscriber bound to one WebSocket."""

    def __init__(
        self,
        socket: WebSocket[Any, Any, Any],
        device: Device,
        *,
        since: int,
        reader: PointReader,
        fanout: FanOut,
        sessions: SessionService,
        queue_size: int,
    ) -> None:
        self.customer_id = device.customer_id
        self.session_id = device.session_id
        self.channel = device.channel
        self.device = device.device
        self.role = device.role
        self.agent_id = device.agent_id
        self._socket = socket
        self._last = since
        self._offered = since
        """The highest seq queued here: the socket will hold at least this much of the log (gaps are repaired)."""
        self._reader = reader
        self._fanout = fanout
        self._sessions = sessions
        self._queue: asyncio.Queue[_Item] = asyncio.Queue(maxsize=queue_size)
        self._close: tuple[int, str] | None = None
        self._presence_sent: Presence | None = None
        self._tasks: list[asyncio.Task[None]] = []
        """The sender and the reader, once `run` started them; `cut` cancels them (no third task waits for it)."""

    # The hub's side: never blocks, never raises.

    def offer_event(self, event: Event) -> None:
        self._offered = max(self._offered, event.seq)
        self._offer(event)

    def offer_head(self, head: int) -> None:
        if head > self._offered and head > self._last:  # the poll's nudges: most find nothing new
            self._offered = head
            self._offer(head)

    def presence_changed(self) -> None:
        self._offer(_PRESENCE_CHANGED)

    def _offer(self, item: _Item) -> None:
        try:
            self._queue.put_nowait(item)
        except asyncio.QueueFull:
            if self._close is None:
                SLOW_CONSUMERS_CUT.inc()
            self.cut(CloseCode.SLOW_CONSUMER, "too slow: reconnect and resume from your last seq")

    def cut(self, code: int, reason: str) -> None:
        """Close the socket with this code (the first reason given wins)."""
        if self._close is None:
            self._close = (code, reason)
        for task in self._tasks:
            task.cancel()

    # The socket's side.

    async def run(self, welcome: Welcome, snapshot: Snapshot | None) -> None:
        """Serve until the client leaves or the connection is cut, then close with the code that ended it."""
        try:
            if self._close is None:  # else it was cut while the route read the log's position
                self._tasks = [asyncio.create_task(self._pump(welcome, snapshot)), asyncio.create_task(self._read())]
                done, _ = await asyncio.wait(self._tasks, return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    error = None if task.cancelled() else task.exception()
                    if error is None or isinstance(error, (WebSocketDisconnect, OSError)):
                        continue  # the client left while we were sending (uvicorn: ClientDisconnected): ordinary
                    if isinstance(error, OmnicartError) and error.status == 401:  # its customer was purged
                        self.cut(CloseCode.TOKEN_REJECTED, error.code)
                        continue
                    logger.error("stream connection failed", exc_info=error)
                    self.cut(1011, "server error: reconnect and resume")
        finally:
            await cancel_and_wait(self._tasks)  # what they raise now is the socket closing under them
        if self._close is not None:
            with contextlib.suppress(Exception):
                await self._socket.close(code=self._close[0], reason=self._close[1])

    async def _send(self, frame: ServerFrame) -> None:
        await self._socket.send_data(_encoder.encode(frame))

    async def _pump(self, welcome: Welcome, snapshot: Snapshot | None) -> None:
        await self._send(welcome)
        if snapshot is not None:
            await self._send(snapshot)
            self._last = snapshot.head
        await self._replay(until=None)
        await self._send_presence()
        while True:
            item = await self._queue.get()
            if isinstance(item, Event):
                await self._forward(item)
            elif isinstance(item, int):
                if item > self._last:
                    await self._replay(until=item)
            elif isinstance(item, (Refreshed, Pong)):
                await self._send(item)
            else:
                await self._send_presence()

    async def _send_presence(self) -> None:
        """The customer's present devices, unless this socket was already told exactly that."""
        presence = Presence(sessions=await self._fanout.online(self.customer_id))
        if presence != self._presence_sent:
            await self._send(presence)
            self._presence_sent = presence

    async def _forward(self, event: Event) -> None:
        if event.seq <= self._last:
            return
        if event.seq > self._last + 1:
            await self._replay(until=event.seq)
            return
        await self._deliver(event)

    async def _replay(self, until: int | None) -> None:
        """Send the log's events after `last`, up to `until` (None: to the head), in order."""
        while until is None or self._last < until:
            page = await read_events(self._reader, self.customer_id, self._last, REPLAY_PAGE)
            for event in page.events:
                if until is not None and event.seq > until:
                    return
                await self._deliver(event)
            if not page.has_more:
                return

    async def _deliver(self, event: Event) -> None:
        await self._send(event)
        self._last = event.seq
        if event.kind == EventKind.CUSTOMER_MERGED and event.data.get("into"):
            self.cut(CloseCode.CUSTOMER_MERGED, "customer merged: reconnect with since=0")
        if event.kind == EventKind.SESSION_REVOKED and event.data.get("session_id") == self.session_id:
            self._fanout.forget_session(self.customer_id, self.session_id)
            self.cut(CloseCode.TOKEN_REJECTED, "session revoked")

    async def _read(self) -> None:
        """Client frames after hello: `refresh` and `ping`; anything else ends the connection with a reason."""
        while True:
            try:
                raw = await self._socket.receive_data(mode="text")
            except WebSocketDisconnect:
                return
            try:
                frame = client_frame_decoder.decode(raw)
            except msgspec.DecodeError as exc:
                self.cut(CloseCode.BAD_FRAME, f"bad frame: {exc}"[:120])
                return
            if isinstance(frame, Hello):
                self.cut(CloseCode.BAD_FRAME, "hello was already sent on this connection")
                return
            if isinstance(frame, Ping):
                self._offer(_PONG)
                continue
            assert isinstance(frame, Refresh)
            try:
                token, expires_at = await self._sessions.refresh(self.session_id)
            except OmnicartError as exc:
                self.cut(CloseCode.TOKEN_REJECTED, exc.code)
                return
            self._offer(Refreshed(token=token, expires_at=expires_at))
