"""A device's live stream (/v1/stream) as tests use it: hello sent, welcome read, then frames read with deadlines."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from tests.support.wait import WaitTimeout

if TYPE_CHECKING:
    from tests.support.devices import Device

JSON = dict[str, Any]
FRAME_TIMEOUT = 10.0
"""Seconds a test waits for a frame the server owes it (a welcome, an event just committed, a close)."""


class LiveStream:
    """One open live connection of a device; every frame received is kept in `frames`, in order."""

    def __init__(self, socket: ClientConnection, welcome: JSON) -> None:
        self._socket = socket
        self.welcome = welcome
        """The server's `welcome` frame: session_id, customer_id, head, epoch."""
        self.frames: list[JSON] = [welcome]
        """Every frame received so far, the welcome first."""
        self.close_code: int | None = None
        """The close code, once the server closed the connection."""

    def events(self) -> list[JSON]:
        """The `event` frames received so far."""
        return [frame for frame in self.frames if frame["type"] == "event"]

    def next_frame(self, timeout: float = FRAME_TIMEOUT) -> JSON:
        """The next frame; fails when none comes in time, and raises ConnectionClosed once the server closed."""
        try:
            raw = self._socket.recv(timeout=timeout)
        except TimeoutError:
            raise WaitTimeout(f"no frame within {timeout:.1f}s", self.frames[-1]) from None
        except ConnectionClosed as exc:
            self.close_code = exc.rcvd.code if exc.rcvd is not None else None
            raise
        frame: JSON = json.loads(raw)
        self.frames.append(frame)
        return frame

    def wait_for(self, predicate: Callable[[JSON], bool], timeout: float = FRAME_TIMEOUT, message: str = "") -> JSON:
        """Read frames until one satisfies `predicate` and return it; fail at the deadline or if the stream closes."""
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise WaitTimeout(f"no frame {message or 'matching'} within {timeout:.1f}s", self.frames[-1])
            try:
                frame = self.next_frame(remaining)
            except ConnectionClosed:
                raise AssertionError(
                    f"stream closed ({self.close_code}) before a frame {message}; frames: {self.frames}"
                ) from None
            if predicate(frame):
                return frame

    def wait_for_event(self, kind: str, timeout: float = FRAME_TIMEOUT) -> JSON:
        """The next `event` frame of this kind."""
        return self.wait_for(lambda f: f["type"] == "event" and f["kind"] == kind, timeout, f"event {kind}")

    def wait_closed(self, timeout: float = FRAME_TIMEOUT) -> int | None:
        """Read (and keep) frames until the server closes the connection; return the close code."""
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise WaitTimeout(f"stream still open after {timeout:.1f}s", self.frames[-1])
            try:
                self.next_frame(remaining)
            except ConnectionClosed:
                return self.close_code

    def close(self) -> None:
        """Go away, as a client that closes its tab or loses its network does."""
        self._socket.close()


@contextmanager
def open_stream(device: Device, since: int = 0, epoch: str | None = None) -> Iterator[LiveStream]:
    """Connect the device's live stream, send hello with its session token, wait for the welcome; close at the end."""
    with connect(device.base_url.replace("http", "ws", 1) + "/v1/stream", open_timeout=FRAME_TIMEOUT) as socket:
        hello: JSON = {"type": "hello", "token": device.session_token, "since": since}
        if epoch is not None:
            hello["epoch"] = epoch
        socket.send(json.dumps(hello))
        welcome: JSON = json.loads(socket.recv(timeout=FRAME_TIMEOUT))
        assert welcome.get("type") == "welcome", f"expected a welcome frame, got {welcome}"
        yield LiveStream(socket, welcome)
