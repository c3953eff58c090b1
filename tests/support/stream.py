"""The live stream as tests use it: a real `websockets` client collecting frames in the background.

A `StreamClient` is one connection to /v1/stream; its reader task appends every frame to `frames` until the server
closes, and tests wait on what arrived with deadlines (`wait_for_seq`, `wait_for_frame`, `wait_closed`). A
`Follower` is a device that keeps its events across reconnections and resumes with `since` = the last seq it holds,
as an SDK does.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import socket
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar, overload

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from tests.support.devices import JSON

T = TypeVar("T")

STREAM_PATH = "/v1/stream"
FRAME_TIMEOUT = 15.0
"""Seconds a test waits for a frame it is owed: generous, since a loaded machine is slow, but a hang still fails."""


class StreamWaitTimeout(AssertionError):
    """A frame or state did not arrive in time; the message holds what the client did receive."""


def ws_url(base_url: str) -> str:
    """ws://host:port/v1/stream for a server's http:// base URL."""
    return base_url.replace("http://", "ws://", 1).rstrip("/") + STREAM_PATH


@overload
async def wait_until(
    predicate: Callable[[], Awaitable[T | None]], timeout: float, *, interval: float = ..., message: str = ...
) -> T: ...


@overload
async def wait_until(
    predicate: Callable[[], T | None], timeout: float, *, interval: float = ..., message: str = ...
) -> T: ...


async def wait_until(
    predicate: Callable[[], Any],
    timeout: float,
    *,
    interval: float = 0.02,
    message: str = "condition not met",
) -> Any:
    """Await `predicate` (sync or async) until it returns something truthy, and return it; fail after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return value
        if time.monotonic() >= deadline:
            raise StreamWaitTimeout(f"{message} within {timeout:.1f}s (last value: {value!r})")
        await asyncio.sleep(interval)


def hello_frame(token: str, since: int = 0, epoch: str | None = None) -> JSON:
    frame: JSON = {"type": "hello", "token": token, "since": since}
    if epoch is not None:
        frame["epoch"] = epoch
    return frame


def presence_ids(frame: JSON) -> set[str]:
    """The session ids a presence frame lists."""
    return {session["session_id"] for session in frame["sessions"]}


async def _small_buffer_socket(base_url: str, receive_buffer: int) -> socket.socket:
    """A connected TCP socket whose receive buffer is fixed small (set before connect, so the window stays small)."""
    host, _, port = base_url.removeprefix("http://").rstrip("/").partition(":")
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, (host, int(port)))
    return sock


class StreamClient:
    """One WebSocket connection to /v1/stream; every frame the server sends is kept in `frames`, in order."""

    def __init__(self, ws: ClientConnection, name: str) -> None:
        self.name = name
        self.frames: list[JSON] = []
        """Every server frame, decoded, in arrival order."""
        self.close_code: int | None = None
        """The code of the server's close frame (1006 when the connection dropped without one); None while open."""
        self.close_reason: str | None = None
        self._ws = ws
        self._arrived = asyncio.Event()
        self._reading = asyncio.Event()
        self._reading.set()
        self._frozen = False
        self._reader = asyncio.create_task(self._read(), name=f"stream-reader-{name}")

    @classmethod
    async def open(
        cls,
        base_url: str,
        token: str | None = None,
        *,
        since: int = 0,
        epoch: str | None = None,
        name: str = "client",
        max_queue: int | None = 16,
        receive_buffer: int | None = None,
    ) -> StreamClient:
        """Connect and, given a token, send hello; `max_queue` and `receive_buffer` make a reader that can stall."""
        sock = await _small_buffer_socket(base_url, receive_buffer) if receive_buffer else None
        ws = await connect(
            ws_url(base_url),
            max_size=None,  # events carry whole carts: the server's frames may be large
            max_queue=max_queue,
            open_timeout=FRAME_TIMEOUT,
            close_timeout=5,
            ping_interval=None,
            sock=sock,
        )
        client = cls(ws, name)
        if token is not None:
            await client.send_json(hello_frame(token, since, epoch))
        return client

    # Sending

    async def send_json(self, frame: JSON) -> None:
        await self._ws.send(json.dumps(frame))

    async def send_text(self, text: str) -> None:
        await self._ws.send(text)

    async def send_bytes(self, data: bytes) -> None:
        await self._ws.send(data)

    async def refresh(self) -> None:
        await self.send_json({"type": "refresh"})

    # What arrived

    def of_type(self, kind: str) -> list[JSON]:
        return [frame for frame in self.frames if frame.get("type") == kind]

    @property
    def welcome(self) -> JSON | None:
        found = self.of_type("welcome")
        return found[0] if found else None

    @property
    def events(self) -> list[JSON]:
        """The `event` frames: the same objects as GET /v1/events returns."""
        return self.of_type("event")

    @property
    def seqs(self) -> list[int]:
        return [frame["seq"] for frame in self.of_type("event")]

    @property
    def last_seq(self) -> int | None:
        """The seq this connection brought the device to (an event's, or a snapshot's head), None if neither came."""
        last: int | None = None
        for frame in self.frames:
            if frame.get("type") == "event":
                last = frame["seq"]
            elif frame.get("type") == "snapshot":
                last = frame["head"]
        return last

    @property
    def closed(self) -> bool:
        return self._reader.done()

    # Waiting

    async def wait_for_frame(
        self,
        predicate: Callable[[JSON], bool],
        timeout: float = FRAME_TIMEOUT,
        *,
        after: int = 0,
        message: str = "a frame",
    ) -> JSON:
        """The first frame from index `after` on (already here or still to come) for which `predicate` holds."""
        return await self._wait(lambda: next((f for f in self.frames[after:] if predicate(f)), None), timeout, message)

    async def wait_for_presence(self, session_ids: set[str], timeout: float = FRAME_TIMEOUT, *, after: int = 0) -> JSON:
        """The first presence frame from index `after` on listing exactly these sessions."""
        return await self.wait_for_frame(
            lambda frame: frame.get("type") == "presence" and presence_ids(frame) == session_ids,
            timeout,
            after=after,
            message=f"presence of exactly {sorted(session_ids)}",
        )

    async def wait_for_type(self, kind: str, timeout: float = FRAME_TIMEOUT) -> JSON:
        return await self.wait_for_frame(lambda frame: frame.get("type") == kind, timeout, message=f"a {kind} frame")

    async def wait_for_welcome(self, timeout: float = FRAME_TIMEOUT) -> JSON:
        return await self.wait_for_type("welcome", timeout)

    async def wait_for_seq(self, seq: int, timeout: float = FRAME_TIMEOUT) -> list[JSON]:
        """Wait until an event with seq >= `seq` arrived; returns the events so far."""
        await self._wait(lambda: (self.last_seq or 0) >= seq, timeout, f"event seq {seq}")
        return self.events

    async def wait_closed(self, timeout: float = FRAME_TIMEOUT) -> int:
        """Wait for the server to end the connection; returns the close code."""
        await self._wait(lambda: self.closed, timeout, "the server closing the connection")
        assert self.close_code is not None
        return self.close_code

    async def _wait(self, probe: Callable[[], T | None], timeout: float, what: str) -> T:
        deadline = time.monotonic() + timeout
        while True:
            self._arrived.clear()
            value = probe()
            if value:
                return value
            if self.closed:  # the reader appends every frame before it finishes: nothing more can come
                raise StreamWaitTimeout(f"{self.name}: connection closed before {what}: {self}")
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise StreamWaitTimeout(f"{self.name}: no {what} within {timeout:.1f}s: {self}")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._arrived.wait(), remaining)

    # Reading

    def stop_reading(self) -> None:
        """Stop taking frames off the connection (with a small `max_queue`, the socket stops being read too)."""
        self._reading.clear()

    def resume_reading(self) -> None:
        self._reading.set()

    def freeze(self) -> None:
        """Stop reading the TCP connection at all, so not even pings are answered: a device that hung."""
        self._frozen = True
        self._ws.transport.pause_reading()

    def thaw(self) -> None:
        """Read the TCP connection again after `freeze`: what the server sent meanwhile (a close, say) arrives."""
        self._frozen = False
        self._ws.transport.resume_reading()

    async def _read(self) -> None:
        try:
            while True:
                await self._reading.wait()
                raw = await self._ws.recv()
                self.frames.append(json.loads(raw))
                self._arrived.set()
        except ConnectionClosed:
            pass
        finally:
            # close_code is the server's close frame's code, or 1006 (abnormal closure) when none came.
            self.close_code = self._ws.close_code
            self.close_reason = self._ws.close_reason
            self._arrived.set()

    async def close(self) -> None:
        """Close from the client's side (a device going away) and wait for the reader to finish."""
        if self._frozen:  # a hung device cannot take part in a closing handshake
            await self.abort()
            return
        await self._ws.close()
        self._reading.set()
        await self._reader

    async def abort(self) -> None:
        """Drop the TCP connection without a closing handshake (a device losing its network)."""
        self._ws.transport.abort()
        self._reading.set()
        await self._reader

    def __str__(self) -> str:
        kinds = [f"{f.get('type')}{'#' + str(f['seq']) if 'seq' in f else ''}" for f in self.frames[-12:]]
        return f"<{self.name} close={self.close_code} {self.close_reason!r} frames={len(self.frames)} last={kinds}>"


