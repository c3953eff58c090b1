"""WebSocket keepalive from one timer per process, not one per socket.

uvicorn's websockets-sansio protocol arms a `call_later` timer per socket for every ping, and another for its
pong's deadline. At 10,000 sockets and a 20 s interval, ~500 of them a second live a whole interval: they outlive
the young generation, which the collector then walks in its long pauses (BENCHMARKS.md, issue 8). Here the
sockets sit on a wheel of buckets, and one timer visits one bucket per tick: a socket is pinged once per interval,
and one whose previous ping is still unanswered when its bucket comes round again is failed with 1011, as uvicorn
does with `ws_ping_timeout` equal to the interval (the only deadline here; uvicorn's setting is not read). A ping
is a WebSocket protocol ping, answered by every client's WebSocket stack, so the wire protocol is unchanged.

Selected with uvicorn's `ws=` import string (omnicart_server.cli).
"""

from __future__ import annotations

import asyncio
import logging
import os
import weakref

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.frames import Frame

logger = logging.getLogger(__name__)

TICK_SECONDS = 0.1
"""How often the wheel turns: the pings of one interval go out in slices this far apart, not in one burst."""
MAX_BUCKETS = 600
"""Above a 60 s interval the ticks grow longer instead, so a wheel stays a few kilobytes."""


class KeepaliveWheel:
    """The sockets of one event loop, spread over buckets that one timer visits in turn."""

    def __init__(self, interval: float) -> None:
        self._buckets: list[set[SweptKeepaliveProtocol]] = [set() for _ in range(_bucket_count(interval))]
        self._tick = interval / len(self._buckets)
        self._next_bucket = 0
        """Where the next socket goes: round robin, so each tick pings about as many sockets as the next."""
        self._turn = 0
        self._timer: asyncio.TimerHandle | None = None
        """Set while the wheel holds sockets; it is the wheel's only hold on its loop (`_wheels` is weak)."""
        self._due = 0.0
        """When the next bucket is due: visits keep to a fixed schedule, so a busy loop does not stretch every tick."""
        self._size = 0

    def add(self, protocol: SweptKeepaliveProtocol) -> None:
        """Put a socket on the wheel; its first ping comes within one interval."""
        protocol.keepalive_bucket = self._next_bucket
        self._buckets[self._next_bucket].add(protocol)
        self._next_bucket = (self._next_bucket + 1) % len(self._buckets)
        self._size += 1
        if self._timer is None:
            loop = asyncio.get_running_loop()
            self._due = loop.time() + self._tick
            self._timer = loop.call_at(self._due, self._visit)

    def remove(self, protocol: SweptKeepaliveProtocol) -> None:
        """Take a socket off the wheel (closed, or the server shutting down); the last one stops the timer."""
        bucket = self._buckets[protocol.keepalive_bucket]
        if protocol in bucket:
            bucket.discard(protocol)
            self._size -= 1
        if self._size == 0 and self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _visit(self) -> None:
        """Ping the turn's bucket (failing the sockets that did not answer the last round), then wait a tick."""
        bucket = self._buckets[self._turn]
        self._turn = (self._turn + 1) % len(self._buckets)
        for protocol in tuple(bucket):
            try:
                protocol.keepalive_round()
            except Exception:  # one socket's failure must not stop the pings of all the others
                logger.exception("keepalive ping failed for %s", protocol.client)
        self._timer = None
        if self._size:
            loop = asyncio.get_running_loop()
            self._due = max(self._due + self._tick, loop.time())
            self._timer = loop.call_at(self._due, self._visit)


def _bucket_count(interval: float) -> int:
    return max(1, min(MAX_BUCKETS, round(interval / TICK_SECONDS)))


_wheels: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, KeepaliveWheel] = weakref.WeakKeyDictionary()


class SweptKeepaliveProtocol(WebSocketsSansIOProtocol):
    """uvicorn's websockets-sansio protocol with its per-socket ping timers replaced by the loop's wheel."""

    keepalive_bucket = 0

    def start_keepalive(self) -> None:
        if self.ping_interval is not None and self.ping_interval > 0:
            self._wheel().add(self)

    def stop_keepalive(self) -> None:
        if self.ping_interval is not None and self.ping_interval > 0:
            self._wheel().remove(self)
        self.pending_ping_payload = None

    def handle_pong(self, event: Frame) -> None:
        if self.pending_ping_payload is not None and bytes(event.data) == self.pending_ping_payload:
            self.pending_ping_payload = None

    def keepalive_round(self) -> None:
        """The wheel came round: fail the socket if the last ping is unanswered, else ping it again."""
        if self.close_sent or self.transport.is_closing():
            return
        if self.pending_ping_payload is not None:
            self.keepalive_timeout()
            return
        self.pending_ping_payload = os.urandom(4)
        self.conn.send_ping(self.pending_ping_payload)
        self.transport.write(b"".join(self.conn.data_to_send()))

    def _wheel(self) -> KeepaliveWheel:
        wheel = _wheels.get(self.loop)
        if wheel is None:
            assert self.ping_interval is not None
            wheel = _wheels[self.loop] = KeepaliveWheel(self.ping_interval)
        return wheel