@dataclass
class Follower:
    """A device that follows the stream across reconnections, resuming from the last seq it holds.

    Like an SDK it resumes with the epoch of the log it holds, so a server that changed the epoch answers with a
    snapshot, which shows in `snapshots`.
    """

    base_url: str
    token: str
    name: str = "follower"
    connections: list[StreamClient] = field(default_factory=list)
    """Every connection made, oldest first."""

    @property
    def epoch(self) -> str | None:
        """The epoch of the log this follower holds: its first welcome's."""
        for connection in self.connections:
            if connection.welcome is not None:
                epoch: str = connection.welcome["epoch"]
                return epoch
        return None

    @property
    def snapshots(self) -> list[JSON]:
        return [snapshot for connection in self.connections for snapshot in connection.of_type("snapshot")]

    @property
    def current(self) -> StreamClient | None:
        return self.connections[-1] if self.connections else None

    @property
    def events(self) -> list[JSON]:
        """Every event received over all connections, in arrival order (duplicates included, so tests see them)."""
        return [event for connection in self.connections for event in connection.events]

    @property
    def seqs(self) -> list[int]:
        return [event["seq"] for event in self.events]

    @property
    def last_seq(self) -> int:
        for connection in reversed(self.connections):
            if connection.last_seq is not None:
                return connection.last_seq
        return 0

    async def connect(self) -> StreamClient:
        """A new connection resuming with since = the last seq held; waits for its welcome."""
        client = await StreamClient.open(
            self.base_url,
            self.token,
            since=self.last_seq,
            epoch=self.epoch,
            name=f"{self.name}#{len(self.connections) + 1}",
        )
        self.connections.append(client)
        await client.wait_for_welcome()
        return client

    async def disconnect(self) -> None:
        if self.current is not None and not self.current.closed:
            await self.current.close()

    async def wait_for_seq(self, seq: int, timeout: float = FRAME_TIMEOUT) -> None:
        await wait_until(lambda: self.last_seq >= seq, timeout, message=f"{self.name} reaching seq {seq}")

    async def close(self) -> None:
        for connection in self.connections:
            if not connection.closed:
                await connection.close()
